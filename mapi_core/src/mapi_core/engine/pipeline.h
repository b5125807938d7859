/*
 * Reading a mapped trace in a thread of its own, a few batches ahead of the flows.  See pipeline.c.
 */
#ifndef MAPI_PIPELINE_H
#define MAPI_PIPELINE_H

#include <stdatomic.h>

#include "batch.h"
#include "reader.h"

/* Reads t in a reader thread and calls process(context, batch) for each batch, in order, on the
 * calling thread, until the trace ends or *stop is set.  Returns -1 (nothing done) if the reader
 * thread cannot be started, else 0. */
int mapi_pipeline_run(mapi_trace_t *t, atomic_int *stop, void (*process)(void *context, mapi_batch_t *batch),
                      void *context);

#endif /* MAPI_PIPELINE_H */
