#include <mapi/abi.h>
#include "sampling.h"

MAPI_DEFINE_ABI_VERSION
