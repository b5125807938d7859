"""The bundled demo trace is the generator's output, and `mapi worm` reads it right."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from mapi_core.cli import cli
from mapi_core.cli.cmd_worm import DEMO_TRACE, WEB_FILTER, WORM_FILTER
from mapi_core.testing import tcpdump_wire_lengths
from mapi_core.tracegen import generate


def test_the_demo_trace_is_made_by_the_generator(tmp_path: Path) -> None:
    again = tmp_path / "demo.pcap"
    generate(again, 1500, seed=2004, worm_fraction=0.5)
    assert again.read_bytes() == DEMO_TRACE.read_bytes()


def test_mapi_worm_without_a_trace_reads_the_demo() -> None:
    result = CliRunner().invoke(cli, ["worm", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    web, worm = tcpdump_wire_lengths(DEMO_TRACE, WEB_FILTER), tcpdump_wire_lengths(DEMO_TRACE, WORM_FILTER)
    assert worm, "the demo must contain Code Red requests"
    assert report["web"] == {"packets": len(web), "bytes": sum(web)}
    assert report["worm"] == {"packets": len(worm), "bytes": sum(worm)}
