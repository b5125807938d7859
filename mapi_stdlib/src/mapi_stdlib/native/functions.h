/*
 * mapi-stdlib's native functions, as Python (cffi cdef) and the engine see them.
 * Declarations only (the types of <mapi/abi.h> come first): the code is in functions.c.
 */

int mapi_abi_version(void);

/* PKT_COUNTER, BYTE_COUNTER: the state is the u64 result itself. */
int stdlib_pkt_counter(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
int stdlib_byte_counter(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/* BPF_FILTER: libpcap-compiled programs, one per link type met, compiled on first use. */
typedef struct stdlib_bpf stdlib_bpf_t;
int stdlib_bpf_check(const char *expression, uint32_t linktype, int swapped, char *errbuf, size_t errlen);
stdlib_bpf_t *stdlib_bpf_new(const char *expression, uint32_t linktype, int swapped, char *errbuf,
                             size_t errlen);
void stdlib_bpf_free(stdlib_bpf_t *state);
uint64_t stdlib_bpf_compile_failures(stdlib_bpf_t *state);
int stdlib_bpf_filter(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
