"""A small raw-socket WebSocket client for conformance tests (RFC 6455).

Unlike a well-behaved client library, it can send anything: unmasked frames, RSV bits,
reserved opcodes, oversized or fragmented control frames, bad close codes, invalid UTF-8,
and it can chop its TCP writes at any size. It checks what the server sends back against
RFC 6455: server frames must be unmasked, carry no RSV bits (no extension is negotiated),
and use the minimal length encoding (section 5.2).

Loopback only: every connection goes to 127.0.0.1.
"""
import base64
import hashlib
import os
import socket
import struct
import threading
import time

HOST = "127.0.0.1"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# Payload of the ping a test sends right after a frame that must fail the connection: a
# server that fails as it must (RFC 6455 7.1.7: no more processing of incoming data) never
# answers it, and a pong for it reveals at once a server that carried on.
PROBE = b"probe: answering this ping is a violation"

RSV1 = 0x4
RSV2 = 0x2
RSV3 = 0x1


def slowdown():
    """The factor by which every timeout is stretched (DALLY_TEST_SLOWDOWN, default 1);
    sanitizer builds set it, since their servers run 3-10x slower."""
    try:
        return max(1.0, float(os.environ.get("DALLY_TEST_SLOWDOWN", "1")))
    except ValueError:
        return 1.0


def timeout(seconds):
    """A timeout in seconds, stretched by the slowdown factor."""
    return seconds * slowdown()


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2, item 5.4)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def new_key():
    return base64.b64encode(os.urandom(16)).decode("ascii")


def mask_payload(payload, mask_key):
    """XORs payload with the 4-byte masking key (RFC 6455 section 5.3), fast for large
    payloads (one big-integer XOR instead of a per-byte loop)."""
    n = len(payload)
    if n == 0:
        return b""
    if n < 64:
        return bytes(b ^ mask_key[i & 3] for i, b in enumerate(payload))
    keystream = (mask_key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(keystream, "little")).to_bytes(n, "little")


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None, length=None):
    """One frame as bytes. rsv is a 3-bit value (RSV1=4, RSV2=2, RSV3=1). length overrides
    the payload length written in the header (to announce more than is sent)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    payload = bytes(payload)
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    if n <= 125:
        header = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        if mask_key is None:
            mask_key = os.urandom(4)
        return header + mask_key + mask_payload(payload, mask_key)
    return header + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


def fragment(data, size):
    """Splits data into pieces of at most size bytes (at least one piece, possibly empty)."""
    if not data:
        return [b""]
    return [data[i:i + size] for i in range(0, len(data), size)]


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload", "minimal_length")

    def __init__(self, fin, rsv, opcode, masked, payload, minimal_length):
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.masked = masked
        self.payload = payload
        self.minimal_length = minimal_length

    @property
    def close_code(self):
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self):
        return self.payload[2:]

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return (f"Frame(fin={self.fin}, rsv={self.rsv}, opcode={self.opcode:#x}, "
                f"len={len(self.payload)}, payload={p!r})")


class ServerClosed(Exception):
    """The server's TCP stream ended (EOF or reset) while a frame or message was expected."""


class CloseReceived(Exception):
    """A close frame arrived while a data message was expected."""

    def __init__(self, frame, messages):
        super().__init__(f"close frame received: code={frame.close_code} "
                         f"reason={frame.close_reason!r}")
        self.frame = frame
        self.messages = messages


class ProtocolViolation(AssertionError):
    """The server sent something RFC 6455 forbids."""


class HandshakeResponse:
    def __init__(self, status, reason, headers, raw):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.raw = raw

    def header(self, name):
        """The value of a header (values of repeated headers joined with ', '), or None."""
        vals = [v for k, v in self.headers if k == name.lower()]
        return ", ".join(vals) if vals else None

    def tokens(self, name):
        v = self.header(name)
        return [t.strip().lower() for t in v.split(",")] if v else []


def handshake_request(path="/", key=None, method="GET", version="HTTP/1.1", host=None,
                      upgrade="websocket", connection="Upgrade", ws_version="13",
                      extra=(), omit=()):
    """The opening handshake as bytes. A header given as None (or named in omit) is left
    out; extra is a list of (name, value) added at the end."""
    if key is None:
        key = new_key()
    omit = [o.lower() for o in omit]
    headers = [
        ("Host", host or "127.0.0.1"),
        ("Upgrade", upgrade),
        ("Connection", connection),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", ws_version),
    ]
    lines = [f"{method} {path} {version}"]
    for name, value in list(headers) + list(extra):
        if value is None or name.lower() in omit:
            continue
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class WSConn:
    """One raw TCP connection to a WebSocket server.

    All reads go through an internal buffer with a deadline; every blocking call is bounded
    by the socket timeout (default timeout(5) seconds)."""

    def __init__(self, port, read_timeout=None):
        self.port = port
        self.read_timeout = read_timeout if read_timeout is not None else timeout(5)
        self.sock = socket.create_connection((HOST, port), timeout=self.read_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.pongs = []          # payloads of pong frames seen while reading messages
        self.key = None
        self.response = None
        self._sender = None
        self._send_error = None

    # --- lifecycle -------------------------------------------------------------------

    def close_socket(self):
        if self._sender is not None:
            self._sender.join(timeout(5))
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close_socket()

    # --- raw I/O ---------------------------------------------------------------------

    def send_raw(self, data, chop=None, delay=0.0):
        """Sends bytes, optionally as separate TCP writes of at most chop bytes each
        (TCP_NODELAY is on, and delay seconds between writes make separate segments
        likely). Raises OSError if the server already closed."""
        if chop is None:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chop):
            self.sock.sendall(data[i:i + chop])
            if delay:
                time.sleep(delay)

    def send_raw_background(self, data, chop=None):
        """Sends in a thread, so that the caller can read the echo of a large message
        concurrently (no deadlock when both directions fill their buffers). Send errors
        (the server closed early) are recorded, not raised; see join_sender()."""
        assert self._sender is None, "one background send at a time"

        def run():
            try:
                self.send_raw(data, chop)
            except OSError as e:
                self._send_error = e

        self._send_error = None
        self._sender = threading.Thread(target=run, daemon=True)
        self._sender.start()

    def join_sender(self):
        """Waits for a background send; returns the OSError it met, or None."""
        if self._sender is not None:
            self._sender.join(timeout(120))
            assert not self._sender.is_alive(), "background send did not finish"
            self._sender = None
        return self._send_error

    def _fill(self, deadline):
        """Reads more bytes into the buffer. Raises ServerClosed on EOF or reset."""
        if self.eof:
            raise ServerClosed("connection already closed by the server")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out waiting for data from the server")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("timed out waiting for data from the server") from None
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as e:
            self.eof = True
            raise ServerClosed(f"connection reset by the server: {e}") from None
        finally:
            self.sock.settimeout(self.read_timeout)
        if not chunk:
            self.eof = True
            raise ServerClosed("connection closed by the server (EOF)")
        self.buf += chunk

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _deadline(self, t):
        return time.monotonic() + (self.read_timeout if t is None else t)

    # --- handshake -------------------------------------------------------------------

    def read_http_response(self, t=None, no_body=False):
        """Reads a response head (status line and headers) and, if a Content-Length is
        given, the status is not 101 and not no_body (a HEAD request), its body. Returns a
        HandshakeResponse."""
        deadline = self._deadline(t)
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ProtocolViolation("response head longer than 64 KiB")
            self._fill(deadline)
        end = self.buf.index(b"\r\n\r\n") + 4
        head = bytes(self.buf[:end])
        del self.buf[:end]
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolViolation(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        resp = HandshakeResponse(status, reason, headers, head)
        if status != 101 and not no_body:
            cl = resp.header("content-length")
            if cl is not None and cl.isdigit():
                body = self._read_exact(int(cl), deadline)
                resp.raw += body
        return resp

    def handshake(self, path="/", chop=None, check=True, **kw):
        """Sends an opening handshake and reads the response. With check, asserts a valid
        101 answer (RFC 6455 section 4.2.2) and returns it."""
        key = kw.pop("key", None) or new_key()
        self.key = key
        self.send_raw(handshake_request(path, key=key, **kw), chop=chop)
        resp = self.read_http_response()
        self.response = resp
        if check:
            check_101(resp, key)
        return resp

    # --- frames ----------------------------------------------------------------------

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, mask=True, chop=None, **kw):
        self.send_raw(build_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask, **kw), chop=chop)

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text.encode("utf-8") if isinstance(text, str) else text, **kw)

    def send_binary(self, data, **kw):
        self.send_frame(OP_BINARY, data, **kw)

    def send_ping(self, payload=b"", **kw):
        self.send_frame(OP_PING, payload, **kw)

    def send_pong(self, payload=b"", **kw):
        self.send_frame(OP_PONG, payload, **kw)

    def send_close(self, code=None, reason=b"", **kw):
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def recv_frame(self, t=None):
        """Reads one frame from the server and checks the server-side rules: no mask, no
        RSV bits, minimal length encoding, 64-bit length with MSB clear, control frames
        unfragmented and at most 125 bytes."""
        deadline = self._deadline(t)
        b0, b1 = self._read_exact(2, deadline)
        fin = bool(b0 & 0x80)
        rsv = (b0 >> 4) & 7
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        minimal = True
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2, deadline))[0]
            minimal = n > 125
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8, deadline))[0]
            if n >> 63:
                raise ProtocolViolation("server frame: 64-bit length with the MSB set")
            minimal = n > 0xFFFF
        mask_key = self._read_exact(4, deadline) if masked else None
        payload = self._read_exact(n, deadline)
        if masked:
            payload = mask_payload(payload, mask_key)
        f = Frame(fin, rsv, opcode, masked, payload, minimal)
        if masked:
            raise ProtocolViolation(f"server sent a masked frame (RFC 6455 5.1): {f}")
        if rsv:
            raise ProtocolViolation(f"server sent RSV bits without an extension: {f}")
        if not minimal:
            raise ProtocolViolation(f"server frame length not minimally encoded (5.2): {f}")
        if opcode in (OP_CLOSE, OP_PING, OP_PONG):
            if not fin:
                raise ProtocolViolation(f"server sent a fragmented control frame: {f}")
            if n > 125:
                raise ProtocolViolation(f"server control frame longer than 125 bytes: {f}")
        elif opcode not in (OP_CONT, OP_TEXT, OP_BINARY):
            raise ProtocolViolation(f"server sent a reserved opcode: {f}")
        return f

    def recv_message(self, t=None):
        """Reads one complete data message, reassembling fragments (the server may split
        its output). Pongs met on the way go to self.pongs; server pings are answered.
        Returns (opcode, payload). Raises CloseReceived on a close frame."""
        deadline = self._deadline(t)
        opcode = None
        parts = []
        while True:
            f = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if f.opcode == OP_PONG:
                self.pongs.append(f.payload)
                continue
            if f.opcode == OP_PING:
                try:
                    self.send_pong(f.payload)
                except OSError:
                    pass
                continue
            if f.opcode == OP_CLOSE:
                raise CloseReceived(f, [])
            if f.opcode == OP_CONT:
                if opcode is None:
                    raise ProtocolViolation("server sent a continuation without a start")
            else:
                if opcode is not None:
                    raise ProtocolViolation("server started a new message inside a fragmented one")
                opcode = f.opcode
            parts.append(f.payload)
            if f.fin:
                payload = b"".join(parts)
                if opcode == OP_TEXT:
                    try:
                        payload.decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise ProtocolViolation(f"server sent invalid UTF-8 text: {e}") from None
                return opcode, payload

    def recv_pong(self, t=None):
        """The payload of the next pong (a pong seen earlier by recv_message first).
        Data messages met on the way are an error."""
        if self.pongs:
            return self.pongs.pop(0)
        deadline = self._deadline(t)
        while True:
            f = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if f.opcode == OP_PONG:
                return f.payload
            if f.opcode == OP_PING:
                self.send_pong(f.payload)
                continue
            if f.opcode == OP_CLOSE:
                raise CloseReceived(f, [])
            raise ProtocolViolation(f"expected a pong, got {f}")

    def expect_echo(self, opcode, payload, t=None):
        """Reads the next message and asserts it is exactly (opcode, payload)."""
        got_op, got = self.recv_message(t)
        assert got_op == opcode, f"echo opcode {got_op:#x}, expected {opcode:#x}"
        if got != payload:
            raise AssertionError(f"echo differs: got {len(got)} bytes, expected {len(payload)}; "
                                 f"first difference at byte {first_diff(got, payload)}")

    def sync(self, token=b"sync", t=None):
        """A barrier: sends a ping and reads up to its pong. Returns the data messages
        received before it (pongs with other payloads are kept in self.pongs)."""
        self.send_ping(token)
        deadline = self._deadline(t)
        messages = []
        while True:
            f = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if f.opcode == OP_PONG:
                if f.payload == token:
                    return messages
                self.pongs.append(f.payload)
            elif f.opcode == OP_PING:
                self.send_pong(f.payload)
            elif f.opcode == OP_CLOSE:
                raise CloseReceived(f, messages)
            else:
                messages.append(f)

    def wait_close_frame(self, t=None):
        """Reads frames until a close frame; returns (close frame, data frames before it).
        Pongs are kept in self.pongs. Raises ServerClosed if the TCP connection ends first."""
        deadline = self._deadline(t)
        frames = []
        while True:
            f = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if f.opcode == OP_CLOSE:
                return f, frames
            if f.opcode == OP_PONG:
                if f.payload == PROBE:
                    raise AssertionError(
                        "the server answered the ping sent after a frame that must fail the "
                        "connection: it went on processing instead of failing (RFC 6455 7.1.7); "
                        f"data frames before: {frames}")
                self.pongs.append(f.payload)
            elif f.opcode == OP_PING:
                pass  # we are closing; answering is optional
            else:
                frames.append(f)

    def wait_tcp_close(self, t=None):
        """True when the server ends the TCP connection (EOF or reset) within t seconds;
        bytes that arrive before are discarded. False on timeout."""
        deadline = self._deadline(t)
        self.buf.clear()
        while not self.eof:
            try:
                self._fill(deadline)
            except ServerClosed:
                return True
            except TimeoutError:
                return False
            self.buf.clear()
        return True

    def expect_close(self, codes, t=None, tcp_close=True, allow_data=False):
        """Asserts that the server sends a close frame with one of the codes (an int, a
        collection, or None for an empty payload) and then, if tcp_close, closes the TCP
        connection without waiting for our close reply (RFC 6455 7.1.7: _Fail the WebSocket
        Connection_ sends a close frame, then closes). Returns the data frames seen before
        the close (allow_data=False asserts there are none)."""
        if isinstance(codes, int) or codes is None:
            codes = (codes,)
        try:
            f, frames = self.wait_close_frame(t)
        except ServerClosed as e:
            raise AssertionError(f"expected a close frame with code {codes}, but the TCP "
                                 f"connection ended first ({e})") from None
        if not allow_data and frames:
            raise AssertionError(f"unexpected data frames before the close: {frames}")
        code = f.close_code
        assert code in codes, (f"close code {code} (payload {f.payload!r}), expected "
                               f"{' or '.join(str(c) for c in codes)}")
        if len(f.payload) > 2:
            try:
                f.close_reason.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolViolation("server close reason is not valid UTF-8") from None
        assert code not in (1005, 1006, 1015), f"server sent reserved close code {code} on the wire"
        if tcp_close:
            assert self.wait_tcp_close(timeout(5)), \
                "server did not close the TCP connection after its close frame"
        return frames


def check_101(resp, key):
    assert resp.status == 101, f"expected 101, got {resp.status} {resp.reason}: {resp.raw!r}"
    assert "websocket" in resp.tokens("upgrade"), f"Upgrade header: {resp.header('upgrade')!r}"
    assert "upgrade" in resp.tokens("connection"), f"Connection header: {resp.header('connection')!r}"
    assert resp.header("sec-websocket-accept") == accept_key(key), \
        f"Sec-WebSocket-Accept {resp.header('sec-websocket-accept')!r}, expected {accept_key(key)!r}"


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def connect(port, path="/", **kw):
    """A connected, handshaken WSConn."""
    c = WSConn(port)
    try:
        c.handshake(path, **kw)
    except BaseException:
        c.close_socket()
        raise
    return c
