/*
 * cooking_defrag.h: IPv4 and IPv6 defragmentation for COOKING (private to cooking.c).
 *
 * A datagram's fragments are keyed by (source, destination, identification, protocol, version).
 * Presence is tracked per byte (RFC 791's bit table); the datagram is complete when its last
 * fragment (MF clear) has fixed the length and every byte before it is present.  It is rebuilt in
 * place of the packet that completed it: the link and IP headers of the fragment at offset 0, the
 * IP total length (IPv6 payload length) set, MF and the offset cleared (IPv6: the fragment header
 * removed), the IPv4 header checksum recomputed.  The transport checksum is left as sent: it
 * covers the whole datagram, so it is right again once the datagram is whole.
 *
 * Overlaps: IPv4 keeps the first copy of each byte (later overlapping bytes are counted and
 * ignored); IPv6 drops the datagram and its later fragments (RFC 5722), except for an exact
 * duplicate of bytes already held, which is ignored.  A last fragment that contradicts the known
 * length, a fragment past 65535 bytes, a non-last fragment whose length is not a multiple of 8, or
 * a fragment cut by the capture makes the fragment invalid; a contradiction about the length gives
 * the datagram up.  Incomplete datagrams are given up after COOKING_FRAG_TIMEOUT_V4/_V6 seconds of
 * packet time, or when COOKING_MAX_DATAGRAMS are pending and room is needed (oldest first).
 */
#ifndef COOKING_DEFRAG_H
#define COOKING_DEFRAG_H

#include <mapi/abi.h>
#include "layers.h"
#include "cooking_state.h"

enum { DEFRAG_CONSUMED = 0, DEFRAG_COMPLETE = 1 };

static void dgram_release_blocks(cooking_t *c, dgram_t *d)
{
    for (uint32_t i = 0; i < COOKING_DGRAM_BLOCKS; i++) {
        if (d->blocks[i]) {
            block_put(&c->pool, d->blocks[i]);
            d->blocks[i] = NULL;
        }
    }
    d->present = 0;
}

static void dgram_free(cooking_t *c, dgram_t *d)
{
    dgram_t **slot = &c->dbuckets[cooking_hash(c->seed, &d->key, sizeof d->key) & c->dbucket_mask];
    while (*slot != d)
        slot = &(*slot)->hnext;
    *slot = d->hnext;
    clink_remove(&d->lru);
    dgram_release_blocks(c, d);
    d->hnext = c->dgram_free;
    c->dgram_free = d;
    if (!d->poisoned)
        c->stats->pending_datagrams--;
}

/* Gives up a datagram but keeps its key, so that its remaining fragments are absorbed. */
static void dgram_poison(cooking_t *c, dgram_t *d)
{
    dgram_release_blocks(c, d);
    d->poisoned = 1;
    c->stats->pending_datagrams--;
}

static void defrag_expire(cooking_t *c)
{
    static const uint64_t timeouts[2] = {(uint64_t)COOKING_FRAG_TIMEOUT_V4 << 32,
                                         (uint64_t)COOKING_FRAG_TIMEOUT_V6 << 32};
    for (int v = 0; v < 2; v++) {
        while (!clist_empty(&c->dgram_lru[v])) {
            dgram_t *d = COOKING_CONTAINER(c->dgram_lru[v].next, dgram_t, lru);
            if (d->first + timeouts[v] >= c->now)
                break;
            if (!d->poisoned)
                c->stats->datagrams_expired++;
            dgram_free(c, d);
        }
    }
}

static dgram_t *dgram_find(cooking_t *c, const dgram_key_t *key)
{
    dgram_t *d = c->dbuckets[cooking_hash(c->seed, key, sizeof *key) & c->dbucket_mask];
    while (d && memcmp(&d->key, key, sizeof *key) != 0)
        d = d->hnext;
    return d;
}

static dgram_t *dgram_create(cooking_t *c, const dgram_key_t *key)
{
    dgram_t *d = c->dgram_free;
    if (d) {
        c->dgram_free = d->hnext;
    } else if (c->dgrams_bumped < COOKING_MAX_DATAGRAMS) {
        d = &c->dgrams[c->dgrams_bumped++];
    } else {
        /* full: give up the oldest pending datagram of either version */
        clink_t *oldest = NULL;
        for (int v = 0; v < 2; v++) {
            if (clist_empty(&c->dgram_lru[v]))
                continue;
            dgram_t *head = COOKING_CONTAINER(c->dgram_lru[v].next, dgram_t, lru);
            if (!oldest || head->first < COOKING_CONTAINER(oldest, dgram_t, lru)->first)
                oldest = &head->lru;
        }
        dgram_t *victim = COOKING_CONTAINER(oldest, dgram_t, lru);
        if (!victim->poisoned)
            c->stats->datagrams_evicted++;
        dgram_free(c, victim);
        d = c->dgram_free;
        c->dgram_free = d->hnext;
    }
    memset(d, 0, sizeof *d);
    d->key = *key;
    d->first = c->now;
    clink_init(&d->lru);
    clist_append(&c->dgram_lru[key->version == 6], &d->lru);
    dgram_t **slot = &c->dbuckets[cooking_hash(c->seed, key, sizeof *key) & c->dbucket_mask];
    d->hnext = *slot;
    *slot = d;
    c->stats->pending_datagrams++;
    return d;
}

/* What one fragment says about itself. */
typedef struct fragment {
    dgram_key_t key;
    uint32_t offset;             /* of its data in the datagram's data */
    uint32_t len;                /* data bytes */
    int more;                    /* MF */
    const unsigned char *data;
    uint32_t unfragmentable;     /* IP header bytes kept from the offset-0 fragment (from l3) */
    uint32_t nh_at;              /* IPv6: l3 offset of the byte that names the fragment header */
    uint32_t max_end;            /* data may not end past this (65535-byte IP length) */
} fragment_t;

/* Fills *f from the packet; 0 when it is not a well-formed, fully captured fragment. */
static int fragment_parse(const layers_t *L, fragment_t *f)
{
    const unsigned char *ip = L->l3;
    memset(f, 0, sizeof *f);
    uint32_t header, ip_len = L->ip_len;
    if (L->ip_version == 4) {
        header = L->l3_hdr_len;
        uint16_t field = layers_be16(ip + 6);
        f->offset = (uint32_t)(field & 0x1fff) * 8;
        f->more = (field & 0x2000) != 0;
        f->key.id = layers_be16(ip + 4);
        f->key.proto = ip[9];
        memcpy(f->key.src, ip + 12, 4);
        memcpy(f->key.dst, ip + 16, 4);
        f->unfragmentable = header;
        f->max_end = 65535 - header;
    } else {
        /* the first fragment header, after the extension headers that precede it */
        uint32_t off = 40, nh_at = 6;
        uint8_t next = ip[6];
        for (;;) {
            if (L->l3_caplen < off + 8)
                return 0;
            if (next == 44)
                break;
            if (next == 0 || next == 43 || next == 60) {
                nh_at = off;
                next = ip[off];
                off += ((uint32_t)ip[off + 1] + 1) * 8;
            } else if (next == 51) {
                nh_at = off;
                next = ip[off];
                off += ((uint32_t)ip[off + 1] + 2) * 4;
            } else {
                return 0;
            }
        }
        uint16_t field = layers_be16(ip + off + 2);
        f->offset = field & 0xfff8;
        f->more = field & 1;
        f->key.id = layers_be32(ip + off + 4);
        f->key.proto = ip[off];
        memcpy(f->key.src, ip + 8, 16);
        memcpy(f->key.dst, ip + 24, 16);
        f->unfragmentable = off;
        f->nh_at = nh_at;
        f->max_end = 65535 - (off - 40);
        header = off + 8;
    }
    f->key.version = L->ip_version;
    if (ip_len < header || L->l3_caplen < ip_len)
        return 0;                                    /* jumbo, inconsistent, or cut by the snaplen */
    f->data = ip + header;
    f->len = ip_len - header;
    if (f->offset + f->len > f->max_end)
        return 0;
    if (f->more && (f->len == 0 || f->len % 8))
        return 0;
    return 1;
}

/* Writes the complete datagram d over the packet; DEFRAG_CONSUMED if it does not fit. */
static int dgram_rebuild(cooking_t *c, dgram_t *d, unsigned char *pkt, mapi_pkthdr_t *hdr, uint32_t room)
{
    uint32_t size = d->hdr_len + d->total;
    if (size > room) {
        c->stats->fragments_invalid++;
        dgram_poison(c, d);
        return DEFRAG_CONSUMED;
    }
    memcpy(pkt, d->hdr, d->hdr_len);
    for (uint32_t at = 0; at < d->total; at += COOKING_BLOCK_SIZE) {
        uint32_t n = d->total - at < COOKING_BLOCK_SIZE ? d->total - at : COOKING_BLOCK_SIZE;
        memcpy(pkt + d->hdr_len + at, d->blocks[at / COOKING_BLOCK_SIZE]->data, n);
    }
    unsigned char *ip = pkt + d->l2_len;
    uint32_t ip_header = d->hdr_len - d->l2_len;
    if (d->key.version == 4) {
        put16(ip + 2, ip_header + d->total);
        put16(ip + 6, layers_be16(ip + 6) & 0xc000);   /* keep the reserved bit and DF */
        put16(ip + 10, 0);
        put16(ip + 10, csum_fold(csum_add(0, ip, ip_header)));
    } else {
        pkt[d->nh_off] = d->key.proto;
        put16(ip + 4, ip_header - 40 + d->total);
    }
    hdr->caplen = hdr->wlen = size;
    hdr->linktype = d->linktype;
    c->stats->datagrams_reassembled++;
    dgram_free(c, d);
    return DEFRAG_COMPLETE;
}

/*
 * A fragment: DEFRAG_COMPLETE when it completed its datagram, which then replaces the packet
 * (pkt, hdr rewritten); DEFRAG_CONSUMED otherwise (held, duplicate, invalid or given up).
 */
static int defrag_input(cooking_t *c, unsigned char *pkt, mapi_pkthdr_t *hdr, const layers_t *L, uint32_t room)
{
    cooking_stats_t *st = c->stats;
    st->fragments++;
    fragment_t f;
    if (!fragment_parse(L, &f)) {
        st->fragments_invalid++;
        return DEFRAG_CONSUMED;
    }
    dgram_t *d = dgram_find(c, &f.key);
    if (!d)
        d = dgram_create(c, &f.key);
    if (d->poisoned)
        return DEFRAG_CONSUMED;

    uint32_t end = f.offset + f.len;
    if ((!f.more && ((d->has_last && d->total != end) || d->end > end)) || (d->has_last && end > d->total)) {
        st->fragments_invalid++;                      /* contradicts the length already known */
        dgram_poison(c, d);
        return DEFRAG_CONSUMED;
    }
    if (f.offset == 0 && d->hdr_len == 0) {
        uint32_t size = L->l2_len + f.unfragmentable;
        if (size > COOKING_MAX_HEADERS) {
            st->fragments_invalid++;
            dgram_poison(c, d);
            return DEFRAG_CONSUMED;
        }
        memcpy(d->hdr, pkt, size);
        d->hdr_len = (uint16_t)size;
        d->l2_len = (uint16_t)L->l2_len;
        d->nh_off = (uint16_t)(L->l2_len + f.nh_at);
        d->linktype = hdr->linktype;
    }
    if (!f.more) {
        d->has_last = 1;
        d->total = end;
    }

    /* what is already held of [offset, end) */
    uint64_t again = 0, differ = 0;
    for (uint32_t at = f.offset; at < end;) {
        uint32_t in = at % COOKING_BLOCK_SIZE, n = COOKING_BLOCK_SIZE - in;
        if (n > end - at)
            n = end - at;
        block_t *b = d->blocks[at / COOKING_BLOCK_SIZE];
        if (b)
            block_store(b, in, f.data + (at - f.offset), n, 0, &again, &differ);
        at += n;
    }
    if (again) {
        if (f.key.version == 6 && (again != f.len || differ)) {
            st->datagrams_overlap_dropped++;          /* RFC 5722 */
            dgram_poison(c, d);
            return DEFRAG_CONSUMED;
        }
        if (f.key.version == 4)
            st->fragment_overlap_bytes += again;
    }
    for (uint32_t at = f.offset; at < end;) {
        uint32_t in = at % COOKING_BLOCK_SIZE, n = COOKING_BLOCK_SIZE - in;
        if (n > end - at)
            n = end - at;
        block_t **slot = &d->blocks[at / COOKING_BLOCK_SIZE];
        if (!*slot && !(*slot = block_get(&c->pool, at / COOKING_BLOCK_SIZE))) {
            st->datagrams_evicted++;                  /* no buffer memory left */
            dgram_poison(c, d);
            return DEFRAG_CONSUMED;
        }
        uint64_t ignored_again = 0, ignored_differ = 0;
        d->present += block_store(*slot, in, f.data + (at - f.offset), n, 1, &ignored_again, &ignored_differ);
        at += n;
    }
    if (end > d->end)
        d->end = end;
    if (d->hdr_len && d->has_last && d->present == d->total)
        return dgram_rebuild(c, d, pkt, hdr, room);
    return DEFRAG_CONSUMED;
}

#endif /* COOKING_DEFRAG_H */
