/*
 * mapi-stdlib: the per-packet code of PKT_INFO, PROTINFO, GAP, HASH and BINOP.
 *
 * Each writes its result memory (through the pointer its state holds) from process() only, so
 * the engine's per-flow seqlock gives readers a consistent value.  Nothing here reads past
 * caplen: every look inside a packet goes through layers.h.
 */
#include <mapi/abi.h>
#include "values.h"
#include "layers.h"

MAPI_DEFINE_ABI_VERSION

/* ---- PKT_INFO ------------------------------------------------------------------------------ */

int values_pkt_info(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    values_pkt_info_t *s = state;
    *s->result = s->what == VALUES_PKT_SIZE ? hdr->wlen : hdr->ts;
    return 1;
}

/* ---- PROTINFO ------------------------------------------------------------------------------ */

/* The bytes each header must have captured for its fields to be read. */
#define TCP_FIXED 20
#define UDP_FIXED 8
#define ICMP_FIXED 4

int values_protinfo(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    values_protinfo_t *s = state;
    layers_t l;
    if (!layers_parse(pkt, hdr, &l))
        return 0;
    const unsigned char *ip = l.l3, *t = l.l4;
    const unsigned char *address = NULL;
    uint32_t address_len = 0;
    uint64_t v;
    int field = s->field;

    if (field >= VALUES_IP_VERSION && field <= VALUES_IP_DST) {
        if (l.ip_version != 4)
            return 0;
    } else if (field >= VALUES_IPV6_VERSION && field <= VALUES_IPV6_DST) {
        if (l.ip_version != 6)
            return 0;
    } else if (field >= VALUES_TCP_SRCPORT && field <= VALUES_TCP_URGENT_POINTER) {
        if (l.l4_proto != 6 || !t || l.l4_caplen < TCP_FIXED)
            return 0;
    } else if (field >= VALUES_UDP_SRCPORT && field <= VALUES_UDP_CHECKSUM) {
        if (l.l4_proto != 17 || !t || l.l4_caplen < UDP_FIXED)
            return 0;
    } else if (field >= VALUES_ICMP_TYPE && field <= VALUES_ICMP_CHECKSUM) {
        if (l.l4_proto != 1 || !t || l.l4_caplen < ICMP_FIXED)
            return 0;
    } else if (field >= VALUES_ICMPV6_TYPE && field <= VALUES_ICMPV6_CHECKSUM) {
        if (l.l4_proto != 58 || !t || l.l4_caplen < ICMP_FIXED)
            return 0;
    } else {
        return 0;
    }

    switch (field) {
    /* IPv4 (layers.h guarantees 20 captured bytes) */
    case VALUES_IP_VERSION: v = ip[0] >> 4; break;
    case VALUES_IP_HDR_LEN: v = (uint64_t)(ip[0] & 0x0f) * 4; break;
    case VALUES_IP_DSFIELD: v = ip[1]; break;
    case VALUES_IP_LEN: v = layers_be16(ip + 2); break;
    case VALUES_IP_ID: v = layers_be16(ip + 4); break;
    case VALUES_IP_FLAGS: v = ip[6] >> 5; break;
    case VALUES_IP_FRAG_OFFSET: v = layers_be16(ip + 6) & 0x1fff; break;
    case VALUES_IP_TTL: v = ip[8]; break;
    case VALUES_IP_PROTO: v = ip[9]; break;
    case VALUES_IP_CHECKSUM: v = layers_be16(ip + 10); break;
    case VALUES_IP_SRC: address = ip + 12; address_len = 4; v = layers_be32(address); break;
    case VALUES_IP_DST: address = ip + 16; address_len = 4; v = layers_be32(address); break;
    /* IPv6 (40 captured bytes) */
    case VALUES_IPV6_VERSION: v = ip[0] >> 4; break;
    case VALUES_IPV6_TCLASS: v = (layers_be32(ip) >> 20) & 0xff; break;
    case VALUES_IPV6_FLOW: v = layers_be32(ip) & 0xfffff; break;
    case VALUES_IPV6_PLEN: v = layers_be16(ip + 4); break;
    case VALUES_IPV6_NXT: v = ip[6]; break;
    case VALUES_IPV6_HLIM: v = ip[7]; break;
    case VALUES_IPV6_SRC:
    case VALUES_IPV6_DST:
        /* the u64 of an IPv6 address is its upper half (the /64 prefix), big-endian */
        address = ip + (field == VALUES_IPV6_SRC ? 8 : 24);
        address_len = 16;
        v = (uint64_t)layers_be32(address) << 32 | layers_be32(address + 4);
        break;
    /* TCP */
    case VALUES_TCP_SRCPORT: v = layers_be16(t); break;
    case VALUES_TCP_DSTPORT: v = layers_be16(t + 2); break;
    case VALUES_TCP_SEQ_RAW: v = layers_be32(t + 4); break;
    case VALUES_TCP_ACK_RAW: v = layers_be32(t + 8); break;
    case VALUES_TCP_HDR_LEN: v = (uint64_t)(t[12] >> 4) * 4; break;
    case VALUES_TCP_FLAGS: v = layers_be16(t + 12) & 0x0fff; break;
    case VALUES_TCP_WINDOW_SIZE_VALUE: v = layers_be16(t + 14); break;
    case VALUES_TCP_CHECKSUM: v = layers_be16(t + 16); break;
    case VALUES_TCP_URGENT_POINTER: v = layers_be16(t + 18); break;
    /* UDP */
    case VALUES_UDP_SRCPORT: v = layers_be16(t); break;
    case VALUES_UDP_DSTPORT: v = layers_be16(t + 2); break;
    case VALUES_UDP_LENGTH: v = layers_be16(t + 4); break;
    case VALUES_UDP_CHECKSUM: v = layers_be16(t + 6); break;
    /* ICMP, ICMPv6 */
    case VALUES_ICMP_TYPE: case VALUES_ICMPV6_TYPE: v = t[0]; break;
    case VALUES_ICMP_CODE: case VALUES_ICMPV6_CODE: v = t[1]; break;
    case VALUES_ICMP_CHECKSUM: case VALUES_ICMPV6_CHECKSUM: v = layers_be16(t + 2); break;
    default:
        return 0;
    }

    values_protinfo_result_t *r = s->result;
    r->value = v;
    if (address) {
        memset(r->address, 0, sizeof r->address);
        memcpy(r->address, address, address_len);
    }
    r->packets++;
    return 1;
}

/* ---- GAP ----------------------------------------------------------------------------------- */

int values_gap(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    values_gap_t *s = state;
    uint64_t gap = 0;
    if (!s->started) {
        s->started = 1;
    } else if (hdr->ts >= s->previous) {
        gap = hdr->ts - s->previous;
    } else {
        s->result->backward++;            /* out of order: no negative gap, no unsigned wrap */
    }
    s->result->gap = gap;
    s->previous = hdr->ts;
    return 1;
}

/* ---- HASH ---------------------------------------------------------------------------------- */

#define ARP_FIXED 8                       /* htype, ptype, hlen, plen, oper */

static uint64_t additive_hash(const unsigned char *p, uint32_t n)
{
    uint64_t sum = n;
    for (uint32_t i = 0; i < n; i++)
        sum += p[i];
    return sum % VALUES_HASH_MODULUS;
}

static int is_arp(const layers_t *l)
{
    return l->ethertype == LAYERS_ETHERTYPE_ARP || l->ethertype == LAYERS_ETHERTYPE_RARP;
}

/* Captured bytes of the ARP packet at l3 (its length follows from the address lengths). */
static uint32_t arp_len(const layers_t *l)
{
    if (l->l3_caplen < ARP_FIXED)
        return l->l3_caplen;
    uint32_t len = ARP_FIXED + 2u * ((uint32_t)l->l3[4] + l->l3[5]);
    return len < l->l3_caplen ? len : l->l3_caplen;
}

/* Captured bytes of the IP datagram at l3, without link-layer padding or trailers. */
static uint32_t ip_end(const layers_t *l)
{
    if (l->ip_len && l->ip_len < l->l3_caplen)
        return l->ip_len;
    return l->l3_caplen;
}

/* Where the bytes of `layer` start and how many of them were captured (0 when absent). */
static const unsigned char *hash_span(const unsigned char *pkt, const mapi_pkthdr_t *hdr, int layer,
                                      uint32_t *len)
{
    *len = 0;
    if (layer == 0) {
        *len = hdr->caplen;
        return pkt;
    }
    layers_t l;
    if (!layers_parse(pkt, hdr, &l))
        return NULL;
    switch (layer) {
    case 1:
        if (l.ip_version)
            *len = ip_end(&l);
        else if (is_arp(&l))
            *len = arp_len(&l);
        else
            *len = l.l3_caplen;
        return l.l3;
    case 2:
        if (l.ip_version && l.l3_hdr_len) {
            uint32_t end = ip_end(&l);
            if (end <= l.l3_hdr_len)
                return NULL;
            *len = end - l.l3_hdr_len;
            return l.l3 + l.l3_hdr_len;
        }
        if (is_arp(&l) && l.l3_caplen > ARP_FIXED) {
            *len = arp_len(&l) - ARP_FIXED;
            return l.l3 + ARP_FIXED;
        }
        return NULL;
    case 3:
        if (!l.payload)
            return NULL;
        *len = l.payload_caplen;
        return l.payload;
    default:
        return NULL;
    }
}

int values_hash(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    values_hash_t *s = state;
    uint32_t len;
    const unsigned char *p = hash_span(pkt, hdr, s->layer, &len);
    *s->result = p ? additive_hash(p, len) : 0;
    return 1;
}

/* ---- BINOP --------------------------------------------------------------------------------- */

int values_binop(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    values_binop_t *s = state;
    uint64_t a = mapi_ref_u64(&s->left), b = mapi_ref_u64(&s->right), r;
    switch (s->op) {
    case VALUES_BINOP_ADD: r = a + b; break;          /* unsigned: wraps modulo 2^64, like C */
    case VALUES_BINOP_SUB: r = a - b; break;
    case VALUES_BINOP_MUL: r = a * b; break;
    case VALUES_BINOP_DIV: r = b ? a / b : 0; break;  /* a zero divisor gives 0 */
    default: r = 0; break;
    }
    *s->result = r;
    return 1;
}
