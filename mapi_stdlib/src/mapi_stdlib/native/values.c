#include <mapi/abi.h>
#include "values.h"

MAPI_DEFINE_ABI_VERSION
