"""mapi: passive network monitoring, re-creating MAPI (the Monitoring API of SCAMPI and LOBSTER).

Two ways in, over one runtime::

    from mapi_core import Flow                      # the Python API
    from mapi_core import mapi_create_flow, ...     # MAPI's own calls, line by line
"""

import logging as _logging

from mapi_core import constants as _constants
from mapi_core.api.compat import *  # every mapi_* call
from mapi_core.api.compat import __all__ as _compat_names
from mapi_core.api.flow import Flow, FunctionHandle
from mapi_core.api.workers import ParallelFlow
from mapi_core.constants import *  # MFF_PCAP, FLOW_FINISHED, WAIT, ...
from mapi_core.errors import ErrorCode, MapiError, TraceWarning
from mapi_core.info import DeviceInfo, FlowInfo, FunctionInfo, LibFunctInfo, LibInfo, Result
from mapi_core.native import ABI_VERSION, get_include
from mapi_core.packets import Packet
from mapi_core.runtime import Runtime, default_runtime

__version__ = "0.1.0"

# A library logs; the application decides where logs go.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "ABI_VERSION",
    "DeviceInfo",
    "ErrorCode",
    "Flow",
    "ParallelFlow",
    "FlowInfo",
    "FunctionHandle",
    "FunctionInfo",
    "LibFunctInfo",
    "LibInfo",
    "MapiError",
    "Packet",
    "Result",
    "Runtime",
    "TraceWarning",
    "default_runtime",
    "get_include",
    *_compat_names,
    *(name for name in dir(_constants) if name.isupper()),
]
