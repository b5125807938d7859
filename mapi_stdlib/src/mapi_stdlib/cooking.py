"""COOKING: IPv4/IPv6 defragmentation and TCP stream reassembly, in native code (native/cooking.c).

MAPI built COOKING on libnids; this one has its own reassembler.  The policies it follows
(overlaps, holes, which side is the client, when a connection ends) are in the description
below, which ``mapi functions show COOKING`` prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
from mapi_core.errors import ErrorCode, MapiError
from mapi_core.plugins import FunctionDef
from mapi_core.plugins.arguments import Int
from mapi_core.plugins.results import ResultSpec

from mapi_stdlib.native._cooking import ffi, lib

NATIVE = "mapi_stdlib.native._cooking"

#: MAPI's enum cooking_direction.
CLIENT_SIDE = lib.COOKING_CLIENT_SIDE
SERVER_SIDE = lib.COOKING_SERVER_SIDE
BOTH_SIDE = lib.COOKING_BOTH_SIDE
DIRECTIONS = {"CLIENT_SIDE": CLIENT_SIDE, "SERVER_SIDE": SERVER_SIDE, "BOTH_SIDE": BOTH_SIDE}

DEFAULT_THRESHOLD = lib.COOKING_DEFAULT_THRESHOLD
MAX_THRESHOLD = lib.COOKING_MAX_THRESHOLD


@attrs.frozen
class CookingStats:
    """What COOKING did, so that nothing is lost silently (counters grow; the last four fields
    say how things stand after the latest packet).  Bytes are TCP payload bytes."""

    tcp_packets: int              #: TCP segments seen (after defragmentation)
    connections: int              #: connections created
    connections_closed: int       #: ended by a FIN in each direction
    connections_reset: int        #: ended by a RST
    connections_expired: int      #: idle longer than the timeout (packet time)
    connections_evicted: int      #: thrown out to make room (table full), undelivered bytes lost
    chunks: int                   #: cooked packets delivered
    bytes_delivered: int          #: payload bytes in cooked packets
    out_of_order: int             #: segments that arrived after a hole
    overlap_bytes: int            #: bytes received again (retransmissions, overlaps, after the close)
    conflict_bytes: int           #: of those, bytes whose new value differed from the kept one
    missing_bytes: int            #: bytes never seen, skipped (acknowledged by the peer, or at the end)
    ignored_bytes: int            #: bytes of directions not collected (direction argument, ret_once)
    dropped_window_bytes: int     #: bytes more than 4 MiB ahead of the first undelivered byte
    dropped_memory_bytes: int     #: bytes not stored: the 32 MiB of buffer blocks were in use
    dropped_evicted_bytes: int    #: undelivered bytes of evicted connections
    dropped_header_packets: int   #: data packets whose headers exceed 192 bytes: their bytes are lost
    malformed_packets: int        #: TCP headers cut by the capture, data after a FIN
    fragments: int                #: IPv4 and IPv6 fragments seen
    datagrams_reassembled: int    #: datagrams rebuilt from fragments
    fragment_overlap_bytes: int   #: IPv4 fragment bytes received again (first copy kept)
    datagrams_overlap_dropped: int  #: IPv6 datagrams dropped for overlapping fragments (RFC 5722)
    datagrams_expired: int        #: incomplete datagrams given up after the fragment timeout
    datagrams_evicted: int        #: incomplete datagrams given up for lack of room
    fragments_invalid: int        #: fragments with impossible offsets or lengths, or cut by the capture
    tracked_connections: int      #: connections in the table (open, or closed and lingering)
    buffered_bytes: int           #: stream bytes held and not yet delivered
    pending_chunks: int           #: directions with a chunk ready, waiting for a packet to carry it
    pending_datagrams: int        #: datagrams waiting for fragments

    @classmethod
    def decode(cls, raw: bytes) -> CookingStats:
        record = ffi.cast("cooking_stats_t *", ffi.from_buffer(raw))
        return cls(*(getattr(record, field.name) for field in attrs.fields(cls)))


_C_FIELDS = [name for name, _ in ffi.typeof("cooking_stats_t").fields]
if _C_FIELDS != [field.name for field in attrs.fields(CookingStats)]:   # pragma: no cover - a build mismatch
    raise ImportError(f"CookingStats does not match cooking_stats_t in native/cooking.h: {_C_FIELDS}")

STATS_RESULT = ResultSpec("record", ffi.sizeof("cooking_stats_t"), CookingStats.decode,
                          "a CookingStats record of counters")


class Cooking:
    """Lifecycle of COOKING: the native reassembler is built at connect, with MAPI's threshold
    rule (<= 0 means 32000) applied, and freed at close."""

    def init(self, args: Any, result: Any) -> Any:
        threshold = args.threshold if args.threshold > 0 else DEFAULT_THRESHOLD
        stats = ffi.cast("cooking_stats_t *", result.address)
        state = lib.cooking_new(threshold, args.timeout, args.ret_once, args.direction, stats)
        if state == ffi.NULL:
            raise MapiError(ErrorCode.MFUNCT_COULD_NOT_INIT_FUNCT,
                            "COOKING: not enough memory for the reassembly tables")
        self.state = ffi.gc(state, lib.cooking_free)
        return self.state

    def cleanup(self) -> None:
        state, self.state = getattr(self, "state", None), None
        if state is not None:
            ffi.release(state)


DESCRIPTION = f"""\
Reassembles TCP streams (after defragmenting IPv4 and IPv6) and passes their bytes on as "cooked"
packets, MAPI's stream cooking.  Non-TCP packets pass unchanged, except IP fragments: they are
held until their datagram is complete, which then passes as one packet (the first fragment's
headers, IP length set, MF and offset cleared, IPv6 fragment header removed, IPv4 header checksum
recomputed; the UDP/TCP checksum is the sender's, valid again for the whole datagram).
TCP packets are consumed (dropped) until a stream direction has `threshold` bytes in order, or
its connection ends (FIN, RST, idle timeout); then a packet that would be dropped is rewritten
into a cooked packet and passes: the link/IP/TCP headers of the latest packet of that direction,
TCP sequence number 0, SYN/FIN/RST cleared, IP total length (IPv6 payload length) set, IPv4
header and TCP checksums recomputed (MAPI left them stale), then all the bytes the direction has
ready (as MAPI: at least `threshold`, fewer only for the last chunk of a direction, at most what
fits in a 65535-byte IP packet), caplen = wlen = its size.  A chunk holds bytes of one direction
only; with BOTH_SIDE each direction is cooked separately.  One cooked packet leaves per consumed
packet; directions with a chunk ready wait in a queue (pending_chunks) in the order they became
ready.
Arguments: threshold: bytes, 1..{MAX_THRESHOLD} (a cooked IPv4 packet with 60-byte IP and TCP
headers then fits in 65535 bytes); <= 0 means {DEFAULT_THRESHOLD}, as in MAPI.  timeout: seconds
of packet time after which an idle connection is ended and its bytes flushed (0 = never; MAPI
ignored this argument).  ret_once: 1 = each direction delivers only its first chunk, after which
its bytes are ignored (its packets still dropped).  direction: CLIENT_SIDE (1) = the bytes the
client receives (sent by the server), SERVER_SIDE (2) = the bytes the server receives (sent by
the client), BOTH_SIDE (3): libnids' naming of half-streams, which MAPI used.  The client is the
sender of the SYN (the receiver of a SYN+ACK); for a connection picked up mid-stream, the endpoint
with the higher port (equal ports: the sender of the first packet seen).
Reassembly: a connection is keyed by addresses and ports (both directions one connection);
sequence numbers wrap around (64-bit stream offsets); a direction picked up mid-stream starts at
its first segment seen.  Out-of-order segments are held, up to 4 MiB ahead.  Overlaps and
retransmissions: the first copy of a byte wins (Snort's "first" policy; counted in
overlap_bytes, and in conflict_bytes when the new bytes differ).  Wireshark's Follow TCP Stream
agrees except in one case: a segment that fills a hole and overlaps bytes that arrived earlier
out of order; Wireshark keeps the filler's bytes, COOKING the earlier ones.  A hole is given up
(its bytes counted in missing_bytes and left out: Wireshark shows "[N bytes missing in capture
file]" there) once the peer acknowledges bytes past it (the capture lost them) or the connection
ends; this assumes the capture does not show an acknowledgment before the data it acknowledges.
A direction ends at its FIN once the bytes before it are in; a connection ends with a FIN each
way, a RST, `timeout` idle seconds, or eviction from the full table
({lib.COOKING_MAX_CONNECTIONS} connections; undelivered bytes counted lost).  A closed connection
lingers {lib.COOKING_CLOSED_LINGER} s of packet time to absorb late packets; a SYN reopens its
ports.  Checksums are not verified (captures often hold offloaded, wrong ones).
Fragments: keyed by (source, destination, identification, protocol); the first copy wins for
overlapping IPv4 fragments; an IPv6 datagram with overlapping fragments is dropped (RFC 5722),
exact duplicates are ignored; incomplete datagrams are dropped after {lib.COOKING_FRAG_TIMEOUT_V4} s
(IPv4) or {lib.COOKING_FRAG_TIMEOUT_V6} s (IPv6) of packet time; {lib.COOKING_MAX_DATAGRAMS} at most
wait at once.  Memory is bounded: {lib.COOKING_MAX_BLOCKS * lib.COOKING_BLOCK_SIZE // 2**20} MiB
of held bytes; what does not fit is counted.
End of a trace: no function runs after the last packet, so bytes still held then (a direction
below the threshold, chunks waiting for a packet to carry them) are not delivered; read() reports
them (buffered_bytes, pending_chunks).  A timeout, FIN or RST flushes them while packets flow.
MAPI raised the device's capture length to fit cooked packets; that does not apply here: packets
are read whole and a modifying function gets 65535 bytes of room after the packet.
read() returns a CookingStats record: connections (created, closed, reset, expired, evicted),
chunks and bytes delivered, out-of-order segments, overlapping, conflicting, missing and ignored
bytes, drops by reason, fragments and datagrams, and what is still held."""


def definitions() -> Iterator[FunctionDef]:
    yield FunctionDef(
        name="COOKING",
        description=DESCRIPTION,
        implementation=Cooking,
        arguments=(
            Int(name="threshold", maximum=MAX_THRESHOLD,
                description=f"bytes a direction collects before they leave in a cooked packet, at most "
                            f"{MAX_THRESHOLD}; <= 0 means {DEFAULT_THRESHOLD}"),
            Int(name="timeout", minimum=0,
                description="seconds of packet time after which an idle connection is flushed; 0 = never"),
            Int(name="ret_once", minimum=0, maximum=1,
                description="1: only the first chunk of each direction, then its bytes are ignored"),
            Int(name="direction", choices=DIRECTIONS,
                description="CLIENT_SIDE (bytes the client receives), SERVER_SIDE (bytes the server "
                            "receives) or BOTH_SIDE"),
        ),
        result=STATS_RESULT,
        filters=True,
        modifies=True,
        process=f"{NATIVE}:cooking_process",
    )
