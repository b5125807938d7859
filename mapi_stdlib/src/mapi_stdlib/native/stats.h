/*
 * mapi-stdlib's statistics functions (STAT, DIST, BUCKET, BURST, TOP), as cffi and the engine see
 * them (declarations only; code in stats.c).  Python fills the states below at connect; the
 * engine hands them to the *_process functions.  Result memory layouts are in stats.c's comments
 * and mirrored by the decoders in mapi_stdlib/stats.py.
 */

int mapi_abi_version(void);

/* A periodic clock on packet time, shared by STAT and BUCKET (see stats.c). */
typedef struct stats_clock {
    uint64_t interval;         /* 32.32 units, > 0 */
    uint64_t start;            /* start of the interval in progress */
    uint64_t last;             /* the source's value as read on the previous packet */
    uint64_t carry;            /* what the reset at the last boundary took from the new interval */
    int started;               /* a first packet has started the clock */
    int reset;                 /* reset the source at each boundary */
} stats_clock_t;

/* STAT: result = stat_record_t (stat_record.h). */
typedef struct stats_stat {
    mapi_result_ref_t source;
    unsigned char *result;
    int mode;                  /* STATS_EVERY, STATS_SKIP_FIRST or STATS_PERIODIC */
    int seen;                  /* packets seen, saturating at 1 (for STATS_SKIP_FIRST) */
    stats_clock_t clock;       /* STATS_PERIODIC */
} stats_stat_t;

#define STATS_EVERY 0
#define STATS_SKIP_FIRST 1
#define STATS_PERIODIC 2

int stats_stat_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* DIST: result = uint64_t counts[nbins + 2] (underflow, nbins regular bins, overflow). */
typedef struct stats_dist {
    mapi_result_ref_t source;
    unsigned char *result;
    uint64_t minimum, maximum, width;
    uint64_t nbins;
} stats_dist_t;

int stats_dist_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* BUCKET: result = stats_bucket_header_t, then ring_size stats_bucket_entry_t. */
typedef struct stats_bucket_header {
    uint64_t written;          /* entries pushed since connect (ring index = written % ring_size) */
    uint64_t started;          /* 1 once a packet has reached BUCKET */
    uint64_t open_start;       /* start of the interval in progress */
    uint64_t open_value;       /* its value so far */
} stats_bucket_header_t;

typedef struct stats_bucket_entry {
    uint64_t start;            /* start of the interval (per-packet mode: the packet's ts) */
    uint64_t value;            /* the source's value at its end */
} stats_bucket_entry_t;

typedef struct stats_bucket {
    mapi_result_ref_t source;
    unsigned char *result;
    uint64_t ring_size;
    int mode;                  /* BUCKET_NEVER, BUCKET_EVERY or BUCKET_PERIODIC */
    int reset;
    stats_clock_t clock;       /* BUCKET_PERIODIC */
} stats_bucket_t;

#define BUCKET_NEVER 0
#define BUCKET_EVERY 1
#define BUCKET_PERIODIC 2

int stats_bucket_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* BURST: result = stats_burst_category_t[ncategories], then stats_burst_open_t. */
typedef struct stats_burst_category {
    uint64_t bytes, packets, bursts, gap_bytes, gaps;
} stats_burst_category_t;

typedef struct stats_burst_open {
    uint64_t bytes, packets;   /* the burst in progress (a mirror of the state's) */
} stats_burst_open_t;

typedef struct stats_burst {
    unsigned char *result;
    uint64_t minimum, step, ncategories;
    uint64_t frame_gap;        /* inter-frame time, 32.32 units */
    uint64_t late, early;      /* tolerances, 32.32 units */
    uint64_t speed;            /* link speed, Mbit/s */
    int started;
    uint64_t prev_ts;          /* the previous packet */
    uint64_t prev_wlen;
    uint64_t open_bytes, open_packets;
} stats_burst_t;

int stats_burst_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* TOP: result = stats_top_header_t, then x stats_top_entry_t in rank order. */
typedef struct stats_top_header {
    uint64_t count;            /* entries in the list (<= x) */
    uint64_t since;            /* start of the counting period (ts of its first packet's period) */
    uint64_t distinct;         /* values tracked in this period */
    uint64_t untracked_packets;/* packets of values the full table could not track */
    uint64_t untracked_bytes;
    uint64_t reserved;
} stats_top_header_t;

typedef struct stats_top_entry {
    uint8_t key[16];           /* TOP_KIND_NUMBER: a host-order uint64_t in the first 8 bytes;
                                  IPv4: 4 bytes; IPv6: 16 bytes (network order) */
    uint32_t kind;             /* TOP_KIND_* */
    uint32_t reserved;
    uint64_t packets, bytes;
} stats_top_entry_t;

#define TOP_KIND_NUMBER 1
#define TOP_KIND_IPV4 4
#define TOP_KIND_IPV6 6

typedef struct stats_top stats_top_t;

/* NULL when out of memory.  max_slots: hash-table slots at most (a power of two >= 16). */
stats_top_t *stats_top_new(void *result, uint32_t x, int protocol, int field, int by_bytes,
                           uint64_t reset_interval, uint64_t max_slots, uint64_t seed);
void stats_top_free(stats_top_t *top);
int stats_top_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
