/*
 * mapi-stdlib's statistics functions: the per-packet code of STAT, DIST, BUCKET, BURST and TOP.
 *
 * Each function writes its result memory only here, inside process(), so readers (which copy it
 * under the engine's per-flow seqlock) always see a state between two batches.  Nothing on the
 * common path allocates: TOP's hash table grows by doubling, a handful of times at most.
 */
#include <stdlib.h>
#include <string.h>

#include <mapi/abi.h>
#include "stats.h"
#include "layers.h"
#include "stat_record.h"

MAPI_DEFINE_ABI_VERSION

/* ---- periodic clock (STAT, BUCKET) ---------------------------------------------------------- */

/*
 * Intervals are [start + k*interval, start + (k+1)*interval) of packet time, the first packet's
 * timestamp being the first start.  A packet at or past the end of the interval in progress
 * closes it, and every fully empty interval after it; the packet itself belongs to the interval
 * it falls in.  A packet stamped before the interval in progress (out-of-order timestamps) counts
 * in the interval in progress.
 *
 * The value of an interval is the source's value after the last packet of the interval.  The
 * source (applied before the reader, or on another flow) has already counted the packet that
 * closes the interval when the reader sees it, so the value is the one read on the previous
 * packet (clock->last).  With reset, the source is zeroed at each boundary; what it had gained
 * from the closing packet (value now - value before) belongs to the new interval and would be
 * lost, so it is carried into that interval's value.  For sources that accumulate (counters),
 * an interval's value is then exactly what they counted in it.
 */

/*
 * Advances the clock to a packet at ts whose source value is now `now`.  Returns the number of
 * intervals the packet closes (0: it belongs to the interval in progress); then *closed is the
 * value of the first of them and *empty that of each following (empty) one.  The caller resets
 * the source when this returns > 0 and clock->reset is set.
 */
static uint64_t clock_advance(stats_clock_t *c, uint64_t ts, uint64_t now, uint64_t *closed, uint64_t *empty)
{
    if (!c->started) {
        c->started = 1;
        c->start = ts;
        c->last = now;
        c->carry = 0;
        return 0;
    }
    if (ts < c->start || ts - c->start < c->interval) {
        c->last = now;
        return 0;
    }
    uint64_t n = (ts - c->start) / c->interval;
    *closed = c->last + c->carry;
    *empty = c->reset ? 0 : c->last;
    c->start += n * c->interval;
    if (c->reset) {
        /* a value below the previous one means someone else reset the source meanwhile */
        c->carry = now >= c->last ? now - c->last : now;
        c->last = 0;
    } else {
        c->last = now;
    }
    return n;
}

/* The value of the interval in progress so far. */
static inline uint64_t clock_open_value(const stats_clock_t *c)
{
    return c->last + c->carry;
}

/* ---- STAT ----------------------------------------------------------------------------------- */

/* Adds k samples of value 0 in O(1): a gap of empty intervals may be billions long. */
static void stat_record_add_zeros(stat_record_t *r, uint64_t k)
{
    if (k == 0)
        return;
    if (r->count == 0)
        r->max = 0;
    r->min = 0;
    r->count += k;
}

int stats_stat_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    stats_stat_t *s = state;
    stat_record_t *r = (stat_record_t *)s->result;
    uint64_t now = mapi_ref_u64(&s->source);

    switch (s->mode) {
    case STATS_EVERY:
        stat_record_add(r, now);
        break;
    case STATS_SKIP_FIRST:
        if (s->seen)
            stat_record_add(r, now);
        s->seen = 1;
        break;
    default: {
        uint64_t closed, empty;
        uint64_t n = clock_advance(&s->clock, hdr->ts, now, &closed, &empty);
        if (n) {
            stat_record_add(r, closed);
            stat_record_add_zeros(r, n - 1);    /* the source was reset: empty intervals hold 0 */
            mapi_ref_reset(&s->source);
        }
        break;
    }
    }
    return 1;
}

/* ---- DIST ----------------------------------------------------------------------------------- */

/*
 * Bins: counts[0] for values below minimum, counts[1 + i] for [minimum + i*width,
 * minimum + (i+1)*width), the last regular bin closed at maximum, counts[nbins + 1] above maximum.
 */
int stats_dist_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    stats_dist_t *d = state;
    uint64_t *counts = (uint64_t *)d->result;
    uint64_t v = mapi_ref_u64(&d->source);
    if (v < d->minimum) {
        counts[0]++;
    } else if (v > d->maximum) {
        counts[d->nbins + 1]++;
    } else {
        uint64_t i = (v - d->minimum) / d->width;
        if (i >= d->nbins)
            i = d->nbins - 1;
        counts[1 + i]++;
    }
    return 1;
}

/* ---- BUCKET --------------------------------------------------------------------------------- */

static inline stats_bucket_entry_t *bucket_ring(stats_bucket_t *b)
{
    return (stats_bucket_entry_t *)(b->result + sizeof(stats_bucket_header_t));
}

static void bucket_push(stats_bucket_t *b, uint64_t start, uint64_t value)
{
    stats_bucket_header_t *h = (stats_bucket_header_t *)b->result;
    stats_bucket_entry_t *e = &bucket_ring(b)[h->written % b->ring_size];
    e->start = start;
    e->value = value;
    h->written++;
}

/* Pushes `count` entries (first + k*step, value) for k = 1..count; only the last ring_size can
 * survive in the ring, so the others are counted as written (the reader reports them lost)
 * without being stored. */
static void bucket_push_run(stats_bucket_t *b, uint64_t first, uint64_t step, uint64_t count, uint64_t value)
{
    stats_bucket_header_t *h = (stats_bucket_header_t *)b->result;
    uint64_t k = 1;
    if (count > b->ring_size) {
        h->written += count - b->ring_size;
        k = count - b->ring_size + 1;
    }
    for (; k <= count; k++)
        bucket_push(b, first + k * step, value);
}

int stats_bucket_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    stats_bucket_t *b = state;
    stats_bucket_header_t *h = (stats_bucket_header_t *)b->result;
    uint64_t now = mapi_ref_u64(&b->source);

    switch (b->mode) {
    case BUCKET_EVERY:
        bucket_push(b, hdr->ts, now);
        if (b->reset)
            mapi_ref_reset(&b->source);
        h->started = 1;
        break;
    case BUCKET_NEVER:
        if (!h->started) {
            h->started = 1;
            h->open_start = hdr->ts;
        }
        h->open_value = now;
        break;
    default: {
        uint64_t start = b->clock.start, closed, empty;
        uint64_t n = clock_advance(&b->clock, hdr->ts, now, &closed, &empty);
        if (n) {
            bucket_push(b, start, closed);
            bucket_push_run(b, start, b->clock.interval, n - 1, empty);
            if (b->reset)
                mapi_ref_reset(&b->source);
        }
        h->started = 1;
        h->open_start = b->clock.start;
        h->open_value = clock_open_value(&b->clock);
        break;
    }
    }
    return 1;
}

/* ---- BURST ---------------------------------------------------------------------------------- */

/* Time to send wlen bytes at `speed` Mbit/s, in 32.32 units, rounded down. */
static inline uint64_t burst_tx_time(uint64_t wlen, uint64_t speed)
{
    return (uint64_t)(((unsigned __int128)wlen * 8u << 32) / ((unsigned __int128)speed * 1000000u));
}

/* Byte times in a 32.32 duration at `speed` Mbit/s, rounded down. */
static inline uint64_t burst_byte_times(uint64_t duration, uint64_t speed)
{
    unsigned __int128 bytes = (unsigned __int128)duration * speed * 1000000u / 8u >> 32;
    return bytes > UINT64_MAX ? UINT64_MAX : (uint64_t)bytes;
}

static inline uint64_t burst_category(const stats_burst_t *b, uint64_t bytes)
{
    if (bytes < b->minimum)
        return 0;
    uint64_t c = 1 + (bytes - b->minimum) / b->step;
    return c < b->ncategories - 1 ? c : b->ncategories - 1;
}

/*
 * A packet continues the burst in progress when it starts within [expected - early,
 * expected + late], expected being the previous packet's ts + its transmission time at the link
 * speed + the inter-frame time.  Otherwise the burst in progress ends: its bytes (wire lengths)
 * pick the category that gets its bytes, packets and one burst, and the gap that follows it
 * (ts - expected in byte times at the link speed, 0 if the packet came early) goes to the same
 * category's gap_bytes and gaps.
 */
int stats_burst_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    stats_burst_t *b = state;
    stats_burst_category_t *cats = (stats_burst_category_t *)b->result;
    stats_burst_open_t *open = (stats_burst_open_t *)(cats + b->ncategories);
    uint64_t ts = hdr->ts, wlen = hdr->wlen;

    if (b->started) {
        uint64_t expected = b->prev_ts + burst_tx_time(b->prev_wlen, b->speed) + b->frame_gap;
        uint64_t low = expected > b->early ? expected - b->early : 0;
        uint64_t high = expected + b->late >= expected ? expected + b->late : UINT64_MAX;
        if (ts >= low && ts <= high) {
            b->open_bytes += wlen;
            b->open_packets++;
        } else {
            stats_burst_category_t *c = &cats[burst_category(b, b->open_bytes)];
            c->bytes += b->open_bytes;
            c->packets += b->open_packets;
            c->bursts++;
            c->gap_bytes += ts > expected ? burst_byte_times(ts - expected, b->speed) : 0;
            c->gaps++;
            b->open_bytes = wlen;
            b->open_packets = 1;
        }
    } else {
        b->started = 1;
        b->open_bytes = wlen;
        b->open_packets = 1;
    }
    b->prev_ts = ts;
    b->prev_wlen = wlen;
    open->bytes = b->open_bytes;
    open->packets = b->open_packets;
    return 1;
}

/* ---- TOP ------------------------------------------------------------------------------------ */

#define TOPX_IP 1
#define TOPX_TCP 2
#define TOPX_UDP 3
#define TOPX_ICMP 4

enum {
    IP_TOS = 1, IP_LENGTH, IP_ID, IP_OFFSET, IP_TTL, IP_PROTOCOL, IP_CHECKSUM, IP_SRCIP, IP_DSTIP,
    TCP_SRCPORT, TCP_DSTPORT, TCP_SEQ, TCP_ACK, TCP_FLAGS, TCP_WIN, TCP_CRC, TCP_URGENT,
    UDP_SRCPORT, UDP_DSTPORT, UDP_LENGTH, UDP_CHECKSUM,
    ICMP_TYPE, ICMP_CODE, ICMP_CHECKSUM,
};

#define TOP_INITIAL_SLOTS 1024u

typedef struct top_slot {
    uint8_t key[16];
    uint32_t kind;             /* 0: empty slot, else TOP_KIND_* */
    int32_t rank;              /* index in the top list, -1 when not in it */
    uint64_t packets, bytes;
} top_slot_t;

struct stats_top {
    stats_top_header_t *header;
    stats_top_entry_t *list;    /* x entries, in the result memory */
    uint32_t *list_slot;        /* the table slot of each list entry */
    uint32_t x;
    int protocol, field, by_bytes;
    uint64_t reset_interval;    /* 32.32 units, 0: never */
    int started;
    top_slot_t *table;
    uint64_t slots, max_slots;  /* powers of two */
    uint64_t seed;
};

stats_top_t *stats_top_new(void *result, uint32_t x, int protocol, int field, int by_bytes,
                           uint64_t reset_interval, uint64_t max_slots, uint64_t seed)
{
    stats_top_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->header = result;
    t->list = (stats_top_entry_t *)((unsigned char *)result + sizeof(stats_top_header_t));
    t->x = x;
    t->protocol = protocol;
    t->field = field;
    t->by_bytes = by_bytes;
    t->reset_interval = reset_interval;
    t->max_slots = max_slots;
    t->slots = TOP_INITIAL_SLOTS < max_slots ? TOP_INITIAL_SLOTS : max_slots;
    t->seed = seed;
    t->list_slot = calloc(x, sizeof *t->list_slot);
    t->table = calloc(t->slots, sizeof *t->table);
    if (!t->list_slot || !t->table) {
        stats_top_free(t);
        return NULL;
    }
    return t;
}

void stats_top_free(stats_top_t *t)
{
    if (!t)
        return;
    free(t->list_slot);
    free(t->table);
    free(t);
}

/* splitmix64's finalizer, seeded per instance so crafted traffic cannot aim at one chain. */
static inline uint64_t top_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t top_hash(const stats_top_t *t, const uint8_t key[16], uint32_t kind)
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    return top_mix(top_mix(a ^ t->seed) ^ b ^ ((uint64_t)kind << 56));
}

/* The slot holding (key, kind), or the empty slot where it belongs. */
static top_slot_t *top_find(top_slot_t *table, uint64_t slots, uint64_t hash, const uint8_t key[16], uint32_t kind)
{
    uint64_t mask = slots - 1;
    for (uint64_t i = hash & mask;; i = (i + 1) & mask) {
        top_slot_t *s = &table[i];
        if (s->kind == 0 || (s->kind == kind && memcmp(s->key, key, 16) == 0))
            return s;
    }
}

/* Doubles the table; returns 0 when it may not or cannot grow. */
static int top_grow(stats_top_t *t)
{
    if (t->slots >= t->max_slots)
        return 0;
    uint64_t slots = t->slots * 2;
    top_slot_t *table = calloc(slots, sizeof *table);
    if (!table)
        return 0;
    for (uint64_t i = 0; i < t->slots; i++) {
        top_slot_t *old = &t->table[i];
        if (old->kind == 0)
            continue;
        top_slot_t *s = top_find(table, slots, top_hash(t, old->key, old->kind), old->key, old->kind);
        *s = *old;
        if (s->rank >= 0)
            t->list_slot[s->rank] = (uint32_t)(s - table);
    }
    free(t->table);
    t->table = table;
    t->slots = slots;
    return 1;
}

static inline uint64_t top_metric(const stats_top_t *t, uint64_t packets, uint64_t bytes)
{
    return t->by_bytes ? bytes : packets;
}

static void top_list_swap(stats_top_t *t, uint32_t a, uint32_t b)
{
    stats_top_entry_t e = t->list[a];
    t->list[a] = t->list[b];
    t->list[b] = e;
    uint32_t s = t->list_slot[a];
    t->list_slot[a] = t->list_slot[b];
    t->list_slot[b] = s;
    t->table[t->list_slot[a]].rank = (int32_t)a;
    t->table[t->list_slot[b]].rank = (int32_t)b;
}

/*
 * Keeps the list sorted after slot s grew: it moves up past the entries it now strictly exceeds
 * (so of two equal counts, the one reached first ranks first), and enters the list when it is
 * not full or when s strictly exceeds its last entry, which leaves.  Counts only grow within a
 * period, so the list is always exactly the first x values in that order.
 */
static void top_update(stats_top_t *t, top_slot_t *s)
{
    uint64_t metric = top_metric(t, s->packets, s->bytes);
    uint32_t r;
    if (s->rank >= 0) {
        r = (uint32_t)s->rank;
    } else if (t->header->count < t->x) {
        r = (uint32_t)t->header->count++;
    } else {
        r = t->x - 1;
        stats_top_entry_t *last = &t->list[r];
        if (metric <= top_metric(t, last->packets, last->bytes))
            return;
        t->table[t->list_slot[r]].rank = -1;
    }
    if (s->rank != (int32_t)r) {
        memcpy(t->list[r].key, s->key, 16);
        t->list[r].kind = s->kind;
        t->list[r].reserved = 0;
        t->list_slot[r] = (uint32_t)(s - t->table);
        s->rank = (int32_t)r;
    }
    t->list[r].packets = s->packets;
    t->list[r].bytes = s->bytes;
    while (r > 0 && top_metric(t, t->list[r - 1].packets, t->list[r - 1].bytes) < metric) {
        top_list_swap(t, r - 1, r);
        r--;
    }
}

static void top_count(stats_top_t *t, const uint8_t key[16], uint32_t kind, uint64_t bytes)
{
    uint64_t hash = top_hash(t, key, kind);
    top_slot_t *s = top_find(t->table, t->slots, hash, key, kind);
    if (s->kind == 0) {
        /* a new value: keep the load at most one half, growing the table if it may */
        if ((t->header->distinct + 1) * 2 > t->slots) {
            if (!top_grow(t)) {
                t->header->untracked_packets++;
                t->header->untracked_bytes += bytes;
                return;
            }
            s = top_find(t->table, t->slots, hash, key, kind);
        }
        memcpy(s->key, key, 16);
        s->kind = kind;
        s->rank = -1;
        t->header->distinct++;
    }
    s->packets++;
    s->bytes += bytes;
    top_update(t, s);
}

static void top_clear(stats_top_t *t)
{
    memset(t->table, 0, t->slots * sizeof *t->table);
    memset(t->list, 0, (size_t)t->x * sizeof *t->list);
    t->header->count = 0;
    t->header->distinct = 0;
    t->header->untracked_packets = 0;
    t->header->untracked_bytes = 0;
}

static inline void top_number(uint8_t key[16], uint64_t v)
{
    memset(key, 0, 16);
    memcpy(key, &v, sizeof v);
}

/* The field's value in this packet: 1 and key/kind set, or 0 when the packet has no such field. */
static int top_field(const stats_top_t *t, const layers_t *l, uint8_t key[16], uint32_t *kind)
{
    const unsigned char *ip = l->l3, *p = l->l4;
    int v4 = l->ip_version == 4, v6 = l->ip_version == 6;
    *kind = TOP_KIND_NUMBER;
    if (!v4 && !v6)
        return 0;
    switch (t->protocol) {
    case TOPX_TCP:
        if (l->l4_proto != 6 || !p || l->l4_caplen < 20)
            return 0;
        break;
    case TOPX_UDP:
        if (l->l4_proto != 17 || !p || l->l4_caplen < 8)
            return 0;
        break;
    case TOPX_ICMP:
        if (!((v4 && l->l4_proto == 1) || (v6 && l->l4_proto == 58)) || !p || l->l4_caplen < 4)
            return 0;
        break;
    default:
        break;
    }
    switch (t->field) {
    case IP_TOS:
        top_number(key, v4 ? ip[1] : (uint64_t)((ip[0] & 0x0f) << 4 | ip[1] >> 4));
        return 1;
    case IP_LENGTH:
        top_number(key, layers_be16(ip + (v4 ? 2 : 4)));   /* IPv4 total length, IPv6 payload length */
        return 1;
    case IP_ID:
        if (!v4)
            return 0;
        top_number(key, layers_be16(ip + 4));
        return 1;
    case IP_OFFSET:
        if (!v4)
            return 0;
        top_number(key, layers_be16(ip + 6) & 0x1fff);
        return 1;
    case IP_TTL:
        top_number(key, v4 ? ip[8] : ip[7]);
        return 1;
    case IP_PROTOCOL:
        top_number(key, v4 ? ip[9] : l->l4_proto);
        return 1;
    case IP_CHECKSUM:
        if (!v4)
            return 0;
        top_number(key, layers_be16(ip + 10));
        return 1;
    case IP_SRCIP:
    case IP_DSTIP:
        memset(key, 0, 16);
        if (v4) {
            memcpy(key, ip + (t->field == IP_SRCIP ? 12 : 16), 4);
            *kind = TOP_KIND_IPV4;
        } else {
            memcpy(key, ip + (t->field == IP_SRCIP ? 8 : 24), 16);
            *kind = TOP_KIND_IPV6;
        }
        return 1;
    case TCP_SRCPORT: top_number(key, layers_be16(p)); return 1;
    case TCP_DSTPORT: top_number(key, layers_be16(p + 2)); return 1;
    case TCP_SEQ: top_number(key, layers_be32(p + 4)); return 1;
    case TCP_ACK: top_number(key, layers_be32(p + 8)); return 1;
    case TCP_FLAGS: top_number(key, layers_be16(p + 12) & 0x0fff); return 1;
    case TCP_WIN: top_number(key, layers_be16(p + 14)); return 1;
    case TCP_CRC: top_number(key, layers_be16(p + 16)); return 1;
    case TCP_URGENT: top_number(key, layers_be16(p + 18)); return 1;
    case UDP_SRCPORT: top_number(key, layers_be16(p)); return 1;
    case UDP_DSTPORT: top_number(key, layers_be16(p + 2)); return 1;
    case UDP_LENGTH: top_number(key, layers_be16(p + 4)); return 1;
    case UDP_CHECKSUM: top_number(key, layers_be16(p + 6)); return 1;
    case ICMP_TYPE: top_number(key, p[0]); return 1;
    case ICMP_CODE: top_number(key, p[1]); return 1;
    case ICMP_CHECKSUM: top_number(key, layers_be16(p + 2)); return 1;
    default:
        return 0;
    }
}

int stats_top_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    stats_top_t *t = state;
    if (!t->started) {
        t->started = 1;
        t->header->since = hdr->ts;
    } else if (t->reset_interval && hdr->ts >= t->header->since
               && hdr->ts - t->header->since >= t->reset_interval) {
        top_clear(t);
        t->header->since += (hdr->ts - t->header->since) / t->reset_interval * t->reset_interval;
    }
    layers_t l;
    if (!layers_parse(pkt, hdr, &l))
        return 1;
    uint8_t key[16];
    uint32_t kind;
    if (!top_field(t, &l, key, &kind))
        return 1;
    top_count(t, key, kind, hdr->wlen > l.l2_len ? hdr->wlen - l.l2_len : 0);
    return 1;
}
