/* mapi-stdlib: the per-packet code of the standard functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include <mapi/abi.h>
#include "bpf_vm.h"
#include "functions.h"

MAPI_DEFINE_ABI_VERSION

/* ---- counters ------------------------------------------------------------------------------ */

int stdlib_pkt_counter(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    ++*(uint64_t *)state;
    return 1;
}

/* MAPI counts the wire length, not the captured length. */
int stdlib_byte_counter(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    *(uint64_t *)state += hdr->wlen;
    return 1;
}

/* ---- BPF_FILTER ---------------------------------------------------------------------------- */

/* libpcap's largest snapshot length: programs accept packets of any captured size. */
#define BPF_SNAPLEN 262144
#define BPF_MAX_LINKTYPES 8

struct compiled {
    uint32_t linktype;
    int ok;                      /* 0: the expression means nothing for this link type */
    struct bpf_program program;
    bpf_vm_t *vm;                /* the program for bpf_vm (NULL: libpcap's bpf_filter runs it) */
};

struct stdlib_bpf {
    char *expression;
    int swapped;                      /* the trace's byte order differs from the host's */
    uint32_t current_linktype;
    const struct bpf_insn *current;   /* NULL: drop every packet of current_linktype */
    const bpf_vm_t *current_vm;       /* current, prepared for bpf_vm (NULL: use bpf_filter) */
    int ncompiled;
    struct compiled compiled[BPF_MAX_LINKTYPES];
    uint64_t compile_failures;        /* packets of link types the expression cannot filter */
};

/*
 * Compiles as tcpdump -r does: for a savefile of this link type and byte order.  libpcap's rules
 * differ between live captures and files (DLT_NULL files hold the writer's AF_ values, BSD's
 * AF_INET6 among them, in the writer's byte order; LINKTYPE_ numbers map to DLT_ values), so
 * the program comes from a pcap_t opened on a 24-byte file header rather than pcap_open_dead().
 */
static int compile(const char *expression, uint32_t linktype, int swapped, struct bpf_program *program,
                   char *errbuf, size_t errlen)
{
    /* magic, version 2.4 (two 16-bit fields), thiszone, sigfigs, snaplen, linktype */
    uint32_t header[6] = {0xa1b2c3d4u, 2u | (4u << 16), 0, 0, BPF_SNAPLEN, linktype};
    if (swapped) {
        header[0] = __builtin_bswap32(header[0]);
        header[1] = __builtin_bswap16(2) | ((uint32_t)__builtin_bswap16(4) << 16);
        header[4] = __builtin_bswap32(header[4]);
        header[5] = __builtin_bswap32(header[5]);
    }
    FILE *file = fmemopen(header, sizeof header, "rb");
    if (!file) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    char pcaperr[PCAP_ERRBUF_SIZE];
    pcap_t *savefile = pcap_fopen_offline(file, pcaperr);
    if (!savefile) {
        fclose(file);
        snprintf(errbuf, errlen, "libpcap cannot handle link type %u: %s", linktype, pcaperr);
        return -1;
    }
    int rc = pcap_compile(savefile, program, expression, 1, PCAP_NETMASK_UNKNOWN);
    if (rc != 0)
        snprintf(errbuf, errlen, "%s", pcap_geterr(savefile));
    pcap_close(savefile);   /* closes the memory file too */
    return rc;
}

int stdlib_bpf_check(const char *expression, uint32_t linktype, int swapped, char *errbuf, size_t errlen)
{
    struct bpf_program program;
    if (compile(expression, linktype, swapped, &program, errbuf, errlen) != 0)
        return -1;
    pcap_freecode(&program);
    return 0;
}

static void use(stdlib_bpf_t *s, const struct compiled *c)
{
    s->current = c && c->ok ? c->program.bf_insns : NULL;
    s->current_vm = c && c->ok ? c->vm : NULL;
}

static void select_linktype(stdlib_bpf_t *s, uint32_t linktype)
{
    s->current_linktype = linktype;
    for (int i = 0; i < s->ncompiled; i++) {
        if (s->compiled[i].linktype == linktype) {
            use(s, &s->compiled[i]);
            return;
        }
    }
    use(s, NULL);
    if (s->ncompiled == BPF_MAX_LINKTYPES)
        return;
    char errbuf[PCAP_ERRBUF_SIZE];
    struct compiled *c = &s->compiled[s->ncompiled++];
    c->linktype = linktype;
    c->ok = compile(s->expression, linktype, s->swapped, &c->program, errbuf, sizeof errbuf) == 0;
    if (c->ok)
        c->vm = bpf_vm_new(c->program.bf_insns, c->program.bf_len);
    use(s, c);
}

stdlib_bpf_t *stdlib_bpf_new(const char *expression, uint32_t linktype, int swapped, char *errbuf, size_t errlen)
{
    stdlib_bpf_t *s = calloc(1, sizeof *s);
    if (!s || !(s->expression = strdup(expression))) {
        free(s);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    s->swapped = swapped;
    struct compiled *c = &s->compiled[0];
    if (compile(expression, linktype, swapped, &c->program, errbuf, errlen) != 0) {
        free(s->expression);
        free(s);
        return NULL;
    }
    c->linktype = linktype;
    c->ok = 1;
    c->vm = bpf_vm_new(c->program.bf_insns, c->program.bf_len);
    s->ncompiled = 1;
    s->current_linktype = linktype;
    use(s, c);
    return s;
}

void stdlib_bpf_free(stdlib_bpf_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->ncompiled; i++) {
        if (s->compiled[i].ok)
            pcap_freecode(&s->compiled[i].program);
        bpf_vm_free(s->compiled[i].vm);
    }
    free(s->expression);
    free(s);
}

uint64_t stdlib_bpf_compile_failures(stdlib_bpf_t *s)
{
    return s->compile_failures;
}

int stdlib_bpf_filter(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    stdlib_bpf_t *s = state;
    if (__builtin_expect(hdr->linktype != s->current_linktype, 0))
        select_linktype(s, hdr->linktype);
    if (__builtin_expect(s->current_vm != NULL, 1))      /* the common case: one test */
        return bpf_vm_run(s->current_vm, pkt, hdr->wlen, hdr->caplen) != 0;
    if (s->current == NULL) {
        s->compile_failures++;
        return 0;
    }
    return bpf_filter(s->current, pkt, hdr->wlen, hdr->caplen) != 0;
}

int stdlib_bpf_verdicts(stdlib_bpf_t *s, const unsigned char *pkt, mapi_pkthdr_t *hdr, unsigned *vm, unsigned *pcap)
{
    if (hdr->linktype != s->current_linktype)
        select_linktype(s, hdr->linktype);
    if (s->current == NULL || s->current_vm == NULL)
        return 0;
    *vm = bpf_vm_run(s->current_vm, pkt, hdr->wlen, hdr->caplen);
    *pcap = bpf_filter(s->current, pkt, hdr->wlen, hdr->caplen);
    return 1;
}

int stdlib_bpf_program_verdicts(const void *insns, unsigned count, const unsigned char *pkt, uint32_t wlen,
                                uint32_t caplen, unsigned *vm, unsigned *pcap)
{
    bpf_vm_t *prepared = bpf_vm_new(insns, count);
    if (prepared == NULL)
        return 0;
    *vm = bpf_vm_run(prepared, pkt, wlen, caplen);
    *pcap = bpf_filter(insns, pkt, wlen, caplen);
    bpf_vm_free(prepared);
    return 1;
}
