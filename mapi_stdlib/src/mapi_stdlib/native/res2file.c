#include <mapi/abi.h>
#include "res2file.h"

MAPI_DEFINE_ABI_VERSION
