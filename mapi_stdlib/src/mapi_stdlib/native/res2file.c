/*
 * mapi-stdlib: RES2FILE, other functions' results written as lines to a file.
 *
 * The file is written through stdio with a 64 KiB buffer, from the device's thread in process()
 * and once more at close (r2f_close, after the flow has left the device).  A failed write is
 * counted in the result and never stops the packets.
 *
 * A line holds one field per referenced result, separated by one space, and ends with '\n':
 *   R2F_RAW     the result's size as 4 bytes little-endian, then its bytes as in memory
 *   R2F_ULLSTR  the u64 in decimal
 *   R2F_ULLSEC  the u64 as 32.32 seconds, decimal, 12 decimals rounded to nearest (half up)
 *   R2F_STATS   "count sum sum_of_squares min max" of a STAT record, all exact integers
 *
 * Interval mode writes the results as they were after the last packet of each interval.  They
 * are read at RES2FILE's place in its flow, after its sources have seen the packet, so every
 * packet's results are kept until the next packet shows whether an interval has ended.  With
 * reset, the sources are reset when the packet that opens the next interval has already been
 * counted: what it added is carried into the next line (see take_carry).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mapi/abi.h>
#include "res2file.h"
#include "stat_record.h"

MAPI_DEFINE_ABI_VERSION

#define R2F_BUFFER (64 * 1024)

/*
 * What the packet that closed an interval added to a referenced result, when RES2FILE reset it
 * (the reset zeroes it, the packet belongs to the new interval): added to the next line.
 */
typedef struct r2f_carry {
    uint64_t u64;                /* R2F_ULLSTR, R2F_ULLSEC */
    stat_record_t stat;          /* R2F_STATS: the sample, or count 0 */
} r2f_carry_t;

struct r2f {
    FILE *file;
    r2f_status_t *status;
    int64_t interval;            /* -1 at close, 0 every packet, else 32.32 units */
    int reset;
    int started;                 /* interval mode: a packet has started the clock */
    uint64_t start;              /* interval mode: start of the interval in progress */
    uint32_t nrefs;
    int *types;
    uint32_t *offsets;           /* of each result in now and before */
    uint32_t *sizes;
    unsigned char *now;          /* the results after the current packet */
    unsigned char *before;       /* interval mode: the results after the packet before it */
    r2f_carry_t *carry;          /* interval mode with reset */
    mapi_result_ref_t refs[];
};

/* ---- formatting ---------------------------------------------------------------------------- */

static int put_u128(FILE *f, unsigned __int128 v)
{
    char text[48];
    size_t i = sizeof text;
    text[--i] = '\0';
    do {
        text[--i] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    return fputs(text + i, f) < 0 ? -1 : 0;
}

static int put_seconds(FILE *f, uint64_t ts)
{
    uint64_t seconds = ts >> 32;
    unsigned __int128 scaled = (unsigned __int128)(ts & 0xffffffffu) * 1000000000000u + (1u << 31);
    uint64_t decimals = (uint64_t)(scaled >> 32);
    if (decimals == 1000000000000u) {     /* rounded up to the next second */
        seconds++;
        decimals = 0;
    }
    return fprintf(f, "%" PRIu64 ".%012" PRIu64, seconds, decimals) < 0 ? -1 : 0;
}

static unsigned __int128 u128(uint64_t hi, uint64_t lo)
{
    return (unsigned __int128)hi << 64 | lo;
}

/* r with the carried sample c added (stat_record_add's merge of one record into another). */
static stat_record_t merge(stat_record_t r, const stat_record_t *c)
{
    if (c->count == 0)
        return r;
    if (r.count == 0 || c->min < r.min)
        r.min = c->min;
    if (r.count == 0 || c->max > r.max)
        r.max = c->max;
    r.count += c->count;
    unsigned __int128 sum = u128(r.sum_hi, r.sum_lo) + u128(c->sum_hi, c->sum_lo);
    unsigned __int128 sum2 = u128(r.sum2_hi, r.sum2_lo) + u128(c->sum2_hi, c->sum2_lo);
    r.sum_lo = (uint64_t)sum;
    r.sum_hi = (uint64_t)(sum >> 64);
    r.sum2_lo = (uint64_t)sum2;
    r.sum2_hi = (uint64_t)(sum2 >> 64);
    return r;
}

static int put_field(FILE *f, int type, const unsigned char *value, uint32_t size, const r2f_carry_t *carry)
{
    uint64_t v = 0;
    switch (type) {
    case R2F_RAW: {
        unsigned char length[4] = {(unsigned char)size, (unsigned char)(size >> 8), (unsigned char)(size >> 16),
                                   (unsigned char)(size >> 24)};
        if (fwrite(length, 1, 4, f) != 4 || fwrite(value, 1, size, f) != size)
            return -1;
        return 0;
    }
    case R2F_ULLSTR:
        memcpy(&v, value, sizeof v);
        return fprintf(f, "%" PRIu64, v + carry->u64) < 0 ? -1 : 0;
    case R2F_ULLSEC:
        memcpy(&v, value, sizeof v);
        return put_seconds(f, v + carry->u64);
    case R2F_STATS: {
        stat_record_t r;
        memcpy(&r, value, sizeof r);
        r = merge(r, &carry->stat);
        int bad = fprintf(f, "%" PRIu64 " ", r.count) < 0;
        bad |= put_u128(f, u128(r.sum_hi, r.sum_lo)) != 0;
        bad |= fputc(' ', f) == EOF;
        bad |= put_u128(f, u128(r.sum2_hi, r.sum2_lo)) != 0;
        bad |= fprintf(f, " %" PRIu64 " %" PRIu64, r.count ? r.min : 0, r.count ? r.max : 0) < 0;
        return bad ? -1 : 0;
    }
    default:
        return -1;
    }
}

/* Writes one line of the results in `values` (now or before), plus carry (may be NULL). */
static void write_line(r2f_t *w, const unsigned char *values, const r2f_carry_t *carry)
{
    static const r2f_carry_t nothing;
    int bad = 0;
    for (uint32_t i = 0; i < w->nrefs; i++) {
        if (i > 0)
            bad |= fputc(' ', w->file) == EOF;
        bad |= put_field(w->file, w->types[i], values + w->offsets[i], w->sizes[i],
                         carry ? &carry[i] : &nothing) != 0;
    }
    bad |= fputc('\n', w->file) == EOF;
    w->status->lines++;
    if (bad)
        w->status->write_errors++;
}

/* The referenced results now, into w->now. */
static void read_now(r2f_t *w)
{
    for (uint32_t i = 0; i < w->nrefs; i++)
        mapi_ref_read(&w->refs[i], w->now + w->offsets[i]);
}

/* Resets the referenced functions. */
static void reset_sources(r2f_t *w)
{
    for (uint32_t i = 0; i < w->nrefs; i++)
        mapi_ref_reset(&w->refs[i]);
}

/*
 * At a reset between intervals: what the packet that closed the interval added to each result
 * (now minus before), carried into the next interval's line.  Counters (u64): the difference.
 * STAT records: the one sample that packet added, if it added one.  R2F_RAW results have no
 * arithmetic: nothing is carried.
 */
static void take_carry(r2f_t *w)
{
    for (uint32_t i = 0; i < w->nrefs; i++) {
        r2f_carry_t *c = &w->carry[i];
        memset(c, 0, sizeof *c);
        const unsigned char *now = w->now + w->offsets[i], *before = w->before + w->offsets[i];
        if (w->types[i] == R2F_ULLSTR || w->types[i] == R2F_ULLSEC) {
            uint64_t a, b;
            memcpy(&a, now, sizeof a);
            memcpy(&b, before, sizeof b);
            c->u64 = a >= b ? a - b : a;        /* (someone else reset it meanwhile) */
        } else if (w->types[i] == R2F_STATS) {
            stat_record_t a, b;
            memcpy(&a, now, sizeof a);
            memcpy(&b, before, sizeof b);
            if (a.count == b.count + 1) {
                uint64_t v = (uint64_t)(u128(a.sum_hi, a.sum_lo) - u128(b.sum_hi, b.sum_lo));
                unsigned __int128 square = (unsigned __int128)v * v;
                c->stat = (stat_record_t){.count = 1, .min = v, .max = v, .sum_lo = v,
                                          .sum2_lo = (uint64_t)square, .sum2_hi = (uint64_t)(square >> 64)};
            }
        }
    }
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void free_writer(r2f_t *w)
{
    free(w->types);
    free(w->offsets);
    free(w->sizes);
    free(w->now);
    free(w->before);
    free(w->carry);
    free(w);
}

r2f_t *r2f_new(int fd, uint32_t nrefs, const int *types, const uint32_t *sizes, int64_t interval, int reset,
               const char *header, size_t header_len, r2f_status_t *status)
{
    size_t total = 1, slots = nrefs ? nrefs : 1;
    for (uint32_t i = 0; i < nrefs; i++)
        total += sizes[i];
    r2f_t *w = calloc(1, sizeof *w + nrefs * sizeof w->refs[0]);
    int ok = w != NULL;
    if (ok) {
        w->types = calloc(slots, sizeof *w->types);
        w->offsets = calloc(slots, sizeof *w->offsets);
        w->sizes = calloc(slots, sizeof *w->sizes);
        w->now = calloc(total, 1);
        w->before = calloc(total, 1);
        w->carry = calloc(slots, sizeof *w->carry);
        ok = w->types && w->offsets && w->sizes && w->now && w->before && w->carry;
    }
    if (ok) {
        w->file = fdopen(fd, "wb");
        ok = w->file != NULL;
    } else {
        errno = ENOMEM;
    }
    if (!ok) {
        int saved = errno;
        close(fd);
        if (w)
            free_writer(w);
        errno = saved;
        return NULL;
    }
    setvbuf(w->file, NULL, _IOFBF, R2F_BUFFER);
    uint32_t offset = 0;
    for (uint32_t i = 0; i < nrefs; i++) {
        w->types[i] = types[i];
        w->sizes[i] = sizes[i];
        w->offsets[i] = offset;
        offset += sizes[i];
    }
    w->nrefs = nrefs;
    w->status = status;
    w->interval = interval;
    w->reset = reset;
    if (header_len > 0) {
        if (fwrite(header, 1, header_len, w->file) != header_len || fputc('\n', w->file) == EOF)
            status->write_errors++;
    }
    return w;
}

mapi_result_ref_t *r2f_ref(r2f_t *w, uint32_t i)
{
    return i < w->nrefs ? &w->refs[i] : NULL;
}

uint64_t r2f_close(r2f_t *w, int write_due)
{
    if (!w)
        return 0;
    if (write_due && (w->interval < 0 || (w->interval > 0 && w->started))) {
        read_now(w);
        write_line(w, w->now, w->carry);      /* the interval in progress, or the one line */
    }
    if (fclose(w->file) != 0)
        w->status->write_errors++;
    uint64_t errors = w->status->write_errors;
    free_writer(w);
    return errors;
}

/* ---- per packet ---------------------------------------------------------------------------- */

int r2f_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    r2f_t *w = state;
    if (w->interval < 0)
        return 1;
    read_now(w);
    if (w->interval == 0) {
        write_line(w, w->now, NULL);
        if (w->reset)
            reset_sources(w);
        return 1;
    }
    const size_t total = w->nrefs ? w->offsets[w->nrefs - 1] + w->sizes[w->nrefs - 1] : 0;
    if (!w->started) {
        w->started = 1;
        w->start = hdr->ts;
        memcpy(w->before, w->now, total);
        return 1;
    }
    /* A packet stamped before the interval in progress (out of order) stays in it. */
    const uint64_t interval = (uint64_t)w->interval;
    if (hdr->ts < w->start || hdr->ts - w->start < interval) {
        memcpy(w->before, w->now, total);
        return 1;
    }
    /* This packet opens a later interval: the one in progress ended with the packet before. */
    uint64_t elapsed = (hdr->ts - w->start) / interval;      /* >= 1 */
    write_line(w, w->before, w->carry);
    if (w->reset) {
        take_carry(w);
        reset_sources(w);
        memset(w->before, 0, total);
    }
    /* Each interval that no packet reached gets a line of the values it ended with: those of
     * the line before, or zeros after a reset. */
    uint64_t empty = elapsed - 1;
    uint64_t written = empty < R2F_MAX_EMPTY_LINES ? empty : R2F_MAX_EMPTY_LINES;
    for (uint64_t i = 0; i < written; i++)
        write_line(w, w->before, NULL);
    w->status->skipped_lines += empty - written;
    if (!w->reset)
        memcpy(w->before, w->now, total);
    w->start += elapsed * interval;
    return 1;
}
