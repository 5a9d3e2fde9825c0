"""RFC 6455 conformance tests for ws_echo, organised like the Autobahn testsuite:

  hs  opening handshake (section 4)
  1   framing: payload lengths and their encodings, chopped TCP writes
  2   ping/pong
  3   reserved (RSV) bits
  4   reserved opcodes
  5   fragmentation
  6   UTF-8 handling of text messages
  7   close handling
  9   limits: large messages, the 16 MiB maximum
  10  auto-fragmentation
  plus robustness (abrupt disconnects) and a python3-websockets client on several
  concurrent connections.

Each test asserts what RFC 6455 requires of the server: the exact echo, the exact close
code, and that after failing the connection (7.1.7) or finishing the close handshake
(7.1.1) the server closes the TCP connection. Every read has a timeout (wsclient.timeout,
scaled by DALLY_TEST_SLOWDOWN).

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider test_ws_conformance.py --ws-echo PROG
"""
import asyncio
import random
import socket
import struct

import pytest

from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, PROBE, RSV1,
                      RSV2, RSV3, WSConn, accept_key, build_frame,
                      close_payload, fragment, handshake_request, new_key, timeout)

MIB = 1024 * 1024
MAX_MESSAGE = 16 * MIB

PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
TOO_BIG = 1009


# --- helpers ---------------------------------------------------------------------------

@pytest.fixture
def ws(ws_port):
    """A factory of raw connections to ws_echo (handshaken unless handshake=False); all
    are closed at the end of the test."""
    conns = []

    def make(path="/", handshake=True, **kw):
        c = WSConn(ws_port)
        conns.append(c)
        if handshake:
            c.handshake(path, **kw)
        return c

    yield make
    for c in conns:
        c.close_socket()


def text_payload(n, seed=0):
    """Exactly n bytes of valid UTF-8 mixing 1-, 2-, 3- and 4-byte characters (so any
    chopping splits characters across frames)."""
    unit = "aé€😀".encode("utf-8")  # 10 bytes
    rng = random.Random(seed)
    rep = (unit * (n // len(unit) + 1))
    data = bytearray(rep[: n - n % len(unit)])
    data += bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(n - len(data)))
    assert len(data) == n
    data = bytes(data)
    data.decode("utf-8")
    return data


def binary_payload(n, seed=0):
    return random.Random(seed).randbytes(n)


def data_frames(opcode, payload, frame_size):
    """The frames of one message split into frames of frame_size bytes."""
    pieces = fragment(payload, frame_size)
    out = []
    for i, piece in enumerate(pieces):
        out.append(build_frame(opcode if i == 0 else OP_CONT, piece, fin=i == len(pieces) - 1))
    return out


def messages_of(frames):
    """Reassembles data frames (as returned by expect_close) into (opcode, payload)."""
    msgs, op, parts = [], None, []
    for f in frames:
        if f.opcode != OP_CONT:
            op, parts = f.opcode, []
        parts.append(f.payload)
        if f.fin:
            msgs.append((op, b"".join(parts)))
    return msgs


def send_tolerant(c, data, chop=None):
    """Sends, ignoring errors from a server that has already failed the connection."""
    try:
        c.send_raw(data, chop=chop)
    except OSError:
        pass


def send_bad(c, data, chop=None):
    """Sends frames that must make the server fail the connection, followed by the probe
    ping (wsclient.PROBE) that it must then leave unanswered."""
    send_tolerant(c, data + build_frame(OP_PING, PROBE), chop=chop)


def expect_fail(c, code, echoes=()):
    """The server fails the connection with code after echoing exactly echoes."""
    frames = c.expect_close(code, allow_data=True)
    got = messages_of(frames)
    assert got == list(echoes), f"echoes before the close: {got!r}, expected {list(echoes)!r}"


def echo_roundtrip(c, opcode, payload, frame_size=None, chop=None):
    """Sends one message (one frame, or frames of frame_size) in the background and checks
    the echo."""
    if frame_size is None:
        wire = build_frame(opcode, payload)
    else:
        wire = b"".join(data_frames(opcode, payload, frame_size))
    c.send_raw_background(wire, chop=chop)
    c.expect_echo(opcode, payload, t=timeout(60))
    assert c.join_sender() is None


# --- hs: opening handshake ---------------------------------------------------------------

def test_hs_valid_handshake_and_accept(ws):
    c = ws(handshake=False)
    resp = c.handshake("/")  # checks 101, Upgrade, Connection and Sec-WebSocket-Accept
    assert resp.header("sec-websocket-protocol") is None
    assert resp.header("sec-websocket-extensions") is None


def test_hs_rfc_example_key(ws):
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    assert accept_key(key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3
    c = ws(handshake=False)
    resp = c.handshake("/chat", key=key)
    assert resp.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("path", ["/", "/chat", "/a/b/c", "/x?y=1&z=%20"])
def test_hs_any_path_echoes(ws, path):
    c = ws(path)
    c.send_text("on " + path)
    c.expect_echo(OP_TEXT, ("on " + path).encode())


def test_hs_chopped_into_single_bytes(ws):
    c = ws(handshake=False)
    c.handshake("/", chop=1)
    c.send_text("after a 1-byte-chopped handshake")
    c.expect_echo(OP_TEXT, b"after a 1-byte-chopped handshake")


def test_hs_first_frame_in_same_write(ws):
    """Bytes after the request head are the first frame and must not be lost."""
    c = ws(handshake=False)
    key = new_key()
    c.send_raw(handshake_request("/", key=key) + build_frame(OP_TEXT, b"early bird"))
    resp = c.read_http_response()
    assert resp.status == 101 and resp.header("sec-websocket-accept") == accept_key(key)
    c.expect_echo(OP_TEXT, b"early bird")


@pytest.mark.parametrize("upgrade,connection", [
    ("WebSocket", "Upgrade"),
    ("websocket", "upgrade"),
    ("WEBSOCKET", "UPGRADE"),
    ("websocket", "keep-alive, Upgrade"),
    ("websocket", "Upgrade,keep-alive"),
    ("websocket", "keep-alive,  upgrade  "),
])
def test_hs_header_values_case_insensitive_token_list(ws, upgrade, connection):
    c = ws(handshake=False)
    c.handshake("/", upgrade=upgrade, connection=connection)
    c.send_text("ok")
    c.expect_echo(OP_TEXT, b"ok")


def test_hs_lower_case_header_names(ws):
    c = ws(handshake=False)
    key = new_key()
    req = ("GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
           f"sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\r\n").encode()
    c.send_raw(req)
    resp = c.read_http_response()
    assert resp.status == 101 and resp.header("sec-websocket-accept") == accept_key(key)


def test_hs_subprotocol_offered_but_none_selected(ws):
    """The server supports no subprotocol: it must not send Sec-WebSocket-Protocol
    (RFC 6455 4.2.2: it may only select one of the client's, and selects none)."""
    c = ws(handshake=False)
    resp = c.handshake("/", extra=[("Sec-WebSocket-Protocol", "chat, superchat")])
    assert resp.header("sec-websocket-protocol") is None


def test_hs_extension_offered_but_none_accepted(ws):
    """No extension is implemented, so none may be accepted (RSV bits stay reserved)."""
    c = ws(handshake=False)
    resp = c.handshake("/", extra=[("Sec-WebSocket-Extensions",
                                    "permessage-deflate; client_max_window_bits")])
    assert resp.header("sec-websocket-extensions") is None


def reject(ws, expect, **kw):
    c = ws(handshake=False)
    c.send_raw(handshake_request(**kw))
    resp = c.read_http_response(no_body=kw.get("method") == "HEAD")
    expect = (expect,) if isinstance(expect, int) else expect
    assert resp.status in expect, f"status {resp.status}, expected {expect}: {resp.raw!r}"
    assert resp.header("sec-websocket-accept") is None
    return resp


@pytest.mark.parametrize("key", [
    None,                                   # missing
    "",                                     # empty
    "not base64 at all!",                   # not base64
    "AAECAwQFBgcICQoLDA0O",                 # base64 of 15 bytes
    "AAECAwQFBgcICQoLDA0ODxA=",             # base64 of 17 bytes
    "AAECAwQFBgcICQoLDA0ODw",               # 16 bytes, padding missing
], ids=["missing", "empty", "not-base64", "15-bytes", "17-bytes", "no-padding"])
def test_hs_bad_key_400(ws, key):
    if key is None:
        reject(ws, 400, omit=["Sec-WebSocket-Key"])
    else:
        reject(ws, 400, key=key)


@pytest.mark.parametrize("method", ["POST", "PUT", "HEAD"])
def test_hs_wrong_method(ws, method):
    # RFC 6455 4.1: the method MUST be GET. 400 is promised; 405 is accepted too.
    reject(ws, (400, 405), method=method)


def test_hs_http10_400(ws):
    reject(ws, 400, version="HTTP/1.0")


def test_hs_missing_upgrade(ws):
    # 400 is promised; 426 Upgrade Required would also be an appropriate error.
    reject(ws, (400, 426), upgrade=None)


def test_hs_wrong_upgrade_400(ws):
    reject(ws, (400, 426), upgrade="h2c")


@pytest.mark.parametrize("connection", [None, "keep-alive", "close"])
def test_hs_missing_connection_upgrade_400(ws, connection):
    # 400 is promised; 426 Upgrade Required is accepted too (python3-websockets sends it).
    reject(ws, (400, 426), connection=connection)


@pytest.mark.ref_diverges("websockets 10.4 answers 400 without Sec-WebSocket-Version")
@pytest.mark.parametrize("version", ["8", "12", "14"])
def test_hs_unsupported_version_426(ws, version):
    """RFC 6455 4.2.2: an unsupported version gets 426 with Sec-WebSocket-Version: 13."""
    resp = reject(ws, 426, ws_version=version)
    assert "13" in resp.tokens("sec-websocket-version"), resp.raw


def test_hs_missing_version(ws):
    reject(ws, (400, 426), ws_version=None)


def test_hs_rejected_then_server_still_serves(ws):
    reject(ws, 400, omit=["Sec-WebSocket-Key"])
    c = ws()
    c.send_text("still here")
    c.expect_echo(OP_TEXT, b"still here")


# --- 1: framing ----------------------------------------------------------------------------

LENGTHS = [0, 1, 125, 126, 127, 128, 65535, 65536, 65537, 100000]


@pytest.mark.parametrize("n", LENGTHS)
def test_1_1_text_lengths(ws, n):
    c = ws()
    echo_roundtrip(c, OP_TEXT, text_payload(n, seed=n))


@pytest.mark.parametrize("n", LENGTHS)
def test_1_2_binary_lengths(ws, n):
    c = ws()
    echo_roundtrip(c, OP_BINARY, binary_payload(n, seed=n))


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_1_8_65536_chopped_997(ws, opcode):
    payload = text_payload(65536) if opcode == OP_TEXT else binary_payload(65536)
    c = ws()
    echo_roundtrip(c, opcode, payload, chop=997)


@pytest.mark.parametrize("n", [0, 5, 126, 65536])
def test_1_3_frame_header_in_single_bytes(ws, n):
    """The frame header (length, extended length, mask key) and the first payload bytes
    arrive one byte per write."""
    c = ws()
    payload = binary_payload(n)
    wire = build_frame(OP_BINARY, payload)
    head = min(len(wire), 64)
    c.send_raw(wire[:head], chop=1, delay=0.001)
    c.send_raw_background(wire[head:])
    c.expect_echo(OP_BINARY, payload)
    assert c.join_sender() is None


def test_1_4_many_frames_in_one_write(ws):
    c = ws()
    msgs = [(OP_TEXT if i % 2 else OP_BINARY, text_payload(i * 37, seed=i)) for i in range(20)]
    c.send_raw(b"".join(build_frame(op, p) for op, p in msgs))
    for op, p in msgs:
        c.expect_echo(op, p)


def test_1_5_text_binary_interleaved(ws):
    c = ws()
    for i in range(10):
        c.send_text(f"text {i}")
        c.send_binary(bytes([i]) * i)
    for i in range(10):
        c.expect_echo(OP_TEXT, f"text {i}".encode())
        c.expect_echo(OP_BINARY, bytes([i]) * i)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_PING, OP_CLOSE],
                         ids=["text", "binary", "ping", "close"])
def test_1_6_unmasked_client_frame_1002(ws, opcode):
    """RFC 6455 5.1: a server MUST close the connection on an unmasked client frame."""
    c = ws()
    payload = close_payload(1000) if opcode == OP_CLOSE else b"unmasked"
    send_bad(c, build_frame(opcode, payload, mask=False))
    expect_fail(c, PROTOCOL_ERROR)


def test_1_7_64bit_length_with_msb_set_1002(ws):
    """RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0."""
    c = ws()
    c.send_raw(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 63) + b"\0\0\0\0")
    frames = c.expect_close((PROTOCOL_ERROR, TOO_BIG), allow_data=False)
    assert not frames


# --- 2: ping/pong --------------------------------------------------------------------------

def test_2_1_ping_no_payload(ws):
    c = ws()
    c.send_ping(b"")
    assert c.recv_pong() == b""


def test_2_2_ping_text_payload(ws):
    c = ws()
    c.send_ping(b"Hello, World!")
    assert c.recv_pong() == b"Hello, World!"


def test_2_3_ping_binary_payload(ws):
    c = ws()
    c.send_ping(bytes([0, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0, 0xFF]))
    assert c.recv_pong() == bytes([0, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0, 0xFF])


def test_2_4_ping_125_bytes(ws):
    c = ws()
    c.send_ping(b"\xfe" * 125)
    assert c.recv_pong() == b"\xfe" * 125


def test_2_5_ping_126_bytes_1002(ws):
    """RFC 6455 5.5: control frame payloads are at most 125 bytes."""
    c = ws()
    send_bad(c, build_frame(OP_PING, b"\xfe" * 126))
    expect_fail(c, PROTOCOL_ERROR)
    assert c.pongs == [], "a 126-byte ping must not be answered"


def test_2_5b_pong_126_bytes_1002(ws):
    c = ws()
    send_bad(c, build_frame(OP_PONG, b"x" * 126))
    expect_fail(c, PROTOCOL_ERROR)


def test_2_6_ping_125_chopped_single_bytes(ws):
    c = ws()
    c.send_ping(b"\x01" * 125, chop=1)
    assert c.recv_pong() == b"\x01" * 125


def test_2_7_unsolicited_pong_no_payload_ignored(ws):
    c = ws()
    c.send_pong(b"")
    assert c.sync() == []
    assert c.pongs == []
    c.send_text("after pong")
    c.expect_echo(OP_TEXT, b"after pong")


def test_2_8_unsolicited_pong_with_payload_ignored(ws):
    c = ws()
    c.send_pong(b"unsolicited pong payload")
    assert c.sync() == []
    assert c.pongs == []


def test_2_9_pong_then_ping(ws):
    c = ws()
    c.send_pong(b"unsolicited")
    c.send_ping(b"ping payload")
    assert c.recv_pong() == b"ping payload"


@pytest.mark.parametrize("chop", [None, 1], ids=["whole", "chopped"])
def test_2_10_ten_pings(ws, chop):
    """10 pings in a row. RFC 6455 5.5.3 lets a busy endpoint answer only the most recent
    of several unanswered pings, so the pongs must be those pings' payloads in order and
    the last ping must be answered."""
    c = ws()
    payloads = [f"ping {i}".encode() for i in range(10)]
    c.send_raw(b"".join(build_frame(OP_PING, p) for p in payloads), chop=chop)
    got = []
    while not got or got[-1] != payloads[-1]:
        got.append(c.recv_pong())
    it = iter(payloads)
    assert all(p in it for p in got), f"pongs {got} are not an ordered subset of the pings"
    c.send_text("done")
    c.expect_echo(OP_TEXT, b"done")


def test_2_11_ping_between_messages(ws):
    c = ws()
    c.send_text("one")
    c.send_ping(b"p")
    c.send_text("two")
    c.expect_echo(OP_TEXT, b"one")
    c.expect_echo(OP_TEXT, b"two")
    assert c.recv_pong() == b"p"


# --- 3: reserved bits ----------------------------------------------------------------------

@pytest.mark.parametrize("opcode,rsv", [
    (OP_TEXT, RSV1), (OP_TEXT, RSV2), (OP_TEXT, RSV3), (OP_TEXT, RSV1 | RSV2),
    (OP_BINARY, RSV1 | RSV3), (OP_BINARY, RSV2),
    (OP_PING, RSV2 | RSV3), (OP_PING, RSV1),
    (OP_CLOSE, RSV1 | RSV2 | RSV3), (OP_PONG, RSV3),
], ids=lambda v: str(v))
def test_3_rsv_alone_1002(ws, opcode, rsv):
    c = ws()
    payload = close_payload(1000) if opcode == OP_CLOSE else b"Hello, World!"
    send_bad(c, build_frame(opcode, payload, rsv=rsv))
    expect_fail(c, PROTOCOL_ERROR)


SAME_READ = pytest.mark.ref_diverges("websockets fails the connection before its handler "
                                     "echoes frames that arrived in the same read")


@pytest.mark.parametrize("rsv", [RSV1, RSV2, RSV3, RSV1 | RSV2 | RSV3])
@pytest.mark.parametrize("mode", ["separate", pytest.param("one-write", marks=SAME_READ),
                                  pytest.param("chopped", marks=SAME_READ)])
def test_3_echo_then_rsv_then_ping(ws, rsv, mode):
    """Autobahn 3.2-3.4: a valid text, a text with RSV bits, a ping: the first is echoed,
    then the connection fails with 1002 (the ping may go unanswered)."""
    c = ws()
    frames = [build_frame(OP_TEXT, b"Hello, World!"),
              build_frame(OP_TEXT, b"Hello, World!", rsv=rsv),
              build_frame(OP_PING, b"")]
    if mode == "separate":
        c.send_raw(frames[0])
        c.expect_echo(OP_TEXT, b"Hello, World!")
        send_bad(c, frames[1] + frames[2])
        expect_fail(c, PROTOCOL_ERROR)
    else:
        send_bad(c, b"".join(frames), chop=1 if mode == "chopped" else None)
        expect_fail(c, PROTOCOL_ERROR, echoes=[(OP_TEXT, b"Hello, World!")])


def test_3_rsv_on_continuation_1002(ws):
    c = ws()
    send_bad(c, build_frame(OP_TEXT, b"frag", fin=False) + build_frame(OP_CONT, b"ment", rsv=RSV1))
    expect_fail(c, PROTOCOL_ERROR)


# --- 4: reserved opcodes -------------------------------------------------------------------

RESERVED_OPCODES = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]


@pytest.mark.parametrize("opcode", RESERVED_OPCODES)
def test_4_reserved_opcode_alone_1002(ws, opcode):
    c = ws()
    send_bad(c, build_frame(opcode, b""))
    expect_fail(c, PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", RESERVED_OPCODES)
def test_4_reserved_opcode_with_payload_1002(ws, opcode):
    c = ws()
    send_bad(c, build_frame(opcode, b"reserved opcode payload"))
    expect_fail(c, PROTOCOL_ERROR)


@pytest.mark.ref_diverges("websockets fails the connection before its handler echoes frames "
                          "that arrived in the same read")
@pytest.mark.parametrize("opcode", RESERVED_OPCODES)
def test_4_echo_then_reserved_opcode_then_ping(ws, opcode):
    c = ws()
    send_bad(c, build_frame(OP_TEXT, b"Hello, World!") + build_frame(opcode, b"x")
                  + build_frame(OP_PING, b""))
    expect_fail(c, PROTOCOL_ERROR, echoes=[(OP_TEXT, b"Hello, World!")])


# --- 5: fragmentation ----------------------------------------------------------------------

@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG], ids=["ping", "pong"])
def test_5_1_fragmented_control_1002(ws, opcode):
    """RFC 6455 5.5: control frames MUST NOT be fragmented."""
    c = ws()
    send_bad(c, build_frame(opcode, b"fragment1", fin=False) + build_frame(OP_CONT, b"fragment2"))
    expect_fail(c, PROTOCOL_ERROR)
    assert c.pongs == []


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("chop", [None, 1], ids=["whole", "chopped"])
def test_5_3_two_fragments(ws, opcode, chop):
    c = ws()
    c.send_raw(build_frame(opcode, b"fragment1", fin=False) + build_frame(OP_CONT, b"fragment2"),
               chop=chop)
    c.expect_echo(opcode, b"fragment1fragment2")


@pytest.mark.parametrize("chop", [None, 1], ids=["whole", "chopped"])
def test_5_6_ping_between_fragments(ws, chop):
    """A control frame may be injected in the middle of a fragmented message (5.4): the
    ping is answered and the message still delivered."""
    c = ws()
    c.send_raw(build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_PING, b"pongme!")
               + build_frame(OP_CONT, b"fragment2"), chop=chop)
    assert c.recv_pong() == b"pongme!"
    c.expect_echo(OP_TEXT, b"fragment1fragment2")


def test_5_6b_ping_between_fragments_in_separate_writes(ws):
    """The pong must come before the message completes (it is not queued behind it)."""
    c = ws()
    c.send_frame(OP_TEXT, b"fragment1", fin=False)
    c.send_ping(b"early pong")
    assert c.recv_pong() == b"early pong"
    c.send_frame(OP_CONT, b"fragment2")
    c.expect_echo(OP_TEXT, b"fragment1fragment2")


def test_5_8_pong_between_fragments_ignored(ws):
    c = ws()
    c.send_raw(build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_PONG, b"unsolicited")
               + build_frame(OP_CONT, b"fragment2"))
    c.expect_echo(OP_TEXT, b"fragment1fragment2")
    assert c.sync() == [] and c.pongs == []


def test_5_9_continuation_without_start_1002(ws):
    c = ws()
    send_bad(c, build_frame(OP_CONT, b"non-continuation payload") + build_frame(OP_TEXT, b"Hello"))
    expect_fail(c, PROTOCOL_ERROR)


def test_5_10_unfinished_continuation_without_start_1002(ws):
    c = ws()
    send_bad(c, build_frame(OP_CONT, b"fragment1", fin=False) + build_frame(OP_CONT, b"fragment2")
                  + build_frame(OP_TEXT, b"Hello"))
    expect_fail(c, PROTOCOL_ERROR)


@pytest.mark.ref_diverges("websockets fails the connection before its handler echoes frames "
                          "that arrived in the same read")
def test_5_11_continuation_after_complete_message_1002(ws):
    c = ws()
    send_bad(c, build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_CONT, b"fragment2")
                  + build_frame(OP_CONT, b"fragment3"))
    expect_fail(c, PROTOCOL_ERROR, echoes=[(OP_TEXT, b"fragment1fragment2")])


@pytest.mark.parametrize("second", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("second_fin", [True, False], ids=["fin", "nofin"])
def test_5_12_new_message_inside_fragmented_1002(ws, second, second_fin):
    c = ws()
    send_bad(c, build_frame(OP_TEXT, b"fragment1", fin=False)
                  + build_frame(second, b"fragment2", fin=second_fin)
                  + build_frame(OP_CONT, b"fragment3"))
    expect_fail(c, PROTOCOL_ERROR)


def test_5_14_empty_fragments(ws):
    c = ws()
    c.send_raw(build_frame(OP_TEXT, b"", fin=False) + build_frame(OP_CONT, b"", fin=False)
               + build_frame(OP_CONT, b"middle", fin=False) + build_frame(OP_CONT, b""))
    c.expect_echo(OP_TEXT, b"middle")
    c.send_raw(build_frame(OP_BINARY, b"", fin=False) + build_frame(OP_CONT, b""))
    c.expect_echo(OP_BINARY, b"")


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_5_15_many_one_byte_fragments(ws, opcode):
    payload = text_payload(2000) if opcode == OP_TEXT else binary_payload(2000)
    c = ws()
    c.send_raw(b"".join(data_frames(opcode, payload, 1)))
    c.expect_echo(opcode, payload)


def test_5_16_fragmented_messages_back_to_back(ws):
    c = ws()
    wire = b""
    expected = []
    for i in range(1, 8):
        p = text_payload(i * 100, seed=i)
        wire += b"".join(data_frames(OP_TEXT if i % 2 else OP_BINARY, p, 33))
        expected.append((OP_TEXT if i % 2 else OP_BINARY, p))
    c.send_raw(wire)
    for op, p in expected:
        c.expect_echo(op, p)


def test_5_17_pings_between_many_fragments(ws):
    c = ws()
    wire = b""
    parts = [f"part{i};".encode() for i in range(20)]
    for i, p in enumerate(parts):
        wire += build_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(parts) - 1)
        if i < len(parts) - 1:
            wire += build_frame(OP_PING, f"ping{i}".encode())
    c.send_raw(wire)
    c.expect_echo(OP_TEXT, b"".join(parts))
    pings = [f"ping{i}".encode() for i in range(19)]
    pongs = []
    while not pongs or pongs[-1] != pings[-1]:
        pongs.append(c.recv_pong())
    it = iter(pings)  # RFC 6455 5.5.3: only the most recent of unanswered pings must be answered
    assert all(p in it for p in pongs), f"pongs {pongs} are not an ordered subset of the pings"


# --- 6: UTF-8 ----------------------------------------------------------------------------

VALID_UTF8 = {
    "ascii": b"Hello, World!",
    "autobahn-6.2": "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "kosme": "κόσμε".encode(),
    "4-byte": "𝄞 music, 😀 emoji, 𠜎 cjk-ext".encode(),
    "U+0000": b"\x00",
    "U+007F": b"\x7f",
    "U+0080": b"\xc2\x80",
    "U+07FF": b"\xdf\xbf",
    "U+0800": b"\xe0\xa0\x80",
    "U+D7FF": b"\xed\x9f\xbf",
    "U+E000": b"\xee\x80\x80",
    "U+FEFF-bom": b"\xef\xbb\xbf",
    "U+FFFD": b"\xef\xbf\xbd",
    "U+FFFF": b"\xef\xbf\xbf",
    "U+10000": b"\xf0\x90\x80\x80",
    "U+10FFFF": b"\xf4\x8f\xbf\xbf",
    "noncharacters": b"\xef\xb7\x90\xef\xbf\xbe\xf4\x8f\xbf\xbe",
    "mixed": "a\u00e9\u20ac\U0001F600z".encode() * 10,
}

INVALID_UTF8 = {
    "lone-continuation-80": b"\x80",
    "lone-continuation-bf": b"ab\xbfcd",
    "continuations-x4": b"\x80\x81\x82\x83",
    "start-without-continuation": b"\xc2 ",
    "kosme-edited": "κόσμε".encode() + b"\xed\xa0\x80edited",
    "overlong-nul-2": b"\xc0\x80",
    "overlong-slash-2": b"\xc0\xaf",
    "overlong-c1": b"\xc1\xbf",
    "overlong-3": b"\xe0\x80\xaf",
    "overlong-3-max": b"\xe0\x9f\xbf",
    "overlong-4": b"\xf0\x80\x80\xaf",
    "overlong-4-max": b"\xf0\x8f\xbf\xbf",
    "surrogate-d800": b"\xed\xa0\x80",
    "surrogate-dbff": b"\xed\xaf\xbf",
    "surrogate-dc00": b"\xed\xb0\x80",
    "surrogate-dfff": b"\xed\xbf\xbf",
    "surrogate-pair": b"\xed\xa0\x80\xed\xb0\x80",
    "above-10ffff-f4-90": b"\xf4\x90\x80\x80",
    "above-10ffff-f5": b"\xf5\x80\x80\x80",
    "above-10ffff-f7": b"\xf7\xbf\xbf\xbf",
    "5-byte": b"\xf8\x88\x80\x80\x80",
    "6-byte": b"\xfc\x84\x80\x80\x80\x80",
    "fe": b"\xfe",
    "ff": b"\xff",
    "fe-fe-ff-ff": b"\xfe\xfe\xff\xff",
    "truncated-2-at-end": "κόσμ".encode() + b"\xce",
    "truncated-3-at-end": b"abc\xe2\x82",
    "truncated-4-at-end": b"abc\xf0\x9d\x84",
    "truncated-3-middle": b"a\xe2\x82b",
    "truncated-4-middle": b"a\xf0\x9d\x84b",
    "invalid-after-valid-64k": text_payload(65536) + b"\xff",
}


@pytest.mark.parametrize("name", list(VALID_UTF8))
def test_6_valid_utf8_echoed(ws, name):
    c = ws()
    c.send_text(VALID_UTF8[name])
    c.expect_echo(OP_TEXT, VALID_UTF8[name])


@pytest.mark.parametrize("name", list(INVALID_UTF8))
def test_6_invalid_utf8_1007(ws, name):
    c = ws()
    send_bad(c, build_frame(OP_TEXT, INVALID_UTF8[name]))
    expect_fail(c, INVALID_DATA)


@pytest.mark.parametrize("name", ["kosme-edited", "overlong-3", "surrogate-d800", "above-10ffff-f4-90"])
def test_6_invalid_utf8_one_byte_fragments_1007(ws, name):
    """Invalid text sent as 1-byte fragments: 1007, whether detected fail-fast or at the
    end of the message; no invalid text may be echoed."""
    c = ws()
    send_bad(c, b"".join(data_frames(OP_TEXT, INVALID_UTF8[name], 1)))
    frames = c.expect_close(INVALID_DATA, allow_data=True)
    assert messages_of(frames) == []


@pytest.mark.parametrize("text", ["κόσμε", "a€b", "𝄞x", "x😀", "é€😀𐍈"])
def test_6_valid_split_at_every_byte_boundary(ws, text):
    """A valid text in two fragments split at every byte offset (inside multibyte
    characters too), and as 1-byte fragments: each is echoed intact."""
    data = text.encode("utf-8")
    c = ws()
    wire = b""
    for i in range(1, len(data)):
        wire += build_frame(OP_TEXT, data[:i], fin=False) + build_frame(OP_CONT, data[i:])
    wire += b"".join(data_frames(OP_TEXT, data, 1))
    c.send_raw(wire)
    for _ in range(len(data)):
        c.expect_echo(OP_TEXT, data)


@pytest.mark.parametrize("fragments", [
    [b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce", b"\xbc\xce\xb5\xed\xa0\x80edited"],  # surrogate in frag 2
    [b"ab\xf4", b"\x90\x80\x80cd"],            # > U+10FFFF across the boundary
    [b"ab\xe0", b"\x80\xafcd"],                # overlong across the boundary
    [b"ab\xed\xa0", b"\x80cd"],                # surrogate across the boundary
    [b"abc\xe2\x82", b""],                     # message ends inside a character
    [b"abc\xf0", b"\x9d", b"\x84"],            # 4-byte char never completed
    [b"valid", b"\xff", b"valid"],             # invalid byte in a middle fragment
    [b"\xc2", b"\xc2\xa9"],                    # start byte followed by a start byte
], ids=["surrogate-frag2", "above-max-split", "overlong-split", "surrogate-split",
        "ends-in-char", "never-completed", "ff-middle", "start-start"])
def test_6_invalid_across_fragments_1007(ws, fragments):
    c = ws()
    wire = b"".join(build_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(fragments) - 1)
                    for i, p in enumerate(fragments))
    send_bad(c, wire)
    frames = c.expect_close(INVALID_DATA, allow_data=True)
    assert messages_of(frames) == []


def test_6_fail_fast_before_message_end(ws):
    """Autobahn 6.4.x: invalid UTF-8 in the first fragment, then the message stays open.
    Fail-fast is allowed but not required; once the message is finished the server must
    have closed with 1007."""
    c = ws()
    c.send_frame(OP_TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80", fin=False)
    send_tolerant(c, build_frame(OP_CONT, b"edited", fin=False))
    send_bad(c, build_frame(OP_CONT, b"end"))
    frames = c.expect_close(INVALID_DATA, allow_data=True)
    assert messages_of(frames) == []


def test_6_invalid_text_then_valid_not_echoed(ws):
    c = ws()
    send_bad(c, build_frame(OP_TEXT, b"\xff") + build_frame(OP_TEXT, b"never echoed"))
    expect_fail(c, INVALID_DATA)


def test_6_binary_is_not_validated(ws):
    c = ws()
    payload = b"\xff\xfe\xed\xa0\x80\xc0\x80"
    c.send_binary(payload)
    c.expect_echo(OP_BINARY, payload)


# --- 7: close handling -------------------------------------------------------------------

def test_7_1_1_echo_then_close(ws):
    c = ws()
    c.send_text("Hello World")
    c.expect_echo(OP_TEXT, b"Hello World")
    c.send_close(1000)
    c.expect_close(1000)


def test_7_1_2_close_twice(ws):
    c = ws()
    send_tolerant(c, build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_CLOSE, close_payload(1000)))
    c.expect_close(1000)


def test_7_1_3_ping_after_close_ignored(ws):
    c = ws()
    send_tolerant(c, build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_PING, b"after close"))
    c.expect_close(1000)
    assert c.pongs == [], "a ping after the close frame must be ignored"


def test_7_1_4_text_after_close_ignored(ws):
    c = ws()
    send_tolerant(c, build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, b"after close"))
    c.expect_close(1000)  # asserts no data frame before the close


def test_7_1_5_fragmented_text_interrupted_by_close(ws):
    c = ws()
    send_tolerant(c, build_frame(OP_TEXT, b"fragment1", fin=False)
                  + build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_CONT, b"fragment2"))
    c.expect_close(1000)


def test_7_1_6_large_message_ping_close(ws):
    """Autobahn 7.1.6: a 256 KiB text, a ping and a close back to back. Whether the echo
    (and pong) still go out before the close reply is up to the implementation (RFC 6455
    5.5.1: no data frame after the close); if the echo is sent, it is complete."""
    c = ws()
    payload = text_payload(256 * 1024)
    c.send_raw_background(build_frame(OP_TEXT, payload) + build_frame(OP_PING, b"ping")
                          + build_frame(OP_CLOSE, close_payload(1000)))
    frames = c.expect_close(1000, t=timeout(30), allow_data=True)
    assert c.join_sender() is None
    assert messages_of(frames) in ([], [(OP_TEXT, payload)])
    assert c.pongs in ([], [b"ping"])


def test_7_3_1_close_empty_payload(ws):
    """RFC 6455 5.5.1: a close without status is answered by a close; its body may be empty
    or carry 1000 (never 1005)."""
    c = ws()
    c.send_close()
    c.expect_close((None, 1000))


def test_7_3_2_close_one_byte_payload_1002(ws):
    c = ws()
    send_bad(c, build_frame(OP_CLOSE, b"\x03"))
    c.expect_close(PROTOCOL_ERROR)


def test_7_3_3_close_1000_empty_reason(ws):
    c = ws()
    c.send_close(1000, b"")
    c.expect_close(1000)


def test_7_3_4_close_with_reason(ws):
    c = ws()
    c.send_close(1000, "Hello World! κόσμε")
    c.expect_close(1000)


def test_7_3_5_close_max_reason_123(ws):
    c = ws()
    c.send_close(1000, b"*" * 123)
    c.expect_close(1000)


def test_7_3_6_close_reason_124_too_long_1002(ws):
    """2 + 124 = 126 bytes: over the control frame limit."""
    c = ws()
    send_bad(c, build_frame(OP_CLOSE, close_payload(1000, b"*" * 124)))
    c.expect_close(PROTOCOL_ERROR)


def test_7_5_1_close_reason_invalid_utf8_1007(ws):
    c = ws()
    send_bad(c, build_frame(OP_CLOSE, close_payload(1000, "κόσμε".encode() + b"\xed\xa0\x80edited")))
    c.expect_close(INVALID_DATA)


@pytest.mark.parametrize("reason", [b"\xff", b"\xc0\x80", b"ab\xe2\x82"],
                         ids=["ff", "overlong", "truncated"])
def test_7_5_2_close_reason_invalid_utf8_variants_1007(ws, reason):
    c = ws()
    send_bad(c, build_frame(OP_CLOSE, close_payload(1001, reason)))
    c.expect_close(INVALID_DATA)


VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
               3000, 3999, 4000, 4999]


@pytest.mark.parametrize("code", VALID_CODES)
def test_7_7_valid_close_code_echoed(ws, code):
    c = ws()
    c.send_close(code)
    c.expect_close(code)


INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", INVALID_CODES)
def test_7_9_invalid_close_code_1002(ws, code):
    c = ws()
    send_bad(c, build_frame(OP_CLOSE, close_payload(code)))
    c.expect_close(PROTOCOL_ERROR)


def test_7_13_close_chopped_single_bytes(ws):
    c = ws()
    c.send_close(1000, b"bye", chop=1)
    c.expect_close(1000)


# --- 9: limits ---------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1 * MIB, 4 * MIB, 16 * MIB], ids=["1MiB", "4MiB", "16MiB"])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_9_1_large_single_frame(ws, opcode, size):
    payload = text_payload(size, seed=size) if opcode == OP_TEXT else binary_payload(size, seed=size)
    c = ws()
    echo_roundtrip(c, opcode, payload)


@pytest.mark.parametrize("size,frame_size", [(1 * MIB, 64), (4 * MIB, 4096), (16 * MIB, 65536)],
                         ids=["1MiB-64B", "4MiB-4KiB", "16MiB-64KiB"])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_9_3_large_fragmented(ws, opcode, size, frame_size):
    payload = text_payload(size, seed=size) if opcode == OP_TEXT else binary_payload(size, seed=size)
    c = ws()
    echo_roundtrip(c, opcode, payload, frame_size=frame_size)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_9_3_random_frame_sizes(ws, opcode):
    """4 MiB in frames of random sizes between 64 bytes and 64 KiB, in 1000-byte writes."""
    size = 4 * MIB
    payload = text_payload(size, seed=7) if opcode == OP_TEXT else binary_payload(size, seed=7)
    rng = random.Random(42)
    frames, pos = [], 0
    while pos < size:
        n = min(rng.randint(64, 65536), size - pos)
        frames.append(build_frame(opcode if pos == 0 else OP_CONT, payload[pos:pos + n],
                                  fin=pos + n == size))
        pos += n
    c = ws()
    c.send_raw_background(b"".join(frames), chop=1000 if opcode == OP_TEXT else None)
    c.expect_echo(opcode, payload, t=timeout(60))
    assert c.join_sender() is None


def test_9_exactly_max_then_more_messages(ws):
    """After a 16 MiB message the connection is still fully usable."""
    c = ws()
    echo_roundtrip(c, OP_BINARY, binary_payload(MAX_MESSAGE, seed=3))
    c.send_text("small after big")
    c.expect_echo(OP_TEXT, b"small after big")


def expect_too_big(c, wire):
    """Sends wire in the background (the server may fail before reading it all) and
    expects close 1009 and the TCP close; nothing may be echoed."""
    c.send_raw_background(wire)
    try:
        frames = c.expect_close(TOO_BIG, t=timeout(20), allow_data=True)
    finally:
        c.join_sender()  # a broken pipe here is fine: the server stopped reading
    assert messages_of(frames) == [], "an over-long message must not be echoed"


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_9_too_big_single_frame_1009(ws, opcode):
    size = MAX_MESSAGE + 1
    payload = text_payload(size) if opcode == OP_TEXT else binary_payload(size)
    expect_too_big(ws(), build_frame(opcode, payload))


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_9_too_big_fragmented_1009(ws, opcode):
    """16 MiB in 64 KiB frames, then one more byte in the final frame."""
    payload = text_payload(MAX_MESSAGE) if opcode == OP_TEXT else binary_payload(MAX_MESSAGE)
    wire = b"".join(build_frame(opcode if i == 0 else OP_CONT, p, fin=False)
                    for i, p in enumerate(fragment(payload, 65536)))
    wire += build_frame(OP_CONT, b"x")
    expect_too_big(ws(), wire)


def test_9_too_big_announced_only_1009(ws):
    """A frame header announcing 1 GiB: the server must refuse without waiting for it."""
    c = ws()
    c.send_raw(build_frame(OP_BINARY, b"", length=1 << 30)[:-4] + b"\x01\x02\x03\x04" + b"abc")
    frames = c.expect_close(TOO_BIG, allow_data=True)
    assert messages_of(frames) == []


# --- 10: auto-fragmentation --------------------------------------------------------------

@pytest.mark.parametrize("frame_size", [1300, 4000, 65535])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_10_1_small_frames_echoed_identically(ws, opcode, frame_size):
    """Autobahn 10.1.1: a 64 KiB message sent as small frames comes back with identical
    content, however the server frames its answer (recv_message reassembles)."""
    payload = text_payload(65536, seed=frame_size) if opcode == OP_TEXT else binary_payload(65536)
    c = ws()
    echo_roundtrip(c, opcode, payload, frame_size=frame_size)


def test_10_2_fragmented_and_chopped(ws):
    payload = text_payload(65536, seed=99)
    c = ws()
    echo_roundtrip(c, OP_TEXT, payload, frame_size=1300, chop=1000)


# --- robustness ----------------------------------------------------------------------------

@pytest.mark.parametrize("cut", ["handshake", "frame-header", "frame-payload", "rst"])
def test_r_abrupt_disconnect_then_server_still_serves(ws, cut):
    c = ws(handshake=cut != "handshake")
    if cut == "handshake":
        c.send_raw(handshake_request()[:30])
    elif cut == "frame-header":
        c.send_raw(build_frame(OP_TEXT, b"x" * 1000)[:3])
    elif cut == "frame-payload":
        c.send_raw(build_frame(OP_TEXT, b"x" * 100000)[:5000])
    else:
        c.send_raw(build_frame(OP_TEXT, b"x" * 1000)[:500])
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close_socket()
    d = ws()
    d.send_text("next client")
    d.expect_echo(OP_TEXT, b"next client")


def test_r_client_closes_without_close_frame_during_echo(ws):
    """The client vanishes while the server writes a large echo."""
    c = ws()
    c.send_raw_background(build_frame(OP_BINARY, binary_payload(4 * MIB)))
    c.join_sender()
    c.close_socket()
    d = ws()
    d.send_binary(b"still alive")
    d.expect_echo(OP_BINARY, b"still alive")


# --- python3-websockets as a well-behaved client -----------------------------------------

def test_websockets_client_concurrent(ws_port):
    import websockets

    async def one(i):
        uri = f"ws://127.0.0.1:{ws_port}/client/{i}"
        async with websockets.connect(uri, max_size=None, compression=None, ping_interval=None,
                                      open_timeout=timeout(10), close_timeout=timeout(10)) as conn:
            for j in range(20):
                if j % 2:
                    msg = text_payload((i * 7919 + j * 104729) % 70000, seed=j).decode()
                else:
                    msg = binary_payload((i * 3571 + j * 7001) % 70000, seed=j)
                await conn.send(msg)
                got = await conn.recv()
                assert type(got) is type(msg) and got == msg, f"conn {i} message {j} differs"
            # several messages in flight before reading
            msgs = [f"burst {i}-{k} κόσμε" for k in range(10)]
            for m in msgs:
                await conn.send(m)
            for m in msgs:
                assert await conn.recv() == m
            await conn.ping(b"lib-ping")
        assert conn.close_code == 1000, conn.close_code
        return i

    async def main():
        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(10))), timeout(90))

    assert sorted(asyncio.run(main())) == list(range(10))


def test_websockets_client_large_message(ws_port):
    import websockets

    async def main():
        async with websockets.connect(f"ws://127.0.0.1:{ws_port}/", max_size=None,
                                      compression=None, ping_interval=None) as conn:
            big = binary_payload(8 * MIB, seed=5)
            await conn.send(big)
            assert await conn.recv() == big
            text = text_payload(2 * MIB, seed=6).decode()
            await conn.send(text)
            assert await conn.recv() == text
            # a fragmented message sent through the library's iterator API
            await conn.send(iter(["frag1-", "frag2-", "κόσμε"]))
            assert await conn.recv() == "frag1-frag2-κόσμε"
            await conn.close(code=4001, reason="custom")
            return conn.close_code

    assert asyncio.run(asyncio.wait_for(main(), timeout(90))) == 4001
