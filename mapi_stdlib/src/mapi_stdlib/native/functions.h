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
/* Tests: what bpf_vm and libpcap's bpf_filter return for this packet; 0 when bpf_vm does not
 * run the program of the packet's link type. */
int stdlib_bpf_verdicts(stdlib_bpf_t *state, const unsigned char *pkt, mapi_pkthdr_t *hdr, unsigned *vm,
                        unsigned *pcap);
/* Tests: the same for a hand-made program (struct bpf_insn[count]); 0 when bpf_vm refuses it. */
int stdlib_bpf_program_verdicts(const void *insns, unsigned count, const unsigned char *pkt, uint32_t wlen,
                                uint32_t caplen, unsigned *vm, unsigned *pcap);
int stdlib_bpf_filter(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
