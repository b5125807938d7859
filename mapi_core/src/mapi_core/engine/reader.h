/*
 * Offline trace reader: pcap (µs and ns resolution, either byte order, the modified 24-byte
 * record variant) and pcapng (any number of sections and interfaces), told apart by their magic
 * numbers as libpcap does.  Records are parsed from their on-disk layout, never overlaid on
 * in-memory structs.
 */
#ifndef MAPI_READER_H
#define MAPI_READER_H

#include <stddef.h>
#include "batch.h"

typedef struct mapi_trace mapi_trace_t;

enum mapi_trace_format { MAPI_TRACE_PCAP = 1, MAPI_TRACE_PCAPNG = 2 };

/* Why the reader stopped delivering packets. */
enum mapi_trace_status {
    MAPI_TRACE_OK = 0,        /* more packets may follow */
    MAPI_TRACE_EOF = 1,       /* clean end of file */
    MAPI_TRACE_TRUNCATED = 2, /* the file ends inside a record: every complete record was delivered */
    MAPI_TRACE_DAMAGED = 3    /* a record is impossible (bad length, unknown interface...): reading stopped there */
};

/* Opens a trace.  On failure returns NULL and writes a one-line reason into errbuf. */
mapi_trace_t *mapi_trace_open(const char *path, char *errbuf, size_t errlen);

/*
 * Fills b with up to MAPI_BATCH_MAX packets and returns how many.  0 means no more packets:
 * mapi_trace_status() says why.  The data pointers stay valid until the next call or close.
 */
uint32_t mapi_trace_next(mapi_trace_t *t, mapi_batch_t *b);

int mapi_trace_status(const mapi_trace_t *t);
const char *mapi_trace_message(const mapi_trace_t *t);   /* "" while OK/EOF */
int mapi_trace_format(const mapi_trace_t *t);
int mapi_trace_nanosecond(const mapi_trace_t *t);        /* pcap: ns magic; pcapng: 1 if any interface is finer than 1 µs */
int mapi_trace_swapped(const mapi_trace_t *t);           /* byte order differs from the host's (first section for pcapng) */
uint32_t mapi_trace_snaplen(const mapi_trace_t *t);      /* pcap header / first pcapng interface */
uint32_t mapi_trace_linktype(const mapi_trace_t *t);     /* pcap header / first pcapng interface; 0xFFFFFFFF if none yet */
uint32_t mapi_trace_interfaces(const mapi_trace_t *t);   /* pcapng interfaces seen so far, over all sections; 1 for pcap */
uint32_t mapi_trace_interface_linktype(const mapi_trace_t *t, uint32_t i);
uint64_t mapi_trace_packets(const mapi_trace_t *t);      /* packets delivered so far */
uint64_t mapi_trace_offset(const mapi_trace_t *t);       /* file offset of the next record */
/*
 * Workers: restricts a mapped pcap file, before its first packet is read, to the records that
 * start in [start, end).  The first record at or after start is found by its shape (64 plausible
 * records in a row, or the end of the file); its offset is returned, or -1 with a message when the
 * trace cannot be split.  After the last record, mapi_trace_offset() is the first record at or after
 * end: the start the next range must have found (the caller checks).
 */
int64_t mapi_trace_restrict(mapi_trace_t *t, uint64_t start, uint64_t end);
void mapi_trace_close(mapi_trace_t *t);

#endif
