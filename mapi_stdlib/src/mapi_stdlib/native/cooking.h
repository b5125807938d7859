/* mapi-stdlib's COOKING function, as cffi and the engine see them (declarations only; code in cooking.c). */

int mapi_abi_version(void);

/* Directions (MAPI's enum cooking_direction), named as libnids names its half-streams. */
#define COOKING_CLIENT_SIDE 1    /* the bytes the client receives: sent by the server */
#define COOKING_SERVER_SIDE 2    /* the bytes the server receives: sent by the client */
#define COOKING_BOTH_SIDE 3

/* The largest threshold: a cooked IPv4 packet with 60-byte IP and TCP headers still fits in 65535. */
#define COOKING_MAX_THRESHOLD 65415
#define COOKING_DEFAULT_THRESHOLD 32000

/* Fixed limits of one COOKING instance (memory is reserved at connect, touched only when used). */
#define COOKING_MAX_CONNECTIONS 65536
#define COOKING_MAX_DATAGRAMS 4096       /* datagrams being defragmented at once */
#define COOKING_BLOCK_SIZE 2048          /* bytes of a buffer block */
#define COOKING_MAX_BLOCKS 16384         /* 32 MiB of buffered stream and fragment bytes */
#define COOKING_WINDOW 4194304           /* bytes accepted ahead of a direction's first undelivered byte */
#define COOKING_CLOSED_LINGER 60         /* seconds a closed connection absorbs late packets */
#define COOKING_FRAG_TIMEOUT_V4 30       /* seconds of packet time to complete a datagram (Linux) */
#define COOKING_FRAG_TIMEOUT_V6 60       /* RFC 8200, section 4.5 */
#define COOKING_MAX_HEADERS 192          /* link + IP + TCP header bytes kept per direction */

/*
 * The result: counters written only by cooking_process (all u64).  "gauge" fields say how things
 * stand after the last packet; the others only grow.
 */
typedef struct cooking_stats {
    uint64_t tcp_packets;            /* TCP segments seen (after defragmentation) */
    uint64_t connections;            /* connections created */
    uint64_t connections_closed;     /* closed by FIN in both directions */
    uint64_t connections_reset;      /* closed by RST */
    uint64_t connections_expired;    /* idle longer than the timeout (packet time) */
    uint64_t connections_evicted;    /* thrown out to make room (table full) */
    uint64_t chunks;                 /* cooked packets delivered */
    uint64_t bytes_delivered;        /* payload bytes in cooked packets */
    uint64_t out_of_order;           /* segments that arrived ahead of a hole */
    uint64_t overlap_bytes;          /* bytes received again (retransmissions, overlaps, after the close) */
    uint64_t conflict_bytes;         /* of those, bytes whose new content differed from the kept one */
    uint64_t missing_bytes;          /* never-seen bytes skipped (acknowledged by the peer, or at close) */
    uint64_t ignored_bytes;          /* data of directions not collected (direction, ret_once) */
    uint64_t dropped_window_bytes;   /* bytes too far ahead (COOKING_WINDOW) */
    uint64_t dropped_memory_bytes;   /* bytes not stored: buffer blocks exhausted */
    uint64_t dropped_evicted_bytes;  /* undelivered bytes of evicted connections */
    uint64_t dropped_header_packets; /* packets whose headers exceed COOKING_MAX_HEADERS: not used */
    uint64_t malformed_packets;      /* TCP headers cut by the capture, bad lengths */
    uint64_t fragments;              /* IPv4 and IPv6 fragments seen */
    uint64_t datagrams_reassembled;  /* datagrams rebuilt from fragments */
    uint64_t fragment_overlap_bytes; /* IPv4 fragment bytes received again (first copy kept) */
    uint64_t datagrams_overlap_dropped; /* IPv6 datagrams dropped for overlapping fragments (RFC 5722) */
    uint64_t datagrams_expired;      /* incomplete datagrams given up after the fragment timeout */
    uint64_t datagrams_evicted;      /* incomplete datagrams thrown out to make room */
    uint64_t fragments_invalid;      /* fragments with impossible offsets or lengths, or truncated */
    uint64_t tracked_connections;    /* gauge: connections in the table (open, or closed and lingering) */
    uint64_t buffered_bytes;         /* gauge: stream bytes held, not yet delivered */
    uint64_t pending_chunks;         /* gauge: directions with a chunk ready, waiting for a packet to carry it */
    uint64_t pending_datagrams;      /* gauge: datagrams waiting for fragments */
} cooking_stats_t;

typedef struct cooking cooking_t;

/*
 * A COOKING instance.  threshold: bytes per chunk (1..COOKING_MAX_THRESHOLD); timeout: seconds of
 * packet time after which an idle connection is flushed (0: never); ret_once: 0/1; direction:
 * COOKING_*_SIDE.  stats: the function's result memory.  NULL when memory runs out.
 */
cooking_t *cooking_new(uint32_t threshold, uint32_t timeout, int ret_once, int direction, cooking_stats_t *stats);
void cooking_free(cooking_t *state);
int cooking_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
