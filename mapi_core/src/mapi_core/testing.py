"""Helpers for tests of mapi and of function libraries: shared traces and oracle tools.

Real captures are not copied into the repository; tests find them in ``$MAPI_TRACES`` or in a
``shared/traces`` folder beside (or above) the working directory.  A missing trace or tool skips
the test with a message saying what is missing, except under CI (``CI`` set), where it fails:
CI must never turn green by skipping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

TRACES_ENV = "MAPI_TRACES"


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must have it)")
    pytest.skip(what)


def traces_dir() -> Path | None:
    """The folder of shared traces, or None when there is none."""
    configured = os.environ.get(TRACES_ENV)
    if configured:
        return Path(configured)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / "shared" / "traces"
        if candidate.is_dir():
            return candidate
    return None


def trace(name: str) -> Path:
    """Path of a shared trace; skips (or fails under CI) when it is absent."""
    folder = traces_dir()
    if folder is None:
        _missing(f"no shared traces folder: set {TRACES_ENV} or put shared/traces beside the clone")
    path = folder / name
    if not path.is_file():
        _missing(f"trace {name} is not in {folder}")
    return path


def tool(name: str) -> str:
    """Path of an oracle program (tcpdump, tshark, capinfos...); skips or fails when absent."""
    found = shutil.which(name)
    if found is None:
        _missing(f"{name} is not installed (scripts/setup installs it)")
    return found


def run(*argv: str) -> str:
    """Runs an oracle command and returns its standard output."""
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def tcpdump_wire_lengths(path: str | os.PathLike, expression: str) -> list[int]:
    """Wire lengths of the packets tcpdump's filter selects, one per packet, in order.

    ``tcpdump -r FILE -w - EXPR | tshark -r - -T fields -e frame.len``: tcpdump (libpcap) decides
    which packets match; tshark lists them one per line.  Counting the lines of tcpdump's own
    output is wrong, as some decoders (CDP, STP...) print several lines per packet.
    """
    selected = subprocess.run([tool("tcpdump"), "-r", os.fspath(path), "-w", "-", expression],
                              check=True, capture_output=True).stdout
    listed = subprocess.run([tool("tshark"), "-r", "-", "-T", "fields", "-e", "frame.len"], input=selected,
                            check=True, capture_output=True).stdout
    return [int(line) for line in listed.decode().split()]


def tshark_fields(path: str | os.PathLike, *fields: str, display_filter: str | None = None,
                  options: tuple[str, ...] = ()) -> list[list[str]]:
    """One row per frame tshark shows, one column per field (its first occurrence, '' when absent):
    ``tshark -r FILE [OPTIONS] [-Y FILTER] -T fields -E occurrence=f -e FIELD ...``."""
    argv = [tool("tshark"), "-r", os.fspath(path), *options, "-T", "fields", "-E", "occurrence=f"]
    if display_filter:
        argv += ["-Y", display_filter]
    for field in fields:
        argv += ["-e", field]
    return [line.split("\t") for line in run(*argv).splitlines()]


def epoch_to_ts32(epoch: str) -> int:
    """tshark's ``frame.time_epoch`` ("1470104373.025824000") as MAPI's 32.32 time, exactly:
    floor(t * 2^32) (for a µs capture, floor((usec << 32) / 10**6) is the same number)."""
    seconds, _, fraction = epoch.partition(".")
    nanoseconds = int(fraction.ljust(9, "0")[:9])
    return int(seconds) << 32 | (nanoseconds << 32) // 10**9


#: Linux capability bits (linux/capability.h) that live-capture tests need.
CAPABILITIES = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21}


def lacking_capabilities(*names: str) -> list[str]:
    """The capabilities among ``names`` this process does not have (all of them off Linux)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return list(names)
    effective = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("CapEff:")), 0)
    return [name for name in names if not effective >> CAPABILITIES[name] & 1]


def require_capabilities(*names: str, purpose: str) -> None:
    """Skips the test when this process lacks capabilities it needs for ``purpose``.

    Unlike a missing trace or tool, this skips under CI too: capabilities belong to the machine
    (a container may drop them even for root), not to the repository.  With the capabilities,
    whatever then fails is a real failure.
    """
    lacking = lacking_capabilities(*names)
    if lacking:
        pytest.skip(f"{purpose} needs {' and '.join(lacking)} (run as root, with them not dropped)")


@contextlib.contextmanager
def veth_namespace(prefix: str = "mapi", timeout: float = 60) -> Iterator[str]:
    """A fresh network namespace ``<prefix>-<random>`` with veth0 <-> veth1 up (MTU 9000, IPv6 off
    so that the kernel sends nothing of its own); deleted at the end whatever happens.  Needs
    CAP_NET_ADMIN and iproute2; a failing step raises subprocess.CalledProcessError."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=timeout)

    ip("netns", "add", name)
    try:
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], check=True, capture_output=True, timeout=timeout)
        ip("-n", name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
        for interface in ("veth0", "veth1"):
            ip("-n", name, "link", "set", interface, "mtu", "9000", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True, timeout=timeout)


@contextlib.contextmanager
def shared_device_flows(path: str | os.PathLike, count: int) -> Iterator[list[Any]]:
    """``count`` flows on one offline device (not started: apply functions, then
    :func:`run_device`); all closed and the device deleted at the end."""
    from mapi_core import Flow, MapiError, default_runtime

    runtime = default_runtime()
    name = runtime.create_offline_device(os.fspath(path))
    flows = [Flow(name) for _ in range(count)]
    try:
        yield flows
    finally:
        for flow in flows:
            with contextlib.suppress(MapiError):
                flow.close()
        runtime.delete_offline_device(name)


def run_device(flows: Sequence[Any], timeout: float = 60) -> None:
    """Connects the flows in order, reads their device's trace, waits for its end."""
    from mapi_core import default_runtime

    for flow in flows:
        flow.connect()
    runtime = default_runtime()
    runtime.start_offline_device(runtime.flow(flows[0].fd).device.name)
    for flow in flows:
        flow.wait(timeout)
