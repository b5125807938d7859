/*
 * mapi-stdlib's TO_FILE: packets written to a capture file (pcap µs, pcap ns, pcapng), as cffi
 * and the engine see it.  Declarations only; the code is in output.c.
 */

int mapi_abi_version(void);

/* The formats the writer knows (TO_FILE maps MAPI's MFF_* codes to these). */
#define TOFILE_PCAP_USEC 1       /* pcap, magic 0xa1b2c3d4, µs timestamps */
#define TOFILE_PCAP_NSEC 2       /* pcap, magic 0xa1b23c4d, ns timestamps */
#define TOFILE_PCAPNG 3          /* pcapng: one SHB, one IDB per interface met (if_tsresol 9: ns), EPBs */

/* MAPI's int result of TO_FILE: 11 while it writes, 0 once its packet limit is reached. */
#define TOFILE_WRITING 11
#define TOFILE_LIMIT_REACHED 0

/* TO_FILE's result memory. */
typedef struct tofile_status {
    int32_t state;             /* TOFILE_WRITING or TOFILE_LIMIT_REACHED (MAPI's result) */
    uint32_t reserved;
    uint64_t packets;          /* packets written (or waiting in the writer's buffer) */
    uint64_t bytes;            /* their captured bytes (packet data only, no file headers) */
    uint64_t write_errors;     /* packets lost because a write failed (full disk...); +1 if close failed */
    uint64_t skipped;          /* packets the format cannot hold (pcap: a link type other than the file's) */
} tofile_status_t;

typedef struct tofile tofile_t;

/*
 * A writer on fd (which it owns from now on, even on failure), in format `format`, for packets of
 * link type `linktype` captured with `snaplen`; with `swapped` every header field is written in
 * the byte order opposite to the host's (the source trace's order).  `limit` packets at most (0:
 * no limit).  The file header (pcap header, or pcapng SHB) is written at once.  Returns NULL when
 * out of memory or when fd cannot be opened as a stream; errno then says why.
 */
tofile_t *tofile_new(int fd, int format, uint32_t linktype, uint32_t snaplen, int swapped, uint64_t limit,
                     tofile_status_t *status);

/*
 * Writes out the buffer and closes the file (correcting a snaplen field that a longer packet exceeded, when
 * the file is seekable), then frees the writer.  Returns the total count of write errors.  Call
 * only when process() can no longer run.
 */
uint64_t tofile_close(tofile_t *writer);

int tofile_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
