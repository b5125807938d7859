/*
 * stat_record.h: the result of STAT (alias STATS), also read by RES2FILE (R2F_STATS).
 *
 * Eight u64 words, host byte order.  Sums are exact 128-bit integers (a u64 squared needs
 * them), split into low and high words so that Python decodes them without floating point
 * (mapi_stdlib.records.StatRecord).  A zeroed record is an empty one: min and max mean nothing
 * until count > 0, so a true 0 is a valid minimum (MAPI used 0 as "unset").
 */
#ifndef MAPI_STDLIB_STAT_RECORD_H
#define MAPI_STDLIB_STAT_RECORD_H

#include <stdint.h>

typedef struct stat_record {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    uint64_t reserved;        /* 0 */
    uint64_t sum_lo, sum_hi;
    uint64_t sum2_lo, sum2_hi;
} stat_record_t;

static inline void stat_record_add(stat_record_t *r, uint64_t v)
{
    if (r->count == 0 || v < r->min)
        r->min = v;
    if (r->count == 0 || v > r->max)
        r->max = v;
    r->count++;
    unsigned __int128 sum = ((unsigned __int128)r->sum_hi << 64 | r->sum_lo) + v;
    unsigned __int128 sum2 = ((unsigned __int128)r->sum2_hi << 64 | r->sum2_lo) + (unsigned __int128)v * v;
    r->sum_lo = (uint64_t)sum;
    r->sum_hi = (uint64_t)(sum >> 64);
    r->sum2_lo = (uint64_t)sum2;
    r->sum2_hi = (uint64_t)(sum2 >> 64);
}

#endif /* MAPI_STDLIB_STAT_RECORD_H */
