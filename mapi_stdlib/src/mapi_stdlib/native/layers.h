/*
 * layers.h: where the network, transport and payload start in a captured frame.
 *
 * Header-only, shared by the functions that look inside packets (PROTINFO, HASH, HASHSAMP, TOP,
 * COOKING...).  Never reads past caplen: every pointer comes with the number of captured bytes
 * behind it.  Link types are the LINKTYPE_ values the reader puts in hdr->linktype.
 *
 * Covered: Ethernet (with any number of 802.1Q/802.1ad/QinQ tags and MPLS labels), BSD loopback
 * (NULL/LOOP, either byte order), raw IP, Linux cooked capture v1 and v2, Cisco HDLC, PPP.
 * IPv4 with options; IPv6 with hop-by-hop, routing, fragment, destination-options and AH
 * extension headers.  Tunnels are not entered: the outer IP header is the one described.
 */
#ifndef MAPI_STDLIB_LAYERS_H
#define MAPI_STDLIB_LAYERS_H

#include <stdint.h>
#include <string.h>

#include <mapi/abi.h>

#define LAYERS_LINKTYPE_NULL 0
#define LAYERS_LINKTYPE_ETHERNET 1
#define LAYERS_LINKTYPE_PPP 9
#define LAYERS_LINKTYPE_RAW_BSD 12      /* DLT_RAW on most BSDs, written to files by some */
#define LAYERS_LINKTYPE_RAW_OPENBSD 14
#define LAYERS_LINKTYPE_RAW 101
#define LAYERS_LINKTYPE_C_HDLC 104
#define LAYERS_LINKTYPE_LOOP 108
#define LAYERS_LINKTYPE_LINUX_SLL 113
#define LAYERS_LINKTYPE_IPV4 228
#define LAYERS_LINKTYPE_IPV6 229
#define LAYERS_LINKTYPE_LINUX_SLL2 276

#define LAYERS_ETHERTYPE_IPV4 0x0800
#define LAYERS_ETHERTYPE_ARP 0x0806
#define LAYERS_ETHERTYPE_RARP 0x8035
#define LAYERS_ETHERTYPE_IPV6 0x86dd

/* Fragment flags (layers.fragment). */
#define LAYERS_FIRST_FRAGMENT 1          /* offset 0 and more fragments follow: L4 header present */
#define LAYERS_LATER_FRAGMENT 2          /* offset > 0: no L4 header in this packet */

typedef struct layers {
    uint16_t ethertype;          /* of the network layer: 0x0800, 0x86dd, 0x0806...; 0 unknown */
    uint8_t ip_version;          /* 4 or 6 when l3 is an IP header, else 0 */
    uint8_t l4_proto;            /* IP protocol of l4 (after IPv6 extension headers); 0 none */
    uint8_t fragment;            /* LAYERS_*_FRAGMENT flags, 0 for a whole datagram */
    uint32_t l2_len;             /* bytes before l3 */

    const unsigned char *l3;     /* network header, or NULL */
    uint32_t l3_caplen;          /* captured bytes from l3 to the end of the frame */
    uint32_t l3_hdr_len;         /* IPv4: IHL*4; IPv6: 40 + extension headers */
    uint32_t ip_len;             /* IPv4 total length; IPv6 40 + payload length (0 if jumbo) */

    const unsigned char *l4;     /* transport header (TCP, UDP, ICMP, ICMPv6...), or NULL */
    uint32_t l4_caplen;          /* captured bytes from l4 to the end of the frame */
    uint32_t l4_hdr_len;         /* TCP: data offset*4; UDP, ICMP, ICMPv6: 8; else 0 */

    const unsigned char *payload;/* transport payload, or NULL when l4 is unknown or cut */
    uint32_t payload_caplen;     /* captured payload bytes (bounded by the IP length) */
    uint32_t payload_len;        /* payload bytes per the IP length (may exceed what was captured) */
} layers_t;

static inline uint16_t layers_be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t layers_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The IP version the first nibble announces, as an ethertype (MPLS payloads, raw IP). */
static inline uint16_t layers_guess_ip(const unsigned char *p, uint32_t len)
{
    if (len == 0)
        return 0;
    switch (p[0] >> 4) {
    case 4: return LAYERS_ETHERTYPE_IPV4;
    case 6: return LAYERS_ETHERTYPE_IPV6;
    default: return 0;
    }
}

/* Link layer: sets l2_len and ethertype; returns 0 when the frame is too short or unknown. */
static inline int layers_link(const unsigned char *pkt, uint32_t caplen, uint16_t linktype, layers_t *out)
{
    uint32_t off = 0;
    uint16_t type = 0;
    switch (linktype) {
    case LAYERS_LINKTYPE_ETHERNET:
        if (caplen < 14)
            return 0;
        type = layers_be16(pkt + 12);
        off = 14;
        while ((type == 0x8100 || type == 0x88a8 || type == 0x9100) && caplen >= off + 4) {
            type = layers_be16(pkt + off + 2);
            off += 4;
        }
        if (type == 0x8847 || type == 0x8848) {          /* MPLS: skip to the bottom of the stack */
            for (;;) {
                if (caplen < off + 4)
                    return 0;
                int bottom = pkt[off + 2] & 1;
                off += 4;
                if (bottom)
                    break;
            }
            type = layers_guess_ip(pkt + off, caplen - off);
        } else if (type <= 1500) {                       /* 802.3 length: LLC, not IP */
            type = 0;
        }
        break;
    case LAYERS_LINKTYPE_NULL:
    case LAYERS_LINKTYPE_LOOP: {
        if (caplen < 4)
            return 0;
        /* The AF_ value is in the writer's byte order (LOOP: network order); accept both. */
        uint32_t family = (uint32_t)pkt[0] | (uint32_t)pkt[1] << 8 | (uint32_t)pkt[2] << 16 | (uint32_t)pkt[3] << 24;
        if (family > 0xffff)
            family = layers_be32(pkt);
        off = 4;
        if (family == 2)
            type = LAYERS_ETHERTYPE_IPV4;
        else if (family == 10 || family == 24 || family == 28 || family == 30)  /* Linux, BSDs, macOS */
            type = LAYERS_ETHERTYPE_IPV6;
        break;
    }
    case LAYERS_LINKTYPE_RAW:
    case LAYERS_LINKTYPE_RAW_BSD:
    case LAYERS_LINKTYPE_RAW_OPENBSD:
        type = layers_guess_ip(pkt, caplen);
        break;
    case LAYERS_LINKTYPE_IPV4:
        type = LAYERS_ETHERTYPE_IPV4;
        break;
    case LAYERS_LINKTYPE_IPV6:
        type = LAYERS_ETHERTYPE_IPV6;
        break;
    case LAYERS_LINKTYPE_LINUX_SLL:
        if (caplen < 16)
            return 0;
        type = layers_be16(pkt + 14);
        off = 16;
        break;
    case LAYERS_LINKTYPE_LINUX_SLL2:
        if (caplen < 20)
            return 0;
        type = layers_be16(pkt);
        off = 20;
        break;
    case LAYERS_LINKTYPE_C_HDLC:
        if (caplen < 4)
            return 0;
        type = layers_be16(pkt + 2);
        off = 4;
        break;
    case LAYERS_LINKTYPE_PPP:
        if (caplen >= 4 && pkt[0] == 0xff && pkt[1] == 0x03)
            off = 2;
        if (caplen < off + 2)
            return 0;
        type = layers_be16(pkt + off);
        off += 2;
        type = type == 0x0021 ? LAYERS_ETHERTYPE_IPV4 : type == 0x0057 ? LAYERS_ETHERTYPE_IPV6 : 0;
        break;
    default:
        return 0;
    }
    if (off > caplen)
        return 0;
    out->l2_len = off;
    out->ethertype = type;
    return 1;
}

static inline void layers_transport(const unsigned char *pkt, uint32_t caplen, uint32_t l4_off, layers_t *out)
{
    if (out->fragment & LAYERS_LATER_FRAGMENT || l4_off > caplen)
        return;
    out->l4 = pkt + l4_off;
    out->l4_caplen = caplen - l4_off;
    uint32_t hdr_len = 0;
    switch (out->l4_proto) {
    case 6:                                              /* TCP */
        if (out->l4_caplen >= 13)
            hdr_len = (uint32_t)(out->l4[12] >> 4) * 4;
        if (hdr_len < 20)
            return;
        break;
    case 17:                                             /* UDP */
    case 136:                                            /* UDP-Lite */
    case 1:                                              /* ICMP */
    case 58:                                             /* ICMPv6 */
        hdr_len = 8;
        break;
    default:
        return;
    }
    out->l4_hdr_len = hdr_len;
    if (out->l4_caplen < hdr_len)
        return;                                          /* header cut by the snaplen */
    uint32_t ip_end = out->ip_len ? out->ip_len : out->l3_caplen;
    uint32_t l4_from_l3 = (uint32_t)(out->l4 - out->l3);
    out->payload = out->l4 + hdr_len;
    out->payload_len = ip_end > l4_from_l3 + hdr_len ? ip_end - l4_from_l3 - hdr_len : 0;
    uint32_t captured = out->l4_caplen - hdr_len;
    out->payload_caplen = captured < out->payload_len ? captured : out->payload_len;
}

static inline void layers_ipv4(const unsigned char *pkt, uint32_t caplen, layers_t *out)
{
    const unsigned char *ip = out->l3;
    if (out->l3_caplen < 20 || ip[0] >> 4 != 4 || (ip[0] & 0x0f) < 5)
        return;
    out->ip_version = 4;
    out->l3_hdr_len = (uint32_t)(ip[0] & 0x0f) * 4;
    out->ip_len = layers_be16(ip + 2);
    out->l4_proto = ip[9];
    uint16_t frag = layers_be16(ip + 6);
    if (frag & 0x1fff)
        out->fragment = LAYERS_LATER_FRAGMENT;
    else if (frag & 0x2000)
        out->fragment = LAYERS_FIRST_FRAGMENT;
    layers_transport(pkt, caplen, out->l2_len + out->l3_hdr_len, out);
}

static inline void layers_ipv6(const unsigned char *pkt, uint32_t caplen, layers_t *out)
{
    const unsigned char *ip = out->l3;
    if (out->l3_caplen < 40 || ip[0] >> 4 != 6)
        return;
    out->ip_version = 6;
    uint16_t payload = layers_be16(ip + 4);
    out->ip_len = payload ? 40u + payload : 0;
    uint8_t next = ip[6];
    uint32_t off = 40;
    for (;;) {
        if (next == 0 || next == 43 || next == 60) {        /* hop-by-hop, routing, destination */
            if (out->l3_caplen < off + 8)
                return;
            next = ip[off];
            off += ((uint32_t)ip[off + 1] + 1) * 8;
        } else if (next == 51) {                            /* AH: length in 4-byte units, minus 2 */
            if (out->l3_caplen < off + 8)
                return;
            next = ip[off];
            off += ((uint32_t)ip[off + 1] + 2) * 4;
        } else if (next == 44) {                            /* fragment */
            if (out->l3_caplen < off + 8)
                return;
            uint16_t frag = layers_be16(ip + off + 2);
            if (frag & 0xfff8)
                out->fragment = LAYERS_LATER_FRAGMENT;
            else if (frag & 1)
                out->fragment = LAYERS_FIRST_FRAGMENT;
            next = ip[off];
            off += 8;
        } else {
            break;
        }
    }
    out->l3_hdr_len = off;
    out->l4_proto = next;
    if (next == 59)                                         /* no next header */
        out->l4_proto = 0;
    else
        layers_transport(pkt, caplen, out->l2_len + off, out);
}

/*
 * Fills *out for the frame (pkt, hdr).  Returns 1 when the network layer was found (out->l3 set;
 * check ip_version, l4 and payload for more), 0 otherwise.  Fields it could not find stay 0/NULL.
 */
static inline int layers_parse(const unsigned char *pkt, const mapi_pkthdr_t *hdr, layers_t *out)
{
    memset(out, 0, sizeof *out);
    if (!layers_link(pkt, hdr->caplen, hdr->linktype, out))
        return 0;
    out->l3 = pkt + out->l2_len;
    out->l3_caplen = hdr->caplen - out->l2_len;
    if (out->ethertype == LAYERS_ETHERTYPE_IPV4)
        layers_ipv4(pkt, hdr->caplen, out);
    else if (out->ethertype == LAYERS_ETHERTYPE_IPV6)
        layers_ipv6(pkt, hdr->caplen, out);
    return 1;
}

#endif /* MAPI_STDLIB_LAYERS_H */
