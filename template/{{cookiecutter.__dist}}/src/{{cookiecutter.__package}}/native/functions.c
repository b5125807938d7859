/*
 * Per-packet code of {{ cookiecutter.__dist }}.
 *
 * process() runs in the device's thread for every packet that reaches the function: it must not
 * block, allocate or call Python, and it must never read past hdr->caplen (a short capture or a
 * malformed header is normal input, not an error).
 */
#include <stddef.h>
#include <stdint.h>

#include <mapi/abi.h>

#include "functions.h"

MAPI_DEFINE_ABI_VERSION

/* LINKTYPE_ values (tcpdump.org/linktypes.html), as the engine puts them in hdr->linktype. */
#define LINKTYPE_NULL 0
#define LINKTYPE_ETHERNET 1
#define LINKTYPE_RAW_BSD 12
#define LINKTYPE_RAW_OPENBSD 14
#define LINKTYPE_RAW 101
#define LINKTYPE_LOOP 108
#define LINKTYPE_LINUX_SLL 113
#define LINKTYPE_IPV4 228
#define LINKTYPE_IPV6 229
#define LINKTYPE_LINUX_SLL2 276

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_SCTP_ 132

static inline unsigned read16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* Offset of the IP header in the frame, or -1 when the frame carries no IP we can see. */
static long ip_offset(const unsigned char *pkt, uint32_t caplen, uint16_t linktype)
{
    switch (linktype) {
    case LINKTYPE_ETHERNET: {
        long offset = 12;
        for (int tags = 0; tags <= 2; tags++) {
            if (caplen < offset + 2)
                return -1;
            unsigned type = read16(pkt + offset);
            if (type == ETHERTYPE_IPV4 || type == ETHERTYPE_IPV6)
                return offset + 2;
            if (type != ETHERTYPE_VLAN && type != ETHERTYPE_QINQ && type != ETHERTYPE_QINQ_OLD)
                return -1;
            offset += 4;                  /* an 802.1Q tag: TCI, then the next type */
        }
        return -1;
    }
    case LINKTYPE_LINUX_SLL:              /* 16-byte header, protocol last */
        return caplen >= 16 && (read16(pkt + 14) == ETHERTYPE_IPV4 || read16(pkt + 14) == ETHERTYPE_IPV6) ? 16 : -1;
    case LINKTYPE_LINUX_SLL2:             /* 20-byte header, protocol first */
        return caplen >= 20 && (read16(pkt) == ETHERTYPE_IPV4 || read16(pkt) == ETHERTYPE_IPV6) ? 20 : -1;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP:                   /* a 4-byte address family, then IP: the version says which */
        return 4;
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_BSD:
    case LINKTYPE_RAW_OPENBSD:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
        return 0;
    default:
        return -1;
    }
}

/*
 * The source and destination ports of a TCP, UDP or SCTP packet, as tcpdump's `port` sees them:
 * IPv4 only in an unfragmented packet or the first fragment, IPv6 only when the transport header
 * follows the fixed header directly.  Returns 0 when the packet has no such ports.
 */
static int transport_ports(const unsigned char *pkt, uint32_t caplen, uint16_t linktype,
                           unsigned *source, unsigned *destination)
{
    long ip = ip_offset(pkt, caplen, linktype);
    if (ip < 0 || caplen < ip + 1)
        return 0;
    const unsigned char *header = pkt + ip;
    uint32_t left = caplen - (uint32_t)ip;
    unsigned protocol;
    uint32_t transport;
    switch (header[0] >> 4) {
    case 4:
        if (left < 20 || (header[0] & 0x0f) < 5)
            return 0;
        if (read16(header + 6) & 0x1fff)  /* a later fragment: no transport header in it */
            return 0;
        protocol = header[9];
        transport = (header[0] & 0x0f) * 4u;
        break;
    case 6:
        if (left < 40)
            return 0;
        protocol = header[6];
        transport = 40;
        break;
    default:
        return 0;
    }
    if (protocol != IPPROTO_TCP_ && protocol != IPPROTO_UDP_ && protocol != IPPROTO_SCTP_)
        return 0;
    if (left < transport + 4)
        return 0;
    *source = read16(header + transport);
    *destination = read16(header + transport + 2);
    return 1;
}

int {{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }}_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    struct {{ cookiecutter.__symbol_prefix }}_{{ cookiecutter.__function_lower }} *self = state;
    unsigned source, destination;
    if (transport_ports(pkt, hdr->caplen, hdr->linktype, &source, &destination)
            && ((source >= self->low && source <= self->high)
                || (destination >= self->low && destination <= self->high))) {
        self->result->packets++;
        self->result->bytes += hdr->wlen;
    }
    return 1;                             /* counts, never drops: the next function sees every packet */
}
