/*
 * Live capture from a network interface, in batches for the engine.
 *
 * Two backends:
 *  - MAPI_LIVE_AFPACKET: Linux AF_PACKET with a TPACKET_V3 ring mapped into the process.  Zero
 *    copy: a batch points into the ring's blocks, and a block goes back to the kernel only when
 *    the batch that used it has been processed (at the next mapi_live_next call).
 *  - MAPI_LIVE_PCAP: libpcap (the portable path).  Packets are copied into the capture's own
 *    arena, because libpcap's pointers die at its next call.
 *
 * A capture is opened (checked: interface, permission, ring), then started: packets are
 * captured from mapi_live_start on.  Timestamps are MAPI's 32.32, converted exactly from the
 * kernel's nanoseconds.  Only the capture thread calls mapi_live_next; mapi_live_wakeup and
 * mapi_live_stats may be called from any thread.
 *
 * This file is also fed to cffi's cdef: declarations and integer #defines only.
 */
#ifndef MAPI_LIVE_H
#define MAPI_LIVE_H

#include <stddef.h>
#include <stdint.h>
#include "batch.h"

typedef struct mapi_live mapi_live_t;

#define MAPI_LIVE_AFPACKET 1
#define MAPI_LIVE_PCAP 2

typedef struct mapi_live_options {
    uint32_t snaplen;        /* bytes kept of each packet (1..262144) */
    uint32_t buffer_size;    /* kernel buffer (the ring), bytes */
    int32_t timeout_ms;      /* longest wait before a partly filled block (libpcap: a read) is handed over */
    int32_t promisc;         /* promiscuous mode */
    int32_t immediate;       /* hand packets over at once (timeout of 1 ms for TPACKET_V3) */
    int32_t backend;         /* MAPI_LIVE_AFPACKET or MAPI_LIVE_PCAP */
    int32_t fanout;          /* AF_PACKET: 1..65535 joins that PACKET_FANOUT_HASH group at start; 0: none */
} mapi_live_options_t;

/* Counters since mapi_live_start. */
typedef struct mapi_live_stats {
    uint64_t received;       /* reached the capture: delivered + kernel_drops + in the ring (ps_recv) */
    uint64_t kernel_drops;   /* dropped by the kernel, the ring (buffer) being full (ps_drop) */
    uint64_t if_drops;       /* dropped by the interface or its driver: rx_missed + rx_fifo errors (ps_ifdrop) */
    uint64_t delivered;      /* handed to the engine */
} mapi_live_stats_t;

/* Opens a capture (not started yet).  On failure returns NULL and writes the reason into errbuf,
 * e.g. "eth9: no such device". */
mapi_live_t *mapi_live_open(const char *ifname, const mapi_live_options_t *options, char *errbuf, size_t errlen);

/* Starts capturing.  0, or -1 with the reason in errbuf. */
int mapi_live_start(mapi_live_t *l, char *errbuf, size_t errlen);

/* Fills b with up to MAPI_BATCH_MAX packets and returns how many: 0 when none came within the
 * timeout or the capture was woken up, -1 when capture failed (mapi_live_message says why).
 * The packets stay valid until the next call. */
int mapi_live_next(mapi_live_t *l, mapi_batch_t *b);

/* Makes a mapi_live_next that is waiting return at once (a stop request). */
void mapi_live_wakeup(mapi_live_t *l);

int mapi_live_stats(mapi_live_t *l, mapi_live_stats_t *s);
int mapi_live_backend(const mapi_live_t *l);
uint32_t mapi_live_linktype(const mapi_live_t *l);    /* LINKTYPE_ value of the packets */
uint32_t mapi_live_snaplen(const mapi_live_t *l);
uint32_t mapi_live_ifindex(const mapi_live_t *l);     /* 0 for "any" and libpcap pseudo-devices */
uint32_t mapi_live_buffer_size(const mapi_live_t *l); /* the kernel buffer actually used */
const char *mapi_live_message(const mapi_live_t *l);  /* why capture failed; "" otherwise */
const char *mapi_live_warning(const mapi_live_t *l);  /* e.g. "eth1 is down"; "" otherwise */
void mapi_live_close(mapi_live_t *l);

/* The LINKTYPE_ a Linux interface type (ARPHRD_) is captured as; LINKTYPE_LINUX_SLL (113,
 * "cooked" headers) for the types without a link-layer header of their own that we know. */
uint32_t mapi_live_linktype_of_arphrd(uint32_t arphrd);
/* libpcap's name of a LINKTYPE_ ("EN10MB", "LINUX_SLL"...), "" if it has none. */
const char *mapi_live_linktype_name(uint32_t linktype);
/* "libpcap version 1.10.3 (...)" */
const char *mapi_live_pcap_version(void);

/* The capture devices libpcap finds (pcap_findalldevs), as `tcpdump -D` lists them. */
#define MAPI_LIVE_MAX_ADDRESSES 16
typedef struct mapi_live_if {
    char name[256];
    char description[256];
    uint32_t flags;                                 /* PCAP_IF_* */
    uint32_t naddresses;
    char addresses[MAPI_LIVE_MAX_ADDRESSES][64];    /* "192.0.2.1/24", "fe80::1/64" */
} mapi_live_if_t;

/* Fills up to max entries and returns how many devices there are (possibly more than max), or
 * -1 with the reason in errbuf. */
int mapi_live_interfaces(mapi_live_if_t *out, int max, char *errbuf, size_t errlen);

#endif
