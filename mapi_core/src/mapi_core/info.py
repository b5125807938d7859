"""The records MAPI's ``*_info`` calls return, as frozen Python values."""

from __future__ import annotations

import attrs


@attrs.frozen
class Result:
    """A result read: the typed ``value``, ``ts`` the wall-clock time of the read in
    microseconds since the epoch (MAPI's ``mapi_results_t.ts``), ``size`` in bytes."""

    value: object
    ts: int
    size: int


@attrs.frozen
class FlowInfo:
    uid: int
    fd: int
    devid: int
    device: str
    num_functions: int
    start: float
    end: float
    status: int
    error: str = ""
    warning: str = ""


@attrs.frozen
class FunctionInfo:
    """``pkts``: packets that reached the function; ``passed_pkts``: those it passed on.
    Always counted (MAPI counted them only in a special build)."""

    fid: int
    name: str
    libname: str
    devtype: str
    pkts: int
    passed_pkts: int
    result_size: int


@attrs.frozen
class DeviceInfo:
    id: int
    device: str
    name: str
    alias: str
    description: str
    link_speed: int = 0
    mpls: int = 0
    vlan: int = 0
    status: int = 0
    linktype: int = 0
    packets: int = 0
    error: str = ""
    warning: str = ""


@attrs.frozen
class LibInfo:
    id: int
    libname: str
    functs: int
    distribution: str = ""
    version: str = ""


@attrs.frozen
class LibFunctInfo:
    name: str
    descr: str
    argdescr: str
    devtype: str
