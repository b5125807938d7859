/*
 * TO_BUFFER, as cffi and the engine see it: a ring of packet records in native memory between
 * one producer (the device thread, in tobuf_process) and one consumer (the reader, in
 * tobuf_read).  Declarations only; the code is in buffer.c.
 *
 * A record is a mapi_pkthdr_t (TOBUF_HEADER bytes) followed by caplen bytes of the frame,
 * padded to a multiple of 8.  tobuf_read copies whole records in that layout.
 */

int mapi_abi_version(void);

#define TOBUF_HEADER 24          /* sizeof(mapi_pkthdr_t): a record's header */
#define TOBUF_MIN_SIZE 4096      /* smallest ring, in bytes */

/* TO_BUFFER's result memory: written by the device thread only. */
typedef struct tobuf_result {
    uint64_t packets;            /* packets put into the ring */
    uint64_t bytes;              /* their captured bytes (as stored) */
    uint64_t dropped;            /* live device: packets dropped because the ring was full */
    uint64_t truncated;          /* packets longer than the whole ring, stored cut to fit it */
    uint64_t waits;              /* offline device: times the device thread waited for the reader */
} tobuf_result_t;

/* What tobuf_read returns. */
enum {
    TOBUF_RECORDS = 1,           /* records were copied */
    TOBUF_EMPTY = 0,             /* none before the timeout (or at once with timeout 0) */
    TOBUF_END = -1,              /* none will come: the ring is closed, or the trace ended and it is empty */
    TOBUF_TOO_SMALL = -2         /* the next record does not fit the output buffer (*copied: its size) */
};

typedef struct tobuf tobuf_t;

/*
 * A ring of size bytes (rounded down to a multiple of 8).  offline: the producer waits for room
 * instead of dropping.  result: the function's result memory.  blocking: the engine's
 * mapi_dev_blocking (0 if none), called around the producer's waits.  device_drops: the
 * device's uint64_t drop counter (0 if none), where live drops are counted too (mapi_stats).
 */
tobuf_t *tobuf_new(uint64_t size, int offline, tobuf_result_t *result, uintptr_t blocking,
                   uintptr_t device_drops);
void tobuf_free(tobuf_t *b);
uint64_t tobuf_capacity(const tobuf_t *b);

/* The per-packet entry point (always passes the packet on). */
int tobuf_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/*
 * Reader: waits up to timeout_ns (< 0: without limit, 0: not at all) for records, then copies as
 * many whole records as fit into out (outlen bytes) and frees their room in the ring.
 * *copied is the number of bytes copied (TOBUF_RECORDS) or needed (TOBUF_TOO_SMALL).
 * One reader at a time.
 */
int tobuf_read(tobuf_t *b, int64_t timeout_ns, unsigned char *out, uint64_t outlen, uint64_t *copied);

/* Records handed to the reader so far. */
uint64_t tobuf_consumed(const tobuf_t *b);
/* Live drops so far, read while the device runs (an atomic load, no snapshot needed). */
uint64_t tobuf_dropped(const tobuf_t *b);

/* The trace has ended: a waiting reader gets what is left, then TOBUF_END. */
void tobuf_end(tobuf_t *b);
/* The flow closes: the reader gets TOBUF_END at once and a waiting producer stops waiting
 * (later packets are not stored). */
void tobuf_close(tobuf_t *b);
