/*
 * Residency of a mapped trace file.
 *
 * Reading a mapping page by page takes a page fault every 64 KiB (the kernel's fault-around); on
 * a file in the page cache those faults, not the parsing, set the packet rate.  A helper thread
 * maps the pages in ahead of the parser instead (MADV_POPULATE_READ: one call per chunk, on the
 * other core), at most RESIDENT_AHEAD bytes ahead, and releases them RESIDENT_BEHIND bytes behind
 * the parser (MADV_DONTNEED: the pages stay in the page cache but leave the process), so that the
 * process's resident memory stays flat whatever the size of the file.
 *
 * Neither call changes what the parser reads: a page that is not resident yet faults in, and a
 * released page of an unmodified private file mapping faults back in with the same bytes.  So the
 * thread needs no synchronisation with the parser beyond the offset it publishes; it only sleeps
 * when it is far enough ahead, and the parser wakes it when it moves on.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "residency.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22          /* Linux 5.14; older kernels refuse it and pages fault in */
#endif

#define PAGE ((size_t)4096)
#define CHUNK ((size_t)4 << 20)        /* populated per call */
#define RESIDENT_AHEAD ((size_t)32 << 20)
#define RESIDENT_BEHIND ((size_t)8 << 20)

struct mapi_residency {
    const unsigned char *base;
    size_t len;
    size_t from;                       /* where the parser started (a worker's part of the file) */
    size_t parser;                     /* published by the parser (atomic) */
    size_t wake_at;                    /* the sleeping thread wants the parser here (atomic) */
    int waiting;                       /* the thread sleeps on wake (atomic) */
    int stop;                          /* under lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
};

static size_t page_down(size_t offset) { return offset & ~(PAGE - 1); }

static void *keep_resident(void *arg)
{
    mapi_residency_t *r = arg;
    size_t populated = r->from, released = r->from;
    int populate = 1;
    for (;;) {
        size_t parser = __atomic_load_n(&r->parser, __ATOMIC_SEQ_CST);
        if (parser >= released + 2 * RESIDENT_BEHIND) {
            size_t to = page_down(parser - RESIDENT_BEHIND);
            madvise((void *)(r->base + released), to - released, MADV_DONTNEED);
            released = to;
            if (populated < released)
                populated = released;
        }
        if (populate && populated < r->len && populated < parser + RESIDENT_AHEAD) {
            size_t size = r->len - populated < CHUNK ? r->len - populated : CHUNK;
            if (madvise((void *)(r->base + populated), size, MADV_POPULATE_READ) != 0)
                populate = 0;          /* unsupported: pages fault in; releasing still helps */
            populated += size;
            continue;
        }
        /* Sleep until there is a chunk to populate or a window to release: one wake-up per chunk. */
        size_t wake_at = released + 2 * RESIDENT_BEHIND;
        if (populate && populated < r->len && populated + CHUNK - RESIDENT_AHEAD < wake_at)
            wake_at = populated + CHUNK - RESIDENT_AHEAD;
        pthread_mutex_lock(&r->lock);
        __atomic_store_n(&r->wake_at, wake_at, __ATOMIC_SEQ_CST);
        __atomic_store_n(&r->waiting, 1, __ATOMIC_SEQ_CST);
        while (!r->stop && __atomic_load_n(&r->parser, __ATOMIC_SEQ_CST) < wake_at)
            pthread_cond_wait(&r->wake, &r->lock);
        __atomic_store_n(&r->waiting, 0, __ATOMIC_SEQ_CST);
        int stop = r->stop;
        pthread_mutex_unlock(&r->lock);
        if (stop)
            return NULL;
    }
}

mapi_residency_t *mapi_residency_start(const unsigned char *base, size_t len, size_t from)
{
    mapi_residency_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->base = base;
    r->len = len;
    r->from = page_down(from);
    r->parser = from;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (pthread_create(&r->thread, NULL, keep_resident, r) != 0) {
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
    }
    pthread_setname_np(r->thread, "mapi-resident");
    return r;
}

void mapi_residency_reached(mapi_residency_t *r, size_t pos)
{
    __atomic_store_n(&r->parser, pos, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&r->waiting, __ATOMIC_SEQ_CST) && pos >= __atomic_load_n(&r->wake_at, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&r->lock);
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
    }
}

void mapi_residency_stop(mapi_residency_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
