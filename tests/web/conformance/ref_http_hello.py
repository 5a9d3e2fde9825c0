"""Reference HTTP/1.1 hello server (asyncio, standard library only), to exercise the HTTP
conformance harness while the C++ http_hello is not there. Same CLI and output:

    ref_http_hello.py --port N [--header-timeout-ms MS]

prints `listening on 127.0.0.1:PORT`, answers GET/HEAD / with `Hello, World!`, other paths
404, POST / 405; keep-alive, pipelining, chunked bodies, Expect: 100-continue; limits:
request line 8 KiB (414), header block 16 KiB (431), body 1 MiB (413); exits 0 on SIGTERM.
It is a harness check, not a model implementation.
"""
import argparse
import asyncio
import re
import signal
import sys
from email.utils import formatdate

MAX_URI = 8 * 1024
MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024
TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class Reject(Exception):
    def __init__(self, status, reason):
        self.status, self.reason = status, reason


def response(status, reason, body=b"", head=False, close=False, extra=()):
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {formatdate(usegmt=True)}",
             "Content-Type: text/plain", f"Content-Length: {len(body)}"]
    lines += list(extra)
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body)


class Conn:
    def __init__(self, reader, writer, header_timeout):
        self.r, self.w, self.header_timeout = reader, writer, header_timeout
        self.buf = bytearray()

    async def fill(self):
        data = await self.r.read(65536)
        if not data:
            raise ConnectionError("eof")
        self.buf += data

    async def read_head(self):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i])
                del self.buf[:i + 4]
                return head
            line_end = self.buf.find(b"\r\n")
            if (line_end < 0 and len(self.buf) > MAX_URI + 20) or line_end > MAX_URI + 20:
                raise Reject(414, "URI Too Long")
            if len(self.buf) > MAX_HEAD:
                raise Reject(431, "Request Header Fields Too Large")
            await self.fill()

    async def read_exact(self, n):
        while len(self.buf) < n:
            await self.fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 4096:
                raise Reject(400, "Bad Request")
            await self.fill()
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    async def read_chunked(self):
        total = 0
        while True:
            size_line = (await self.read_line()).split(b";")[0].strip()
            if not size_line or not re.fullmatch(rb"[0-9A-Fa-f]+", size_line):
                raise Reject(400, "Bad Request")
            n = int(size_line, 16)
            if n == 0:
                while await self.read_line():
                    pass  # trailers
                return
            total += n
            if total > MAX_BODY:
                raise Reject(413, "Content Too Large")
            await self.read_exact(n)
            if await self.read_exact(2) != b"\r\n":
                raise Reject(400, "Bad Request")

    async def serve(self):
        while True:
            try:
                if self.header_timeout:
                    head = await asyncio.wait_for(self.read_head(), self.header_timeout)
                else:
                    head = await self.read_head()
            except asyncio.TimeoutError:
                self.w.write(response(408, "Request Timeout", close=True))
                return
            if len(head) > MAX_HEAD:
                raise Reject(431, "Request Header Fields Too Large")
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            if len(parts) != 3 or not TOKEN.match(parts[0]) or not parts[1]:
                raise Reject(400, "Bad Request")
            method, target, version = parts
            if len(target) > MAX_URI:
                raise Reject(414, "URI Too Long")
            if version not in (b"HTTP/1.1", b"HTTP/1.0"):
                raise Reject(400, "Bad Request")
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if not sep or not TOKEN.match(name):
                    raise Reject(400, "Bad Request")
                headers.setdefault(name.lower(), []).append(value.strip())
            if version == b"HTTP/1.1" and b"host" not in headers:
                raise Reject(400, "Bad Request")
            conn_tokens = b",".join(headers.get(b"connection", [])).lower().replace(b" ", b"").split(b",")
            keep = (b"close" not in conn_tokens) if version == b"HTTP/1.1" else (b"keep-alive" in conn_tokens)
            te = b",".join(headers.get(b"transfer-encoding", [])).lower()
            cl = headers.get(b"content-length")
            expect = b",".join(headers.get(b"expect", [])).lower()
            if te:
                if te.replace(b" ", b"") != b"chunked" or cl:
                    raise Reject(400, "Bad Request")
                if expect == b"100-continue":
                    self.w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await self.read_chunked()
            elif cl:
                if len(set(cl)) != 1 or not cl[0].isdigit():
                    raise Reject(400, "Bad Request")
                n = int(cl[0])
                if n > MAX_BODY:
                    raise Reject(413, "Content Too Large")
                if n and expect == b"100-continue":
                    self.w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await self.read_exact(n)
            path = target.split(b"?")[0]
            is_head = method == b"HEAD"
            if path != b"/":
                out = response(404, "Not Found", b"Not Found", head=is_head, close=not keep)
            elif method in (b"GET", b"HEAD"):
                out = response(200, "OK", b"Hello, World!", head=is_head, close=not keep)
            else:
                out = response(405, "Method Not Allowed", b"Method Not Allowed", close=not keep,
                               extra=["Allow: GET, HEAD"])
            if version == b"HTTP/1.0" and keep:
                out = out.replace(b"\r\n\r\n", b"\r\nConnection: keep-alive\r\n\r\n", 1)
            self.w.write(out)
            await self.w.drain()
            if not keep:
                return


async def handle(reader, writer, header_timeout):
    c = Conn(reader, writer, header_timeout)
    try:
        await c.serve()
    except Reject as e:
        writer.write(response(e.status, e.reason, e.reason.encode(), close=True))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    try:
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass


async def main(port, header_timeout):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    server = await asyncio.start_server(lambda r, w: handle(r, w, header_timeout),
                                        "127.0.0.1", port, backlog=1024)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await stop
    server.close()
    print("stopped", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--header-timeout-ms", type=int, default=0,
                   help="close a connection whose request head takes longer than this")
    a = p.parse_args()
    asyncio.run(main(a.port, a.header_timeout_ms / 1000.0))
    sys.exit(0)
