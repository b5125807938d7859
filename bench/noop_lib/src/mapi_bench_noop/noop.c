/* NOOP: the cheapest possible native function, to measure what the engine costs around one. */
#include <mapi/abi.h>

MAPI_DEFINE_ABI_VERSION

int noop_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    return 1;
}
