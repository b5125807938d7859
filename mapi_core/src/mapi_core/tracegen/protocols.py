"""Application payloads in valid wire format: HTTP, DNS, TLS 1.3 records, SSH, SMTP, NTP, Code Red.

Everything here is a pure function of its arguments (randomness comes in as explicit values or a
``random.Random`` passed by the caller), so the traffic model stays deterministic.
"""

from __future__ import annotations

import random
import struct
from bisect import bisect_right

__all__ = [
    "CODE_RED_BODY_LENGTH",
    "Stream",
    "bt_handshake",
    "bt_message",
    "bt_piece_parts",
    "bt_requests",
    "code_red_request",
    "dns_name",
    "dns_query",
    "dns_response",
    "http_request",
    "http_response_head",
    "ntp_packet",
    "rtp_packet",
    "smtp_dialogue",
    "ssh_banner",
    "ssh_ecdh_init",
    "ssh_ecdh_reply_newkeys",
    "ssh_encrypted_parts",
    "ssh_kexinit",
    "ssh_newkeys",
    "ssh_packet",
    "tls_client_hello",
    "tls_record_parts",
    "tls_server_hello",
]


class Stream:
    """The bytes one side of a TCP connection sends, made of parts that are never copied whole.

    Parts are ``bytes`` or ``memoryview`` slices of a large shared blob, so a multi-megabyte HTTP
    body costs a few objects until its segments are cut with :meth:`chunk`.
    """

    __slots__ = ("length", "parts", "starts")

    def __init__(self, parts: list[bytes | memoryview]) -> None:
        self.parts = [p for p in parts if len(p)]
        self.starts: list[int] = []
        position = 0
        for part in self.parts:
            self.starts.append(position)
            position += len(part)
        self.length = position

    def chunk(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset``."""
        index = bisect_right(self.starts, offset) - 1
        start = offset - self.starts[index]
        part = self.parts[index]
        if start + size <= len(part):
            return bytes(part[start : start + size])
        pieces = [part[start:]]
        need = size - (len(part) - start)
        while need > 0:
            index += 1
            part = self.parts[index]
            pieces.append(part[:need])
            need -= len(part)
        return b"".join(pieces)


# --------------------------------------------------------------------------------------- HTTP

USER_AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.2 Safari/605.1.15"
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.2 Mobile/15E148 Safari/604.1"
    ),
    "curl/8.5.0",
    "Wget/1.21.4",
    "Debian APT-HTTP/1.3 (2.6.1)",
)


def http_request(path: str, host: str, user_agent: str, keep_alive: bool = True) -> bytes:
    """A browser-like ``GET`` request."""
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"User-Agent: {user_agent}\r\n"
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        "Accept-Language: en-US,en;q=0.5\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "\r\n"
    ).encode()


_HTTP_DATE = "Mon, 01 Jan 2024 00:{:02d}:{:02d} GMT"


def http_response_head(status: int, content_type: str, length: int, when: int, server: str = "nginx/1.24.0") -> bytes:
    """Status line and headers of a response with a ``Content-Length`` body (``when``: seconds into the hour)."""
    reason = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found"}[status]
    date = _HTTP_DATE.format((when // 60) % 60, when % 60)
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {date}", f"Server: {server}"]
    if status != 304:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {length}"]
    lines += ["Connection: keep-alive", "", ""]
    return "\r\n".join(lines).encode()


# ------------------------------------------------------------------------------------ Code Red

#: Length of the body that follows a Code Red II request's headers (the worm's own value).
CODE_RED_BODY_LENGTH = 3379

_CODE_RED_TAIL = (
    "%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801"
    "%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a"
)


def code_red_request(body: bytes, variant: str = "X") -> bytes:
    """The Code Red request: ``GET /default.ida?`` + 224 ``N`` (CRv1) or ``X`` (CRII) + the shellcode URI tail.

    ``body`` (its :data:`CODE_RED_BODY_LENGTH` bytes of "shellcode") follows the headers.
    """
    head = (
        f"GET /default.ida?{variant * 224}{_CODE_RED_TAIL} HTTP/1.0\r\n"
        "Content-type: text/xml\r\n"
        f"Content-length: {len(body)} \r\n"
        "\r\n"
    ).encode()
    return head + body


# ----------------------------------------------------------------------------------------- DNS

QTYPE_A = 1
QTYPE_CNAME = 5
QTYPE_SOA = 6
QTYPE_MX = 15
QTYPE_AAAA = 28
QTYPE_OPT = 41

_OPT_RR = b"\x00" + struct.pack("!HHIH", QTYPE_OPT, 1232, 0, 0)


def dns_name(name: str) -> bytes:
    """A domain name in uncompressed wire format."""
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        out.append(len(raw))
        out += raw
    out.append(0)
    return bytes(out)


def dns_query(ident: int, name: str, qtype: int) -> bytes:
    """A recursive query with an EDNS0 OPT record, as stub resolvers send them."""
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 1)
    return header + dns_name(name) + struct.pack("!HH", qtype, 1) + _OPT_RR


def dns_response(
    ident: int,
    name: str,
    qtype: int,
    answers: list[tuple[int, int, bytes]],
    nxdomain_zone: str | None = None,
) -> bytes:
    """The response to :func:`dns_query`.

    ``answers`` are ``(type, ttl, rdata)``; owner names are compression pointers: to the question
    name, or after a CNAME to that CNAME's target.  With ``nxdomain_zone``
    the response is NXDOMAIN with the zone's SOA in the authority section.
    """
    rcode = 3 if nxdomain_zone else 0
    header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(answers), 1 if nxdomain_zone else 0, 1)
    body = bytearray(header + dns_name(name) + struct.pack("!HH", qtype, 1))
    owner = 0xC00C  # pointer to the question name
    for rtype, ttl, rdata in answers:
        body += struct.pack("!HHHIH", owner, rtype, 1, ttl, len(rdata))
        if rtype == QTYPE_CNAME:
            owner = 0xC000 | len(body)  # later records belong to the canonical name
        body += rdata
    if nxdomain_zone:
        soa = (
            dns_name("ns1." + nxdomain_zone)
            + dns_name("hostmaster." + nxdomain_zone)
            + struct.pack("!IIIII", 2024010101, 7200, 3600, 1209600, 300)
        )
        body += dns_name(nxdomain_zone) + struct.pack("!HHIH", QTYPE_SOA, 1, 300, len(soa)) + soa
    return bytes(body + _OPT_RR)


# ----------------------------------------------------------------------------------------- NTP

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def _ntp_ts(usec: int) -> bytes:
    seconds, micro = divmod(usec, 1_000_000)
    return struct.pack("!II", (seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF, (micro << 32) // 1_000_000)


def ntp_packet(mode: int, now_us: int, origin_us: int = 0, ref_id: bytes = b"\xc0\x00\x02\x01") -> bytes:
    """An NTPv4 client (mode 3) or server (mode 4) packet; times in microseconds since 1970."""
    if mode == 3:
        head = struct.pack("!BBbbII4s", (0 << 6) | (4 << 3) | 3, 0, 6, -20, 0, 0, b"\0\0\0\0")
        return head + bytes(24) + _ntp_ts(now_us)
    head = struct.pack("!BBbbII4s", (0 << 6) | (4 << 3) | 4, 2, 6, -23, 0x00000120, 0x00000345, ref_id)
    ref = _ntp_ts(now_us - 31_000_000)
    return head + ref + _ntp_ts(origin_us) + _ntp_ts(now_us - 40) + _ntp_ts(now_us - 10)


# ----------------------------------------------------------------------------------------- TLS

_CIPHER_SUITES = (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8)
_SIG_ALGS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)


def _ext(ext_type: int, data: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(data)) + data


def _tls_record(content_type: int, version: int, data: bytes) -> bytes:
    return struct.pack("!BHH", content_type, version, len(data)) + data


def tls_client_hello(rng: random.Random, server_name: str) -> tuple[bytes, bytes]:
    """A TLS 1.3 ClientHello record; returns ``(record, session_id)``."""
    session_id = rng.randbytes(32)
    sni = server_name.encode()
    extensions = b"".join(
        (
            _ext(0, struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni),
            _ext(10, struct.pack("!H3H", 6, 0x001D, 0x0017, 0x0018)),
            _ext(11, b"\x01\x00"),
            _ext(13, struct.pack(f"!H{len(_SIG_ALGS)}H", 2 * len(_SIG_ALGS), *_SIG_ALGS)),
            _ext(16, b"\x00\x0c\x02h2\x08http/1.1"),
            _ext(43, b"\x04\x03\x04\x03\x03"),
            _ext(45, b"\x01\x01"),
            _ext(51, struct.pack("!HHH", 36, 0x001D, 32) + rng.randbytes(32)),
        )
    )
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + b"\x20"
        + session_id
        + struct.pack(f"!H{len(_CIPHER_SUITES)}H", 2 * len(_CIPHER_SUITES), *_CIPHER_SUITES)
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = struct.pack("!B", 1) + len(body).to_bytes(3, "big") + body
    return _tls_record(22, 0x0301, handshake), session_id


def tls_server_hello(rng: random.Random, session_id: bytes) -> bytes:
    """ServerHello and the middlebox-compatibility ChangeCipherSpec, as TLS 1.3 servers send them."""
    extensions = _ext(43, b"\x03\x04") + _ext(51, struct.pack("!HH", 0x001D, 32) + rng.randbytes(32))
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + bytes([len(session_id)])
        + session_id
        + struct.pack("!HB", 0x1301, 0)
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = struct.pack("!B", 2) + len(body).to_bytes(3, "big") + body
    return _tls_record(22, 0x0303, handshake) + _tls_record(20, 0x0303, b"\x01")


#: Largest TLS 1.3 ciphertext record: 2**14 bytes of plaintext, the content type and a 16-byte tag.
TLS_MAX_RECORD = 16384 + 17


def tls_record_parts(
    blob: memoryview, offset: int, size: int, record: int = TLS_MAX_RECORD
) -> list[bytes | memoryview]:
    """``size`` bytes of ciphertext as application-data records of at most ``record`` bytes.

    The ciphertext is opaque bytes of ``blob`` (no copy); ``offset`` picks where.
    """
    parts: list[bytes | memoryview] = []
    blob_len = len(blob)
    while size > 0:
        length = min(size, record)
        start = offset % (blob_len - length)
        parts.append(struct.pack("!BHH", 23, 0x0303, length))
        parts.append(blob[start : start + length])
        offset += length * 7 + 13
        size -= length
    return parts


# ----------------------------------------------------------------------------------------- SSH

SSH_CLIENT_BANNERS = (
    b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n",
    b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1\r\n",
    b"SSH-2.0-PuTTY_Release_0.80\r\n",
)
# Servers with RSA host keys and "ssh-rsa" signatures: Wireshark 4.0 mis-measures the newer
# signature formats (ssh-ed25519, ecdsa-*, rsa-sha2-*) and flags every such reply with a warning.
SSH_SERVER_BANNERS = (b"SSH-2.0-OpenSSH_7.4\r\n", b"SSH-2.0-OpenSSH_7.9p1 Debian-10+deb10u2\r\n")


def ssh_banner(rng: random.Random, server: bool) -> bytes:
    """An identification string."""
    return rng.choice(SSH_SERVER_BANNERS if server else SSH_CLIENT_BANNERS)


def _ssh_string(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data


def ssh_packet(payload: bytes, rng: random.Random, block: int = 8) -> bytes:
    """An unencrypted binary packet (RFC 4253 section 6) around ``payload``."""
    padding = block - ((5 + len(payload)) % block)
    if padding < 4:
        padding += block
    return struct.pack("!IB", 1 + len(payload) + padding, padding) + payload + rng.randbytes(padding)


def ssh_kexinit(rng: random.Random, server: bool) -> bytes:
    """SSH_MSG_KEXINIT offering curve25519 and ChaCha20-Poly1305 (the server an RSA host key)."""
    lists = (
        b"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256" + (b"" if server else b",ext-info-c"),
        b"ssh-rsa" if server else b"ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,ssh-rsa",
        b"chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
        b"chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
        b"hmac-sha2-256-etm@openssh.com,hmac-sha2-256",
        b"hmac-sha2-256-etm@openssh.com,hmac-sha2-256",
        b"none,zlib@openssh.com",
        b"none,zlib@openssh.com",
        b"",
        b"",
    )
    payload = b"\x14" + rng.randbytes(16) + b"".join(_ssh_string(x) for x in lists) + b"\x00" + bytes(4)
    return ssh_packet(payload, rng)


def ssh_ecdh_init(rng: random.Random) -> bytes:
    """SSH_MSG_KEX_ECDH_INIT with a 32-byte curve25519 key."""
    return ssh_packet(b"\x1e" + _ssh_string(rng.randbytes(32)), rng)


def ssh_ecdh_reply_newkeys(rng: random.Random) -> bytes:
    """SSH_MSG_KEX_ECDH_REPLY (RSA-2048 host key, ssh-rsa signature) followed by SSH_MSG_NEWKEYS."""
    modulus = b"\x00" + bytes([0x80 | rng.getrandbits(7)]) + rng.randbytes(255)
    host_key = _ssh_string(b"ssh-rsa") + _ssh_string(b"\x01\x00\x01") + _ssh_string(modulus)
    signature = _ssh_string(b"ssh-rsa") + _ssh_string(rng.randbytes(256))
    reply = b"\x1f" + _ssh_string(host_key) + _ssh_string(rng.randbytes(32)) + _ssh_string(signature)
    return ssh_packet(reply, rng) + ssh_newkeys(rng)


def ssh_newkeys(rng: random.Random) -> bytes:
    """SSH_MSG_NEWKEYS."""
    return ssh_packet(b"\x15", rng)


def ssh_encrypted_parts(blob: memoryview, offset: int, plain_lengths: list[int]) -> list[bytes | memoryview]:
    """AES-GCM protected packets: each a clear 4-byte length, the ciphertext and a 16-byte tag.

    ``plain_lengths`` are payload sizes; ciphertext and tag are opaque bytes of ``blob``.
    """
    parts: list[bytes | memoryview] = []
    blob_len = len(blob)
    for plain in plain_lengths:
        length = max(16, (plain + 5 + 15) // 16 * 16)
        start = offset % (blob_len - length - 16)
        parts.append(struct.pack("!I", length))
        parts.append(blob[start : start + length + 16])
        offset += length * 5 + 7
    return parts


# ----------------------------------------------------------------------------- BitTorrent, RTP

BT_BLOCK = 16384


def bt_handshake(info_hash: bytes, peer_id: bytes) -> bytes:
    """The BitTorrent peer-wire handshake (BEP 3): pstr, reserved bits, info hash, peer id."""
    return b"\x13BitTorrent protocol" + b"\x00\x00\x00\x00\x00\x10\x00\x05" + info_hash + peer_id


def bt_message(msg_id: int, payload: bytes = b"") -> bytes:
    """A length-prefixed peer-wire message (choke 0, unchoke 1, interested 2, have 4, bitfield 5, request 6)."""
    return struct.pack("!IB", 1 + len(payload), msg_id) + payload


def bt_requests(index: int, blocks: range) -> bytes:
    """``request`` messages for blocks of one piece."""
    return b"".join(bt_message(6, struct.pack("!III", index, b * BT_BLOCK, BT_BLOCK)) for b in blocks)


def bt_piece_parts(blob: memoryview, offset: int, index: int, blocks: range) -> list[bytes | memoryview]:
    """``piece`` messages carrying those blocks (opaque bytes of ``blob``)."""
    parts: list[bytes | memoryview] = []
    for b in blocks:
        start = (offset + b * 4099) % (len(blob) - BT_BLOCK)
        parts.append(struct.pack("!IBII", 9 + BT_BLOCK, 7, index, b * BT_BLOCK))
        parts.append(blob[start : start + BT_BLOCK])
    return parts


def rtp_packet(seq: int, timestamp: int, ssrc: int, payload: bytes | memoryview, payload_type: int = 111) -> bytes:
    """An RTP packet (RFC 3550, version 2, no CSRC); the default type is Opus's usual dynamic 111."""
    return struct.pack("!BBHII", 0x80, payload_type, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + bytes(payload)


# ---------------------------------------------------------------------------------------- SMTP


def smtp_dialogue(
    rng: random.Random, client_name: str, server_name: str, sender: str, rcpt: str, body: bytes
) -> list[tuple[int, bytes]]:
    """An ESMTP session as ``(direction, bytes)`` turns; direction 0 = client, 1 = server."""
    msg_id = rng.getrandbits(48)
    message = (
        (
            f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: report {msg_id % 1000}\r\n"
            f"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <{msg_id:x}@{client_name}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        ).encode()
        + body
        + b"\r\n.\r\n"
    )
    return [
        (1, f"220 {server_name} ESMTP Postfix\r\n".encode()),
        (0, f"EHLO {client_name}\r\n".encode()),
        (
            1,
            (
                f"250-{server_name}\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
                "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n"
            ).encode(),
        ),
        (0, f"MAIL FROM:<{sender}>\r\n".encode()),
        (1, b"250 2.1.0 Ok\r\n"),
        (0, f"RCPT TO:<{rcpt}>\r\n".encode()),
        (1, b"250 2.1.5 Ok\r\n"),
        (0, b"DATA\r\n"),
        (1, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        (0, message),
        (1, f"250 2.0.0 Ok: queued as {msg_id & 0xFFFFFFFFF:09X}\r\n".encode()),
        (0, b"QUIT\r\n"),
        (1, b"221 2.0.0 Bye\r\n"),
    ]
