/*
 * mapi/abi.h: the binary interface between the mapi engine and native function libraries.
 *
 * Every function library compiles its per-packet code against this header, found at build time
 * through mapi_core.get_include().  The engine refuses a library whose extension reports another
 * MAPI_ABI_VERSION, so a change to anything below must bump it (pure additions excepted).
 */
#ifndef MAPI_ABI_H
#define MAPI_ABI_H

#include <stddef.h>
#include <stdint.h>

#define MAPI_ABI_VERSION 1

/*
 * The header the engine hands to process() with every packet.
 *
 * ts is MAPI's 64-bit fixed-point time: seconds since the Unix epoch in the upper 32 bits, the
 * fraction of a second in the lower 32 (units of 2^-32 s, as in ERF).  caplen bytes of the frame
 * are present, starting at its link-layer header; wlen is the length on the wire.  ifindex is the
 * capture interface (pcapng interface number, ERF port); linktype is the LINKTYPE_/DLT_ value of
 * the frame.  A function that modifies packets may change caplen and wlen; the engine gives it a
 * private, writable copy of the packet with at least MAPI_MODIFY_HEADROOM bytes of room after
 * caplen.
 */
/* @cdef-begin: the part of this header that Python (cffi) sees */
typedef struct mapi_pkthdr {
    uint64_t ts;
    uint32_t caplen;
    uint32_t wlen;
    uint32_t ifindex;
    uint16_t linktype;
    uint16_t flags;          /* reserved, 0 */
} mapi_pkthdr_t;

#define MAPI_MODIFY_HEADROOM 65535

/*
 * The per-packet entry point of a native function.
 *
 * state is the pointer the function's init() hook returned (its own memory; results included).
 * Return 0 to drop the packet for this flow; any other value passes it on to the next function.
 * It must not block and must not call into Python.  The one documented exception is TO_BUFFER on
 * an offline device, which waits for its reader while its ring is full (MAPI's back-pressure: no
 * packet lost), wrapped in the engine's mapi_dev_blocking(1)/(0) and woken when the flow closes.
 */
typedef int (*mapi_process_fn)(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/*
 * Another function's result, as seen by a function that reads it (BINOP, STAT, DIST, BUCKET,
 * RES2FILE, THRESHOLD...).  The core fills it in at connect (mapi_core.references) and keeps the
 * referenced result memory alive until the reader's cleanup, even if the referenced flow closes
 * first (its values then stop changing).  Read it with the helpers below, never directly.
 */
typedef struct mapi_result_ref {
    unsigned char *data;       /* the referenced function's result memory */
    uint32_t size;             /* its size in bytes */
    uint32_t flags;            /* MAPI_REF_* */
    void (*snapshot)(void *flow, size_t offset, void *dst, size_t len);
    void *flow;                /* the referenced flow, for snapshot() */
    size_t offset;             /* of data within that flow's result memory */
} mapi_result_ref_t;

#define MAPI_REF_SAME_DEVICE 1 /* written by the thread that runs the reader: no snapshot needed */
#define MAPI_REF_RESET 2       /* the reader may reset it (zero it): a resettable function */
/* @cdef-end */

/* The referenced u64 (counters, PKT_INFO...): one aligned 64-bit load, never torn. */
static inline uint64_t mapi_ref_u64(const mapi_result_ref_t *ref)
{
    return __atomic_load_n((const uint64_t *)ref->data, __ATOMIC_RELAXED);
}

/* A consistent copy of the whole referenced result (ref->size bytes) into dst. */
static inline void mapi_ref_read(const mapi_result_ref_t *ref, void *dst)
{
    if (ref->flags & MAPI_REF_SAME_DEVICE) {
        __builtin_memcpy(dst, ref->data, ref->size);
    } else {
        ref->snapshot(ref->flow, ref->offset, dst, ref->size);
    }
}

/* Brings the referenced result back to its initial value (zero), if the reader may. */
static inline void mapi_ref_reset(const mapi_result_ref_t *ref)
{
    if (ref->flags & MAPI_REF_RESET)
        __builtin_memset(ref->data, 0, ref->size);
}

/*
 * Each native library's extension defines this once (MAPI_DEFINE_ABI_VERSION) and declares
 * `int mapi_abi_version(void);` in its cffi cdef, so the loader can compare versions.
 */
#define MAPI_DEFINE_ABI_VERSION \
    int mapi_abi_version(void) { return MAPI_ABI_VERSION; }

/* 32.32 helpers, exact: the fraction is rounded down to the next 2^-32 s. */
static inline uint64_t mapi_ts_from_usec(uint64_t sec, uint32_t usec)
{
    return (sec << 32) | (((uint64_t)usec << 32) / 1000000u);
}

static inline uint64_t mapi_ts_from_nsec(uint64_t sec, uint32_t nsec)
{
    return (sec << 32) | (((uint64_t)nsec << 32) / 1000000000u);
}

#endif /* MAPI_ABI_H */
