#include <mapi/abi.h>
#include "search.h"

MAPI_DEFINE_ABI_VERSION
