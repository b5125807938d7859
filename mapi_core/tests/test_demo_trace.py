"""The bundled demo trace is the generator's output, and `mapi worm` reads it right."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner
from mapi_core.cli import cli
from mapi_core.cli.cmd_worm import DEMO_TRACE, WEB_FILTER, WORM_SEARCH
from mapi_core.testing import tcpdump_wire_lengths, tool
from mapi_core.tracegen import generate


def test_the_demo_trace_is_made_by_the_generator(tmp_path: Path) -> None:
    again = tmp_path / "demo.pcap"
    generate(again, 1500, seed=2004, worm_fraction=0.5)
    assert again.read_bytes() == DEMO_TRACE.read_bytes()


def test_mapi_worm_without_a_trace_reads_the_demo() -> None:
    result = CliRunner().invoke(cli, ["worm", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    web = tcpdump_wire_lengths(DEMO_TRACE, WEB_FILTER)
    # tcpdump -r demo.pcap -w - 'tcp dst port 80' | tshark -r - -Y 'frame contains "GET /default.ida?"'
    #   -T fields -e frame.len
    selected = subprocess.run([tool("tcpdump"), "-r", str(DEMO_TRACE), "-w", "-", WEB_FILTER], check=True,
                              capture_output=True).stdout
    listed = subprocess.run([tool("tshark"), "-r", "-", "-Y", f'frame contains "{WORM_SEARCH}"', "-T", "fields",
                             "-e", "frame.len"], input=selected, check=True, capture_output=True).stdout
    worm = [int(length) for length in listed.split()]
    assert worm, "the demo must contain Code Red requests"
    assert report["web"] == {"packets": len(web), "bytes": sum(web)}
    assert report["worm"] == {"packets": len(worm), "bytes": sum(worm)}
