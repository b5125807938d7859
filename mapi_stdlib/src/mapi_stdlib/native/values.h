/*
 * mapi-stdlib's per-packet value functions (PKT_INFO, PROTINFO, GAP, HASH, BINOP), as cffi and
 * the engine see them.  Declarations only; the code is in values.c.
 */

int mapi_abi_version(void);

/* PKT_INFO: the current packet's timestamp (32.32) or wire length. */
#define VALUES_PKT_TS 0
#define VALUES_PKT_SIZE 1

typedef struct values_pkt_info {
    uint64_t *result;
    int what;                       /* VALUES_PKT_TS or VALUES_PKT_SIZE */
} values_pkt_info_t;

int values_pkt_info(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* PROTINFO: one header field of the latest packet that has the header. */
enum values_field {
    VALUES_IP_VERSION = 0, VALUES_IP_HDR_LEN = 1, VALUES_IP_DSFIELD = 2, VALUES_IP_LEN = 3,
    VALUES_IP_ID = 4, VALUES_IP_FLAGS = 5, VALUES_IP_FRAG_OFFSET = 6, VALUES_IP_TTL = 7,
    VALUES_IP_PROTO = 8, VALUES_IP_CHECKSUM = 9, VALUES_IP_SRC = 10, VALUES_IP_DST = 11,
    VALUES_IPV6_VERSION = 20, VALUES_IPV6_TCLASS = 21, VALUES_IPV6_FLOW = 22, VALUES_IPV6_PLEN = 23,
    VALUES_IPV6_NXT = 24, VALUES_IPV6_HLIM = 25, VALUES_IPV6_SRC = 26, VALUES_IPV6_DST = 27,
    VALUES_TCP_SRCPORT = 40, VALUES_TCP_DSTPORT = 41, VALUES_TCP_SEQ_RAW = 42, VALUES_TCP_ACK_RAW = 43,
    VALUES_TCP_HDR_LEN = 44, VALUES_TCP_FLAGS = 45, VALUES_TCP_WINDOW_SIZE_VALUE = 46,
    VALUES_TCP_CHECKSUM = 47, VALUES_TCP_URGENT_POINTER = 48,
    VALUES_UDP_SRCPORT = 60, VALUES_UDP_DSTPORT = 61, VALUES_UDP_LENGTH = 62, VALUES_UDP_CHECKSUM = 63,
    VALUES_ICMP_TYPE = 80, VALUES_ICMP_CODE = 81, VALUES_ICMP_CHECKSUM = 82,
    VALUES_ICMPV6_TYPE = 90, VALUES_ICMPV6_CODE = 91, VALUES_ICMPV6_CHECKSUM = 92
};

/* The result memory of PROTINFO (32 bytes, host byte order). */
typedef struct values_protinfo_result {
    uint64_t value;                 /* the field as an unsigned number (see PROTINFO's description) */
    uint8_t address[16];            /* address fields: the address in network order (IPv4: 4 bytes) */
    uint64_t packets;               /* packets that had the header (0: value means nothing yet) */
} values_protinfo_result_t;

typedef struct values_protinfo {
    values_protinfo_result_t *result;
    int field;                      /* enum values_field */
} values_protinfo_t;

int values_protinfo(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* GAP: time since the previous packet, 32.32 units; clamped to 0 when time goes backwards. */
typedef struct values_gap_result {
    uint64_t gap;
    uint64_t backward;              /* packets whose timestamp was before the previous one's */
} values_gap_result_t;

typedef struct values_gap {
    values_gap_result_t *result;
    uint64_t previous;              /* timestamp of the previous packet */
    int started;
} values_gap_t;

int values_gap(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* HASH: (number of bytes + sum of the bytes) mod VALUES_HASH_MODULUS over one layer. */
#define VALUES_HASH_MODULUS 500009

typedef struct values_hash {
    uint64_t *result;
    int layer;                      /* 0 frame, 1 network, 2 transport (IP payload), 3 payload */
} values_hash_t;

int values_hash(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* BINOP: left op right over two u64 results, after every packet. */
#define VALUES_BINOP_ADD 0
#define VALUES_BINOP_SUB 1
#define VALUES_BINOP_MUL 2
#define VALUES_BINOP_DIV 3

typedef struct values_binop {
    uint64_t *result;
    int op;
    mapi_result_ref_t left;
    mapi_result_ref_t right;
} values_binop_t;

int values_binop(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
