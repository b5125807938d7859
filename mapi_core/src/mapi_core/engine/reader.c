/*
 * Offline trace reader: pcap and pcapng, see reader.h.
 *
 * A regular file is mapped (MAP_PRIVATE, PROT_READ) and packets are handed out as pointers into
 * the mapping.  Anything that cannot be mapped (a pipe, a character device, an empty file) is read
 * with read() into a buffer that grows to hold at least one whole record; the parsers see the
 * same (base, pos, len) window either way and report "need more bytes" when a record runs past
 * its end, which means truncation for a mapping and a refill for the buffer.
 *
 * A mapping's pages are made resident ahead of the parser and released behind it (residency.c),
 * and the parsers prefetch the bytes PREFETCH_AHEAD past the record they are at: a file in the
 * page cache is read at the speed of memory, with flat resident memory.
 *
 * Records are parsed field by field from their bytes (rd32 with an optional byte swap), never
 * by overlaying structs.  The pcap loop is instantiated for each (byte order, resolution) pair
 * and the pcapng loop for each byte order, so a packet costs a handful of loads, compares and
 * multiplies (about 40 instructions for pcap, 75 for an EPB, measured with callgrind).  In pcapng
 * only an EPB that passes every check at once takes the fast path; everything else (other
 * blocks, and any error with its message) goes through pcapng_block().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader.h"
#include "residency.h"

/* Bytes ahead of the current record that the parsers prefetch (found best on 1M-packet mixes). */
#define PREFETCH_AHEAD 8192
/* Mappings up to this size are populated at once; larger ones by a helper thread (residency.c). */
#define POPULATE_AT_ONCE ((size_t)16 << 20)
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Magic numbers, as read in host order from a file written in host order. */
#define PCAP_MAGIC_USEC 0xa1b2c3d4u
#define PCAP_MAGIC_NSEC 0xa1b23c4du
#define PCAP_MAGIC_KUZNETZOV 0xa1b2cd34u
#define PCAPNG_SHB 0x0a0d0d0au
#define PCAPNG_BOM 0x1a2b3c4du

#define PCAPNG_IDB 1u
#define PCAPNG_PB 2u /* obsolete Packet Block */
#define PCAPNG_SPB 3u
#define PCAPNG_EPB 6u

#define PCAP_FILE_HDR 24u
#define PCAPNG_SHB_MIN 28u           /* type, length, BOM, version, section length, length copy */
#define MAXIMUM_SNAPLEN 262144u      /* libpcap's MAXIMUM_SNAPLEN */
/* Largest sane pcapng blocks, as libpcap 1.10: a section header up to 1 MiB (BT_SHB_INSANE_MAX),
 * other blocks up to 16 MiB (INITIAL_MAX_BLOCKSIZE), or more for an interface whose link type allows
 * larger packets (MAX_BLOCKSIZE_FOR_SNAPLEN: headers + maximum caplen + 128 KiB of options). */
#define MAX_SHB (1u << 20)
#define MAX_BLOCK_INITIAL (16u << 20)
#define MAX_BLOCK_FOR_CAPLEN(c) (32u + (c) + 131072u)
#define READ_BUF_INITIAL (1u << 20)

/* What a parser loop reports. */
enum fill_result { FILL_FULL, FILL_MORE, FILL_ERROR, FILL_STOPPED };

/* How an interface's timestamp units become 32.32 fixed point. */
enum ts_kind { TS_USEC, TS_NSEC, TS_POW2, TS_DIV64, TS_DIV128, TS_ZERO };

struct iface {
    uint32_t linktype;
    uint32_t snaplen;
    uint32_t maxcap;           /* largest sane caplen for this link type */
    uint8_t kind;              /* enum ts_kind */
    uint8_t shift;             /* TS_POW2: units are 2^-shift s */
    uint64_t units;            /* TS_DIV64: units per second */
    unsigned __int128 units128; /* TS_DIV128: units per second */
    int64_t offset;            /* if_tsoffset, seconds */
};

struct mapi_trace {
    int fd;
    int mapped;               /* base is a mapping of the whole file */
    int residency_started;    /* mapped: populated at once, or residency set up */
    mapi_residency_t *residency; /* mapped, large: the helper thread keeping pages resident */
    int eof;                  /* read mode: read() returned 0 */
    const unsigned char *base; /* the window: mapping or read buffer */
    size_t len;               /* valid bytes in the window */
    size_t pos;               /* next record in the window */
    uint64_t base_off;        /* file offset of base[0] */
    unsigned char *buf;       /* read mode buffer */
    size_t cap;
    size_t want;              /* read mode: bytes needed from pos before parsing can go on */
    const unsigned char *stop; /* mapped, restricted: no record starting here or later is read */

    int format;
    int status;
    int nanosecond;
    int swapped;              /* pcap file / first pcapng section */
    uint32_t snaplen;
    uint32_t linktype;
    uint64_t packets;

    /* pcap */
    uint32_t rechdr;          /* 16, or 24 for the modified format */
    int lenswap;              /* 0: no, 1: caplen and len interchanged, 2: maybe (version 2.3) */
    uint32_t maxcap;

    /* pcapng */
    int sec_swapped;
    uint32_t sec_first;       /* cumulative number of the current section's interface 0 */
    uint32_t max_block;       /* longest block accepted (see MAX_BLOCK_INITIAL) */
    struct iface *ifs;
    uint32_t nifs, capifs;

    char msg[256];
};

/* ------------------------------------------------------------------------------------------ */
/* Byte access                                                                                */

static inline uint32_t rd32(const unsigned char *p, int sw)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return sw ? __builtin_bswap32(v) : v;
}

static inline uint16_t rd16(const unsigned char *p, int sw)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return sw ? __builtin_bswap16(v) : v;
}

static inline uint64_t rd64(const unsigned char *p, int sw)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return sw ? __builtin_bswap64(v) : v;
}

static void set_msg(mapi_trace_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(mapi_trace_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
}

/* libpcap 1.10's max_snaplen_for_dlt(): records longer than this are damaged. */
static uint32_t max_caplen(uint32_t linktype)
{
    switch (linktype) {
    case 231: return 128u << 20; /* DLT_DBUS */
    case 279: return 8u << 20;   /* DLT_EBHSCR */
    case 249: return 1u << 20;   /* DLT_USBPCAP */
    default: return MAXIMUM_SNAPLEN;
    }
}

static inline unsigned long long off_at(const mapi_trace_t *t, const unsigned char *p)
{
    return (unsigned long long)(t->base_off + (uint64_t)(p - t->base));
}

/* ------------------------------------------------------------------------------------------ */
/* pcap                                                                                       */

static inline __attribute__((always_inline)) int
pcap_fill(mapi_trace_t *t, mapi_batch_t *b, uint32_t max, const int sw, const uint32_t div, const int limited)
{
    const unsigned char *const base = t->base, *const end = base + t->len;
    const unsigned char *p = base + t->pos;
    const size_t hl = t->rechdr;
    const uint32_t maxcap = t->maxcap;
    const uint16_t lt = (uint16_t)t->linktype;
    const int lenswap = t->lenswap;
    const unsigned char *const stop = t->stop;
    uint32_t n = b->count;
    int r = FILL_FULL;

    while (n < max) {
        if (limited && p >= stop) {
            t->status = MAPI_TRACE_EOF;     /* the end of the range: the rest is another's */
            r = FILL_STOPPED;
            break;
        }
        size_t avail = (size_t)(end - p);
        if (unlikely(avail < hl)) {
            t->want = hl;
            if (avail)
                set_msg(t, "truncated: the file ends %zu bytes into the record header of packet %llu (offset %llu)",
                        avail, (unsigned long long)(t->packets + n - b->count + 1), off_at(t, p));
            r = FILL_MORE;
            break;
        }
        uint64_t sec = rd32(p, sw);
        uint32_t sub = rd32(p + 4, sw);
        uint32_t cap = rd32(p + 8, sw);
        uint32_t wlen = rd32(p + 12, sw);
        if (unlikely(lenswap) && (lenswap == 1 || cap > wlen)) {
            uint32_t x = cap;
            cap = wlen;
            wlen = x;
        }
        if (unlikely(cap > maxcap)) {
            set_msg(t, "damaged: packet %llu (offset %llu) has a captured length of %" PRIu32
                       " bytes, more than the maximum of %" PRIu32,
                    (unsigned long long)(t->packets + n - b->count + 1), off_at(t, p), cap, maxcap);
            t->status = MAPI_TRACE_DAMAGED;
            r = FILL_ERROR;
            break;
        }
        if (unlikely(avail - hl < cap)) {
            t->want = hl + cap;
            set_msg(t, "truncated: the file ends %zu bytes into the %" PRIu32 "-byte data of packet %llu (offset %llu)",
                    avail - hl, cap, (unsigned long long)(t->packets + n - b->count + 1), off_at(t, p));
            r = FILL_MORE;
            break;
        }
        if (unlikely(sub >= div)) { /* normalise: carry whole seconds */
            sec += sub / div;
            sub %= div;
        }
        b->hdr[n] = (mapi_pkthdr_t){
            .ts = (sec << 32) | (((uint64_t)sub << 32) / div),
            .caplen = cap,
            .wlen = wlen,
            .ifindex = 0,
            .linktype = lt,
            .flags = 0,
        };
        b->data[n] = (unsigned char *)(p + hl);
        p += hl + cap;
        n++;
        __builtin_prefetch(p + PREFETCH_AHEAD);
    }
    t->packets += n - b->count;
    b->count = n;
    t->pos = (size_t)(p - base);
    return r;
}

/* One instance per byte order and resolution, and one (slower by a compare) for a restricted range. */
static int pcap_fill_any(mapi_trace_t *t, mapi_batch_t *b, uint32_t max)
{
    if (t->stop != NULL)
        return pcap_fill(t, b, max, t->swapped, t->nanosecond ? 1000000000u : 1000000u, 1);
    switch ((t->swapped << 1) | t->nanosecond) {
    case 0: return pcap_fill(t, b, max, 0, 1000000u, 0);
    case 1: return pcap_fill(t, b, max, 0, 1000000000u, 0);
    case 2: return pcap_fill(t, b, max, 1, 1000000u, 0);
    default: return pcap_fill(t, b, max, 1, 1000000000u, 0);
    }
}

/* Parses the 24-byte file header; 0 on success, -1 with a message (without the file name). */
static int pcap_open(mapi_trace_t *t, const unsigned char *h, char *err, size_t errlen)
{
    uint32_t magic = rd32(h, 0);
    int sw = 0;
    if (magic != PCAP_MAGIC_USEC && magic != PCAP_MAGIC_NSEC && magic != PCAP_MAGIC_KUZNETZOV) {
        sw = 1;
        magic = __builtin_bswap32(magic);
    }
    uint16_t major = rd16(h + 4, sw), minor = rd16(h + 6, sw);
    if (!((major == 2 && minor <= 4) || (major == 543 && minor == 0))) {
        snprintf(err, errlen, "unsupported pcap version %u.%u", major, minor);
        return -1;
    }
    t->format = MAPI_TRACE_PCAP;
    t->swapped = sw;
    t->nanosecond = magic == PCAP_MAGIC_NSEC;
    t->rechdr = magic == PCAP_MAGIC_KUZNETZOV ? 24 : 16;
    t->snaplen = rd32(h + 16, sw);
    t->linktype = rd32(h + 20, sw) & 0x03FFFFFFu; /* upper bits: FCS length and flags */
    t->maxcap = max_caplen(t->linktype);
    /* As libpcap: caplen and len were interchanged before 2.3 (and by DG/UX's 543.0); 2.3 files exist
     * both ways, so there a caplen larger than len means interchanged. */
    t->lenswap = major == 543 || minor < 3 ? 1 : minor == 3 ? 2 : 0;
    t->pos = PCAP_FILE_HDR;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* pcapng                                                                                     */

/* Sets the timestamp conversion of an interface from its if_tsresol byte. */
static void iface_tsresol(struct iface *f, uint8_t res)
{
    if (res & 0x80) {
        f->kind = TS_POW2;
        f->shift = res & 0x7f;
        return;
    }
    if (res == 6) { f->kind = TS_USEC; return; }
    if (res == 9) { f->kind = TS_NSEC; return; }
    unsigned __int128 u = 1;
    for (unsigned i = 0; i < res; i++) {
        if (u > ~(unsigned __int128)0 / 10) { /* 10^res > 2^128 > ts * 2^32: every timestamp is 0 */
            f->kind = TS_ZERO;
            return;
        }
        u *= 10;
    }
    if (u <= ((uint64_t)1 << 32)) {
        f->kind = TS_DIV64;
        f->units = (uint64_t)u;
    } else {
        f->kind = TS_DIV128;
        f->units128 = u;
    }
}

static inline uint64_t iface_ts(const struct iface *f, uint64_t v)
{
    uint64_t sec, frac;
    if (likely(f->kind == TS_USEC)) /* the common case first, without the switch */
        return ((v / 1000000u + (uint64_t)f->offset) << 32) | (((v % 1000000u) << 32) / 1000000u);
    switch (f->kind) {
    case TS_USEC:
        sec = v / 1000000u;
        frac = ((v % 1000000u) << 32) / 1000000u;
        break;
    case TS_NSEC:
        sec = v / 1000000000u;
        frac = ((v % 1000000000u) << 32) / 1000000000u;
        break;
    case TS_POW2: {
        unsigned s = f->shift;
        if (s <= 32) {
            sec = s == 0 ? v : v >> s;
            frac = s == 0 ? 0 : (v & (((uint64_t)1 << s) - 1)) << (32 - s);
        } else if (s < 64) {
            sec = v >> s;
            frac = (v & (((uint64_t)1 << s) - 1)) >> (s - 32);
        } else {
            sec = 0;
            frac = s - 32 < 64 ? v >> (s - 32) : 0;
        }
        break;
    }
    case TS_DIV64: /* units <= 2^32, so the remainder shifted by 32 fits */
        sec = v / f->units;
        frac = ((v % f->units) << 32) / f->units;
        break;
    case TS_DIV128: {
        unsigned __int128 u = f->units128;
        sec = (uint64_t)(v / u);
        /* the remainder is below 2^64 (it is at most v), so shifting it by 32 cannot overflow */
        frac = (uint64_t)(((unsigned __int128)(uint64_t)(v % u) << 32) / u);
        break;
    }
    default:
        sec = 0;
        frac = 0;
        break;
    }
    return ((sec + (uint64_t)f->offset) << 32) | frac;
}

static inline const char *block_name(uint32_t type)
{
    switch (type) {
    case PCAPNG_SHB: return "section header block";
    case PCAPNG_IDB: return "interface description block";
    case PCAPNG_PB: return "packet block";
    case PCAPNG_SPB: return "simple packet block";
    case PCAPNG_EPB: return "enhanced packet block";
    default: return "block";
    }
}

/* Parses an IDB's fixed part and options (body = p + 8 .. p + blen - 4). */
static int pcapng_idb(mapi_trace_t *t, const unsigned char *p, uint32_t blen, uint64_t pktno)
{
    const int sw = t->sec_swapped;
    if (blen < 20) {
        set_msg(t, "damaged: interface description block at offset %llu (after packet %llu) is %" PRIu32
                   " bytes long, shorter than 20",
                off_at(t, p), (unsigned long long)pktno, blen);
        return -1;
    }
    if (t->nifs == t->capifs) {
        uint32_t ncap = t->capifs ? t->capifs * 2 : 4;
        struct iface *n = realloc(t->ifs, ncap * sizeof *n);
        if (n == NULL) {
            set_msg(t, "out of memory for interface %" PRIu32, t->nifs);
            return -1;
        }
        t->ifs = n;
        t->capifs = ncap;
    }
    struct iface f = {0};
    f.linktype = rd16(p + 8, sw);
    f.snaplen = rd32(p + 12, sw);
    f.maxcap = max_caplen(f.linktype);
    f.kind = TS_USEC;
    const unsigned char *o = p + 16, *end = p + blen - 4;
    while (end - o >= 4) {
        uint16_t code = rd16(o, sw), olen = rd16(o + 2, sw);
        if (code == 0) /* opt_endofopt */
            break;
        if ((size_t)(end - o - 4) < olen) {
            set_msg(t, "damaged: interface description block at offset %llu (after packet %llu) has an option "
                       "(code %u, %u bytes) running past its end",
                    off_at(t, p), (unsigned long long)pktno, code, olen);
            return -1;
        }
        if (code == 9 && olen == 1) {
            iface_tsresol(&f, o[4]);
        } else if (code == 14 && olen == 8) {
            f.offset = (int64_t)rd64(o + 4, sw);
        } else if (code == 9 || code == 14) {
            set_msg(t, "damaged: interface description block at offset %llu (after packet %llu) has an %s option "
                       "of %u bytes",
                    off_at(t, p), (unsigned long long)pktno, code == 9 ? "if_tsresol" : "if_tsoffset", olen);
            return -1;
        }
        o += 4 + (((uint32_t)olen + 3) & ~3u);
    }
    if (MAX_BLOCK_FOR_CAPLEN(f.maxcap) > t->max_block)
        t->max_block = MAX_BLOCK_FOR_CAPLEN(f.maxcap);
    if (t->nifs == 0) {
        t->linktype = f.linktype;
        t->snaplen = f.snaplen;
    }
    int fine = f.kind == TS_NSEC || f.kind == TS_DIV128 || f.kind == TS_ZERO ||
               (f.kind == TS_DIV64 && f.units > 1000000u) || (f.kind == TS_POW2 && f.shift >= 20);
    if (fine)
        t->nanosecond = 1;
    t->ifs[t->nifs++] = f;
    return 0;
}

/* What pcapng_block() did, besides the fill results. */
enum { BLOCK_NEXT = 3, BLOCK_PACKET = 4, BLOCK_REORDER = 5 };

/*
 * The slow path: handles the one block at p, whatever it is, with every check and message.
 * before is the number of packets delivered before it.  Returns BLOCK_NEXT (a non-packet block
 * was consumed), BLOCK_PACKET (b->hdr[n] was filled), BLOCK_REORDER (a section header switched
 * the byte order), each with *consumed set, or FILL_FULL (a packet block, but n == max),
 * FILL_MORE or FILL_ERROR (status and message set).
 */
static __attribute__((noinline)) int pcapng_block(mapi_trace_t *t, mapi_batch_t *b, uint32_t n, uint32_t max,
                                                  const unsigned char *p, size_t avail, uint64_t before,
                                                  uint32_t *consumed)
{
    int sw = t->sec_swapped;
    if (avail < 12) {
        t->want = 12;
        if (avail)
            set_msg(t, "truncated: the file ends %zu bytes into a block header after packet %llu (offset %llu)",
                    avail, (unsigned long long)before, off_at(t, p));
        return FILL_MORE;
    }
    uint32_t type = rd32(p, sw);
    if (type == PCAPNG_SHB) { /* a palindrome: its byte-order magic tells how to read the rest */
        uint32_t bom = rd32(p + 8, 0);
        if (bom == PCAPNG_BOM)
            sw = 0;
        else if (bom == __builtin_bswap32(PCAPNG_BOM))
            sw = 1;
        else {
            set_msg(t, "damaged: section header block at offset %llu (after packet %llu) has byte-order magic "
                       "0x%08" PRIx32,
                    off_at(t, p), (unsigned long long)before, bom);
            goto damaged;
        }
    }
    uint32_t blen = rd32(p + 4, sw), most = type == PCAPNG_SHB ? MAX_SHB : t->max_block;
    if (blen < 12 || (blen & 3) || blen > most) {
        set_msg(t, "damaged: %s at offset %llu (after packet %llu) has a length of %" PRIu32
                   " bytes (must be a multiple of 4, at least 12, at most %" PRIu32 ")",
                block_name(type), off_at(t, p), (unsigned long long)before, blen, most);
        goto damaged;
    }
    if (avail < blen) {
        t->want = blen;
        set_msg(t, "truncated: the file ends %zu bytes into a %" PRIu32 "-byte %s after packet %llu (offset %llu)",
                avail, blen, block_name(type), (unsigned long long)before, off_at(t, p));
        return FILL_MORE;
    }
    uint32_t trail = rd32(p + blen - 4, sw);
    if (trail != blen) {
        set_msg(t, "damaged: %s at offset %llu (after packet %llu) ends with length %" PRIu32
                   ", but begins with %" PRIu32,
                block_name(type), off_at(t, p), (unsigned long long)before, trail, blen);
        goto damaged;
    }
    *consumed = blen;

    if (type == PCAPNG_EPB || type == PCAPNG_SPB || type == PCAPNG_PB) {
        if (n >= max)
            return FILL_FULL;
        unsigned long long pktno = before + 1;
        uint32_t ifid, cap, wlen, hl;
        uint64_t raw = 0;
        if (type == PCAPNG_SPB) {
            hl = 12;
            if (blen < 16) {
                set_msg(t, "damaged: simple packet block of packet %llu (offset %llu) is %" PRIu32 " bytes long",
                        pktno, off_at(t, p), blen);
                goto damaged;
            }
            ifid = 0;
            wlen = rd32(p + 8, sw);
            cap = blen - 16;
        } else {
            hl = 28;
            if (blen < 32) {
                set_msg(t, "damaged: %s of packet %llu (offset %llu) is %" PRIu32 " bytes long, shorter than 32",
                        block_name(type), pktno, off_at(t, p), blen);
                goto damaged;
            }
            ifid = type == PCAPNG_EPB ? rd32(p + 8, sw) : rd16(p + 8, sw);
            raw = ((uint64_t)rd32(p + 12, sw) << 32) | rd32(p + 16, sw);
            cap = rd32(p + 20, sw);
            wlen = rd32(p + 24, sw);
        }
        if (ifid >= t->nifs - t->sec_first) {
            set_msg(t, "damaged: %s of packet %llu (offset %llu) refers to interface %" PRIu32
                       " of its section, which declares %" PRIu32,
                    block_name(type), pktno, off_at(t, p), ifid, t->nifs - t->sec_first);
            goto damaged;
        }
        uint32_t g = t->sec_first + ifid;
        const struct iface *f = &t->ifs[g];
        if (type == PCAPNG_SPB) { /* no caplen field: what the interface's snaplen and the block allow */
            if (wlen < cap)
                cap = wlen;
            if (f->snaplen && f->snaplen < cap)
                cap = f->snaplen;
        } else if (cap > blen - 32) {
            set_msg(t, "damaged: %s of packet %llu (offset %llu) has a captured length of %" PRIu32
                       " bytes, more than its %" PRIu32 "-byte block holds",
                    block_name(type), pktno, off_at(t, p), cap, blen);
            goto damaged;
        }
        if (cap > f->maxcap) {
            set_msg(t, "damaged: packet %llu (offset %llu) has a captured length of %" PRIu32
                       " bytes, more than the maximum of %" PRIu32,
                    pktno, off_at(t, p), cap, f->maxcap);
            goto damaged;
        }
        b->hdr[n] = (mapi_pkthdr_t){
            .ts = type == PCAPNG_SPB ? 0 : iface_ts(f, raw), /* an SPB has no time */
            .caplen = cap,
            .wlen = wlen,
            .ifindex = g,
            .linktype = (uint16_t)f->linktype,
            .flags = 0,
        };
        b->data[n] = (unsigned char *)(p + hl);
        return BLOCK_PACKET;
    }
    if (type == PCAPNG_IDB)
        return pcapng_idb(t, p, blen, before) < 0 ? (t->status = MAPI_TRACE_DAMAGED, FILL_ERROR) : BLOCK_NEXT;
    if (type == PCAPNG_SHB) {
        if (blen < PCAPNG_SHB_MIN) {
            set_msg(t, "damaged: section header block at offset %llu (after packet %llu) is %" PRIu32
                       " bytes long, shorter than %u",
                    off_at(t, p), (unsigned long long)before, blen, PCAPNG_SHB_MIN);
            goto damaged;
        }
        uint16_t major = rd16(p + 12, sw), minor = rd16(p + 14, sw);
        if (major != 1) {
            set_msg(t, "damaged: section header block at offset %llu (after packet %llu) has unsupported "
                       "version %u.%u",
                    off_at(t, p), (unsigned long long)before, major, minor);
            goto damaged;
        }
        t->sec_first = t->nifs; /* the new section's interface 0 */
        if (sw != t->sec_swapped) {
            t->sec_swapped = sw;
            return BLOCK_REORDER;
        }
    }
    return BLOCK_NEXT; /* every other block type (NRB, ISB, DSB, custom...) is skipped */

damaged:
    t->status = MAPI_TRACE_DAMAGED;
    return FILL_ERROR;
}

/*
 * Walks blocks from pos in one byte order, delivering packets into b until it holds max.  An EPB
 * that passes every check in one go takes the fast path; any other block goes to pcapng_block().
 * Non-packet blocks are consumed as they come, so with max == 0 it stops in front of the first
 * packet block.
 */
static inline __attribute__((always_inline)) int
pcapng_fill_order(mapi_trace_t *t, mapi_batch_t *b, uint32_t max, const int sw)
{
    const unsigned char *const base = t->base, *const end = base + t->len;
    const unsigned char *p = base + t->pos;
    const uint64_t pk0 = t->packets - b->count; /* b->hdr[i] is packet pk0 + i + 1 */
    uint32_t n = b->count, first = t->sec_first, nsec = t->nifs - first, maxb = t->max_block;
    const struct iface *ifs = t->ifs + first;
    int r;

    for (;;) {
        size_t avail = (size_t)(end - p);
        if (likely(avail >= 32 && n < max)) {
            uint32_t type = rd32(p, sw), blen = rd32(p + 4, sw);
            size_t lim = avail < maxb ? avail : maxb;
            if (likely(type == PCAPNG_EPB && blen >= 32 && blen <= lim && !(blen & 3))) {
                uint32_t ifid = rd32(p + 8, sw), cap = rd32(p + 20, sw);
                if (likely(rd32(p + blen - 4, sw) == blen && ifid < nsec && cap <= blen - 32 &&
                           cap <= ifs[ifid].maxcap)) {
                    const struct iface *f = &ifs[ifid];
                    uint64_t raw = ((uint64_t)rd32(p + 12, sw) << 32) | rd32(p + 16, sw);
                    b->hdr[n] = (mapi_pkthdr_t){
                        .ts = iface_ts(f, raw),
                        .caplen = cap,
                        .wlen = rd32(p + 24, sw),
                        .ifindex = first + ifid,
                        .linktype = (uint16_t)f->linktype,
                        .flags = 0,
                    };
                    b->data[n] = (unsigned char *)(p + 28);
                    n++;
                    p += blen;
                    __builtin_prefetch(p + PREFETCH_AHEAD);
                    continue;
                }
            }
        }
        uint32_t consumed = 0;
        r = pcapng_block(t, b, n, max, p, avail, pk0 + n, &consumed);
        if (r == BLOCK_PACKET)
            n++;
        else if (r != BLOCK_NEXT && r != BLOCK_REORDER)
            break;
        p += consumed;
        if (r == BLOCK_REORDER)
            break;
        first = t->sec_first; /* an IDB or SHB may have changed these */
        nsec = t->nifs - first;
        ifs = t->ifs + first;
        maxb = t->max_block;
    }
    t->packets += n - b->count;
    b->count = n;
    t->pos = (size_t)(p - base);
    return r;
}

static int pcapng_fill(mapi_trace_t *t, mapi_batch_t *b, uint32_t max)
{
    for (;;) {
        int r = t->sec_swapped ? pcapng_fill_order(t, b, max, 1) : pcapng_fill_order(t, b, max, 0);
        if (r != BLOCK_REORDER)
            return r;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                     */

/* Read mode: keeps the unparsed tail, makes room for t->want bytes and reads until they are in. */
static int refill(mapi_trace_t *t)
{
    size_t keep = t->len - t->pos;
    if (t->pos) {
        memmove(t->buf, t->buf + t->pos, keep);
        t->base_off += t->pos;
        t->pos = 0;
        t->len = keep;
    }
    if (t->want > t->cap) {
        size_t ncap = t->cap;
        while (ncap < t->want)
            ncap *= 2;
        unsigned char *n = realloc(t->buf, ncap);
        if (n == NULL) {
            set_msg(t, "out of memory for a %zu-byte record at offset %llu", t->want, (unsigned long long)t->base_off);
            t->status = MAPI_TRACE_DAMAGED;
            return -1;
        }
        t->buf = n;
        t->cap = ncap;
    }
    t->base = t->buf;
    while (t->len < t->want && !t->eof) {
        ssize_t got = read(t->fd, t->buf + t->len, t->cap - t->len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            set_msg(t, "read error at offset %llu: %s", (unsigned long long)(t->base_off + t->len), strerror(errno));
            t->status = MAPI_TRACE_DAMAGED;
            return -1;
        }
        if (got == 0)
            t->eof = 1;
        t->len += (size_t)got;
    }
    t->want = 0;
    return 0;
}

/* Mapped: pages resident ahead of the parser (at once for a small file), released behind it. */
static void keep_resident(mapi_trace_t *t)
{
    if (!t->residency_started) {
        t->residency_started = 1;
        size_t from = t->pos & ~(size_t)4095;
        if (t->len - from <= POPULATE_AT_ONCE)
            madvise((void *)(t->base + from), t->len - from, MADV_POPULATE_READ);
        else
            t->residency = mapi_residency_start(t->base, t->len, t->pos); /* NULL: pages fault in */
    }
    if (t->residency != NULL)
        mapi_residency_reached(t->residency, t->pos);
}

/* Runs the format's parser until it fills max packets, fails, or the input ends. */
static uint32_t advance(mapi_trace_t *t, mapi_batch_t *b, uint32_t max)
{
    b->count = 0;
    if (t->status != MAPI_TRACE_OK)
        return 0;
    if (t->mapped)
        keep_resident(t);
    else if (t->want && refill(t) < 0)
        return 0;
    for (;;) {
        int r = t->format == MAPI_TRACE_PCAP ? pcap_fill_any(t, b, max) : pcapng_fill(t, b, max);
        if (r != FILL_MORE)
            return b->count;
        if (t->mapped || t->eof) {
            if (t->pos == t->len) {
                t->status = MAPI_TRACE_EOF;
                t->msg[0] = '\0';
            } else {
                t->status = MAPI_TRACE_TRUNCATED;
            }
            t->want = 0;
            return b->count;
        }
        t->msg[0] = '\0';
        if (b->count) /* refill at the next call: this batch points into the buffer */
            return b->count;
        if (refill(t) < 0)
            return 0;
    }
}

uint32_t mapi_trace_next(mapi_trace_t *t, mapi_batch_t *b)
{
    return advance(t, b, MAPI_BATCH_MAX);
}

/* Opens: NULL with "path: reason" in errbuf on failure. */
mapi_trace_t *mapi_trace_open(const char *path, char *errbuf, size_t errlen)
{
    char why[sizeof ((mapi_trace_t *)0)->msg];
    mapi_trace_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return NULL;
    }
    t->fd = -1;
    t->linktype = 0xFFFFFFFFu;
    t->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (t->fd < 0) {
        snprintf(why, sizeof why, "%s", strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(t->fd, &st) < 0) {
        snprintf(why, sizeof why, "%s", strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(why, sizeof why, "is a directory");
        goto fail;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, t->fd, 0);
        if (m != MAP_FAILED) {
            madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
            t->mapped = 1;
            t->base = m;
            t->len = (size_t)st.st_size;
        }
    }
    if (!t->mapped) {
        t->cap = READ_BUF_INITIAL;
        t->buf = malloc(t->cap);
        if (t->buf == NULL) {
            snprintf(why, sizeof why, "out of memory");
            goto fail;
        }
        t->base = t->buf;
        t->want = PCAPNG_SHB_MIN; /* enough for either file header */
        if (refill(t) < 0) {
            snprintf(why, sizeof why, "%s", t->msg);
            goto fail;
        }
    }

    if (t->len < 4) {
        snprintf(why, sizeof why, "%s (%zu bytes): not a pcap or pcapng file", t->len ? "too short" : "empty", t->len);
        goto fail;
    }
    uint32_t magic = rd32(t->base, 0);
    uint32_t smagic = __builtin_bswap32(magic);
    if (magic == PCAPNG_SHB) {
        if (t->len < 12) {
            snprintf(why, sizeof why, "truncated pcapng section header block (%zu bytes)", t->len);
            goto fail;
        }
        uint32_t bom = rd32(t->base + 8, 0);
        if (bom != PCAPNG_BOM && bom != __builtin_bswap32(PCAPNG_BOM)) {
            snprintf(why, sizeof why, "not a pcapng file (byte-order magic 0x%08" PRIx32 ")", bom);
            goto fail;
        }
        int sw = bom != PCAPNG_BOM;
        uint32_t blen = rd32(t->base + 4, sw);
        uint16_t major = rd16(t->base + 12, sw), minor = rd16(t->base + 14, sw);
        if (t->len < PCAPNG_SHB_MIN) {
            snprintf(why, sizeof why, "truncated pcapng section header block (%zu bytes)", t->len);
            goto fail;
        }
        if (blen < PCAPNG_SHB_MIN || (blen & 3) || blen > MAX_SHB) {
            snprintf(why, sizeof why, "damaged pcapng section header block (length %" PRIu32 ")", blen);
            goto fail;
        }
        if (major != 1) {
            snprintf(why, sizeof why, "unsupported pcapng version %u.%u", major, minor);
            goto fail;
        }
        t->format = MAPI_TRACE_PCAPNG;
        t->max_block = MAX_BLOCK_INITIAL;
        t->swapped = sw;
        t->sec_swapped = sw;
        /* Consume the leading non-packet blocks so snaplen, linktype and interfaces are known. */
        mapi_batch_t *scratch = malloc(sizeof *scratch);
        if (scratch == NULL) {
            snprintf(why, sizeof why, "out of memory");
            goto fail;
        }
        advance(t, scratch, 0);
        free(scratch);
    } else if (magic == PCAP_MAGIC_USEC || magic == PCAP_MAGIC_NSEC || magic == PCAP_MAGIC_KUZNETZOV ||
               smagic == PCAP_MAGIC_USEC || smagic == PCAP_MAGIC_NSEC || smagic == PCAP_MAGIC_KUZNETZOV) {
        if (t->len < PCAP_FILE_HDR) {
            snprintf(why, sizeof why, "truncated pcap file header (%zu of %u bytes)", t->len, PCAP_FILE_HDR);
            goto fail;
        }
        if (pcap_open(t, t->base, why, sizeof why) < 0)
            goto fail;
    } else {
        snprintf(why, sizeof why, "not a pcap or pcapng file (magic 0x%08" PRIx32 ")", magic);
        goto fail;
    }
    return t;

fail:
    snprintf(errbuf, errlen, "%s: %s", path, why);
    mapi_trace_close(t);
    return NULL;
}

int mapi_trace_status(const mapi_trace_t *t) { return t->status; }

const char *mapi_trace_message(const mapi_trace_t *t)
{
    return t->status == MAPI_TRACE_OK || t->status == MAPI_TRACE_EOF ? "" : t->msg;
}

int mapi_trace_format(const mapi_trace_t *t) { return t->format; }
int mapi_trace_nanosecond(const mapi_trace_t *t) { return t->nanosecond; }
int mapi_trace_swapped(const mapi_trace_t *t) { return t->swapped; }
uint32_t mapi_trace_snaplen(const mapi_trace_t *t) { return t->snaplen; }
uint32_t mapi_trace_linktype(const mapi_trace_t *t) { return t->linktype; }

uint32_t mapi_trace_interfaces(const mapi_trace_t *t)
{
    return t->format == MAPI_TRACE_PCAP ? 1 : t->nifs;
}

uint32_t mapi_trace_interface_linktype(const mapi_trace_t *t, uint32_t i)
{
    if (t->format == MAPI_TRACE_PCAP)
        return i == 0 ? t->linktype : 0xFFFFFFFFu;
    return i < t->nifs ? t->ifs[i].linktype : 0xFFFFFFFFu;
}

uint64_t mapi_trace_packets(const mapi_trace_t *t) { return t->packets; }
uint64_t mapi_trace_offset(const mapi_trace_t *t) { return t->base_off + t->pos; }

/* Resynchronising on a record boundary: RESYNC_RECORDS records in a row must look right. */
#define RESYNC_RECORDS 64
#define RESYNC_MAX_WIRE 0x40000u        /* 256 KiB: larger wire lengths are not real packets */
#define RESYNC_MAX_GAP 86400u           /* seconds between consecutive records */

static int pcap_record_chain_at(const mapi_trace_t *t, size_t at)
{
    const int sw = t->swapped;
    const uint32_t div = t->nanosecond ? 1000000000u : 1000000u;
    uint32_t previous = 0;
    for (int i = 0; i < RESYNC_RECORDS; i++) {
        if (at == t->len && i > 0)
            return 1;                   /* the file ends exactly after a record */
        if (t->len - at < 16)
            return 0;
        const unsigned char *p = t->base + at;
        uint32_t sec = rd32(p, sw), sub = rd32(p + 4, sw), cap = rd32(p + 8, sw), wlen = rd32(p + 12, sw);
        if (sub >= div || cap > t->maxcap || cap > wlen || wlen > RESYNC_MAX_WIRE || t->len - at - 16 < cap)
            return 0;
        if (i > 0 && (sec - previous > RESYNC_MAX_GAP && previous - sec > RESYNC_MAX_GAP))
            return 0;
        previous = sec;
        at += 16 + (size_t)cap;
    }
    return 1;
}

int64_t mapi_trace_restrict(mapi_trace_t *t, uint64_t start, uint64_t end)
{
    if (!t->mapped || t->format != MAPI_TRACE_PCAP || t->rechdr != 16 || t->lenswap || t->packets) {
        set_msg(t, "only a pcap file that can be mapped (not pcapng, a pipe or a modified pcap) can be split");
        return -1;
    }
    size_t at = t->pos;
    if (start > at) {
        for (at = start; at < t->len && !pcap_record_chain_at(t, at); at++)
            ;
    }
    t->pos = at < t->len ? at : t->len;
    t->stop = t->base + (end < t->len ? end : t->len);
    return (int64_t)t->pos;
}

void mapi_trace_close(mapi_trace_t *t)
{
    if (t == NULL)
        return;
    mapi_residency_stop(t->residency);
    if (t->mapped)
        munmap((void *)t->base, t->len);
    free(t->buf);
    free(t->ifs);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}
