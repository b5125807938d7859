"""The peers of the benchmark table, made ready on first use: the C libpcap loop and the PyPI tools.

* ``bench/peers/pcap_loop.c`` is compiled with ``cc -O2 ... -lpcap`` into ``bench/out/pcap_loop``
  (again whenever the source is newer).
* dpkt and nfstream are installed from PyPI into their own environment,
  ``bench/out/peers-venv`` (``python -m venv`` and ``pip install``), never into the project's.

Each ``*_command`` function returns the argv of the peer for a trace and an expression, or raises
:class:`PeerUnavailable` with the reason, so that the benchmark prints it in the peer's row.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchlib import BENCH, OUT, compiled, log

PEERS = BENCH / "peers"
PEERS_VENV = OUT / "peers-venv"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
PCAP_LOOP_SOURCE = PEERS / "pcap_loop.c"
PYPI_PEERS = ("dpkt", "nfstream")


class PeerUnavailable(Exception):
    """A peer cannot run here; the message says why."""


def pcap_loop_command(path: Path, expression: str) -> list[str]:
    """The plain C libpcap loop, compiled on first use."""
    try:
        binary = compiled(PCAP_LOOP_SOURCE, ["-lpcap"])
    except RuntimeError as err:
        raise PeerUnavailable(str(err)) from None
    return [str(binary), str(path), expression]


def pypi_peer_problems(install: bool) -> dict[str, str | None]:
    """For each PyPI peer, why it cannot run (None when it can).

    With ``install``, a missing environment is created and missing packages are installed;
    without it, only an existing environment is used.
    """
    problems: dict[str, str | None] = {name: None for name in PYPI_PEERS}
    if not PEERS_PYTHON.is_file():
        if not install:
            return {
                name: f"no {PEERS_VENV.relative_to(BENCH.parent)} (not created with --no-peers)" for name in PYPI_PEERS
            }
        log(f"creating {PEERS_VENV.relative_to(BENCH.parent)}...")
        done = subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], capture_output=True, text=True,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            return {name: f"python -m venv failed: {done.stderr.strip()[-500:]}" for name in PYPI_PEERS}
    missing = [name for name in PYPI_PEERS if not _importable(name)]
    if missing and install:
        for name in missing:  # one at a time, so that one failure leaves the other peer usable
            log(f"pip install {name} into {PEERS_VENV.relative_to(BENCH.parent)}...")
            done = subprocess.run(
                [str(PEERS_PYTHON), "-m", "pip", "install", "--quiet", name],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                problems[name] = f"pip install {name} failed: {done.stderr.strip()[-500:]}"
    for name in missing:
        if problems[name] is None and not _importable(name):
            problems[name] = f"{name} is not installed in {PEERS_VENV.relative_to(BENCH.parent)}"
    return problems


def pypi_peer_versions() -> dict[str, str]:
    """The installed versions of the PyPI peers (those that import)."""
    versions: dict[str, str] = {}
    if not PEERS_PYTHON.is_file():
        return versions
    for name in PYPI_PEERS:
        done = subprocess.run(
            [str(PEERS_PYTHON), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode == 0:
            versions[name] = done.stdout.strip()
    return versions


DPKT_EXPRESSION = "tcp and port 80"  # the only selection dpkt_count.py writes out


def dpkt_command(path: Path, expression: str) -> list[str]:
    """dpkt reading the trace and selecting ``tcp and port 80`` in Python (see dpkt_count.py)."""
    if expression != DPKT_EXPRESSION:
        raise PeerUnavailable(f"dpkt_count.py selects only {DPKT_EXPRESSION!r} (there is no BPF in dpkt)")
    return [str(PEERS_PYTHON), str(PEERS / "dpkt_count.py"), str(path)]


def nfstream_command(path: Path, expression: str) -> list[str]:
    """nfstream with the BPF expression, summing its flows (see nfstream_count.py)."""
    return [str(PEERS_PYTHON), str(PEERS / "nfstream_count.py"), str(path), expression]


def _importable(name: str) -> bool:
    if not PEERS_PYTHON.is_file():
        return False
    return subprocess.run([str(PEERS_PYTHON), "-c", f"import {name}"], capture_output=True, check=False).returncode == 0
