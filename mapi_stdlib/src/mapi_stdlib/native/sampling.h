/*
 * mapi-stdlib's sampling functions (SAMPLE, HASHSAMP, STARTSTOP, SYNC, THRESHOLD), as cffi and
 * the engine see them.  Declarations only; the code is in sampling.c.  The states are opaque:
 * Python creates them with the *_new functions and frees them with *_free at cleanup.  The
 * layouts of the result memory (HASHSAMP's ring, STARTSTOP's record, THRESHOLD's ring) are
 * declared here so the Python side can check its decoders against sizeof.
 */

int mapi_abi_version(void);

/* ---- SAMPLE ------------------------------------------------------------------------------- */
typedef struct sample_state sample_state_t;
sample_state_t *sample_new(int mode, uint32_t value, uint64_t seed);
void sample_free(sample_state_t *state);
int sample_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* ---- HASHSAMP ----------------------------------------------------------------------------- */
typedef struct hashsamp_record {
    uint64_t ts;
    uint8_t src[16];             /* IPv4: the first 4 bytes */
    uint8_t dst[16];
    uint32_t seq;                /* TCP sequence number (0 for UDP) */
    uint16_t sport, dport;
    uint8_t protocol;            /* 6 TCP, 17 UDP */
    uint8_t flags;               /* HASHSAMP_* bits (TCP only) */
    uint8_t ip_version;          /* 4 or 6 */
    uint8_t reserved[5];
} hashsamp_record_t;

typedef struct hashsamp_ring {
    uint64_t written;            /* samples ever stored; record i is at records[i % capacity] */
    uint32_t capacity;
    uint32_t reserved;
    /* hashsamp_record_t records[capacity] follow */
} hashsamp_ring_t;

typedef struct hashsamp_state hashsamp_state_t;
hashsamp_state_t *hashsamp_new(uint32_t range, hashsamp_ring_t *ring, uint32_t capacity);
void hashsamp_free(hashsamp_state_t *state);
int hashsamp_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
uint32_t hashsamp_jhash_3words(uint32_t a, uint32_t b, uint32_t c, uint32_t initval);

/* ---- STARTSTOP ---------------------------------------------------------------------------- */
typedef struct startstop_result {
    uint64_t first;              /* ts of the first packet that reached STARTSTOP */
    uint64_t first_processed;    /* ts of the first packet it passed */
    uint64_t last;               /* ts of the last packet it passed */
    uint32_t flags;              /* 1: first is set, 2: first_processed and last are set */
    uint32_t reserved;
} startstop_result_t;

typedef struct startstop_state startstop_state_t;
startstop_state_t *startstop_new(startstop_result_t *result, int relative, int has_start, uint64_t start,
                                 int stop_relative, uint64_t stop);
void startstop_free(startstop_state_t *state);
int startstop_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* ---- SYNC --------------------------------------------------------------------------------- */
typedef struct sync_state sync_state_t;
sync_state_t *sync_new(uint32_t pending);
void sync_free(sync_state_t *state);
uint32_t sync_flow_connected(sync_state_t *state);
int sync_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* ---- THRESHOLD ---------------------------------------------------------------------------- */
typedef struct threshold_event {
    uint64_t ts;                 /* the packet's ts, or the poll instant (TR_POLL, TR_MW) */
    uint64_t magnitude;          /* |compared quantity| */
    uint32_t negative;           /* 1 when the compared quantity is below zero (a difference) */
    uint32_t reserved;
} threshold_event_t;

typedef struct threshold_ring {
    uint64_t written;            /* events ever stored; event i is at events[i % capacity] */
    uint32_t capacity;
    uint32_t stopped;            /* 1 once `count` events fired: no more will come */
    /* threshold_event_t events[capacity] follow */
} threshold_ring_t;

typedef struct threshold_state threshold_state_t;
threshold_state_t *threshold_new(threshold_ring_t *ring, uint32_t capacity, uint32_t value_size, int value_signed,
                                 uint64_t threshold, int boundary, uint64_t period, uint32_t slices,
                                 uint64_t count);
void threshold_free(threshold_state_t *state);
mapi_result_ref_t *threshold_source(threshold_state_t *state);
void threshold_prime(threshold_state_t *state);
int threshold_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
