"""HTTP/1.1 integration tests for http_hello (RFC 9110/9112), with the standard library
(http.client, raw sockets) and curl.

http_hello answers GET / with `Hello, World!` (text/plain); other paths get 404; POST / gets
404 or 405. Limits: request target 8 KiB (414), header block 16 KiB (431), body 1 MiB (413).

Every response is parsed strictly (status line, CRLF header lines, framing by
Content-Length or chunked) and every read has a timeout (scaled by DALLY_TEST_SLOWDOWN).
Loopback only.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider test_http.py --http-hello PROG
"""
import asyncio
import datetime
import email.utils
import http.client
import re
import select
import socket
import struct
import subprocess
import time

import pytest

from wsclient import HOST, timeout

HELLO = b"Hello, World!"
MIB = 1024 * 1024
STATUS_LINE = re.compile(r"^HTTP/1\.[01] (\d{3}) [\x09\x20-\x7e\x80-\xff]*$")
HEADER_LINE = re.compile(r"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$")


class Response:
    def __init__(self, status, reason, version, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers  # list of (lower-case name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        vals = [v for k, v in self.headers if k == name.lower()]
        return ", ".join(vals) if vals else None

    def count(self, name):
        return sum(1 for k, _ in self.headers if k == name.lower())

    def tokens(self, name):
        v = self.header(name)
        return [t.strip().lower() for t in v.split(",")] if v else []

    @property
    def closes(self):
        """The response says the server will close the connection after it."""
        if "close" in self.tokens("connection"):
            return True
        return self.version == "HTTP/1.0" and "keep-alive" not in self.tokens("connection")

    def __repr__(self):
        return f"<Response {self.status} {self.raw_head[:300]!r} body={self.body[:80]!r}>"


class HTTPConn:
    """A raw HTTP/1.1 client connection with a strict response parser."""

    def __init__(self, port, t=None):
        self.read_timeout = t or timeout(5)
        self.sock = socket.create_connection((HOST, port), timeout=self.read_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data, chop=None, delay=0.0):
        if isinstance(data, str):
            data = data.encode("latin-1")
        if chop is None:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chop):
            self.sock.sendall(data[i:i + chop])
            if delay:
                time.sleep(delay)

    def _fill(self, deadline):
        if self.eof:
            raise ConnectionError("server closed the connection")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out waiting for the server")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("timed out waiting for the server") from None
        except ConnectionResetError:
            self.eof = True
            raise ConnectionError("server reset the connection") from None
        finally:
            self.sock.settimeout(self.read_timeout)
        if not chunk:
            self.eof = True
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self, deadline, limit=65536):
        while b"\r\n" not in self.buf:
            assert len(self.buf) < limit, "response line too long"
            self._fill(deadline)
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        assert b"\n" not in line and b"\r" not in line, f"bare CR/LF in response line {line!r}"
        return line.decode("latin-1")

    def _exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_response(self, head=False, t=None):
        """One response, parsed strictly. head: the request was HEAD (no body)."""
        deadline = time.monotonic() + (t or self.read_timeout)
        status_line = self._line(deadline)
        m = STATUS_LINE.match(status_line)
        assert m, f"malformed status line {status_line!r}"
        version = status_line[:8]
        status = int(m.group(1))
        reason = status_line[13:]
        headers = []
        raw = [status_line]
        while True:
            line = self._line(deadline)
            if not line:
                break
            raw.append(line)
            hm = HEADER_LINE.match(line)
            assert hm, f"malformed header line {line!r} in response {status_line!r}"
            headers.append((hm.group(1).lower(), hm.group(2)))
        resp = Response(status, reason, version, headers, b"", "\r\n".join(raw).encode("latin-1"))
        assert resp.count("content-length") <= 1, f"several Content-Length: {resp!r}"
        te = resp.tokens("transfer-encoding")
        cl = resp.header("content-length")
        if te and cl is not None:
            raise AssertionError(f"both Transfer-Encoding and Content-Length: {resp!r}")
        if cl is not None:
            assert cl.isdigit(), f"bad Content-Length {cl!r}"
        if head or 100 <= status < 200 or status in (204, 304):
            return resp
        if te:
            assert te[-1] == "chunked", f"unknown framing {te}"
            resp.body = self._chunked(deadline)
        elif cl is not None:
            resp.body = self._exact(int(cl), deadline)
        else:
            # close-delimited body (allowed, but then the server must close)
            body = bytearray()
            while True:
                try:
                    self._fill(deadline)
                except ConnectionError:
                    break
                body += self.buf
                self.buf.clear()
            resp.body = bytes(body)
        return resp

    def _chunked(self, deadline):
        body = bytearray()
        while True:
            size = self._line(deadline).split(";")[0].strip()
            assert re.fullmatch(r"[0-9A-Fa-f]+", size), f"bad chunk size {size!r}"
            n = int(size, 16)
            if n == 0:
                while self._line(deadline):
                    pass
                return bytes(body)
            body += self._exact(n, deadline)
            assert self._exact(2, deadline) == b"\r\n", "chunk not followed by CRLF"

    def read_final_response(self, t=None):
        """Skips 1xx interim responses."""
        while True:
            r = self.read_response(t=t)
            if r.status >= 200:
                return r

    def wait_closed(self, t=None):
        """True if the server closes (EOF or reset) within t seconds; data is discarded."""
        deadline = time.monotonic() + (t or timeout(5))
        self.buf.clear()
        while True:
            try:
                self._fill(deadline)
            except ConnectionError:
                return True
            except TimeoutError:
                return False
            self.buf.clear()


def request(method="GET", target="/", version="HTTP/1.1", headers=(("Host", "127.0.0.1"),),
            body=b""):
    lines = [f"{method} {target} {version}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


GET = request()


def check_hello(r):
    assert r.status == 200, r
    assert r.body == HELLO, r
    assert r.header("content-length") in (None, "13"), r
    ct = r.header("content-type")
    assert ct is not None and ct.lower().startswith("text/plain"), f"Content-Type {ct!r}"


def well_formed_error(r, statuses):
    statuses = (statuses,) if isinstance(statuses, int) else statuses
    assert r.status in statuses, f"status {r.status}, expected {statuses}: {r!r}"
    assert r.header("content-length") is not None or "chunked" in r.tokens("transfer-encoding") \
        or r.closes, f"response without framing: {r!r}"


@pytest.fixture
def conn(http_port):
    """A factory of raw connections to http_hello, all closed at the end of the test."""
    conns = []

    def make(t=None):
        c = HTTPConn(http_port, t)
        conns.append(c)
        return c

    yield make
    for c in conns:
        c.close()


# --- basic GET -----------------------------------------------------------------------------

def test_get_root_body_and_headers(conn):
    c = conn()
    c.send(GET)
    r = c.read_response()
    check_hello(r)
    assert r.version == "HTTP/1.1"
    assert r.header("content-length") == "13", "GET / must carry Content-Length: 13"
    date = r.header("date")
    assert date, "Date header missing (RFC 9110 6.6.1: an origin server with a clock MUST send it)"
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep"
                        r"|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT", date), f"Date not IMF-fixdate: {date!r}"
    when = email.utils.parsedate_to_datetime(date)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - when).total_seconds()) < 300, f"Date {date!r} is far from now"


def test_get_with_http_client(http_port):
    hc = http.client.HTTPConnection(HOST, http_port, timeout=timeout(10))
    try:
        hc.request("GET", "/")
        r = hc.getresponse()
        assert r.status == 200
        assert r.read() == HELLO
        assert r.getheader("Content-Type", "").lower().startswith("text/plain")
        assert r.getheader("Content-Length") == "13"
        assert r.getheader("Date")
    finally:
        hc.close()


def test_keep_alive_with_http_client(http_port):
    """Several requests over one connection: http.client keeps the same socket as long as
    the server keeps the connection open."""
    hc = http.client.HTTPConnection(HOST, http_port, timeout=timeout(10))
    try:
        hc.request("GET", "/")
        r = hc.getresponse()
        assert r.read() == HELLO and not r.will_close
        sock = hc.sock
        for path, status in [("/", 200), ("/missing", 404), ("/", 200), ("/", 200)]:
            hc.request("GET", path)
            r = hc.getresponse()
            body = r.read()
            assert r.status == status
            if status == 200:
                assert body == HELLO
            assert hc.sock is sock, "the server closed a keep-alive connection"
    finally:
        hc.close()


def test_keep_alive_raw(conn):
    c = conn()
    for _ in range(10):
        c.send(GET)
        r = c.read_response()
        check_hello(r)
        assert not r.closes


def test_pipelining_three_in_one_send(conn):
    c = conn()
    c.send(request(target="/") + request(target="/nope") + request(target="/?x=1"))
    r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    check_hello(r1)
    assert r2.status == 404, r2
    assert r3.status in (200, 404), r3  # whether the query is stripped is the router's choice
    c.send(GET)
    check_hello(c.read_response())


def test_pipelining_fifty(conn):
    c = conn()
    reqs = [request(target="/" if i % 3 else "/missing") for i in range(50)]
    c.send(b"".join(reqs))
    for i in range(50):
        r = c.read_response()
        if i % 3:
            check_hello(r)
        else:
            assert r.status == 404, (i, r)


def test_request_chopped_into_single_bytes(conn):
    c = conn()
    c.send(GET, chop=1)
    check_hello(c.read_response())


def test_head_has_no_body(conn):
    """HEAD: same headers as GET, no body. Followed by a GET in the same send, whose
    response must come right after the HEAD response's header block."""
    c = conn()
    c.send(request("HEAD") + GET)
    r = c.read_response(head=True)
    assert r.status == 200, r
    assert r.header("content-length") in (None, "13"), r
    ct = r.header("content-type")
    assert ct is None or ct.lower().startswith("text/plain")
    check_hello(c.read_response())


@pytest.mark.parametrize("path", ["/nope", "/index.html", "/a/b/c", "//"])
def test_404(conn, path):
    c = conn()
    c.send(request(target=path))
    r = c.read_response()
    well_formed_error(r, 404)
    if not r.closes:
        c.send(GET)
        check_hello(c.read_response())


def test_connection_close_request(conn):
    """RFC 9112 9.6: after answering a request with Connection: close, the server closes."""
    c = conn()
    c.send(request(headers=[("Host", "x"), ("Connection", "close")]))
    check_hello(c.read_response())
    assert c.wait_closed(), "server kept the connection open after Connection: close"


# --- request bodies ------------------------------------------------------------------------

def then_usable(c, r):
    """After a response: either the connection is still usable (GET / works), or the
    response said Connection: close and the server closes it."""
    if r.closes:
        assert c.wait_closed(), "response said close, but the server kept the connection"
        return
    c.send(GET)
    check_hello(c.read_response())


def test_post_content_length_body_consumed(conn):
    c = conn()
    body = b"x" * 1000
    c.send(request("POST", headers=[("Host", "x"), ("Content-Length", str(len(body)))], body=body))
    r = c.read_response()
    well_formed_error(r, (404, 405))
    then_usable(c, r)


def test_405_lists_allowed_methods(conn):
    """RFC 9110 15.5.6: a 405 response MUST carry Allow with the resource's supported
    methods; / answers GET and HEAD, so both belong in it."""
    c = conn()
    c.send(request("POST", headers=[("Host", "x"), ("Content-Length", "0")]) + request("HEAD"))
    r = c.read_response()
    if r.status != 405:
        pytest.skip(f"POST / answered {r.status}, not 405")
    head = c.read_response(head=True)
    allowed = r.tokens("allow")
    assert "get" in allowed, f"Allow: {r.header('allow')!r}"
    if head.status == 200:
        assert "head" in allowed, f"HEAD / is answered 200, but Allow is {r.header('allow')!r}"


@pytest.mark.parametrize("style", ["simple", "extensions-trailers", "chopped", "many-chunks"])
def test_post_chunked_body(conn, style):
    c = conn()
    if style == "simple":
        body = b"5\r\nhello\r\n0\r\n\r\n"
    elif style == "extensions-trailers":
        body = b"5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n"
    else:
        body = b"".join(b"%x\r\n%s\r\n" % (n, b"y" * n) for n in range(1, 60)) + b"0\r\n\r\n"
    req = request("POST", headers=[("Host", "x"), ("Transfer-Encoding", "chunked")], body=body)
    c.send(req, chop=7 if style == "chopped" else None)
    r = c.read_response()
    well_formed_error(r, (404, 405))
    then_usable(c, r)


def test_get_with_chunked_body(conn):
    c = conn()
    c.send(request("GET", headers=[("Host", "x"), ("Transfer-Encoding", "chunked")],
                   body=b"3\r\nabc\r\n0\r\n\r\n"))
    r = c.read_response()
    check_hello(r)
    then_usable(c, r)


@pytest.mark.parametrize("method,target", [("POST", "/"), ("GET", "/")])
def test_expect_100_continue(conn, method, target):
    """The server answers `Expect: 100-continue` with `100 Continue` before the body, or
    with a final status; it must not wait for a body the client withholds."""
    c = conn()
    c.send(request(method, target, headers=[("Host", "x"), ("Content-Length", "5"),
                                            ("Expect", "100-continue")]))
    r = c.read_response(t=timeout(10))
    if r.status == 100:
        assert r.version == "HTTP/1.1"
        c.send(b"hello")
        r = c.read_final_response()
        if method == "GET":
            check_hello(r)
        else:
            well_formed_error(r, (404, 405))
        then_usable(c, r)
    elif method == "GET":
        check_hello(r)
    else:
        well_formed_error(r, (404, 405))


def test_body_exactly_1mib_accepted(conn):
    c = conn(timeout(30))
    body = b"z" * MIB
    c.send(request("POST", headers=[("Host", "x"), ("Content-Length", str(MIB))], body=body))
    r = c.read_response(t=timeout(30))
    well_formed_error(r, (404, 405))
    then_usable(c, r)


def sender(c, data):
    """Sends in the background (the server may answer and close before reading it all)."""
    import threading

    def run():
        try:
            c.send(data)
        except OSError:
            pass

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def test_body_over_limit_413(conn):
    c = conn()
    th = sender(c, request("POST", headers=[("Host", "x"), ("Content-Length", str(2 * MIB))],
                           body=b"q" * (64 * 1024)))
    r = c.read_response(t=timeout(15))
    th.join(timeout(10))
    well_formed_error(r, 413)


def test_body_over_limit_get_413(conn):
    c = conn()
    th = sender(c, request("GET", headers=[("Host", "x"), ("Content-Length", str(MIB + 1))]))
    r = c.read_response(t=timeout(15))
    th.join(timeout(10))
    well_formed_error(r, 413)


# --- malformed and over-long requests --------------------------------------------------------

@pytest.mark.parametrize("line", [
    b"GARBAGE",
    b"GET / HTTP/1.1 extra",
    b"GET / FOO/1.1",
    b"GET / HTTP/1.x",
    b"G(T / HTTP/1.1",
    b"\x00\x01\x02 / HTTP/1.1",
    b"GET",
    b" / HTTP/1.1",
], ids=["garbage", "four-parts", "bad-protocol", "bad-version", "bad-method-char", "binary",
        "method-only", "empty-method"])
def test_malformed_request_line_400_and_close(conn, line):
    c = conn()
    c.send(line + b"\r\nHost: x\r\n\r\n")
    r = c.read_response()
    well_formed_error(r, 400)
    assert c.wait_closed(), "server kept the connection open after a malformed request line"


@pytest.mark.parametrize("header", [b"NoColonHere", b"Bad Name: x", b"Space : before-colon"],
                         ids=["no-colon", "space-in-name", "space-before-colon"])
def test_malformed_header_400(conn, header):
    """RFC 9112 5.1: whitespace between field name and colon MUST get 400; a line that is
    not a field line is malformed."""
    c = conn()
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
    well_formed_error(c.read_response(), 400)


def test_missing_host_http11_400(conn):
    """RFC 9112 3.2: a server MUST respond 400 to an HTTP/1.1 request without Host."""
    c = conn()
    c.send(b"GET / HTTP/1.1\r\n\r\n")
    well_formed_error(c.read_response(), 400)


def test_header_block_over_16k_431(conn):
    c = conn()
    fill = b"".join(b"X-Fill-%02d: %s\r\n" % (i, b"a" * 1000) for i in range(20))  # ~20 KiB
    th = sender(c, b"GET / HTTP/1.1\r\nHost: x\r\n" + fill + b"\r\n")
    r = c.read_response()
    th.join(timeout(10))
    well_formed_error(r, 431)


def test_single_header_over_16k_431(conn):
    c = conn()
    th = sender(c, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (17 * 1024) + b"\r\n\r\n")
    r = c.read_response()
    th.join(timeout(10))
    well_formed_error(r, 431)


def test_header_block_8k_accepted(conn):
    c = conn()
    fill = b"".join(b"X-Fill-%02d: %s\r\n" % (i, b"a" * 1000) for i in range(8))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + fill + b"\r\n")
    check_hello(c.read_response())


def test_uri_over_8k_414(conn):
    c = conn()
    th = sender(c, request(target="/" + "a" * (9 * 1024)))
    r = c.read_response()
    th.join(timeout(10))
    well_formed_error(r, 414)


def test_uri_2k_not_414(conn):
    c = conn()
    c.send(request(target="/" + "a" * 2048))
    well_formed_error(c.read_response(), 404)


# --- slowloris -------------------------------------------------------------------------------

def help_text(argv):
    try:
        p = subprocess.run(argv + ["--help"], capture_output=True, timeout=timeout(10))
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"<--help failed: {e}>"
    return (p.stdout + p.stderr).decode("utf-8", "replace")


def test_slowloris_header_timeout(http_hello_command, start_http_hello):
    if "--header-timeout-ms" not in help_text(http_hello_command):
        pytest.skip("http_hello --help does not list --header-timeout-ms: slowloris test skipped")
    server = start_http_hello("--header-timeout-ms", "500")
    # A client within the timeout is served, even when its head comes in pieces.
    with HTTPConn(server.port) as ok:
        for piece in (b"GET / HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            ok.send(piece)
            time.sleep(0.05)
        check_hello(ok.read_response())
    # A client trickling one header byte every 100 ms (each gap is under the timeout, the
    # whole head is not) is cut off: 408 and/or the connection closed.
    with HTTPConn(server.port) as slow:
        start = time.monotonic()
        limit = 0.5 + timeout(5)
        trickle = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"s" * 10000
        cut = False
        for byte in trickle:
            try:
                slow.send(bytes([byte]))
            except OSError:
                cut = True
                break
            readable, _, _ = select.select([slow.sock], [], [], 0.1)
            if readable:
                try:
                    data = slow.sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    cut = True
                    break
                assert data.startswith(b"HTTP/1.1 408") or data.startswith(b"HTTP/1.0 408"), data
                cut = slow.wait_closed()
                assert cut, "408 sent but the connection stayed open"
                break
            if time.monotonic() - start > limit:
                break
        elapsed = time.monotonic() - start
        assert cut, f"slow client not cut off after {elapsed:.1f} s (header timeout 500 ms)"
        assert elapsed >= 0.4, f"cut off after {elapsed:.2f} s, before the 500 ms timeout"
    # The server still serves.
    with HTTPConn(server.port) as after:
        after.send(GET)
        check_hello(after.read_response())


# --- load and robustness ---------------------------------------------------------------------

def test_many_concurrent_keep_alive_clients(http_port):
    """200 concurrent connections, each doing 10 requests on one keep-alive connection."""
    clients, per_client = 200, 10

    async def read_response(reader):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        m = STATUS_LINE.match(lines[0])
        assert m, lines[0]
        length = None
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        assert length is not None, head
        return int(m.group(1)), await reader.readexactly(length)

    async def client(i):
        for attempt in range(3):
            try:
                reader, writer = await asyncio.open_connection(HOST, http_port)
                break
            except OSError:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)
        try:
            for _ in range(per_client):
                writer.write(GET)
                status, body = await read_response(reader)
                assert status == 200 and body == HELLO, (i, status, body)
            return per_client
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def main():
        return await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(clients))),
                                      timeout(90))

    assert sum(asyncio.run(main())) == clients * per_client


@pytest.mark.parametrize("cut", ["mid-request-line", "mid-headers", "mid-body", "rst"])
def test_client_disconnect_mid_request(conn, cut):
    c = conn()
    if cut == "mid-request-line":
        c.send(b"GET /some")
    elif cut == "mid-headers":
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Partial: abc")
    elif cut == "mid-body":
        c.send(request("POST", headers=[("Host", "x"), ("Content-Length", "100000")], body=b"b" * 5000))
    else:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    d = conn()
    d.send(GET)
    check_hello(d.read_response())


def test_client_disconnect_before_reading_response(conn):
    """Many pipelined requests, then the client leaves without reading the answers."""
    c = conn()
    c.send(GET * 200)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    d = conn()
    d.send(GET)
    check_hello(d.read_response())


# --- curl and HTTP/1.0 -----------------------------------------------------------------------

def curl(*args):
    p = subprocess.run(["curl", "-sS", "--max-time", str(int(timeout(15))), *args],
                       capture_output=True, timeout=timeout(30))
    return p


def test_curl_verbose_get(http_port):
    p = curl("-v", f"http://127.0.0.1:{http_port}/")
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, err
    assert p.stdout == HELLO
    assert re.search(r"^< HTTP/1\.1 200", err, re.M), err
    assert re.search(r"^< content-type: text/plain", err, re.M | re.I), err


def test_curl_http10(http_port):
    p = curl("--http1.0", "-i", f"http://127.0.0.1:{http_port}/")
    out = p.stdout.decode("latin-1")
    assert p.returncode == 0, p.stderr
    assert re.match(r"HTTP/1\.[01] 200", out), out
    assert out.endswith("Hello, World!"), out


def test_curl_several_urls_one_connection(http_port):
    url = f"http://127.0.0.1:{http_port}/"
    p = curl("-v", url, url, url)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, err
    assert p.stdout == HELLO * 3
    assert len(re.findall(r"^\* Connected to", err, re.M)) == 1 or "Re-using existing connection" in err, err


def test_curl_404(http_port):
    p = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{http_port}/missing")
    assert p.stdout == b"404", (p.stdout, p.stderr)


def test_http10_raw(conn):
    """HTTP/1.0 without keep-alive: a correct response, then the server closes."""
    c = conn()
    c.send(b"GET / HTTP/1.0\r\n\r\n")
    r = c.read_response()
    check_hello(r)
    assert r.version in ("HTTP/1.0", "HTTP/1.1")
    assert c.wait_closed(), "server kept an HTTP/1.0 connection open without keep-alive"


def test_http10_keep_alive(conn):
    """HTTP/1.0 with Connection: keep-alive: the server may keep the connection (and then
    says keep-alive in its response) or close it."""
    c = conn()
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = c.read_response()
    check_hello(r)
    if "keep-alive" in r.tokens("connection"):
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        check_hello(c.read_response())
    else:
        assert c.wait_closed(), "no keep-alive in the response, but the connection stayed open"
