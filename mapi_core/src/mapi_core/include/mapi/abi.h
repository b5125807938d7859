/*
 * mapi/abi.h: the binary interface between the mapi engine and native function libraries.
 *
 * Every function library compiles its per-packet code against this header, found at build time
 * through mapi_core.get_include().  The engine refuses a library whose extension reports another
 * MAPI_ABI_VERSION, so a change to anything below must bump it.
 */
#ifndef MAPI_ABI_H
#define MAPI_ABI_H

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
 * It must not block and must not call into Python.
 */
typedef int (*mapi_process_fn)(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
/* @cdef-end */

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
