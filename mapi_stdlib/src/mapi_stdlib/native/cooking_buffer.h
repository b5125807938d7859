/*
 * cooking_buffer.h: COOKING's storage for bytes that arrive out of order (private to cooking.c).
 *
 * Bytes live in fixed-size blocks taken from a pool reserved once per instance.  Every block has
 * a bit per byte that says whether the byte is present: the "fragment block bit table" of RFC 791
 * (section 3.2), kept per byte rather than per 8-octet unit so that TCP segments, which are not
 * 8-aligned, use the same code as IP fragments.  Holes are the clear bits; the first copy of a
 * byte wins, and a later copy is only compared with it (to count retransmissions and conflicts).
 *
 * A stream direction keeps its blocks in a list sorted by offset (in-order data is appended at the
 * tail in O(1)); a datagram under reassembly keeps an array indexed by offset.
 */
#ifndef COOKING_BUFFER_H
#define COOKING_BUFFER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cooking.h (the cffi declarations, no include guard) is included by cooking.c first */

#define COOKING_BLOCK_WORDS (COOKING_BLOCK_SIZE / 64)

/* ---- intrusive circular doubly linked lists --------------------------------------------------- */

typedef struct clink {
    struct clink *prev, *next;
} clink_t;

#define COOKING_CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void clink_init(clink_t *l) { l->prev = l->next = l; }
static inline int clink_linked(const clink_t *l) { return l->next != l; }
static inline int clist_empty(const clink_t *head) { return head->next == head; }

static inline void clink_remove(clink_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    clink_init(l);
}

static inline void clist_append(clink_t *head, clink_t *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

/* ---- blocks -------------------------------------------------------------------------------- */

typedef struct block {
    struct block *next;           /* next block of a stream (by offset), or of the free list */
    uint64_t index;               /* offset / COOKING_BLOCK_SIZE */
    uint32_t present;             /* bytes present */
    uint64_t bits[COOKING_BLOCK_WORDS];
    unsigned char data[COOKING_BLOCK_SIZE];
} block_t;

typedef struct pool {
    block_t *blocks;              /* COOKING_MAX_BLOCKS, zeroed lazily by the OS: touched when used */
    uint32_t bumped;              /* blocks handed out at least once */
    uint32_t in_use;
    block_t *free;
} pool_t;

static block_t *block_get(pool_t *pool, uint64_t index)
{
    block_t *b = pool->free;
    if (b)
        pool->free = b->next;
    else if (pool->bumped < COOKING_MAX_BLOCKS)
        b = &pool->blocks[pool->bumped++];
    else
        return NULL;
    b->next = NULL;
    b->index = index;
    b->present = 0;
    memset(b->bits, 0, sizeof b->bits);
    pool->in_use++;
    return b;
}

static void block_put(pool_t *pool, block_t *b)
{
    b->next = pool->free;
    pool->free = b;
    pool->in_use--;
}

/* Bits lo..hi-1 of a word (0 <= lo < hi <= 64). */
static inline uint64_t word_mask(uint32_t lo, uint32_t hi)
{
    uint64_t width = hi - lo == 64 ? ~0ULL : ((1ULL << (hi - lo)) - 1);
    return width << lo;
}

/* Present bytes in [a, a+n) of a block. */
static uint32_t block_count(const block_t *b, uint32_t a, uint32_t n)
{
    uint32_t count = 0, end = a + n;
    while (a < end) {
        uint32_t w = a >> 6, lo = a & 63, hi = end - (w << 6) < 64 ? end - (w << 6) : 64;
        count += (uint32_t)__builtin_popcountll(b->bits[w] & word_mask(lo, hi));
        a = (w << 6) + hi;
    }
    return count;
}

/*
 * Stores src into [a, a+n) of a block where bytes are absent (first copy wins).  For the bytes
 * already present, adds 1 to *again each and 1 to *differ for each that src would change; with
 * store == 0 nothing is written (compare only).  Returns the bytes stored.
 */
static uint32_t block_store(block_t *b, uint32_t a, const unsigned char *src, uint32_t n, int store,
                            uint64_t *again, uint64_t *differ)
{
    uint32_t stored = 0, i = a, end = a + n;
    while (i < end) {
        uint32_t w = i >> 6, lo = i & 63, hi = end - (w << 6) < 64 ? end - (w << 6) : 64;
        uint64_t mask = word_mask(lo, hi), have = b->bits[w] & mask;
        const unsigned char *s = src + (i - a);
        uint32_t span = hi - lo;
        if (!have) {
            if (store) {
                memcpy(b->data + i, s, span);
                b->bits[w] |= mask;
                stored += span;
            }
        } else if (have == mask && memcmp(b->data + i, s, span) == 0) {
            *again += span;
        } else {
            for (uint32_t k = 0; k < span; k++) {
                uint32_t pos = i + k;
                if (b->bits[w] >> (lo + k) & 1) {
                    ++*again;
                    *differ += b->data[pos] != s[k];
                } else if (store) {
                    b->data[pos] = s[k];
                    stored++;
                }
            }
            if (store)
                b->bits[w] |= mask;
        }
        i = (w << 6) + hi;
    }
    b->present += stored;
    return stored;
}

/* First byte at or after a that is absent (want_present 0) or present (1); COOKING_BLOCK_SIZE if none. */
static uint32_t block_scan(const block_t *b, uint32_t a, int want_present)
{
    for (uint32_t w = a >> 6; w < COOKING_BLOCK_WORDS; w++) {
        uint64_t word = want_present ? b->bits[w] : ~b->bits[w];
        if (w == a >> 6)
            word &= ~0ULL << (a & 63);
        if (word)
            return (w << 6) + (uint32_t)__builtin_ctzll(word);
    }
    return COOKING_BLOCK_SIZE;
}

/* ---- a stream direction's bytes: blocks sorted by offset -------------------------------------- */

typedef struct sbuf {
    block_t *head, *tail;
} sbuf_t;

/* The block holding offset index*BLOCK, or the first one after it (NULL if none). */
static block_t *sbuf_at_or_after(const sbuf_t *s, uint64_t index)
{
    if (!s->tail || s->tail->index < index)
        return NULL;
    block_t *b = s->head;
    while (b->index < index)
        b = b->next;
    return b;
}

/* The block of index, inserted in order if missing; NULL when the pool is exhausted. */
static block_t *sbuf_block(sbuf_t *s, pool_t *pool, uint64_t index)
{
    if (s->tail && s->tail->index == index)
        return s->tail;
    block_t *prev = NULL, *b = s->head;
    if (s->tail && s->tail->index < index) {
        prev = s->tail;
        b = NULL;
    } else {
        while (b && b->index < index) {
            prev = b;
            b = b->next;
        }
        if (b && b->index == index)
            return b;
    }
    block_t *fresh = block_get(pool, index);
    if (!fresh)
        return NULL;
    fresh->next = b;
    if (prev)
        prev->next = fresh;
    else
        s->head = fresh;
    if (!b)
        s->tail = fresh;
    return fresh;
}

/*
 * Stores n bytes at offset off (first copy wins; see block_store).  Bytes that find no block
 * (pool exhausted) are added to *dropped.  *high becomes at least the end of what was stored.
 * Returns the bytes stored.
 */
static uint64_t sbuf_store(sbuf_t *s, pool_t *pool, uint64_t off, const unsigned char *src, uint64_t n,
                           uint64_t *again, uint64_t *differ, uint64_t *dropped, uint64_t *high)
{
    uint64_t stored = 0;
    while (n) {
        uint64_t index = off / COOKING_BLOCK_SIZE;
        uint32_t in = (uint32_t)(off % COOKING_BLOCK_SIZE);
        uint32_t span = COOKING_BLOCK_SIZE - in < n ? COOKING_BLOCK_SIZE - in : (uint32_t)n;
        block_t *b = sbuf_block(s, pool, index);
        if (!b) {
            *dropped += n;
            break;
        }
        stored += block_store(b, in, src, span, 1, again, differ);
        off += span;
        src += span;
        n -= span;
        if (off > *high)
            *high = off;
    }
    return stored;
}

/* Compares n bytes at offset off with what is held, without storing (see block_store). */
static void sbuf_compare(const sbuf_t *s, uint64_t off, const unsigned char *src, uint64_t n,
                         uint64_t *again, uint64_t *differ)
{
    block_t *b = sbuf_at_or_after(s, off / COOKING_BLOCK_SIZE);
    while (n && b) {
        uint64_t start = b->index * COOKING_BLOCK_SIZE;
        if (start >= off + n)
            break;
        uint64_t from = off > start ? off : start;
        uint64_t to = off + n < start + COOKING_BLOCK_SIZE ? off + n : start + COOKING_BLOCK_SIZE;
        block_store(b, (uint32_t)(from - start), src + (from - off), (uint32_t)(to - from), 0, again, differ);
        b = b->next;
    }
}

/* First offset at or after off whose byte is absent. */
static uint64_t sbuf_first_absent(const sbuf_t *s, uint64_t off)
{
    block_t *b = sbuf_at_or_after(s, off / COOKING_BLOCK_SIZE);
    while (b && b->index == off / COOKING_BLOCK_SIZE) {
        uint32_t in = block_scan(b, (uint32_t)(off % COOKING_BLOCK_SIZE), 0);
        off = b->index * COOKING_BLOCK_SIZE + in;
        if (in < COOKING_BLOCK_SIZE)
            break;
        b = b->next;                   /* the run goes on if the next block is the adjacent one */
    }
    return off;
}

/* First offset in [off, limit) whose byte is present, or limit. */
static uint64_t sbuf_first_present(const sbuf_t *s, uint64_t off, uint64_t limit)
{
    for (block_t *b = sbuf_at_or_after(s, off / COOKING_BLOCK_SIZE); b; b = b->next) {
        uint64_t start = b->index * COOKING_BLOCK_SIZE;
        if (start >= limit)
            break;
        uint32_t in = block_scan(b, off > start ? (uint32_t)(off - start) : 0, 1);
        if (in < COOKING_BLOCK_SIZE)
            return start + in < limit ? start + in : limit;
    }
    return limit;
}

/* Present bytes at offsets >= off. */
static uint64_t sbuf_count_from(const sbuf_t *s, uint64_t off)
{
    uint64_t count = 0;
    for (block_t *b = sbuf_at_or_after(s, off / COOKING_BLOCK_SIZE); b; b = b->next) {
        uint64_t start = b->index * COOKING_BLOCK_SIZE;
        if (off > start)
            count += block_count(b, (uint32_t)(off - start), (uint32_t)(start + COOKING_BLOCK_SIZE - off));
        else
            count += b->present;
    }
    return count;
}

/*
 * Copies up to want present bytes of [from, to) to out, in offset order (absent bytes, which
 * were given up as missing, are skipped).  *next: the offset after the last byte copied, or to
 * when fewer than want were there.  Returns the bytes copied.
 */
static uint64_t sbuf_read(const sbuf_t *s, uint64_t from, uint64_t to, unsigned char *out, uint64_t want,
                          uint64_t *next)
{
    uint64_t copied = 0, off = from;
    for (block_t *b = sbuf_at_or_after(s, from / COOKING_BLOCK_SIZE); b && copied < want; b = b->next) {
        uint64_t start = b->index * COOKING_BLOCK_SIZE;
        if (start >= to)
            break;
        uint32_t in = off > start ? (uint32_t)(off - start) : 0;
        uint32_t end = start + COOKING_BLOCK_SIZE > to ? (uint32_t)(to - start) : COOKING_BLOCK_SIZE;
        while (in < end && copied < want) {
            uint32_t run = block_scan(b, in, 1);
            if (run >= end)
                break;
            uint32_t stop = block_scan(b, run, 0);
            if (stop > end)
                stop = end;
            uint64_t take = stop - run < want - copied ? stop - run : want - copied;
            memcpy(out + copied, b->data + run, take);
            copied += take;
            in = run + (uint32_t)take;
            off = start + in;
        }
    }
    *next = copied < want ? to : off;
    return copied;
}

/* Returns to the pool the blocks that hold only offsets below off. */
static void sbuf_release_below(sbuf_t *s, pool_t *pool, uint64_t off)
{
    while (s->head && (s->head->index + 1) * COOKING_BLOCK_SIZE <= off) {
        block_t *b = s->head;
        s->head = b->next;
        if (!s->head)
            s->tail = NULL;
        block_put(pool, b);
    }
}

static void sbuf_release_all(sbuf_t *s, pool_t *pool)
{
    while (s->head) {
        block_t *b = s->head;
        s->head = b->next;
        block_put(pool, b);
    }
    s->tail = NULL;
}

/* ---- Internet checksum (RFC 1071) ----------------------------------------------------------- */

static uint64_t csum_add(uint64_t sum, const unsigned char *p, size_t n)
{
    for (; n >= 2; p += 2, n -= 2)
        sum += (uint32_t)p[0] << 8 | p[1];
    if (n)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static inline void put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

#endif /* COOKING_BUFFER_H */
