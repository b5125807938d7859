/*
 * cooking_state.h: the state of one COOKING instance (private to cooking.c).
 */
#ifndef COOKING_STATE_H
#define COOKING_STATE_H

#include <stdint.h>

/* cooking.h (the cffi declarations, no include guard) is included by cooking.c first */
#include "cooking_buffer.h"

/* ---- TCP ----------------------------------------------------------------------------------- */

/*
 * One direction of a connection: the bytes one endpoint sends.  Offsets count from the first
 * byte after the SYN (or from the first segment seen, for a connection picked up mid-stream), in
 * 64 bits, so sequence numbers wrap around freely.
 *
 *   [0, base)        delivered in chunks (or given up)
 *   [base, contig)   resolved: every byte is present or was given up as missing; ready_bytes
 *                    of them are present and wait for delivery
 *   [contig, ...)    out of order: present bytes after a hole
 */
typedef struct half {
    clink_t ready;               /* in the instance's queue of directions with a chunk ready */
    uint8_t idx;                 /* 0 or 1: which half of its connection */
    uint8_t collect;             /* its bytes are cooked (per the direction argument) */
    uint8_t init;                /* isn is known */
    uint8_t fin;                 /* a FIN was seen; fin_off is its offset */
    uint8_t final;               /* no more bytes will come: deliver the rest, however short */
    uint8_t done;                /* ret_once: its chunk was delivered, its bytes are ignored */
    uint32_t isn;                /* sequence number of offset 0 */
    uint64_t base, contig, high, fin_off, ready_bytes;
    sbuf_t buf;
    /* the headers of its latest packet, for its cooked packets */
    uint16_t hdr_len, l2_len, l4_off, linktype;
    uint8_t ip_version;
    unsigned char hdr[COOKING_MAX_HEADERS];
} half_t;

/* Both endpoints of a connection, the lower (address, port) first: one key for both directions. */
typedef struct conn_key {
    uint8_t addr[2][16];
    uint16_t port[2];
    uint8_t version;
    uint8_t pad[3];
} conn_key_t;

typedef struct conn {
    conn_key_t key;
    struct conn *hnext;          /* hash chain; free list */
    clink_t lru;                 /* the open or the closed list, oldest first */
    uint64_t last;               /* packet time of its latest packet */
    uint8_t in_table;            /* findable by its key */
    uint8_t closed;              /* FIN both ways or RST: lingers to absorb late packets */
    uint8_t client;              /* endpoint index (0/1) of the client */
    half_t half[2];              /* half[i]: the bytes endpoint i sends */
} conn_t;

/* ---- IP fragments --------------------------------------------------------------------------- */

typedef struct dgram_key {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t proto, version;
    uint8_t pad[2];
} dgram_key_t;

#define COOKING_DGRAM_BLOCKS (65536 / COOKING_BLOCK_SIZE)

typedef struct dgram {
    dgram_key_t key;
    struct dgram *hnext;         /* hash chain; free list */
    clink_t lru;                 /* its version's list, oldest first */
    uint64_t first;              /* packet time of its first fragment */
    uint32_t total;              /* data bytes, known once the last fragment arrived */
    uint32_t present;            /* data bytes held */
    uint32_t end;                /* end of the highest data held */
    uint8_t has_last;
    uint8_t poisoned;            /* given up: absorbs its remaining fragments until it expires */
    /* headers of the fragment at offset 0 (link + IP, IPv6 without the fragment header) */
    uint16_t hdr_len, l2_len, nh_off, linktype;
    unsigned char hdr[COOKING_MAX_HEADERS];
    block_t *blocks[COOKING_DGRAM_BLOCKS];
} dgram_t;

/* ---- the instance ---------------------------------------------------------------------------- */

struct cooking {
    cooking_stats_t *stats;      /* the result memory */
    uint32_t threshold;
    uint64_t timeout;            /* 32.32; 0: connections never expire */
    int ret_once;
    int direction;
    uint64_t now;                /* latest packet time seen (timestamps may go backwards) */
    uint64_t seed;

    pool_t pool;

    conn_t *conns;               /* COOKING_MAX_CONNECTIONS records */
    uint32_t conns_bumped;
    conn_t *conn_free;
    conn_t **buckets;
    uint32_t bucket_mask;
    clink_t open_lru, closed_lru;
    clink_t ready;               /* directions with a chunk to deliver, in the order they became ready */

    dgram_t *dgrams;             /* COOKING_MAX_DATAGRAMS records */
    uint32_t dgrams_bumped;
    dgram_t *dgram_free;
    dgram_t **dbuckets;
    uint32_t dbucket_mask;
    clink_t dgram_lru[2];        /* [0] IPv4, [1] IPv6 */
};

static inline uint64_t cooking_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* A keyed hash of a key of whole 8-byte words. */
static inline uint64_t cooking_hash(uint64_t seed, const void *key, size_t size)
{
    uint64_t h = seed, word;
    for (size_t i = 0; i + 8 <= size; i += 8) {
        memcpy(&word, (const char *)key + i, 8);
        h = cooking_mix(h ^ word);
    }
    return h;
}

#endif /* COOKING_STATE_H */
