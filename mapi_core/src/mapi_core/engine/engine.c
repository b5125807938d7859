/*
 * The hot path: batches of packets through each connected flow's chain of native functions.
 *
 * Per packet and flow the cost is the chain itself: one indirect call per function until one
 * returns 0.  Per-function statistics cost one increment per dropped packet (a function's
 * "seen" and "passed" counts are derived from the flow's input count and the drops before it),
 * and the consistency of results costs two atomic stores per flow per batch (a seqlock).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <mapi/abi.h>
#include "batch.h"
#include "reader.h"
#include "live.h"
#include "engine.h"

typedef struct mapi_slot {
    mapi_process_fn process;
    void *state;
} mapi_slot_t;

struct mapi_flow {
    _Atomic uint64_t seq;          /* odd while the device thread writes this flow's memory */
    _Atomic uint32_t refs;         /* the owner's reference + one per function reading its results */
    uint32_t nfuncs;
    int modifies;
    uint32_t share;                /* != 0: chain[0] is pure, equal to every other flow's with this id */
    int shared;                    /* another flow of the device has the same share id (set at attach) */
    mapi_slot_t *chain;
    uint64_t pkts_in;
    uint64_t *dropped;             /* nfuncs entries */
    unsigned char *results;
    size_t result_size;
    unsigned char *copy;           /* private packet copy, for flows that modify packets */
    size_t copy_size;
    mapi_dev_t *dev;
};

struct mapi_dev {
    pthread_mutex_t lock;          /* guards the flow list against attach/detach mid-batch */
    mapi_flow_t **flows;
    uint32_t nflows, capacity;
    atomic_int stop;
    atomic_int cross_references;   /* > 0: a flow reads another flow's results; run packet-major */
    _Atomic uint64_t packets;
    _Atomic uint64_t function_drops;   /* counted by functions (mapi_dev_drop_counter) */
    _Atomic uint64_t engine_drops;     /* counted by the engine itself */
    uint64_t batches;                  /* batches processed: the key of the verdicts below */
    struct shared_verdict *verdicts;   /* capacity entries: one per share id, per batch */
    mapi_batch_t batch;
};

/*
 * Global optimisation: flows of one device whose first function is the same pure function with
 * the same arguments (the same share id, decided by the runtime) evaluate it once per packet.
 * The first such flow of a batch runs it over the batch and keeps the indices of the packets it
 * passed; the other flows take those and run only the rest of their chain.  A rejected packet
 * then costs the other flows nothing, as they account for it per batch, not per packet.
 */
struct shared_verdict {
    uint32_t share;
    uint32_t npass;
    uint64_t batch;                    /* d->batches when computed */
    uint16_t pass[MAPI_BATCH_MAX];
};

mapi_dev_t *mapi_dev_new(void)
{
    mapi_dev_t *d = calloc(1, sizeof *d);
    if (d)
        pthread_mutex_init(&d->lock, NULL);
    return d;
}

void mapi_dev_free(mapi_dev_t *d)
{
    if (!d)
        return;
    pthread_mutex_destroy(&d->lock);
    free(d->flows);
    free(d->verdicts);
    free(d);
}

mapi_flow_t *mapi_flow_new(uint32_t nfuncs, size_t result_size, int modifies)
{
    mapi_flow_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->nfuncs = nfuncs;
    f->modifies = modifies;
    f->chain = calloc(nfuncs ? nfuncs : 1, sizeof *f->chain);
    f->dropped = calloc(nfuncs ? nfuncs : 1, sizeof *f->dropped);
    /* 64-byte aligned and zeroed, like MAPI's shared memory; never empty so the pointer is valid */
    f->result_size = result_size;
    size_t alloc = (result_size + 63) & ~(size_t)63;
    f->results = aligned_alloc(64, alloc ? alloc : 64);
    if (!f->chain || !f->dropped || !f->results) {
        mapi_flow_free(f);
        return NULL;
    }
    memset(f->results, 0, alloc ? alloc : 64);
    return f;
}

void mapi_flow_retain(mapi_flow_t *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void mapi_flow_free(mapi_flow_t *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(f->chain);
    free(f->dropped);
    free(f->results);
    free(f->copy);
    free(f);
}

void *mapi_flow_results(mapi_flow_t *f)
{
    return f->results;
}

void mapi_flow_set_function(mapi_flow_t *f, uint32_t index, uintptr_t process, uintptr_t state)
{
    if (index < f->nfuncs) {
        f->chain[index].process = (mapi_process_fn)process;
        f->chain[index].state = (void *)state;
    }
}

void mapi_flow_set_chain_length(mapi_flow_t *f, uint32_t length)
{
    if (length <= f->nfuncs)
        f->nfuncs = length;
}

/* Which flows share their first function with another flow of the device (under d->lock). */
static void mark_shared(mapi_dev_t *d)
{
    for (uint32_t i = 0; i < d->nflows; i++) {
        mapi_flow_t *f = d->flows[i];
        f->shared = 0;
        for (uint32_t j = 0; f->share && j < d->nflows && !f->shared; j++)
            f->shared = j != i && d->flows[j]->share == f->share;
    }
}

void mapi_flow_set_share(mapi_flow_t *f, uint32_t share)
{
    f->share = f->nfuncs > 0 && !f->modifies ? share : 0;
}

int mapi_dev_attach(mapi_dev_t *d, mapi_flow_t *f)
{
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    if (d->nflows == d->capacity) {
        uint32_t cap = d->capacity ? d->capacity * 2 : 8;
        mapi_flow_t **grown = realloc(d->flows, cap * sizeof *grown);
        if (!grown) {
            rc = -1;
            goto out;
        }
        d->flows = grown;
        struct shared_verdict *verdicts = realloc(d->verdicts, cap * sizeof *verdicts);
        if (!verdicts) {
            rc = -1;
            goto out;
        }
        memset(verdicts + d->capacity, 0, (cap - d->capacity) * sizeof *verdicts); /* batch 0: unused */
        d->verdicts = verdicts;
        d->capacity = cap;
    }
    f->dev = d;
    d->flows[d->nflows++] = f;
    mark_shared(d);
out:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int mapi_dev_detach(mapi_dev_t *d, mapi_flow_t *f)
{
    int rc = -1;
    pthread_mutex_lock(&d->lock);
    for (uint32_t i = 0; i < d->nflows; i++) {
        if (d->flows[i] == f) {
            memmove(&d->flows[i], &d->flows[i + 1], (d->nflows - i - 1) * sizeof *d->flows);
            d->nflows--;
            f->dev = NULL;
            mark_shared(d);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static inline void seq_write_begin(mapi_flow_t *f)
{
    uint64_t s = atomic_load_explicit(&f->seq, memory_order_relaxed);
    atomic_store_explicit(&f->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static inline void seq_write_end(mapi_flow_t *f)
{
    uint64_t s = atomic_load_explicit(&f->seq, memory_order_relaxed);
    atomic_store_explicit(&f->seq, s + 1, memory_order_release);
}

/* The batch this thread is running: its device, and the flow whose write section is open
 * (NULL while all of the device's flows are open, packet-major).  See mapi_dev_blocking. */
static _Thread_local mapi_dev_t *running_dev;
static _Thread_local mapi_flow_t *running_flow;

static int grow_copy(mapi_flow_t *f, size_t need)
{
    size_t size = f->copy_size ? f->copy_size : 4096;
    while (size < need)
        size *= 2;
    unsigned char *grown = realloc(f->copy, size);
    if (!grown)
        return -1;
    f->copy = grown;
    f->copy_size = size;
    return 0;
}

/* One packet through the slots [from, end) of f's chain (chain and end computed once per batch
 * by the caller).  A pointer walks the chain: the index is needed only on a drop. */
static inline __attribute__((always_inline)) void
run_slots(mapi_flow_t *f, mapi_slot_t *chain, mapi_slot_t *from, mapi_slot_t *end, unsigned char *pkt,
          mapi_pkthdr_t *hdr)
{
    for (mapi_slot_t *slot = from; slot != end; slot++) {
        if (!slot->process(slot->state, pkt, hdr)) {
            f->dropped[slot - chain]++;
            return;
        }
    }
}

/* One packet through a flow's chain, on the packet itself or, for a modifying flow, a copy. */
static inline void run_packet(mapi_flow_t *f, unsigned char *data, const mapi_pkthdr_t *header)
{
    const uint32_t nfuncs = f->nfuncs;
    mapi_slot_t *chain = f->chain;
    mapi_pkthdr_t copy_hdr;
    unsigned char *pkt = data;
    mapi_pkthdr_t *hdr = (mapi_pkthdr_t *)header;

    if (f->modifies) {
        size_t need = (size_t)header->caplen + MAPI_MODIFY_HEADROOM;
        if (need > f->copy_size && grow_copy(f, need) != 0) {
            /* out of memory: account the packet as dropped by the first function, and by the engine */
            f->dropped[0]++;
            if (f->dev)
                atomic_fetch_add_explicit(&f->dev->engine_drops, 1, memory_order_relaxed);
            return;
        }
        memcpy(f->copy, data, header->caplen);
        copy_hdr = *header;
        pkt = f->copy;
        hdr = &copy_hdr;
    }
    run_slots(f, chain, chain, chain + nfuncs, pkt, hdr);
}

/* Flow by flow: each chain stays hot in the cache for a whole batch.  The common case (a flow
 * that does not modify packets) has its own loop: this is the hot path of the whole engine. */
static void run_flow(mapi_flow_t *f, mapi_batch_t *b)
{
    const uint32_t n = b->count;
    mapi_slot_t *const chain = f->chain, *const end = chain + f->nfuncs;

    running_flow = f;
    seq_write_begin(f);
    f->pkts_in += n;
    if (!f->modifies) {
        if (chain != end)            /* (a flow without functions only counts its packets) */
            for (uint32_t p = 0; p < n; p++)
                run_slots(f, chain, chain, end, b->data[p], &b->hdr[p]);
    } else {
        for (uint32_t p = 0; p < n; p++)
            run_packet(f, b->data[p], &b->hdr[p]);
    }
    seq_write_end(f);
}

/* The packets of this batch that the shared first function of f passes, computed once. */
static const struct shared_verdict *shared_verdict(mapi_dev_t *d, mapi_flow_t *f, mapi_batch_t *b)
{
    struct shared_verdict *v = d->verdicts;
    uint32_t i = 0;
    for (; i < d->nflows && v[i].batch == d->batches; i++)
        if (v[i].share == f->share)
            return &v[i];
    v += i;                          /* the first entry not used in this batch */
    const mapi_slot_t first = f->chain[0];
    uint32_t npass = 0;
    for (uint32_t p = 0; p < b->count; p++) {
        v->pass[npass] = (uint16_t)p;
        npass += first.process(first.state, b->data[p], &b->hdr[p]) != 0;
    }
    v->share = f->share;
    v->npass = npass;
    v->batch = d->batches;
    return v;
}

/* run_flow for a flow whose first function is shared: only the packets it passed go on. */
static void run_flow_shared(mapi_dev_t *d, mapi_flow_t *f, mapi_batch_t *b)
{
    const struct shared_verdict *v = shared_verdict(d, f, b);
    mapi_slot_t *const chain = f->chain, *const end = chain + f->nfuncs;

    running_flow = f;
    seq_write_begin(f);
    f->pkts_in += b->count;
    f->dropped[0] += b->count - v->npass;
    for (uint32_t j = 0; j < v->npass; j++)
        run_slots(f, chain, chain + 1, end, b->data[v->pass[j]], &b->hdr[v->pass[j]]);
    seq_write_end(f);
}

/* Packet by packet across all flows, as MAPI ran them: needed when a function reads a result
 * of another flow on this device, so that it sees that result as of the same packet. */
static void run_interleaved(mapi_dev_t *d, mapi_batch_t *b)
{
    running_flow = NULL;
    for (uint32_t i = 0; i < d->nflows; i++) {
        seq_write_begin(d->flows[i]);
        d->flows[i]->pkts_in += b->count;
    }
    for (uint32_t p = 0; p < b->count; p++)
        for (uint32_t i = 0; i < d->nflows; i++)
            run_packet(d->flows[i], b->data[p], &b->hdr[p]);
    for (uint32_t i = 0; i < d->nflows; i++)
        seq_write_end(d->flows[i]);
}

void mapi_dev_process(mapi_dev_t *d, mapi_batch_t *b)
{
    pthread_mutex_lock(&d->lock);
    running_dev = d;
    if (atomic_load_explicit(&d->cross_references, memory_order_relaxed) > 0) {
        run_interleaved(d, b);
    } else {
        d->batches++;
        for (uint32_t i = 0; i < d->nflows; i++) {
            if (d->flows[i]->shared)
                run_flow_shared(d, d->flows[i], b);
            else
                run_flow(d->flows[i], b);
        }
    }
    running_dev = NULL;
    pthread_mutex_unlock(&d->lock);
    atomic_fetch_add_explicit(&d->packets, b->count, memory_order_relaxed);
}

/* Closes the write sections open on this thread while process() waits (begin=1), and reopens
 * them (begin=0): readers of results then get consistent snapshots instead of waiting with it. */
void mapi_dev_blocking(int begin)
{
    mapi_dev_t *d = running_dev;
    if (!d)
        return;
    if (running_flow) {
        if (begin)
            seq_write_end(running_flow);
        else
            seq_write_begin(running_flow);
        return;
    }
    for (uint32_t i = 0; i < d->nflows; i++) {
        if (begin)
            seq_write_end(d->flows[i]);
        else
            seq_write_begin(d->flows[i]);
    }
}

void mapi_dev_cross_reference(mapi_dev_t *d, int delta)
{
    atomic_fetch_add_explicit(&d->cross_references, delta, memory_order_relaxed);
}

int mapi_dev_run_trace(mapi_dev_t *d, mapi_trace_t *t)
{
    atomic_store(&d->stop, 0);
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        if (mapi_trace_next(t, &d->batch) == 0)
            break;
        mapi_dev_process(d, &d->batch);
    }
    return mapi_trace_status(t);
}

int mapi_dev_run_live(mapi_dev_t *d, mapi_live_t *l)
{
    while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
        int n = mapi_live_next(l, &d->batch);
        if (n < 0)
            return -1;
        if (n > 0)
            mapi_dev_process(d, &d->batch);
    }
    return 0;
}

uint64_t *mapi_dev_drop_counter(mapi_dev_t *d)
{
    return (uint64_t *)&d->function_drops;
}

void mapi_dev_count_drop(mapi_dev_t *d, uint64_t n)
{
    atomic_fetch_add_explicit(&d->function_drops, n, memory_order_relaxed);
}

uint64_t mapi_dev_function_drops(mapi_dev_t *d)
{
    return atomic_load_explicit(&d->function_drops, memory_order_relaxed);
}

uint64_t mapi_dev_engine_drops(mapi_dev_t *d)
{
    return atomic_load_explicit(&d->engine_drops, memory_order_relaxed);
}

void mapi_dev_stop(mapi_dev_t *d)
{
    atomic_store(&d->stop, 1);
}

uint64_t mapi_dev_packets(mapi_dev_t *d)
{
    return atomic_load_explicit(&d->packets, memory_order_relaxed);
}

/* Copies while no batch is being written; retries if one started meanwhile. */
static void seq_read(mapi_flow_t *f, void (*copy)(mapi_flow_t *, void *), void *arg)
{
    for (unsigned spins = 0;; spins++) {
        uint64_t before = atomic_load_explicit(&f->seq, memory_order_acquire);
        if (!(before & 1)) {
            copy(f, arg);
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&f->seq, memory_order_relaxed) == before)
                return;
        }
        if (spins > 64)
            sched_yield();
    }
}

struct snap_args {
    size_t offset, len;
    void *dst;
    uint64_t *pkts_in, *dropped;
};

static void copy_results(mapi_flow_t *f, void *arg)
{
    struct snap_args *a = arg;
    memcpy(a->dst, f->results + a->offset, a->len);
}

static void copy_counters(mapi_flow_t *f, void *arg)
{
    struct snap_args *a = arg;
    *a->pkts_in = f->pkts_in;
    memcpy(a->dropped, f->dropped, f->nfuncs * sizeof *f->dropped);
}

void mapi_flow_snapshot(mapi_flow_t *f, size_t offset, void *dst, size_t len)
{
    if (offset > f->result_size || len > f->result_size - offset)
        return;
    struct snap_args a = {.offset = offset, .len = len, .dst = dst};
    seq_read(f, copy_results, &a);
}

void mapi_flow_counters(mapi_flow_t *f, uint64_t *pkts_in, uint64_t *dropped)
{
    struct snap_args a = {.pkts_in = pkts_in, .dropped = dropped};
    seq_read(f, copy_counters, &a);
}
