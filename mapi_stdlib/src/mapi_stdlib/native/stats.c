#include <mapi/abi.h>
#include "stats.h"

MAPI_DEFINE_ABI_VERSION
