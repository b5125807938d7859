/*
 * mapi-stdlib: the per-packet code of SAMPLE, HASHSAMP, STARTSTOP, SYNC and THRESHOLD.
 *
 * The states are allocated at connect (the *_new functions, called from Python) and never
 * allocate per packet.  Results are written only from process(), inside the engine's per-flow
 * seqlock, so a reader's snapshot of a ring is always consistent.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <mapi/abi.h>
#include "sampling.h"
#include "layers.h"

MAPI_DEFINE_ABI_VERSION

/* ==== SAMPLE ================================================================================ */

#define SAMPLE_PERIODIC 2
#define SAMPLE_PROBABILISTIC 3

struct sample_state {
    int mode;
    uint32_t value;              /* the period, or the percentage */
    uint32_t since;              /* PERIODIC: packets since the last one passed */
    uint64_t rng[4];             /* PROBABILISTIC: xoshiro256** state */
};

/* splitmix64 (Steele, Lea, Flood 2014; Vigna's public-domain reference): seeds xoshiro. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0 (Blackman and Vigna 2018). */
static inline uint64_t xoshiro256ss(uint64_t s[4])
{
    const uint64_t result = rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

sample_state_t *sample_new(int mode, uint32_t value, uint64_t seed)
{
    sample_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->mode = mode;
    s->value = value;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&seed);
    return s;
}

void sample_free(sample_state_t *s)
{
    free(s);
}

/* A uniform draw in 0..99 without modulo bias: 2^64 mod 100 = 16 draws are rejected. */
static inline uint32_t percent_draw(uint64_t rng[4])
{
    const uint64_t limit = (uint64_t)0 - 16u;   /* 2^64 - 16, a multiple of 100 */
    uint64_t r;
    do {
        r = xoshiro256ss(rng);
    } while (r >= limit);
    return (uint32_t)(r % 100u);
}

int sample_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    sample_state_t *s = state;
    if (s->mode == SAMPLE_PROBABILISTIC)
        return percent_draw(s->rng) < s->value;
    if (++s->since < s->value)
        return 0;
    s->since = 0;
    return 1;
}

/* ==== HASHSAMP ============================================================================== */

#define HASHSAMP_INITVAL 6564987u
#define HASHSAMP_SYN 1
#define HASHSAMP_ACK 2
#define HASHSAMP_RST 4
#define HASHSAMP_FIN 8
#define HASHSAMP_PSH 16

struct hashsamp_state {
    uint32_t range;
    uint32_t capacity;           /* 0: keep=0, no ring */
    hashsamp_ring_t *ring;       /* the result memory */
    hashsamp_record_t *records;
};

/*
 * Bob Jenkins' lookup2 mix and jhash_3words exactly as Linux's include/linux/jhash.h had them
 * from 2.6.0 (DaveM, 2003) to 2.6.36, the kernels of MAPI's time; Linux 2.6.37 moved to
 * lookup3, which gives other values.
 */
#define JHASH_GOLDEN_RATIO 0x9e3779b9u

#define JHASH_MIX(a, b, c)                     \
    do {                                       \
        a -= b; a -= c; a ^= (c >> 13);        \
        b -= c; b -= a; b ^= (a << 8);         \
        c -= a; c -= b; c ^= (b >> 13);        \
        a -= b; a -= c; a ^= (c >> 12);        \
        b -= c; b -= a; b ^= (a << 16);        \
        c -= a; c -= b; c ^= (b >> 5);         \
        a -= b; a -= c; a ^= (c >> 3);         \
        b -= c; b -= a; b ^= (a << 10);        \
        c -= a; c -= b; c ^= (b >> 15);        \
    } while (0)

uint32_t hashsamp_jhash_3words(uint32_t a, uint32_t b, uint32_t c, uint32_t initval)
{
    a += JHASH_GOLDEN_RATIO;
    b += JHASH_GOLDEN_RATIO;
    c += initval;
    JHASH_MIX(a, b, c);
    return c;
}

/* MAPI read iph->saddr on i386: the address bytes as a little-endian word, on any host. */
static inline uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An IPv6 address folded into one word: the XOR of its four little-endian words. */
static inline uint32_t fold128(const unsigned char *p)
{
    return le32(p) ^ le32(p + 4) ^ le32(p + 8) ^ le32(p + 12);
}

hashsamp_state_t *hashsamp_new(uint32_t range, hashsamp_ring_t *ring, uint32_t capacity)
{
    hashsamp_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->range = range;
    if (ring && capacity) {
        s->ring = ring;
        s->capacity = capacity;
        s->records = (hashsamp_record_t *)(ring + 1);
        ring->capacity = capacity;
    }
    return s;
}

void hashsamp_free(hashsamp_state_t *s)
{
    free(s);
}

static inline uint8_t mapi_tcp_flags(uint8_t tcp)
{
    return (uint8_t)(((tcp & 0x02) ? HASHSAMP_SYN : 0) | ((tcp & 0x10) ? HASHSAMP_ACK : 0) |
                     ((tcp & 0x04) ? HASHSAMP_RST : 0) | ((tcp & 0x01) ? HASHSAMP_FIN : 0) |
                     ((tcp & 0x08) ? HASHSAMP_PSH : 0));
}

int hashsamp_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    hashsamp_state_t *s = state;
    layers_t l;
    if (!layers_parse(pkt, hdr, &l) || !l.l4 || (l.l4_proto != 6 && l.l4_proto != 17))
        return 0;
    /* the ports and, for a sample, TCP's sequence number and flags must have been captured */
    if (l.l4_caplen < (l.l4_proto == 6 ? 14u : 8u))
        return 0;
    uint16_t sport = layers_be16(l.l4), dport = layers_be16(l.l4 + 2);
    const unsigned char *src, *dst;
    uint32_t a, b;
    if (l.ip_version == 4) {
        src = l.l3 + 12;
        dst = l.l3 + 16;
        a = le32(src);
        b = le32(dst);
    } else {
        src = l.l3 + 8;
        dst = l.l3 + 24;
        a = fold128(src);
        b = fold128(dst);
    }
    uint32_t h = hashsamp_jhash_3words(a, b ^ l.l4_proto, (uint32_t)sport | (uint32_t)dport << 16,
                                       HASHSAMP_INITVAL) % 1024u;
    if (h >= s->range)
        return 0;
    if (s->capacity) {
        hashsamp_record_t *r = &s->records[s->ring->written % s->capacity];
        size_t len = l.ip_version == 4 ? 4 : 16;
        memset(r, 0, sizeof *r);
        r->ts = hdr->ts;
        memcpy(r->src, src, len);
        memcpy(r->dst, dst, len);
        r->sport = sport;
        r->dport = dport;
        r->protocol = l.l4_proto;
        r->ip_version = l.ip_version;
        if (l.l4_proto == 6) {
            r->seq = layers_be32(l.l4 + 4);
            r->flags = mapi_tcp_flags(l.l4[13]);
        }
        s->ring->written++;
    }
    return 1;
}

/* ==== STARTSTOP ============================================================================= */

#define STARTSTOP_SEEN 1
#define STARTSTOP_PASSED 2

struct startstop_state {
    startstop_result_t *result;
    int relative;                /* the window is placed by the first packet */
    int has_lower;
    uint64_t start, stop;        /* relative: offset and duration; absolute: the bounds */
    uint64_t lower, upper;       /* the window, inclusive at both ends */
};

static inline uint64_t add_saturating(uint64_t a, uint64_t b)
{
    uint64_t sum = a + b;
    return sum < a ? UINT64_MAX : sum;
}

startstop_state_t *startstop_new(startstop_result_t *result, int relative, int has_start, uint64_t start,
                                 int stop_relative, uint64_t stop)
{
    startstop_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->result = result;
    s->relative = relative;
    s->has_lower = has_start;
    s->start = start;
    s->stop = stop;
    if (!relative) {
        s->lower = start;
        s->upper = stop_relative ? add_saturating(start, stop) : stop;
    }
    return s;
}

void startstop_free(startstop_state_t *s)
{
    free(s);
}

int startstop_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    startstop_state_t *s = state;
    startstop_result_t *r = s->result;
    const uint64_t ts = hdr->ts;
    if (!(r->flags & STARTSTOP_SEEN)) {
        r->first = ts;
        r->flags |= STARTSTOP_SEEN;
        if (s->relative) {
            s->lower = add_saturating(ts, s->start);
            s->upper = add_saturating(s->lower, s->stop);
        }
    }
    if ((s->has_lower && ts < s->lower) || ts > s->upper)
        return 0;
    if (!(r->flags & STARTSTOP_PASSED)) {
        r->first_processed = ts;
        r->flags |= STARTSTOP_PASSED;
    }
    r->last = ts;
    return 1;
}

/* ==== SYNC ================================================================================== */

struct sync_state {
    _Atomic uint32_t pending;    /* listed flows not connected yet; written by connect listeners */
};

sync_state_t *sync_new(uint32_t pending)
{
    sync_state_t *s = calloc(1, sizeof *s);
    if (s)
        atomic_init(&s->pending, pending);
    return s;
}

void sync_free(sync_state_t *s)
{
    free(s);
}

/* One listed flow has connected; returns how many are still pending. */
uint32_t sync_flow_connected(sync_state_t *s)
{
    uint32_t now = atomic_load(&s->pending);
    while (now > 0 && !atomic_compare_exchange_weak(&s->pending, &now, now - 1))
        ;
    return now > 0 ? now - 1 : 0;
}

int sync_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    sync_state_t *s = state;
    return atomic_load_explicit(&s->pending, memory_order_acquire) == 0;
}

/* ==== THRESHOLD ============================================================================= */

#define THRESHOLD_EQUAL 0
#define THRESHOLD_GT 1
#define THRESHOLD_LT 2
#define THRESHOLD_EQUAL_D 4
#define THRESHOLD_GT_D 8
#define THRESHOLD_LT_D 16
#define THRESHOLD_DIFFERENCE (THRESHOLD_EQUAL_D | THRESHOLD_GT_D | THRESHOLD_LT_D)

typedef __int128 wide_t;

struct threshold_state {
    mapi_result_ref_t source;
    threshold_ring_t *ring;      /* the result memory */
    threshold_event_t *events;
    uint32_t capacity;
    uint32_t value_size;         /* bytes read from the source: 1, 4 or 8 */
    int value_signed;            /* 4-byte values: int (1) or u32 (0) */
    int boundary;
    uint64_t threshold;
    uint64_t count;              /* events before stopping; 0 = unlimited */
    uint64_t fired;
    uint64_t period;             /* 32.32 units between comparisons; 0 = after every packet */
    uint32_t slices;             /* TR_MW: past values kept (the window is slices * period) */
    uint32_t slot;               /* TR_MW: where the oldest of them is */
    wide_t *window;              /* TR_MW: the values at the last `slices` comparison instants */
    wide_t initial;              /* the source's value when the flow connected */
    wide_t previous;             /* the quantity at the previous comparison, for _D */
    wide_t last_value;           /* the source's value after the previous packet */
    uint64_t next;               /* the next comparison instant (TR_POLL, TR_MW) */
    int clock_started;
    int holds;                   /* the condition held at the previous comparison */
};

threshold_state_t *threshold_new(threshold_ring_t *ring, uint32_t capacity, uint32_t value_size, int value_signed,
                                 uint64_t threshold, int boundary, uint64_t period, uint32_t slices,
                                 uint64_t count)
{
    threshold_state_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (slices && !(t->window = calloc(slices, sizeof *t->window))) {
        free(t);
        return NULL;
    }
    t->ring = ring;
    t->events = (threshold_event_t *)(ring + 1);
    t->capacity = capacity;
    ring->capacity = capacity;
    t->value_size = value_size;
    t->value_signed = value_signed;
    t->threshold = threshold;
    t->boundary = boundary;
    t->period = period;
    t->slices = slices;
    t->count = count;
    return t;
}

void threshold_free(threshold_state_t *t)
{
    if (t)
        free(t->window);
    free(t);
}

mapi_result_ref_t *threshold_source(threshold_state_t *t)
{
    return &t->source;
}

/*
 * The source's value now.  Results start 8-byte aligned, and a single aligned load is never
 * torn, as in mapi_ref_u64 (whose 1- and 4-byte counterparts these are).
 */
static wide_t read_source(const threshold_state_t *t)
{
    switch (t->value_size) {
    case 1:
        return __atomic_load_n(t->source.data, __ATOMIC_RELAXED);
    case 4: {
        uint32_t v = __atomic_load_n((const uint32_t *)t->source.data, __ATOMIC_RELAXED);
        return t->value_signed ? (wide_t)(int32_t)v : (wide_t)v;
    }
    default:
        return (wide_t)mapi_ref_u64(&t->source);
    }
}

/* The value at connect: the base of the first difference and of a TR_MW window. */
void threshold_prime(threshold_state_t *t)
{
    t->initial = t->last_value = read_source(t);
    for (uint32_t i = 0; i < t->slices; i++)
        t->window[i] = t->initial;
    t->previous = t->slices ? 0 : t->initial;
}

static void fire(threshold_state_t *t, uint64_t ts, wide_t quantity)
{
    threshold_event_t *e = &t->events[t->ring->written % t->capacity];
    e->ts = ts;
    e->negative = quantity < 0;
    e->magnitude = (uint64_t)(quantity < 0 ? -quantity : quantity);
    e->reserved = 0;
    t->ring->written++;
    if (t->count && ++t->fired >= t->count)
        t->ring->stopped = 1;
}

/* One comparison of `quantity` (a value, or a TR_MW window sum) at instant ts: edge-triggered. */
static void compare(threshold_state_t *t, uint64_t ts, wide_t quantity)
{
    wide_t q = quantity;
    if (t->boundary & THRESHOLD_DIFFERENCE) {
        q = quantity - t->previous;
        t->previous = quantity;
    }
    const wide_t limit = (wide_t)t->threshold;
    int holds;
    switch (t->boundary) {
    case THRESHOLD_GT:
    case THRESHOLD_GT_D:
        holds = q > limit;
        break;
    case THRESHOLD_LT:
    case THRESHOLD_LT_D:
        holds = q < limit;
        break;
    default:
        holds = q == limit;
        break;
    }
    if (holds && !t->holds)
        fire(t, ts, q);
    t->holds = holds;
}

/* A comparison instant of TR_POLL / TR_MW, with the source's value then. */
static void poll_at(threshold_state_t *t, uint64_t instant, wide_t value)
{
    if (!t->slices) {
        compare(t, instant, value);
        return;
    }
    wide_t oldest = t->window[t->slot];     /* the value one window (slices periods) ago */
    t->window[t->slot] = value;
    t->slot = (t->slot + 1) % t->slices;
    compare(t, instant, value - oldest);
}

int threshold_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    threshold_state_t *t = state;
    if (t->ring->stopped)
        return 1;
    const wide_t now = read_source(t);
    if (!t->period) {
        compare(t, hdr->ts, now);
        return 1;
    }
    if (!t->clock_started) {
        t->clock_started = 1;
        t->next = add_saturating(hdr->ts, t->period);
    } else {
        /*
         * Every instant passed since the previous packet is compared with the value as of that
         * packet.  After slices + 2 instants without a packet every further comparison repeats
         * the last one (same value, zero difference, a window of equal values), so a long gap
         * in the trace is skipped in one step.
         */
        uint32_t rounds = 0;
        while (hdr->ts >= t->next && !t->ring->stopped) {
            poll_at(t, t->next, t->last_value);
            if (t->next == UINT64_MAX)
                break;
            if (++rounds > t->slices + 2 && hdr->ts - t->next >= t->period) {
                uint64_t skipped = (hdr->ts - t->next) / t->period;
                t->next += skipped * t->period;
            }
            t->next = add_saturating(t->next, t->period);
        }
    }
    t->last_value = now;
    return 1;
}
