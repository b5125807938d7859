"""``python -m mapi_core.tracegen OUT.pcap --packets N [--seed S] [--worm-fraction F] [--ns]``."""

from __future__ import annotations

import argparse
import sys
import time

from . import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mapi_core.tracegen", description="Write a deterministic, realistic campus-uplink pcap."
    )
    parser.add_argument("out", help="pcap file to write")
    parser.add_argument("--packets", "-n", type=int, required=True, help="number of packets")
    parser.add_argument("--seed", type=int, default=1, help="selects the trace (default 1)")
    parser.add_argument(
        "--worm-fraction", type=float, default=0.0, help="share of HTTP conversations that are Code Red II probes"
    )
    parser.add_argument("--ns", action="store_true", help="nanosecond timestamps (magic 0xa1b23c4d)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        summary = generate(args.out, args.packets, seed=args.seed, worm_fraction=args.worm_fraction, nanosecond=args.ns)
    except ValueError as err:
        parser.error(str(err))
    elapsed = time.perf_counter() - started
    if not args.quiet:
        print(
            f"{summary.path}: {summary.packets} packets, {summary.bytes} bytes, {summary.duration:.3f} s of traffic, "
            f"written in {elapsed:.2f} s ({summary.packets / elapsed:,.0f} packets/s)"
        )
        if args.worm_fraction:
            print(
                f"worm: {summary.worm_probes} probes, {summary.worm_requests} requests "
                f"({summary.worm_get_packets} packets starting 'GET /default.ida?'), {summary.worm_packets} packets "
                f"from {', '.join(summary.infected_hosts)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
