/* A batch of packets: the unit in which sources hand packets to the engine. */
#ifndef MAPI_BATCH_H
#define MAPI_BATCH_H

#include <mapi/abi.h>

#define MAPI_BATCH_MAX 256

typedef struct mapi_batch {
    uint32_t count;
    mapi_pkthdr_t hdr[MAPI_BATCH_MAX];
    unsigned char *data[MAPI_BATCH_MAX];   /* data[i] holds hdr[i].caplen bytes */
} mapi_batch_t;

#endif
