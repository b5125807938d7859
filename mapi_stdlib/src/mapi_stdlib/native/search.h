/* mapi-stdlib's search functions, as cffi and the engine see them (declarations only; code in search.c). */

int mapi_abi_version(void);

/*
 * STR_SEARCH.  The pattern arrives parsed (search.py): `count` alternatives, each a run of bytes,
 * stored back to back in `bytes` with their lengths in `lengths`.  One alternative is searched with
 * memmem; several with an Aho-Corasick automaton built here.  The region searched in each packet
 * is [offset, offset + depth) of the captured frame (depth 0: to the end of the capture).
 * Returns NULL when memory runs out.
 */
typedef struct search_str search_str_t;

search_str_t *search_str_new(const unsigned char *bytes, const uint32_t *lengths, uint32_t count,
                             int32_t offset, int32_t depth);
void search_str_free(search_str_t *state);
/* Turns the AVX2 candidate scans off (0) or back on (1, where the CPU has AVX2): for tests. */
void search_str_use_simd(search_str_t *state, int on);
/* The automaton's size: its states (0 with a single alternative) and byte classes. */
uint32_t search_str_states(const search_str_t *state);
uint32_t search_str_classes(const search_str_t *state);
int search_str_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);

/*
 * REGEXP.  PCRE2 (8-bit, default options) compiled and JIT-compiled when JIT is available.
 * On a compile error returns NULL and writes PCRE2's message and the offset into errbuf.
 */
typedef struct search_regexp search_regexp_t;

search_regexp_t *search_regexp_new(const unsigned char *pattern, size_t length, char *errbuf, size_t errlen);
void search_regexp_free(search_regexp_t *state);
/* 1 when the pattern runs JIT-compiled, 0 when PCRE2's interpreter runs it. */
int search_regexp_jit(const search_regexp_t *state);
int search_regexp_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr);
