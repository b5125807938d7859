"""MAPI's error codes and the one exception that carries them.

The numeric values are MAPI's (MAPI-REFERENCE §1.5), kept for compatibility.  The original's
defects are fixed here: every code has a message (6157 had none, 1401 was defined twice), and
codes added by this implementation (6158 onwards) are marked as ours.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    PCAP_BPF_ERR = 1025
    PCAP_OPEN_ERR = 1026
    PCAP_OPEN_DEAD_ERR = 1027
    MDLIB_FLOW_ALREADY_ACTIVE = 3081
    MDLIB_NO_MODIFYING = 3082
    MDLIB_FILE_EXSISTS = 3083
    MAPID_MEM_ALLOCATION_ERROR = 3084
    MAPID_NOT_AUTHENTICATED = 3139
    MAPID_NO_DRIVER = 3200
    MAPID_NO_FD = 3201
    MAPID_NO_DEVICE = 3202
    MDLIB_STRSEARCH_UNTERMINATED_PIPE_ERR = 3503
    MDLIB_STRSEARCH_DEPTH_LESS_THAN_PTRN_ERR = 3504
    MDLIB_STRSEARCH_NOT_A_VALID_SEARCH_STRING = 3505
    MCOM_UNKNOWN_ERROR = 5121
    MCOM_ERROR_ACK = 5122
    MCOM_SOCKET_ERROR = 5123
    MCOM_INIT_SOCKET_ERROR = 5124
    MAPI_SHUTTING_DOWN = 6140
    MAPI_INIT_ERROR = 6141
    MAPI_CONNECT = 6142
    MAPI_FLOW_NOT_CONNECTED = 6143
    MAPI_FUNCTION_NOT_FOUND = 6144
    MAPI_INVALID_FLOW = 6145
    MAPI_SHM_ERR = 6146
    MAPI_INVALID_FID_FUNCID = 6147
    MAPI_SEM_ERR = 6148
    MAPI_FLOW_INFO_ERR = 6149
    MAPI_FUNCTION_INFO_ERR = 6150
    MAPI_LIBRARY_LOAD_ERR = 6151
    MAPI_ERROR_GETTING_LIBPATH = 6152
    MAPI_ERROR_GETTING_LIBS = 6153
    MAPI_ERROR_GETTING_PATH = 6154
    MAPI_ERROR_FILE = 6155
    MAPI_ERROR_SEND_FD = 6156
    MAPI_DEVICE_INFO_ERR = 6157
    # Ours: conditions the original could not report.
    MAPI_TRACE_DAMAGED = 6158
    MAPI_LIBRARY_INFO_ERR = 6159
    MAPI_TIMEOUT = 6160
    MFUNCT_INVALID_ARGUMENT = 7000
    MFUNCT_INVALID_ARGUMENT_1 = 7001
    MFUNCT_INVALID_ARGUMENT_2 = 7002
    MFUNCT_INVALID_ARGUMENT_3 = 7003
    MFUNCT_INVALID_ARGUMENT_4 = 7004
    MFUNCT_INVALID_ARGUMENT_5 = 7005
    MFUNCT_COULD_NOT_APPLY_FUNCT = 7006
    MFUNCT_COULD_NOT_INIT_FUNCT = 7007
    MFUNCT_SEM_ERROR = 7008
    MFUNCT_NOT_SUPPORTED = 7009
    MFUNCT_INVALID_ARGUMENT_DESCRIPTOR = 7010
    MFUNCT_INVALID_ARGUMENT_6 = 7011
    ADMCTRL_MEM_ERROR = 8000
    ADMCTRL_NO_AUTHDATA = 8001
    ADMCTRL_COMM_FAILURE = 8002
    ADMCTRL_AUTH_FAILED = 8003
    MAPI_STATS_ERROR = 8004


MESSAGES: dict[int, str] = {
    1025: "libpcap:Error in BPF filter",
    1026: "libpcap: Error opening pcap link",
    1027: "libpcap: Error creating pcap_t structure",
    3081: "Flow already active",
    3082: "No support for functions that modify packets",
    3083: "File already exists",
    3084: "Error Allocating Memory",
    3139: "Flow is not authenticated",
    3200: "No driver found for this device",
    3201: "Could not receive file descriptor",
    3202: "No such device",
    3503: "Unterminated '|' in pattern declaration",
    3504: "The specified depth is less than the size of the pattern",
    3505: "Invalid search string.",
    5121: "Unknown error in IPC communication",
    5122: "Error on acknowledgement in IPC communication",
    5123: "Error reading from or writing to socket",
    5124: "Error creating client socket",
    6140: "Error MAPI shutdown in progress",
    6141: "Error MAPI not Initialized",
    6142: "Error on mapi connect",
    6143: "Error while trying to read from a not connected flow",
    6144: "Function not found",
    6145: "Invalid mapi flow descriptor",
    6146: "Error attaching shared memory. Probably you are trying to read results from a "
    "function that does not return any results.",
    6147: "Invalid flow or function descriptor",
    6148: "Error acessing semaphore",
    6149: "Error accessing flow information",
    6150: "Error accessing function information",
    6151: "Error loading library",
    6152: "Error getting libpath from mapid",
    6153: "Error getting libraries from mapid",
    6154: "Error getting current path",
    6155: "Error opening file",
    6156: "Error sending file descriptor",
    6157: "Error accessing device information",
    6158: "Trace file is damaged",
    6159: "Error accessing library information",
    6160: "Timed out",
    7000: "Invalid argument passed to function",
    7001: "First argument passed to function is invalid",
    7002: "Second argument passed to function is invalid",
    7003: "Third argument passed to function is invalid",
    7004: "Fourth argument passed to function is invalid",
    7005: "Fifth argument passed to function is invalid",
    7006: "Could not apply function",
    7007: "Could not initialize function",
    7008: "Semaphore error",
    7009: "Not supported",
    7010: "Invalid argument descriptor",
    7011: "Sixth argument passed to function is invalid",
    8000: "Admission control memory allocation error",
    8001: "No authentication/authorization data set",
    8002: "Communication error with admission control",
    8003: "Authorization failed",
    8004: "Error in mapi_stats",
}


def message(code: int) -> str:
    """MAPI's message for a code ("" for a code outside the table)."""
    return MESSAGES.get(int(code), "")


def argument_code(position: int) -> ErrorCode:
    """The code for an invalid argument at 1-based ``position`` (7001..7005, 7011, else 7000)."""
    if 1 <= position <= 5:
        return ErrorCode(7000 + position)
    if position == 6:
        return ErrorCode.MFUNCT_INVALID_ARGUMENT_6
    return ErrorCode.MFUNCT_INVALID_ARGUMENT


def invalid_argument(function: str, position: int, name: str, reason: str) -> MapiError:
    """MAPI's code for a bad argument at 1-based ``position``, with the message every function
    uses: ``"FUNCTION: argument N (name): reason"``."""
    return MapiError(argument_code(position), f"{function}: argument {position} ({name}): {reason}")


class MapiError(Exception):
    """Every error mapi reports: MAPI's numeric ``code``, its ``message`` and what went wrong.

    ``str(err)`` reads ``"[7002] BPF_FILTER: second argument ...: <detail>"``, so the message names
    the function and argument at fault as well as MAPI's text.
    """

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = int(code)
        self.message = message(self.code)
        self.detail = detail
        text = detail or self.message or "error"
        super().__init__(f"[{self.code}] {text}")


class TraceWarning(UserWarning):
    """A trace file ended early (truncated): every complete packet was processed."""
