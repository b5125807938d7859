/*
 * mapi-stdlib: TO_FILE, the packets that reach it written to a capture file.
 *
 * Formats: pcap with µs timestamps (magic 0xa1b2c3d4, v2.4), pcap with ns timestamps (magic
 * 0xa1b23c4d) and pcapng (one Section Header Block, one Interface Description Block per
 * interface and link type met, with if_tsresol 9, i.e. ns, and one Enhanced Packet Block per
 * packet).  The file is written through a 256 KiB buffer of whole records from the device's
 * thread in process(), and flushed and closed at close (tofile_close, after the flow has left the
 * device).  The buffer is the writer's own rather than stdio's so that it knows which records a
 * failed write lost: the counts in the result are exact even on a full disk.
 *
 * Timestamps: the 32.32 fraction is rounded to the nearest µs or ns (a half rounds up; rounding
 * up to a whole second carries into the seconds).  The trace reader converts the other way by
 * rounding down (floor(usec * 2^32 / 10^6)); since one µs or ns is more than one 2^-32 s unit,
 * rounding to nearest gives back exactly the µs / ns the packet was read with.
 *
 * Byte order: the host's, or with `swapped` the opposite one, so that a file copied from a
 * trace keeps the byte order of the link-layer fields in its packets (DLT_NULL's family word).
 *
 * Failures never stop the packets: the records a failed write lost move from `packets` to
 * `write_errors`, a regular file is cut back to its last whole record, and from then on nothing
 * more is written (a record after a torn one would make the rest of the file unreadable); every
 * later packet counts as a write error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mapi/abi.h>
#include "output.h"

MAPI_DEFINE_ABI_VERSION

#define TOFILE_BUFFER (256 * 1024)
#define TOFILE_MAX_INTERFACES 65536
#define TOFILE_MAX_RECORDS (TOFILE_BUFFER / 16 + 1)   /* a block or record is at least 16 bytes */
#define NOT_A_PACKET UINT32_MAX                       /* a block that is no packet record */

#define PCAP_MAGIC_USEC 0xa1b2c3d4u
#define PCAP_MAGIC_NSEC 0xa1b23c4du
#define PCAPNG_SHB 0x0A0D0D0Au
#define PCAPNG_IDB 1u
#define PCAPNG_EPB 6u
#define PCAPNG_BOM 0x1A2B3C4Du

/* An interface of the output: one pcap file header, or one pcapng IDB. */
struct tofile_if {
    uint32_t ifindex;            /* the packets' interface index (pcapng) */
    uint32_t linktype;
    uint32_t snaplen;            /* as written, or raised by a longer packet (then dirty) */
    int dirty;                   /* snaplen must be rewritten at close */
    uint64_t snaplen_at;         /* offset of its snaplen field from the start of the output */
};

struct tofile {
    int fd;
    tofile_status_t *status;
    int format;
    int swapped;
    int failed;                  /* a write failed: nothing more is written */
    uint64_t limit;              /* 0: none */
    uint64_t written;            /* bytes written to the file so far */
    off_t base;                  /* file offset of the output's first byte; -1 when not seekable */
    uint32_t snaplen;
    uint32_t nifs, capacity, last;
    struct tofile_if *ifs;
    unsigned char *buffer;       /* TOFILE_BUFFER bytes, `used` of them waiting */
    size_t used;
    uint32_t records;            /* blocks in the buffer (headers and packet records): */
    uint32_t *ends;              /*   where each ends in it */
    uint32_t *caplens;           /*   and its captured length, or NOT_A_PACKET */
};

/* ---- encoding ------------------------------------------------------------------------------ */

static inline uint32_t out32(const tofile_t *w, uint32_t v)
{
    return w->swapped ? __builtin_bswap32(v) : v;
}

static inline uint16_t out16(const tofile_t *w, uint16_t v)
{
    return w->swapped ? __builtin_bswap16(v) : v;
}

/*
 * ts as whole seconds and units of 1/per_second, the fraction rounded to nearest (half up).
 * A time past the last representable second is clamped to its last unit.
 */
static void split_ts(uint64_t ts, uint32_t per_second, uint64_t *seconds, uint32_t *units)
{
    uint64_t s = ts >> 32;
    uint64_t u = ((ts & 0xffffffffu) * (uint64_t)per_second + (UINT64_C(1) << 31)) >> 32;
    if (u >= per_second) {
        s++;
        u = 0;
    }
    if (s > 0xffffffffu) {
        s = 0xffffffffu;
        u = per_second - 1;
    }
    *seconds = s;
    *units = (uint32_t)u;
}

/* Writes len bytes, retrying short writes; returns how many were written. */
static size_t write_all(int fd, const unsigned char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return done;
}

/*
 * After a failed write: cuts a regular file back to `length` bytes, the end of its last whole
 * block or record, so that readers see a clean end rather than a torn record.
 */
static void cut_back(tofile_t *w, uint64_t length)
{
    if (w->base >= 0 && ftruncate(w->fd, w->base + (off_t)length) == 0)
        w->written = length;
}

/*
 * Writes the buffer out.  On failure the packet records that did not reach the file entirely are
 * moved from packets/bytes to write_errors, the file is cut back to its last whole block, and the
 * writer stops.  0 or -1.
 */
static int flush_buffer(tofile_t *w)
{
    if (w->used == 0)
        return 0;
    size_t done = write_all(w->fd, w->buffer, w->used);
    int bad = done != w->used;
    uint64_t before = w->written;
    w->written += done;
    if (bad) {
        tofile_status_t *s = w->status;
        uint32_t whole = 0;                      /* end of the last block written entirely */
        for (uint32_t i = 0; i < w->records; i++) {
            if (w->ends[i] <= done) {
                whole = w->ends[i];
            } else if (w->caplens[i] != NOT_A_PACKET) {
                s->packets--;
                s->bytes -= w->caplens[i];
                s->write_errors++;
            }
        }
        w->failed = 1;
        cut_back(w, before + whole);
    }
    w->used = 0;
    w->records = 0;
    return bad ? -1 : 0;
}

/* Where the next byte handed to put() lands, from the start of the output. */
static inline uint64_t position(const tofile_t *w)
{
    return w->written + w->used;
}

/* Room for len more bytes in the buffer (flushing it if needed); 0, or -1 if it cannot be had. */
static int reserve(tofile_t *w, size_t len)
{
    if (w->used + len <= TOFILE_BUFFER && w->records < TOFILE_MAX_RECORDS)
        return 0;
    if (flush_buffer(w) != 0)
        return -1;
    return len <= TOFILE_BUFFER ? 0 : -1;
}

/* Appends len bytes to the buffer, which has room for them. */
static inline void append(tofile_t *w, const void *data, size_t len)
{
    if (len) {
        memcpy(w->buffer + w->used, data, len);
        w->used += len;
    }
}

/* Notes the end of a block in the buffer: a packet record (its caplen) or NOT_A_PACKET. */
static inline void end_block(tofile_t *w, uint32_t caplen)
{
    w->ends[w->records] = (uint32_t)w->used;
    w->caplens[w->records++] = caplen;
}

/* Appends a file header or an interface block; 0, or -1 if the writer has failed. */
static int put(tofile_t *w, const void *data, size_t len)
{
    if (reserve(w, len) != 0)
        return -1;
    append(w, data, len);
    end_block(w, NOT_A_PACKET);
    return 0;
}

/* ---- file and interface headers ------------------------------------------------------------- */

static int put_pcap_header(tofile_t *w, uint32_t linktype)
{
    uint32_t h[6];
    h[0] = out32(w, w->format == TOFILE_PCAP_NSEC ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC);
    uint16_t version[2] = {out16(w, 2), out16(w, 4)};
    memcpy(&h[1], version, 4);
    h[2] = 0;                               /* thiszone */
    h[3] = 0;                               /* sigfigs */
    h[4] = out32(w, w->snaplen);
    h[5] = out32(w, linktype);
    w->ifs[0] = (struct tofile_if){.ifindex = 0, .linktype = linktype, .snaplen = w->snaplen,
                                   .snaplen_at = position(w) + 16};
    w->nifs = 1;
    return put(w, h, sizeof h);
}

static int put_shb(tofile_t *w)
{
    static const char application[] = "mapi";     /* shb_userappl, 4 bytes: no padding */
    uint32_t h[10];
    h[0] = out32(w, PCAPNG_SHB);
    h[1] = out32(w, sizeof h);
    h[2] = out32(w, PCAPNG_BOM);
    uint16_t version[2] = {out16(w, 1), out16(w, 0)};
    memcpy(&h[3], version, 4);
    h[4] = 0xffffffffu;                     /* section length: unknown (-1) */
    h[5] = 0xffffffffu;
    uint16_t option[2] = {out16(w, 4), out16(w, 4)};
    memcpy(&h[6], option, 4);
    memcpy(&h[7], application, 4);
    h[8] = 0;                               /* opt_endofopt */
    h[9] = out32(w, sizeof h);
    return put(w, h, sizeof h);
}

static int put_idb(tofile_t *w, const struct tofile_if *f)
{
    uint32_t h[8];
    h[0] = out32(w, PCAPNG_IDB);
    h[1] = out32(w, sizeof h);
    uint16_t link[2] = {out16(w, (uint16_t)f->linktype), 0};
    memcpy(&h[2], link, 4);
    h[3] = out32(w, f->snaplen);
    uint16_t option[2] = {out16(w, 9), out16(w, 1)};   /* if_tsresol, 1 byte: 9 = 10^-9 s */
    memcpy(&h[4], option, 4);
    unsigned char resolution[4] = {9, 0, 0, 0};
    memcpy(&h[5], resolution, 4);
    h[6] = 0;                                          /* opt_endofopt */
    h[7] = out32(w, sizeof h);
    return put(w, h, sizeof h);
}

/* The output interface of (ifindex, linktype), its IDB written when first met; -1 if none. */
static int64_t pcapng_interface(tofile_t *w, uint32_t ifindex, uint32_t linktype)
{
    if (w->last < w->nifs && w->ifs[w->last].ifindex == ifindex && w->ifs[w->last].linktype == linktype)
        return w->last;
    for (uint32_t i = 0; i < w->nifs; i++) {
        if (w->ifs[i].ifindex == ifindex && w->ifs[i].linktype == linktype) {
            w->last = i;
            return i;
        }
    }
    if (w->nifs == w->capacity) {           /* rare: a new interface */
        if (w->capacity >= TOFILE_MAX_INTERFACES)
            return -1;
        uint32_t capacity = w->capacity * 2;
        struct tofile_if *grown = realloc(w->ifs, capacity * sizeof *grown);
        if (!grown)
            return -1;
        w->ifs = grown;
        w->capacity = capacity;
    }
    struct tofile_if *f = &w->ifs[w->nifs];
    *f = (struct tofile_if){.ifindex = ifindex, .linktype = linktype, .snaplen = w->snaplen,
                            .snaplen_at = position(w) + 12};
    if (put_idb(w, f) != 0)
        return -2;
    w->last = w->nifs++;
    return w->last;
}

/* ---- packets ---------------------------------------------------------------------------------- */

/* A longer packet than the interface's snaplen raises it (rewritten at close). */
static inline void note_length(struct tofile_if *f, uint32_t caplen)
{
    if (caplen > f->snaplen) {
        f->snaplen = caplen;
        f->dirty = 1;
    }
}

/*
 * Writes one packet record, head + caplen bytes of pkt + tail, and counts it in packets/bytes.
 * A record longer than the buffer goes straight to the file.  0, or -1 if it was not written.
 */
static int put_record(tofile_t *w, const void *head, size_t head_len, const unsigned char *pkt, uint32_t caplen,
                      const void *tail, size_t tail_len)
{
    tofile_status_t *s = w->status;
    size_t total = head_len + caplen + tail_len;
    if (total <= TOFILE_BUFFER) {
        if (reserve(w, total) != 0)
            return -1;
        append(w, head, head_len);
        append(w, pkt, caplen);
        append(w, tail, tail_len);
        end_block(w, caplen);
    } else {
        if (flush_buffer(w) != 0)
            return -1;
        size_t done = write_all(w->fd, head, head_len);
        if (done == head_len)
            done += write_all(w->fd, pkt, caplen);
        if (done == head_len + caplen)
            done += write_all(w->fd, tail, tail_len);
        uint64_t before = w->written;
        w->written += done;
        if (done != total) {
            w->failed = 1;
            cut_back(w, before);
            return -1;
        }
    }
    s->packets++;
    s->bytes += caplen;
    return 0;
}

/* 0 written, 1 not for this format, -1 write failed. */
static int put_pcap_record(tofile_t *w, const unsigned char *pkt, const mapi_pkthdr_t *hdr)
{
    struct tofile_if *f = &w->ifs[0];
    if (hdr->linktype != f->linktype)
        return 1;
    uint64_t seconds;
    uint32_t units;
    split_ts(hdr->ts, w->format == TOFILE_PCAP_NSEC ? 1000000000u : 1000000u, &seconds, &units);
    uint32_t h[4] = {out32(w, (uint32_t)seconds), out32(w, units), out32(w, hdr->caplen), out32(w, hdr->wlen)};
    if (put_record(w, h, sizeof h, pkt, hdr->caplen, NULL, 0) != 0)
        return -1;
    note_length(f, hdr->caplen);
    return 0;
}

static int put_epb(tofile_t *w, const unsigned char *pkt, const mapi_pkthdr_t *hdr)
{
    uint32_t caplen = hdr->caplen;
    if (caplen > UINT32_MAX - 64)
        return 1;
    int64_t id = pcapng_interface(w, hdr->ifindex, hdr->linktype);
    if (id == -1)
        return 1;
    if (id < 0)
        return -1;
    uint32_t padding = (4 - (caplen & 3)) & 3;
    uint32_t total = 32 + caplen + padding;
    uint64_t seconds;
    uint32_t units;
    split_ts(hdr->ts, 1000000000u, &seconds, &units);
    uint64_t ns = seconds * 1000000000u + units;
    uint32_t h[7] = {out32(w, PCAPNG_EPB), out32(w, total), out32(w, (uint32_t)id), out32(w, (uint32_t)(ns >> 32)),
                     out32(w, (uint32_t)ns), out32(w, caplen), out32(w, hdr->wlen)};
    unsigned char tail[8] = {0};                 /* padding, then the block's total length again */
    uint32_t trailer = out32(w, total);
    memcpy(tail + padding, &trailer, 4);
    if (put_record(w, h, sizeof h, pkt, caplen, tail, padding + 4) != 0)
        return -1;
    note_length(&w->ifs[id], caplen);
    return 0;
}

int tofile_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    tofile_t *w = state;
    tofile_status_t *s = w->status;
    if (s->state == TOFILE_LIMIT_REACHED)
        return 1;
    if (w->failed) {
        s->write_errors++;
        return 1;
    }
    int r = w->format == TOFILE_PCAPNG ? put_epb(w, pkt, hdr) : put_pcap_record(w, pkt, hdr);
    if (r == 0) {
        if (w->limit && s->packets >= w->limit) {
            s->state = TOFILE_LIMIT_REACHED;
            flush_buffer(w);                     /* the file is complete now */
        }
    } else if (r > 0) {
        s->skipped++;
    } else {
        s->write_errors++;
    }
    return 1;
}

/* ---- life ----------------------------------------------------------------------------------- */

static void free_writer(tofile_t *w)
{
    free(w->ifs);
    free(w->buffer);
    free(w->ends);
    free(w->caplens);
    free(w);
}

tofile_t *tofile_new(int fd, int format, uint32_t linktype, uint32_t snaplen, int swapped, uint64_t limit,
                     tofile_status_t *status)
{
    if (format != TOFILE_PCAP_USEC && format != TOFILE_PCAP_NSEC && format != TOFILE_PCAPNG) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    tofile_t *w = calloc(1, sizeof *w);
    if (w) {
        w->capacity = 4;
        w->ifs = calloc(w->capacity, sizeof *w->ifs);
        w->buffer = malloc(TOFILE_BUFFER);
        w->ends = calloc(TOFILE_MAX_RECORDS, sizeof *w->ends);
        w->caplens = calloc(TOFILE_MAX_RECORDS, sizeof *w->caplens);
    }
    if (!w || !w->ifs || !w->buffer || !w->ends || !w->caplens) {
        close(fd);
        if (w)
            free_writer(w);
        errno = ENOMEM;
        return NULL;
    }
    struct stat st;
    w->base = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? lseek(fd, 0, SEEK_CUR) : -1;
    w->fd = fd;
    w->status = status;
    w->format = format;
    w->swapped = swapped != 0;
    w->limit = limit;
    w->snaplen = snaplen;
    status->state = TOFILE_WRITING;
    if (format == TOFILE_PCAPNG)
        put_shb(w);
    else
        put_pcap_header(w, linktype);
    return w;
}

/* Rewrites the snaplen fields that longer packets exceeded; 0, or -1 if one could not be. */
static int fix_snaplens(tofile_t *w)
{
    int bad = 0;
    for (uint32_t i = 0; i < w->nifs; i++) {
        const struct tofile_if *f = &w->ifs[i];
        if (!f->dirty || w->base < 0)
            continue;
        uint32_t v = out32(w, f->snaplen);
        if (pwrite(w->fd, &v, 4, w->base + (off_t)f->snaplen_at) != 4)
            bad = -1;
    }
    return bad;
}

uint64_t tofile_close(tofile_t *w)
{
    if (!w)
        return 0;
    flush_buffer(w);
    int bad = 0;
    if (!w->failed)
        bad |= fix_snaplens(w) != 0;
    bad |= close(w->fd) != 0;
    if (bad)
        w->status->write_errors++;
    uint64_t errors = w->status->write_errors;
    free_writer(w);
    return errors;
}
