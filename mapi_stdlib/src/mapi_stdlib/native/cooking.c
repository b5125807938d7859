#include <mapi/abi.h>
#include "cooking.h"

MAPI_DEFINE_ABI_VERSION
