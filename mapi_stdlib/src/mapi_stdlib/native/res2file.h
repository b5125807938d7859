/*
 * mapi-stdlib's RES2FILE: other functions' results written to a file, as cffi and the engine
 * see it.  Declarations only; the code is in res2file.c.
 */

int mapi_abi_version(void);

/* How each referenced result is written (MAPI's res2file.h values). */
#define R2F_RAW 0        /* u32 little-endian length, then the result bytes as they are */
#define R2F_ULLSTR 1     /* the u64 in decimal */
#define R2F_ULLSEC 2     /* the u64 / 2^32 in decimal seconds with 12 decimals */
#define R2F_STATS 3      /* a STAT record: count sum sum_of_squares min max */

/* RES2FILE's result memory: what it has written so far. */
typedef struct r2f_status {
    uint64_t lines;            /* lines written (the header not included) */
    uint64_t write_errors;     /* lines (and final flushes) that could not be written */
    uint64_t skipped_lines;    /* empty-interval lines left out beyond the cap of one gap */
} r2f_status_t;

typedef struct r2f r2f_t;

/*
 * A writer on fd (which it owns from now on, even on failure) for nrefs results whose types
 * are types[0..nrefs); sizes[i] is the size of result i.  interval: -1 one line at close, 0 one
 * line per packet, else 32.32 units of packet time.  The header (header_len bytes; none if 0)
 * is written at once, followed by a newline.  Returns NULL when out of memory or when fd cannot
 * be opened as a stream; errno then says why.
 */
r2f_t *r2f_new(int fd, uint32_t nrefs, const int *types, const uint32_t *sizes, int64_t interval, int reset,
               const char *header, size_t header_len, r2f_status_t *status);

/* The reference to fill for result i (mapi_core.references.bind). */
mapi_result_ref_t *r2f_ref(r2f_t *writer, uint32_t i);

/*
 * With write_due, writes what is due at close (interval -1: the one line; an interval: the line
 * of the interval in progress, if a packet came; every reference must be bound); then flushes
 * and closes the file and frees the writer.  Returns the total count of write errors.  Call
 * only when process() can no longer run.
 */
uint64_t r2f_close(r2f_t *writer, int write_due);

/* Empty-interval lines written at most for one gap between packets. */
#define R2F_MAX_EMPTY_LINES 1000000

int r2f_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
