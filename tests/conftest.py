"""Shared fixtures of the cross-library integration tests.

Every expected value in these tests comes from an independent tool (tcpdump, tshark, capinfos,
editcap), either run at test time through the :class:`Oracle` below or hard-coded with the
exact command that printed it.  Never from mapi itself.
"""

from __future__ import annotations

import functools
import re
import subprocess
import time
from pathlib import Path

import pytest
from mapi_core.testing import tool

import mapi_core


@pytest.fixture(autouse=True)
def _clean_runtime():
    """No flow, device or recorded error leaks from one test into the next."""
    mapi_core.mapi_read_error()
    yield
    mapi_core.default_runtime().shutdown()
    mapi_core.mapi_read_error()


class OracleRefused(Exception):
    """tcpdump (libpcap) refused to compile the expression for the file's link type."""


class Oracle:
    """tcpdump, tshark and capinfos, run at test time; results cached per (file, expression)."""

    @staticmethod
    def _run(argv: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(argv, input=stdin, capture_output=True)

    @functools.cache  # noqa: B019  (one oracle per session)
    def compile_error(self, path: Path, expression: str) -> str | None:
        """libpcap's message if tcpdump refuses ``expression`` for the file's link type, else None.

        ``tcpdump -d -r FILE EXPR`` compiles for the file's link type without reading packets;
        like BPF_FILTER it compiles with the optimiser on, so "expression rejects all packets"
        is a refusal too.
        """
        if not expression:
            return None
        done = self._run([tool("tcpdump"), "-d", "-r", str(path), expression])
        if done.returncode == 0:
            return None
        lines = [line for line in done.stderr.decode(errors="replace").splitlines()
                 if line.startswith("tcpdump: ")]
        return lines[-1].removeprefix("tcpdump: ") if lines else done.stderr.decode(errors="replace")

    @functools.cache  # noqa: B019
    def count(self, path: Path, expression: str = "") -> int:
        """Packets matching ``expression``: ``tcpdump --count -r FILE EXPR``.

        (``tcpdump -nn -r FILE EXPR | wc -l`` over-counts: some decoders print continuation
        lines, e.g. 978 lines for the 885 packets of logistics_multicast.pcapng.)
        """
        argv = [tool("tcpdump"), "--count", "-r", str(path)] + ([expression] if expression else [])
        done = self._run(argv)
        found = re.search(rb"^(\d+) packets?$", done.stdout + done.stderr, re.MULTILINE)
        if found is None:
            raise OracleRefused(done.stderr.decode(errors="replace"))
        return int(found[1])

    @functools.cache  # noqa: B019
    def wire_bytes(self, path: Path, expression: str = "") -> int:
        """Sum of wire lengths of the matching packets:
        ``tcpdump -r FILE -w - EXPR | tshark -r - -T fields -e frame.len`` (libpcap selects
        exactly as BPF_FILTER does, tshark reads the original lengths)."""
        argv = [tool("tcpdump"), "-r", str(path), "-w", "-"] + ([expression] if expression else [])
        selected = self._run(argv)
        if selected.returncode != 0:
            raise OracleRefused(selected.stderr.decode(errors="replace"))
        lengths = self._run([tool("tshark"), "-r", "-", "-T", "fields", "-e", "frame.len"], stdin=selected.stdout)
        assert lengths.returncode == 0, lengths.stderr.decode(errors="replace")
        return sum(int(line) for line in lengths.stdout.split())

    @functools.cache  # noqa: B019
    def capinfos(self, path: Path) -> dict[str, str]:
        """``capinfos -M FILE`` as {field: value} (it reads truncated files up to the cut)."""
        done = self._run([tool("capinfos"), "-M", str(path)])
        text = (done.stdout + done.stderr).decode(errors="replace")
        return {m[1].strip(): m[2].strip() for m in re.finditer(r"^([A-Za-z][^:\n]*):\s+(.*)$", text, re.MULTILINE)}

    def capinfos_packets(self, path: Path) -> int:
        """``capinfos -c -M FILE`` -> "Number of packets:   N"."""
        return int(self.capinfos(path)["Number of packets"])

    def capinfos_data_size(self, path: Path) -> int:
        """``capinfos -d -M FILE`` -> "Data size:   N bytes" (the sum of the wire lengths)."""
        return int(self.capinfos(path)["Data size"].split()[0])


@pytest.fixture(scope="session")
def oracle() -> Oracle:
    return Oracle()


def wait_finished(fds: list[int], timeout: float = 60.0) -> None:
    """Polls mapi_get_flow_info until every flow is FLOW_FINISHED (MAPI's way to wait)."""
    deadline = time.monotonic() + timeout
    while True:
        infos = [mapi_core.mapi_get_flow_info(fd) for fd in fds]
        assert all(info is not None for info in infos), mapi_core.mapi_read_error()
        if all(info.status == mapi_core.FLOW_FINISHED for info in infos):
            return
        assert time.monotonic() < deadline, f"flows still not finished after {timeout} s: {infos}"
        time.sleep(0.005)


@pytest.fixture
def wait_flows():
    """``wait_flows([fd, ...])`` blocks until the flows are FLOW_FINISHED."""
    return wait_finished
