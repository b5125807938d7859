"""nfstream peer: the packets and bytes of the flows nfstream builds from the packets a BPF filter selects.

    python bench/peers/nfstream_count.py FILE 'tcp and port 80'   -> {"packets": N, "bytes": B, "flows": F}

Runs in bench/out/peers-venv (nfstream from PyPI), not in the project's environment.  libpcap
applies the BPF filter inside nfstream's engine; the packets and bytes are the sums of every
flow's ``bidirectional_packets`` and ``bidirectional_bytes``.  The options make it count every
packet with the least work: no nDPI dissection, no statistics, link-layer byte accounting, a
snapshot length that keeps whole frames, and timeouts longer than the trace so that no flow is
cut (a cut flow would still be counted, but costs more).
"""

from __future__ import annotations

import json
import sys

from nfstream import NFStreamer

LINK_LAYER = 0  # nfstream's accounting_mode for bytes counted from the Ethernet header on


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, expression = argv
    streamer = NFStreamer(
        source=path,
        bpf_filter=expression,
        decode_tunnels=False,
        snapshot_length=262144,
        idle_timeout=10**9,
        active_timeout=10**9,
        accounting_mode=LINK_LAYER,
        n_dissections=0,
        statistical_analysis=False,
        splt_analysis=0,
    )
    packets = octets = flows = 0
    for flow in streamer:
        flows += 1
        packets += flow.bidirectional_packets
        octets += flow.bidirectional_bytes
    print(json.dumps({"packets": packets, "bytes": octets, "flows": flows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
