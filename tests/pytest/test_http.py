"""HTTP beside the WebSocket: /healthz, /metrics, the browser client, no path traversal."""
import asyncio
import re
import socket

from mudclient import HOST, player, timeout


def get(port, path, extra_headers=""):
    """A raw HTTP/1.1 GET (the path is sent exactly as given); returns (status, headers, body)."""
    with socket.create_connection((HOST, port), timeout=timeout(5)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n{extra_headers}\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out += rest[:size]
            rest = rest[size + 2:]
        body = out
    return status, headers, body


async def aget(port, path):
    return await asyncio.get_running_loop().run_in_executor(None, get, port, path)


def metric(body, name):
    m = re.search(rb"^" + re.escape(name.encode()) + rb" ([0-9.eE+-]+)$", body, re.M)
    return float(m.group(1)) if m else None


async def test_healthz(mud):
    status, headers, body = await aget(mud.port, "/healthz")
    assert status == 200
    assert body.decode().strip() == "ok"


async def test_metrics(mud):
    status, headers, body = await aget(mud.port, "/metrics")
    assert status == 200
    assert headers.get("content-type", "").startswith("text/plain")
    for name in ("mud_sessions", "mud_players_online", 'mud_tick_duration_seconds{quantile="0.99"}',
                 "process_resident_memory_bytes"):
        assert metric(body, name) is not None, f"/metrics lacks {name}:\n{body.decode()}"
    assert metric(body, "mud_players_online") == 0
    assert metric(body, "process_resident_memory_bytes") > 0

    await player(mud.port, "ann")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout(3)
    while True:
        _, _, body = await aget(mud.port, "/metrics")
        if metric(body, "mud_players_online") == 1:
            break
        assert loop.time() < deadline, f"mud_players_online did not rise to 1:\n{body.decode()}"
        await asyncio.sleep(0.05)
    assert metric(body, "mud_sessions") >= 1


async def test_client_page_and_script(mud):
    status, headers, body = await aget(mud.port, "/")
    assert status == 200
    assert headers.get("content-type", "").startswith("text/html"), headers
    assert b"<html" in body.lower() or b"<!doctype html" in body.lower()
    status, headers, body = await aget(mud.port, "/client.js")
    assert status == 200
    assert "javascript" in headers.get("content-type", ""), headers
    assert len(body) > 0


async def test_path_traversal_is_refused(mud):
    # The client files are apps/mud_server/www; their parent holds the sources.
    for path in ("/../config.cpp", "/../../apps/mud_server/config.cpp", "/%2e%2e/config.cpp",
                 "/..%2fconfig.cpp", "/%2e%2e%2fconfig.cpp", "/www/../../config.cpp",
                 "/../worlds/default.json", "/..\\config.cpp"):
        status, _, body = await aget(mud.port, path)
        assert status != 200 and 400 <= status < 500, f"{path}: status {status}"
        assert b"namespace mud" not in body and b"Duskhollow" not in body, f"{path} leaked a file"
    status, _, _ = await aget(mud.port, "/healthz")
    assert status == 200
