/*
 * TO_BUFFER: a single-producer, single-consumer ring of packet records.
 *
 * The producer is the device thread (tobuf_process), the consumer the reader (tobuf_read).
 * head and tail count bytes ever written and ever consumed: used = head - tail, so a full ring
 * and an empty one are never confused.  Each side keeps its own position in the ring (wpos,
 * rpos).  A record never wraps: when it does not fit before the end of the ring, the producer
 * first fills the rest with padding (a header whose caplen is TOBUF_PAD, or nothing when fewer
 * than TOBUF_HEADER bytes are left) that the reader skips.
 *
 * Ordering: the producer writes a record, then publishes head with a release store; the reader
 * loads head with acquire before it reads records, copies them, then publishes tail with a
 * release store, which the producer loads with acquire before it reuses the room.
 *
 * Waiting (no spinning): each side sleeps on a futex word (data_seq for the reader, space_seq for
 * the producer) after announcing itself in reader_waiting / producer_waiting; the other side
 * checks that flag after publishing and bumps the word and wakes it.  A seq_cst fence between
 * "publish" and "check the flag" on one side, and between "announce" and "check the condition"
 * on the other, guarantees that one of the two sees the other (no lost wake-up).  The producer
 * only waits on offline devices (MAPI's back-pressure) and asks to be woken only once a quarter
 * of the ring is free, so it is not woken for every packet the reader takes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <mapi/abi.h>
#include "buffer.h"

MAPI_DEFINE_ABI_VERSION

#define TOBUF_PAD 0xFFFFFFFFu

_Static_assert(sizeof(mapi_pkthdr_t) == TOBUF_HEADER, "a record header is a mapi_pkthdr_t");

typedef void (*blocking_fn)(int begin);

struct tobuf {
    /* read-only after tobuf_new */
    unsigned char *ring;
    uint64_t capacity;
    int offline;
    tobuf_result_t *result;
    blocking_fn blocking;
    uint64_t *device_drops;

    /* producer side */
    _Alignas(64) _Atomic uint64_t head;
    uint64_t wpos;
    _Atomic uint32_t producer_waiting;
    _Atomic uint32_t space_seq;          /* futex word the producer sleeps on */
    _Atomic uint64_t space_wanted;       /* free bytes the producer waits for */

    /* consumer side */
    _Alignas(64) _Atomic uint64_t tail;
    uint64_t rpos;
    _Atomic uint64_t consumed;
    _Atomic uint32_t reader_waiting;
    _Atomic uint32_t data_seq;           /* futex word the reader sleeps on */

    /* either side, rarely */
    _Alignas(64) _Atomic uint32_t ended;
    _Atomic uint32_t closing;
};

static inline uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static long futex_wait(_Atomic uint32_t *word, uint32_t expected, const struct timespec *relative)
{
    return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, relative, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void bump_and_wake(_Atomic uint32_t *word)
{
    atomic_fetch_add_explicit(word, 1, memory_order_release);
    futex_wake(word);
}

static inline void count(uint64_t *counter, uint64_t n)
{
    /* single writer: a relaxed store keeps concurrent 64-bit reads untorn */
    __atomic_store_n(counter, *counter + n, __ATOMIC_RELAXED);
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

tobuf_t *tobuf_new(uint64_t size, int offline, tobuf_result_t *result, uintptr_t blocking,
                   uintptr_t device_drops)
{
    size &= ~(uint64_t)7;
    if (size < TOBUF_MIN_SIZE || !result)
        return NULL;
    tobuf_t *b = aligned_alloc(64, (sizeof *b + 63) & ~(size_t)63);
    if (!b)
        return NULL;
    memset(b, 0, sizeof *b);
    b->ring = aligned_alloc(64, (size + 63) & ~(uint64_t)63);
    if (!b->ring) {
        free(b);
        return NULL;
    }
    b->capacity = size;
    b->offline = offline;
    b->result = result;
    b->blocking = (blocking_fn)blocking;
    b->device_drops = (uint64_t *)device_drops;
    return b;
}

void tobuf_free(tobuf_t *b)
{
    if (!b)
        return;
    free(b->ring);
    free(b);
}

uint64_t tobuf_capacity(const tobuf_t *b)
{
    return b->capacity;
}

/* ---- producer ------------------------------------------------------------------------------ */

static void publish_head(tobuf_t *b, uint64_t head)
{
    atomic_store_explicit(&b->head, head, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&b->reader_waiting, memory_order_relaxed) &&
        atomic_exchange_explicit(&b->reader_waiting, 0, memory_order_relaxed))
        bump_and_wake(&b->data_seq);
}

/* Offline back-pressure: sleeps until `wanted` bytes are free.  Returns -1 if the ring closed. */
static int wait_for_room(tobuf_t *b, uint64_t head, uint64_t wanted)
{
    uint64_t threshold = b->capacity / 4 > wanted ? b->capacity / 4 : wanted;
    atomic_store_explicit(&b->space_wanted, threshold, memory_order_relaxed);
    count(&b->result->waits, 1);
    if (b->blocking)
        b->blocking(1);
    int closed = 0;
    for (;;) {
        uint32_t seq = atomic_load_explicit(&b->space_seq, memory_order_acquire);
        atomic_store_explicit(&b->producer_waiting, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&b->closing, memory_order_relaxed)) {
            closed = 1;
            break;
        }
        uint64_t tail = atomic_load_explicit(&b->tail, memory_order_acquire);
        if (b->capacity - (head - tail) >= threshold)
            break;
        futex_wait(&b->space_seq, seq, NULL);
    }
    atomic_store_explicit(&b->producer_waiting, 0, memory_order_relaxed);
    if (b->blocking)
        b->blocking(0);
    return closed ? -1 : 0;
}

int tobuf_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    tobuf_t *b = state;
    if (atomic_load_explicit(&b->closing, memory_order_relaxed))
        return 1;
    const uint64_t cap = b->capacity;
    uint32_t caplen = hdr->caplen;
    if (TOBUF_HEADER + align8(caplen) > cap) {
        caplen = (uint32_t)(cap - TOBUF_HEADER);
        count(&b->result->truncated, 1);
    }
    const uint64_t need = TOBUF_HEADER + align8(caplen);
    uint64_t head = atomic_load_explicit(&b->head, memory_order_relaxed);

    for (;;) {
        uint64_t tail = atomic_load_explicit(&b->tail, memory_order_acquire);
        uint64_t free_bytes = cap - (head - tail);
        uint64_t contiguous = cap - b->wpos;
        if (need <= contiguous && need <= free_bytes)
            break;
        if (need > contiguous && contiguous <= free_bytes) {
            /* pad to the end of the ring so the record can start at 0 once there is room */
            if (contiguous >= TOBUF_HEADER) {
                mapi_pkthdr_t pad = {.caplen = TOBUF_PAD};
                memcpy(b->ring + b->wpos, &pad, sizeof pad);
            }
            head += contiguous;
            b->wpos = 0;
            publish_head(b, head);
            continue;
        }
        if (!b->offline) {
            count(&b->result->dropped, 1);
            if (b->device_drops)
                __atomic_fetch_add(b->device_drops, 1, __ATOMIC_RELAXED);
            return 1;
        }
        if (wait_for_room(b, head, need > contiguous ? contiguous : need) != 0)
            return 1;
    }

    unsigned char *at = b->ring + b->wpos;
    mapi_pkthdr_t stored = *hdr;
    stored.caplen = caplen;
    memcpy(at, &stored, sizeof stored);
    memcpy(at + TOBUF_HEADER, pkt, caplen);
    b->wpos += need;
    if (b->wpos == cap)
        b->wpos = 0;
    count(&b->result->packets, 1);
    count(&b->result->bytes, caplen);
    publish_head(b, head + need);
    return 1;
}

/* ---- consumer ------------------------------------------------------------------------------ */

static void publish_tail(tobuf_t *b, uint64_t tail)
{
    atomic_store_explicit(&b->tail, tail, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    /* a waiting producer does not move head */
    if (atomic_load_explicit(&b->producer_waiting, memory_order_relaxed) &&
        b->capacity - (atomic_load_explicit(&b->head, memory_order_relaxed) - tail) >=
            atomic_load_explicit(&b->space_wanted, memory_order_relaxed) &&
        atomic_exchange_explicit(&b->producer_waiting, 0, memory_order_relaxed))
        bump_and_wake(&b->space_seq);
}

/* Copies whole records from tail towards head.  Returns the bytes copied; *needed is set when
 * the first record does not fit out. */
static uint64_t take(tobuf_t *b, uint64_t head, unsigned char *out, uint64_t outlen, uint64_t *needed)
{
    const uint64_t cap = b->capacity;
    uint64_t tail = atomic_load_explicit(&b->tail, memory_order_relaxed);
    uint64_t copied = 0, records = 0;
    while (tail != head) {
        uint64_t contiguous = cap - b->rpos;
        if (contiguous < TOBUF_HEADER) {
            tail += contiguous;
            b->rpos = 0;
            continue;
        }
        const unsigned char *at = b->ring + b->rpos;
        uint32_t caplen;
        memcpy(&caplen, at + offsetof(mapi_pkthdr_t, caplen), sizeof caplen);
        if (caplen == TOBUF_PAD) {
            tail += contiguous;
            b->rpos = 0;
            continue;
        }
        uint64_t size = TOBUF_HEADER + align8(caplen);
        if (copied + size > outlen) {
            if (copied == 0)
                *needed = size;
            break;
        }
        memcpy(out + copied, at, size);
        copied += size;
        records++;
        tail += size;
        b->rpos += size;
        if (b->rpos == cap)
            b->rpos = 0;
    }
    if (tail != atomic_load_explicit(&b->tail, memory_order_relaxed))
        publish_tail(b, tail);
    if (records)
        atomic_store_explicit(&b->consumed, atomic_load_explicit(&b->consumed, memory_order_relaxed) + records,
                              memory_order_relaxed);
    return copied;
}

int tobuf_read(tobuf_t *b, int64_t timeout_ns, unsigned char *out, uint64_t outlen, uint64_t *copied)
{
    const int64_t deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
    *copied = 0;
    for (;;) {
        if (atomic_load_explicit(&b->closing, memory_order_acquire))
            return TOBUF_END;
        /* ended before head: every packet was published before the end was */
        uint32_t ended = atomic_load_explicit(&b->ended, memory_order_acquire);
        uint64_t head = atomic_load_explicit(&b->head, memory_order_acquire);
        if (head != atomic_load_explicit(&b->tail, memory_order_relaxed)) {
            uint64_t needed = 0;
            uint64_t n = take(b, head, out, outlen, &needed);
            if (n) {
                *copied = n;
                return TOBUF_RECORDS;
            }
            if (needed) {
                *copied = needed;
                return TOBUF_TOO_SMALL;
            }
            continue;       /* only padding was there */
        }
        if (ended)
            return TOBUF_END;
        if (timeout_ns == 0)
            return TOBUF_EMPTY;

        struct timespec relative, *limit = NULL;
        if (timeout_ns > 0) {
            int64_t left = deadline - now_ns();
            if (left <= 0)
                return TOBUF_EMPTY;
            relative.tv_sec = left / 1000000000;
            relative.tv_nsec = left % 1000000000;
            limit = &relative;
        }
        uint32_t seq = atomic_load_explicit(&b->data_seq, memory_order_acquire);
        atomic_store_explicit(&b->reader_waiting, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&b->head, memory_order_relaxed) == atomic_load_explicit(&b->tail, memory_order_relaxed)
            && !atomic_load_explicit(&b->ended, memory_order_relaxed)
            && !atomic_load_explicit(&b->closing, memory_order_relaxed))
            futex_wait(&b->data_seq, seq, limit);
        atomic_store_explicit(&b->reader_waiting, 0, memory_order_relaxed);
    }
}

uint64_t tobuf_consumed(const tobuf_t *b)
{
    return atomic_load_explicit(&b->consumed, memory_order_relaxed);
}

uint64_t tobuf_dropped(const tobuf_t *b)
{
    return __atomic_load_n(&b->result->dropped, __ATOMIC_RELAXED);
}

/* ---- either side --------------------------------------------------------------------------- */

void tobuf_end(tobuf_t *b)
{
    atomic_store_explicit(&b->ended, 1, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    bump_and_wake(&b->data_seq);
}

void tobuf_close(tobuf_t *b)
{
    atomic_store_explicit(&b->closing, 1, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    bump_and_wake(&b->data_seq);
    bump_and_wake(&b->space_seq);
}
