"""MAPI's public constants (mapi.h), with the original numeric values."""

MAPI_STR_LENGTH = 256
MAPI_ERRORSTR_LENGTH = 512
DEFAULT_DIMAPI_PORT = 2233

# enum mapi_file_formats
MFF_PCAP = 0
MFF_RAW = 1
MFF_DAG_ERF = 2
MFF_COMBO6 = 3
MFF_NAPATECH = 4
# mapi's additions (TO_FILE output formats; MFF_PCAP writes µs pcap, as MAPI's did)
MFF_PCAP_NS = 5    # pcap with nanosecond timestamps (magic 0xa1b23c4d)
MFF_PCAPNG = 6     # pcapng, nanosecond timestamps (if_tsresol 9)

# enum mapi_flow_status
FLOW_INIT = 0
FLOW_ACTIVE = 1
FLOW_FINISHED = 2
FLOW_CLOSED = 3
FLOW_STATUS_NAMES = {FLOW_INIT: "init", FLOW_ACTIVE: "active", FLOW_FINISHED: "finished", FLOW_CLOSED: "closed"}

# mapi_offline_device_status_t (MAPI kept it internal; we report it in device info)
DEVICE_ONLINE = 0
DEVICE_SETUP = 1
DEVICE_READING = 2
DEVICE_FINISHED = 3
DEVICE_DELETED = 4
DEVICE_STATUS_NAMES = {DEVICE_ONLINE: "online", DEVICE_SETUP: "setup", DEVICE_READING: "reading",
                       DEVICE_FINISHED: "finished", DEVICE_DELETED: "deleted"}

# enum toba_flg (TO_BUFFER)
WAIT = 0
NOWAIT = 1

# enum cooking_direction (COOKING)
CLIENT_SIDE = 1
SERVER_SIDE = 2
BOTH_SIDE = 3
