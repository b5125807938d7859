/*
 * STR_SEARCH and REGEXP: payload searches over the captured frame, from its link-layer header.
 *
 * STR_SEARCH gets its pattern already parsed into alternatives (search.py).  One alternative is
 * searched with glibc's memmem; several with an Aho-Corasick automaton, a DFA built once at
 * connect time: bytes that occur in no alternative share one class, so a row of the transition
 * table has one entry per class rather than 256, and a transition into an accepting state is
 * the marker AC_MATCH (the search ends at the first match: accepting states need no row).
 * On x86-64 CPUs with AVX2 (checked at run time), both searches first look at 32 positions at
 * a time for candidates: a single alternative by its first and last bytes (compared at once);
 * several by their first three bytes, each tested against the set of the alternatives' first
 * (second, third) bytes with two table lookups per nibble ("truffle"); the exact search runs
 * only from candidates on.
 * REGEXP runs PCRE2 (JIT-compiled when the platform has it) with match data made at connect.
 */
#define _GNU_SOURCE /* memmem */
#include <mapi/abi.h>
#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SEARCH_X86_SIMD 1
#endif

MAPI_DEFINE_ABI_VERSION

/* ------------------------------------------------------------------------------------------ */
/* STR_SEARCH                                                                                  */

#define AC_MATCH UINT32_MAX

struct search_str {
    uint32_t offset;
    uint32_t depth;              /* 0: to the end of the capture */
    uint32_t min_length;         /* of the alternatives: a shorter region cannot match */
    /* a single alternative */
    unsigned char *needle;
    uint32_t needle_length;
    /* several alternatives: the automaton (delta is NULL otherwise) */
    uint32_t states;
    uint32_t classes;
    uint32_t *delta;             /* states x classes: row offset (state * classes) of the next state, or AC_MATCH */
    uint8_t byte_class[256];
    uint64_t starts[65536 / 64]; /* bit (a << 8 | b) set: bytes a b may be the first two of a match */
    int simd;                    /* the AVX2 candidate scans run */
    /* the AVX2 scan of several alternatives: the sets of their first, second and third bytes
     * (all bytes where an alternative is shorter) as truffle tables (see truffle_tables) */
    uint8_t truffle[3][2][16];
};

static void set_start(search_str_t *s, unsigned pair)
{
    s->starts[pair >> 6] |= UINT64_C(1) << (pair & 63);
}

static int may_start(const search_str_t *s, unsigned pair)
{
    return (s->starts[pair >> 6] >> (pair & 63)) & 1;
}

/* The set of bytes as truffle tables: bit k of table[b >> 7][b & 15] is byte b's bits 4..6 == k. */
static void truffle_tables(uint8_t table[2][16], const uint8_t member[256])
{
    memset(table, 0, 2 * 16);
    for (unsigned b = 0; b < 256; b++) {
        if (member[b])
            table[b >> 7][b & 15] |= (uint8_t)(1u << ((b >> 4) & 7));
    }
}

/*
 * Builds the automaton: a trie of the alternatives (over byte classes), completed into a DFA by
 * a breadth-first pass that follows failure links; then the states reachable from the root
 * without passing through an accepting state are renumbered, in breadth-first order, into the
 * final table.  Returns 0, or -1 when memory runs out or the table would not fit 32-bit offsets.
 */
static int ac_build(search_str_t *s, const unsigned char *bytes, const uint32_t *lengths, uint32_t count)
{
    uint8_t used[256] = {0};
    size_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        for (uint32_t j = 0; j < lengths[i]; j++)
            used[bytes[total + j]] = 1;
        total += lengths[i];
    }
    uint32_t classes = 1; /* class 0: every byte no alternative contains */
    for (unsigned b = 0; b < 256; b++)
        s->byte_class[b] = used[b] ? (uint8_t)classes++ : 0;
    /* all 256 bytes used: class 0 would be empty, and byte 255 took it (its class 256 wrapped to 0) */
    if (classes == 257)
        classes = 256;

    size_t max_states = total + 1;
    if (max_states > (size_t)INT32_MAX / classes)
        return -1;
    int32_t *go = malloc(max_states * classes * sizeof *go);
    uint8_t *accepting = calloc(max_states, 1);
    uint32_t *fail = malloc(max_states * sizeof *fail);
    uint32_t *queue = malloc(max_states * sizeof *queue);
    uint32_t *renumbered = malloc(max_states * sizeof *renumbered);
    int result = -1;
    if (go == NULL || accepting == NULL || fail == NULL || queue == NULL || renumbered == NULL)
        goto out;
    for (size_t i = 0; i < max_states * classes; i++)
        go[i] = -1;

    /* the trie */
    uint32_t states = 1;
    const unsigned char *p = bytes;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t node = 0;
        for (uint32_t j = 0; j < lengths[i]; j++) {
            int32_t *edge = &go[(size_t)node * classes + s->byte_class[p[j]]];
            if (*edge < 0)
                *edge = (int32_t)states++;
            node = (uint32_t)*edge;
        }
        accepting[node] = 1;
        p += lengths[i];
    }

    /* failure links, breadth first: a state's failure is always shallower, so already complete */
    size_t head = 0, tail = 0;
    for (uint32_t c = 0; c < classes; c++) {
        if (go[c] < 0) {
            go[c] = 0;
        } else {
            fail[go[c]] = 0;
            queue[tail++] = (uint32_t)go[c];
        }
    }
    while (head < tail) {
        uint32_t u = queue[head++];
        int32_t *row = &go[(size_t)u * classes];
        const int32_t *fallback = &go[(size_t)fail[u] * classes];
        for (uint32_t c = 0; c < classes; c++) {
            if (row[c] < 0) {
                row[c] = fallback[c];
            } else {
                uint32_t child = (uint32_t)row[c];
                fail[child] = (uint32_t)fallback[c];
                accepting[child] |= accepting[fail[child]];
                queue[tail++] = child;
            }
        }
    }

    /* keep the states reachable without a match, numbered breadth first (hot states together) */
    for (size_t i = 0; i < states; i++)
        renumbered[i] = AC_MATCH;
    uint32_t kept = 0;
    head = tail = 0;
    renumbered[0] = kept++;
    queue[tail++] = 0;
    while (head < tail) {
        const int32_t *row = &go[(size_t)queue[head++] * classes];
        for (uint32_t c = 0; c < classes; c++) {
            uint32_t t = (uint32_t)row[c];
            if (!accepting[t] && renumbered[t] == AC_MATCH) {
                renumbered[t] = kept++;
                queue[tail++] = t;
            }
        }
    }
    s->delta = malloc((size_t)kept * classes * sizeof *s->delta);
    if (s->delta == NULL)
        goto out;
    for (size_t i = 0; i < tail; i++) {
        uint32_t u = queue[i];
        const int32_t *row = &go[(size_t)u * classes];
        uint32_t *out = &s->delta[(size_t)renumbered[u] * classes];
        for (uint32_t c = 0; c < classes; c++)
            out[c] = accepting[row[c]] ? AC_MATCH : renumbered[row[c]] * classes;
    }
    s->states = kept;
    s->classes = classes;

    /* the pairs of bytes that may begin a match (any pair after a one-byte alternative) */
    p = bytes;
    for (uint32_t i = 0; i < count; i++) {
        if (lengths[i] == 1) {
            for (unsigned b = 0; b < 256; b++)
                set_start(s, (unsigned)p[0] << 8 | b);
        } else {
            set_start(s, (unsigned)p[0] << 8 | p[1]);
        }
        p += lengths[i];
    }
    uint8_t member[3][256] = {{0}};
    p = bytes;
    for (uint32_t i = 0; i < count; i++) {
        for (uint32_t k = 0; k < 3; k++) {
            if (k < lengths[i])
                member[k][p[k]] = 1;
            else
                memset(member[k], 1, 256);   /* a shorter alternative: any byte there */
        }
        p += lengths[i];
    }
    for (uint32_t k = 0; k < 3; k++)
        truffle_tables(s->truffle[k], member[k]);
    result = 0;
out:
    free(go);
    free(accepting);
    free(fail);
    free(queue);
    free(renumbered);
    return result;
}

#ifdef SEARCH_X86_SIMD
/* The 32 bytes at p that belong to a set (as 32 mask bits), from its truffle tables. */
__attribute__((target("avx2"))) static inline uint32_t
in_set_avx2(__m256i v, __m256i low_table, __m256i high_table)
{
    const __m256i bit_of = _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 1, 2, 4, 8, 16, 32, 64, (char)128,
                                            1, 2, 4, 8, 16, 32, 64, (char)128, 1, 2, 4, 8, 16, 32, 64, (char)128);
    /* pshufb zeroes a lane whose index has bit 7 set: each table serves its half of the bytes */
    __m256i row = _mm256_or_si256(_mm256_shuffle_epi8(low_table, v),
                                  _mm256_shuffle_epi8(high_table, _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80))));
    __m256i high_nibble = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x07));
    __m256i hit = _mm256_and_si256(row, _mm256_shuffle_epi8(bit_of, high_nibble));
    return ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hit, _mm256_setzero_si256()));
}

/* From i, the first position whose two bytes may begin an alternative, looking at blocks of 32
 * positions for candidates by their first three bytes (or the position where fewer than 34
 * bytes remain). */
__attribute__((target("avx2"))) static size_t
root_skip_avx2(const search_str_t *s, const unsigned char *p, size_t i, size_t n)
{
    __m256i low[3], high[3];
    for (int k = 0; k < 3; k++) {
        low[k] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)s->truffle[k][0]));
        high[k] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)s->truffle[k][1]));
    }
    for (; i + 34 <= n; i += 32) {
        uint32_t mask = in_set_avx2(_mm256_loadu_si256((const __m256i *)(p + i)), low[0], high[0]);
        if (mask == 0)
            continue;
        mask &= in_set_avx2(_mm256_loadu_si256((const __m256i *)(p + i + 1)), low[1], high[1]);
        mask &= in_set_avx2(_mm256_loadu_si256((const __m256i *)(p + i + 2)), low[2], high[2]);
        for (; mask != 0; mask &= mask - 1) {
            size_t j = i + (size_t)__builtin_ctz(mask);
            if (may_start(s, (unsigned)p[j] << 8 | p[j + 1]))
                return j;
        }
    }
    return i;
}

/* A single alternative (length >= 2): positions whose first and last bytes match, then memcmp. */
__attribute__((target("avx2"))) static int
find_avx2(const unsigned char *p, size_t n, const unsigned char *needle, size_t length)
{
    const __m256i first = _mm256_set1_epi8((char)needle[0]);
    const __m256i last = _mm256_set1_epi8((char)needle[length - 1]);
    size_t i = 0;
    for (; i + length - 1 + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(p + i + length - 1));
        uint32_t mask = (uint32_t)_mm256_movemask_epi8(
            _mm256_and_si256(_mm256_cmpeq_epi8(a, first), _mm256_cmpeq_epi8(b, last)));
        for (; mask != 0; mask &= mask - 1) {
            size_t j = i + (size_t)__builtin_ctz(mask);
            if (memcmp(p + j + 1, needle + 1, length - 2) == 0)
                return 1;
        }
    }
    /* the last starting positions, fewer than 32: memmem's set-up would cost more than this */
    for (; i + length <= n; i++) {
        if (p[i] == needle[0] && memcmp(p + i + 1, needle + 1, length - 1) == 0)
            return 1;
    }
    return 0;
}
#endif

/*
 * From i, the first position where the automaton, at the root, may leave it: a pair of bytes
 * that begins no alternative is skipped, as from the root the state after such a pair is the
 * one its second byte leads to (the automaton may as well stay at the root).  Returns n - 1 at
 * the latest (the last byte is left to the automaton).
 */
static size_t root_skip(const search_str_t *s, const unsigned char *p, size_t i, size_t n)
{
#ifdef SEARCH_X86_SIMD
    if (s->simd)
        i = root_skip_avx2(s, p, i, n);
#endif
    while (i + 1 < n && !may_start(s, (unsigned)p[i] << 8 | p[i + 1]))
        i++;
    return i;
}

/* Runs the automaton over n bytes; 1 at the first match. */
static int ac_scan(const search_str_t *s, const unsigned char *p, size_t n)
{
    const uint32_t *delta = s->delta;
    const uint8_t *byte_class = s->byte_class;
    uint32_t state = 0;
    size_t i = 0;
    while (i < n) {
        if (state == 0)
            i = root_skip(s, p, i, n);
        state = delta[state + byte_class[p[i++]]];
        if (state == AC_MATCH)
            return 1;
    }
    return 0;
}

search_str_t *search_str_new(const unsigned char *bytes, const uint32_t *lengths, uint32_t count,
                             int32_t offset, int32_t depth)
{
    if (count == 0 || offset < 0 || depth < 0)
        return NULL;
    search_str_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->offset = (uint32_t)offset;
    s->depth = (uint32_t)depth;
    search_str_use_simd(s, 1);
    s->min_length = UINT32_MAX;
    for (uint32_t i = 0; i < count; i++) {
        if (lengths[i] == 0) {   /* the parser drops empty alternatives */
            free(s);
            return NULL;
        }
        if (lengths[i] < s->min_length)
            s->min_length = lengths[i];
    }
    if (count == 1) {
        s->needle = malloc(lengths[0]);
        if (s->needle == NULL) {
            free(s);
            return NULL;
        }
        memcpy(s->needle, bytes, lengths[0]);
        s->needle_length = lengths[0];
    } else if (ac_build(s, bytes, lengths, count) != 0) {
        search_str_free(s);
        return NULL;
    }
    return s;
}

void search_str_free(search_str_t *state)
{
    if (state == NULL)
        return;
    free(state->needle);
    free(state->delta);
    free(state);
}

void search_str_use_simd(search_str_t *state, int on)
{
#ifdef SEARCH_X86_SIMD
    __builtin_cpu_init();
    state->simd = on && __builtin_cpu_supports("avx2");
#else
    state->simd = 0;
#endif
}

uint32_t search_str_states(const search_str_t *state)
{
    return state->states;
}

uint32_t search_str_classes(const search_str_t *state)
{
    return state->classes;
}

int search_str_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    const search_str_t *s = state;
    uint32_t caplen = hdr->caplen;
    if (s->offset >= caplen)
        return 0;
    uint32_t n = caplen - s->offset;
    if (s->depth != 0 && s->depth < n)
        n = s->depth;
    if (n < s->min_length)
        return 0;
    const unsigned char *p = pkt + s->offset;
    if (s->delta != NULL)
        return ac_scan(s, p, n);
#ifdef SEARCH_X86_SIMD
    if (s->simd && s->needle_length > 1)
        return find_avx2(p, n, s->needle, s->needle_length);
#endif
    return memmem(p, n, s->needle, s->needle_length) != NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* REGEXP                                                                                      */

struct search_regexp {
    pcre2_code *code;
    pcre2_match_data *match;
    pcre2_match_context *context;
    pcre2_jit_stack *jit_stack;
    int jit;
};

search_regexp_t *search_regexp_new(const unsigned char *pattern, size_t length, char *errbuf, size_t errlen)
{
    search_regexp_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    int error;
    PCRE2_SIZE at;
    r->code = pcre2_compile(pattern, length, 0, &error, &at, NULL);
    if (r->code == NULL) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        snprintf(errbuf, errlen, "%s at offset %zu", (const char *)message, (size_t)at);
        free(r);
        return NULL;
    }
    r->jit = pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE) == 0;
    /* one pair of offsets: whether it matches is all a filter needs */
    r->match = pcre2_match_data_create(1, NULL);
    r->context = pcre2_match_context_create(NULL);
    if (r->match == NULL || r->context == NULL)
        goto oom;
    if (r->jit) {
        /* PCRE2's default JIT stack is 32 KiB on the machine stack; let patterns grow to 1 MiB */
        r->jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
        if (r->jit_stack == NULL)
            goto oom;
        pcre2_jit_stack_assign(r->context, NULL, r->jit_stack);
    }
    return r;
oom:
    snprintf(errbuf, errlen, "out of memory");
    search_regexp_free(r);
    return NULL;
}

void search_regexp_free(search_regexp_t *state)
{
    if (state == NULL)
        return;
    pcre2_jit_stack_free(state->jit_stack);
    pcre2_match_context_free(state->context);
    pcre2_match_data_free(state->match);
    pcre2_code_free(state->code);
    free(state);
}

int search_regexp_jit(const search_regexp_t *state)
{
    return state->jit;
}

int search_regexp_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    static const unsigned char nothing[1];
    const search_regexp_t *r = state;
    PCRE2_SPTR subject = pkt != NULL ? pkt : nothing; /* PCRE2 10.42 refuses a NULL subject */
    int rc = r->jit ? pcre2_jit_match(r->code, subject, hdr->caplen, 0, 0, r->match, r->context)
                    : pcre2_match(r->code, subject, hdr->caplen, 0, 0, r->match, r->context);
    /* rc 0: a match whose captures did not fit the single pair; < 0: no match, or a limit hit */
    return rc >= 0;
}
