/* placeholder: replaced by the real reader */
#include <stdio.h>
#include "reader.h"
mapi_trace_t *mapi_trace_open(const char *path, char *errbuf, size_t errlen) { snprintf(errbuf, errlen, "not implemented"); return NULL; }
uint32_t mapi_trace_next(mapi_trace_t *t, mapi_batch_t *b) { return 0; }
int mapi_trace_status(const mapi_trace_t *t) { return MAPI_TRACE_EOF; }
const char *mapi_trace_message(const mapi_trace_t *t) { return ""; }
int mapi_trace_format(const mapi_trace_t *t) { return 0; }
int mapi_trace_nanosecond(const mapi_trace_t *t) { return 0; }
int mapi_trace_swapped(const mapi_trace_t *t) { return 0; }
uint32_t mapi_trace_snaplen(const mapi_trace_t *t) { return 0; }
uint32_t mapi_trace_linktype(const mapi_trace_t *t) { return 0; }
uint32_t mapi_trace_interfaces(const mapi_trace_t *t) { return 0; }
uint32_t mapi_trace_interface_linktype(const mapi_trace_t *t, uint32_t i) { return 0; }
uint64_t mapi_trace_packets(const mapi_trace_t *t) { return 0; }
uint64_t mapi_trace_offset(const mapi_trace_t *t) { return 0; }
void mapi_trace_close(mapi_trace_t *t) {}
