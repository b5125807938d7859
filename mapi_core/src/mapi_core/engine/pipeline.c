/*
 * Reading a mapped trace in a thread of its own, a few batches ahead of the flows.
 *
 * Walking a pcap file is a chain of dependent loads (a record's length says where the next one
 * starts), so its speed is memory latency, not instructions; running the flows is the other half
 * of the work.  With the two in different threads, a trace in the page cache is read and processed
 * at the speed of the slower of the two instead of their sum.  The reader fills a ring of RING
 * batches; the device thread takes them in order.  Batches point into the file's mapping, which
 * stays valid until the trace is closed, so nothing is copied.  (A trace read with read(), a pipe,
 * reuses its buffer and is not pipelined.)
 *
 * Each side waits for the other by spinning briefly, then sleeping on a futex: a batch takes some
 * microseconds to read or process, about the cost of a sleep and a wake-up.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pipeline.h"

#define RING 8                       /* batches in flight; a power of two */
#define SPINS 4000                   /* pause-loop iterations before sleeping (a few µs) */

struct pipeline {
    mapi_trace_t *trace;
    atomic_int *stop;                /* the device's: set to stop reading */
    _Atomic uint32_t filled;         /* batches the reader has filled (written by the reader) */
    _Atomic uint32_t taken;          /* batches the device thread has processed */
    _Atomic uint32_t ended;          /* the reader has stopped: no batch after `filled` */
    _Atomic uint32_t events;         /* bumped at every change above: the futex both sides sleep on */
    _Atomic uint32_t sleepers;
    mapi_batch_t batches[RING];
};

/* Tells a sleeping side that something changed (after the change is stored). */
static void notify(struct pipeline *p)
{
    atomic_fetch_add(&p->events, 1);
    if (atomic_load(&p->sleepers))
        syscall(SYS_futex, &p->events, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Waits until *word differs from seen, the reader has ended or a stop is set: spinning first,
 * then sleeping.  Reading `events` before checking means no change can slip in unseen. */
static void wait_change(struct pipeline *p, _Atomic uint32_t *word, uint32_t seen)
{
    for (int i = 0; i < SPINS; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != seen)
            return;
        __builtin_ia32_pause();
    }
    for (;;) {
        uint32_t events = atomic_load(&p->events);
        if (atomic_load(word) != seen || atomic_load(&p->ended) || atomic_load(p->stop))
            return;
        atomic_fetch_add(&p->sleepers, 1);
        syscall(SYS_futex, &p->events, FUTEX_WAIT_PRIVATE, events, NULL, NULL, 0);
        atomic_fetch_sub(&p->sleepers, 1);
    }
}

static void publish(struct pipeline *p, _Atomic uint32_t *word, uint32_t value)
{
    atomic_store_explicit(word, value, memory_order_seq_cst);
    notify(p);
}

static void *read_batches(void *arg)
{
    struct pipeline *p = arg;
    uint32_t filled = 0;
    while (!atomic_load_explicit(p->stop, memory_order_relaxed)) {
        uint32_t taken = atomic_load_explicit(&p->taken, memory_order_acquire);
        if (filled - taken == RING) {
            wait_change(p, &p->taken, taken);
            continue;
        }
        if (mapi_trace_next(p->trace, &p->batches[filled % RING]) == 0)
            break;
        publish(p, &p->filled, ++filled);
    }
    atomic_store(&p->ended, 1);
    notify(p);
    return NULL;
}

int mapi_pipeline_run(mapi_trace_t *t, atomic_int *stop, void (*process)(void *context, mapi_batch_t *batch),
                      void *context)
{
    struct pipeline *p = aligned_alloc(64, (sizeof *p + 63) & ~(size_t)63);
    if (p == NULL)
        return -1;
    p->trace = t;
    p->stop = stop;
    atomic_init(&p->filled, 0);
    atomic_init(&p->taken, 0);
    atomic_init(&p->ended, 0);
    atomic_init(&p->events, 0);
    atomic_init(&p->sleepers, 0);
    pthread_t reader;
    if (pthread_create(&reader, NULL, read_batches, p) != 0) {
        free(p);
        return -1;
    }
    pthread_setname_np(reader, "mapi-reader");
    uint32_t taken = 0;
    while (!atomic_load_explicit(stop, memory_order_relaxed)) {
        uint32_t filled = atomic_load_explicit(&p->filled, memory_order_acquire);
        if (filled == taken) {
            if (atomic_load(&p->ended) && atomic_load(&p->filled) == taken)
                break;
            wait_change(p, &p->filled, taken);
            continue;
        }
        process(context, &p->batches[taken % RING]);
        publish(p, &p->taken, ++taken);
    }
    notify(p);                                       /* a reader waiting for room sees the stop */
    pthread_join(reader, NULL);
    free(p);
    return 0;
}
