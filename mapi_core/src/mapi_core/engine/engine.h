/*
 * The engine's API as Python sees it (this file is fed to cffi's cdef: declarations only).
 *
 * A device dispatcher (mapi_dev_t) owns the list of connected flows of one device and runs
 * every batch of packets through each flow's chain of native process() functions.  A flow
 * (mapi_flow_t) owns its chain, its result memory and its per-function counters.
 */

typedef struct mapi_dev mapi_dev_t;
typedef struct mapi_flow mapi_flow_t;

mapi_dev_t *mapi_dev_new(void);
void mapi_dev_free(mapi_dev_t *d);

/* A flow with room for nfuncs functions and result_size bytes of zeroed result memory.
 * modifies: the chain holds a function that changes packets, so the flow works on copies. */
mapi_flow_t *mapi_flow_new(uint32_t nfuncs, size_t result_size, int modifies);
/* Reference counting: a flow whose results another function reads lives until that function's
 * cleanup.  mapi_flow_free drops one reference (the owner's at close) and frees at the last. */
void mapi_flow_retain(mapi_flow_t *f);
void mapi_flow_free(mapi_flow_t *f);
void *mapi_flow_results(mapi_flow_t *f);
void mapi_flow_set_function(mapi_flow_t *f, uint32_t index, uintptr_t process, uintptr_t state);
/* How many of the slots form the chain (functions without a process step take none). */
void mapi_flow_set_chain_length(mapi_flow_t *f, uint32_t length);
/* share != 0: the chain's first function is pure (its verdict depends only on the packet) and
 * equal, arguments included, to the first function of every flow given the same id; flows of a
 * device with the same id evaluate it once per packet.  Set before attach. */
void mapi_flow_set_share(mapi_flow_t *f, uint32_t share);

/* Connect (attach) and close (detach).  After detach returns, no process() of f runs any more. */
int mapi_dev_attach(mapi_dev_t *d, mapi_flow_t *f);
int mapi_dev_detach(mapi_dev_t *d, mapi_flow_t *f);

/* Counts functions that read results of another flow on this device (delta +1 / -1).  While
 * any exist, batches run packet by packet across flows instead of flow by flow. */
void mapi_dev_cross_reference(mapi_dev_t *d, int delta);

/* Runs one batch through every attached flow. */
void mapi_dev_process(mapi_dev_t *d, mapi_batch_t *b);

/* For a process() that must wait (TO_BUFFER's offline back-pressure, see mapi/abi.h): called
 * with 1 before waiting and 0 after, on the device thread, it lets readers take snapshots of the
 * results meanwhile.  Libraries receive its address (an integer) at init.  No-op elsewhere. */
void mapi_dev_blocking(int begin);

/* Reads the trace to its end (or until mapi_dev_stop) through mapi_dev_process.
 * Returns the reader's final status (enum mapi_trace_status). */
int mapi_dev_run_trace(mapi_dev_t *d, mapi_trace_t *t);
/* Captures from l (started) through mapi_dev_process until mapi_dev_stop; a stop requested
 * before the loop starts is honoured.  0 once stopped, -1 if the capture failed
 * (mapi_live_message says why).  Whoever stops it also calls mapi_live_wakeup(l). */
int mapi_dev_run_live(mapi_dev_t *d, mapi_live_t *l);
void mapi_dev_stop(mapi_dev_t *d);
uint64_t mapi_dev_packets(mapi_dev_t *d);

/* Drop counters of the device: nothing is dropped without being counted (mapi_stats reports
 * them).  A function that has to drop a packet it was meant to keep (TO_BUFFER's ring full on a
 * live device...) adds to the device's counter: at init it takes the counter's address
 * (mapi_core.devices.stats.drop_counter_address(device), a uint64_t *) and in process() calls
 * __atomic_fetch_add(counter, n, __ATOMIC_RELAXED).  The counter lives as long as the device. */
uint64_t *mapi_dev_drop_counter(mapi_dev_t *d);
void mapi_dev_count_drop(mapi_dev_t *d, uint64_t n);
uint64_t mapi_dev_function_drops(mapi_dev_t *d);
/* Packets the engine itself could not give a flow (no memory for a modifying flow's copy). */
uint64_t mapi_dev_engine_drops(mapi_dev_t *d);

/* Consistent reads of what the device thread writes (seqlock per flow): no torn values. */
void mapi_flow_snapshot(mapi_flow_t *f, size_t offset, void *dst, size_t len);
/* pkts_in: packets offered to the flow; dropped[i]: packets function i dropped (nfuncs entries). */
void mapi_flow_counters(mapi_flow_t *f, uint64_t *pkts_in, uint64_t *dropped);
