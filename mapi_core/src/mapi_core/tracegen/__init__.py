"""A deterministic generator of realistic campus-uplink traffic, written as a pcap file.

>>> from mapi_core.tracegen import generate
>>> summary = generate("demo.pcap", 100_000, seed=1, worm_fraction=0.02)  # doctest: +SKIP
>>> summary.packets, summary.worm_requests  # doctest: +SKIP

The same arguments always give a byte-identical file.  The mix: TCP connections (HTTP on 80,
TLS 1.3 on 443, SSH, SMTP, BitTorrent between high ports) with handshakes, slow-start data
transfers, correct sequence and acknowledgement numbers and FIN or RST teardown, over IPv4 and
IPv6; DNS and NTP over UDP, RTP voice between high ports; ICMP and ICMPv6 echo; IPv6 neighbour
discovery; ARP; a few 802.1Q-tagged conversations; optionally Code Red II probes
(``worm_fraction`` of the HTTP conversations).  Every length and checksum is correct (tshark
finds nothing malformed), timestamps strictly increase from 2024-01-01T00:00:00Z, and the trace
ends like a real capture, in the middle of the conversations open at its last packet.

Modules: :mod:`.packets` (frames and checksums), :mod:`.protocols` (application payloads),
:mod:`.mix` (the traffic model), :mod:`.pcapwriter` (the file format).
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

from .mix import TrafficModel
from .pcapwriter import PcapWriter

__all__ = ["EPOCH", "GenerationSummary", "generate"]

#: 2024-01-01T00:00:00Z, the time of the first packet of every generated trace.
EPOCH = 1_704_067_200


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate` wrote."""

    path: str
    #: Packets in the file (the number asked for).
    packets: int
    #: Sum of the frame lengths (captured == on the wire): what a BYTE_COUNTER on all traffic reads.
    bytes: int
    #: Size of the pcap file, headers included.
    file_bytes: int
    seed: int
    worm_fraction: float
    nanosecond: bool
    #: Code Red II probes: connection attempts (first SYNs) to port 80 of random campus addresses.
    worm_probes: int
    #: Packets whose TCP payload starts with ``GET /default.ida?XXXX...`` (the first segment of each
    #: request): what a BPF filter on the payload's first bytes counts.
    worm_get_packets: int
    #: Complete Code Red requests (all their segments written): what tshark shows as HTTP requests
    #: for ``/default.ida``.  Equal to ``worm_get_packets`` unless the trace ends inside a request.
    worm_requests: int
    #: Packets of the worm's connections, both directions.
    worm_packets: int
    #: Addresses of the infected hosts (dotted quads).
    infected_hosts: tuple[str, ...]
    #: Timestamps of the first and last packets, seconds since the Unix epoch.
    first_timestamp: float
    last_timestamp: float
    #: Conversations started per kind ("http", "dns6", ...), sorted by kind.
    sessions: tuple[tuple[str, int], ...]

    @property
    def duration(self) -> float:
        """Seconds from the first to the last packet."""
        return self.last_timestamp - self.first_timestamp


def generate(
    path: str | os.PathLike[str],
    packets: int,
    *,
    seed: int = 1,
    worm_fraction: float = 0.0,
    nanosecond: bool = False,
    rate: float = 800.0,
) -> GenerationSummary:
    """Writes ``packets`` packets of realistic uplink traffic to the pcap file ``path``.

    ``seed`` selects the trace (same arguments, same bytes); ``worm_fraction`` is the share of
    HTTP conversations replaced by Code Red II probes; ``nanosecond`` writes the nanosecond pcap
    variant (magic 0xa1b23c4d); ``rate`` is the mean number of new conversations per second.
    """
    if packets < 1:
        raise ValueError("packets must be at least 1")
    model = TrafficModel(seed, worm_fraction, rate)
    base_us = EPOCH * 1_000_000
    first = last = 0
    # The plans hold millions of small tuples and no reference cycles: the cyclic garbage
    # collector would only rescan them (a third of the run time), so it pauses meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with PcapWriter(os.fspath(path), nanosecond) as writer:
            write = writer.write
            if nanosecond:
                for t, frame in model.frames(packets):
                    # Sub-microsecond digits: a fixed function of the time, so files stay reproducible.
                    write((base_us + t) * 1000 + (t * 7919) % 1000, frame)
                    last = t
            else:
                for t, frame in model.frames(packets):
                    write(base_us + t, frame)
                    last = t
            written, total = writer.packets, writer.bytes
    finally:
        if collecting:
            gc.enable()
    counters = model.counters
    return GenerationSummary(
        path=os.fspath(path),
        packets=written,
        bytes=total,
        file_bytes=os.path.getsize(path),
        seed=seed,
        worm_fraction=worm_fraction,
        nanosecond=nanosecond,
        worm_probes=counters.worm_probes,
        worm_get_packets=counters.worm_get_packets,
        worm_requests=counters.worm_requests,
        worm_packets=counters.worm_packets,
        infected_hosts=tuple(".".join(map(str, h.addr)) for h in model.infected),
        first_timestamp=EPOCH + first / 1e6,
        last_timestamp=EPOCH + last / 1e6,
        sessions=tuple(sorted(counters.sessions.items())),
    )
