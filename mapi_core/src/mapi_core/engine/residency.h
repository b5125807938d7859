/*
 * Residency of a mapped trace file: its pages are made resident ahead of the parser and released
 * behind it, by a helper thread.  See residency.c.
 */
#ifndef MAPI_RESIDENCY_H
#define MAPI_RESIDENCY_H

#include <stddef.h>

typedef struct mapi_residency mapi_residency_t;

/* Starts managing [base + from, base + len) of a read-only private file mapping, the parser being
 * at from; NULL if it cannot. */
mapi_residency_t *mapi_residency_start(const unsigned char *base, size_t len, size_t from);

/* The parser has reached offset pos: cheap, called once per batch. */
void mapi_residency_reached(mapi_residency_t *r, size_t pos);

/* Stops the helper thread and frees r (before the mapping is unmapped). */
void mapi_residency_stop(mapi_residency_t *r);

#endif /* MAPI_RESIDENCY_H */
