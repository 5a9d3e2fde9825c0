"""Bad input: malformed JSON and messages, long lines, huge and binary frames, floods, and
clients that vanish. The session (and the server) must go on."""
import asyncio
import base64
import os
import socket

import pytest

from mudclient import HOST, MudClient, any_of, error, msg, player, text, timeout


async def still_works(c):
    await c.command("look")
    await c.expect(msg("room"))


async def test_bad_json(mud):
    a = await player(mud.port, "ann")
    for raw in ("{not json", "[\"text\",[\"look\"],{}", "", "nul", "[\"text\",[\"look\"],{}]]"):
        await a.send_raw(raw)
        m = await a.expect(msg("error"))
        assert m.kwargs["code"] == "bad_json", f"{raw!r}: {m!r}"
        await still_works(a)


@pytest.mark.parametrize("raw", [
    "[]", "{}", "[\"text\"]", "[\"text\",[1],{}]", "[\"text\",\"look\",{}]", "[\"text\",[],{}]",
    "\"text\"", "5", "null", "[1,[],{}]", "[\"text\",[\"look\"],[]]", "[\"text\",[\"look\"],{},1]",
    "[\"text\",[\"look\"]]", "[\"text\",[null],{}]",
])
async def test_wrong_shape(mud, raw):
    c = await MudClient.open(mud.port)
    await c.send_raw(raw)
    m = await c.expect(msg("error"))
    assert m.kwargs["code"] == "bad_message", f"{raw!r}: {m!r}"
    await c.send("who")
    await c.expect(msg("who"))


async def test_unknown_message_and_command(mud):
    a = await player(mud.port, "ann")
    await a.send("frobnicate", ["x"], {"y": 1})
    m = await a.expect(msg("error"))
    assert m.kwargs["code"] == "unknown_message", m
    await a.command("xyzzy plugh")
    m = await a.expect(msg("error"))
    assert m.kwargs["code"] == "unknown_command", m
    assert "help" in m.args[0], f"the message suggests help: {m!r}"
    # Unknown kwargs are ignored.
    await a.send("text", ["look"], {"whatever": [1, 2], "x": None})
    await a.expect(msg("room"))


async def test_too_long_line(mud):
    a = await player(mud.port, "ann")
    # At the limit (1024 bytes by default): an ordinary (unknown) command.
    await a.command("x" * 1024)
    m = await a.expect(msg("error"))
    assert m.kwargs["code"] == "unknown_command", m
    for size in (1025, 10000, 60000):
        await a.command("x" * size)
        m = await a.expect(msg("error"))
        assert m.kwargs["code"] == "too_long", f"{size} bytes: {m!r}"
        await still_works(a)
    # Multi-byte: 400 three-byte characters are 1200 bytes.
    await a.command("say " + "\u20ac" * 400)
    m = await a.expect(msg("error"))
    assert m.kwargs["code"] == "too_long", m
    await still_works(a)


@pytest.mark.mud_flags("--max-line-bytes", "100")
async def test_max_line_bytes_flag(mud):
    a = await player(mud.port, "ann")
    await a.command("say " + "y" * 96)
    await a.expect(text(type="say", frm=a.name))
    await a.command("say " + "y" * 97)
    await a.expect(error("too_long"))
    await still_works(a)


async def test_message_over_64k_closes_1009(mud):
    other = await player(mud.port, "bob")
    a = await player(mud.port, "ann")
    try:
        await a.command("say " + "z" * (70 * 1024))
    except Exception:
        pass  # the server may close while we are still sending
    code, _ = await a.expect_close()
    assert code == 1009
    await still_works(other)


async def test_binary_frame(mud):
    a = await player(mud.port, "ann")
    await a.send_raw(b'["text",["look"],{}]')
    m = await a.expect(msg("error"))
    assert m.kwargs["code"] == "bad_message", m
    await still_works(a)


@pytest.mark.mud_flags("--commands-per-second", "2", "--command-burst", "2")
async def test_rate_limit(mud):
    a = await player(mud.port, "ann")
    await asyncio.sleep(timeout(1.2))  # a full bucket
    n = 30
    for i in range(n):
        await a.command(f"say flood {i}")
    said, limited, order = [], 0, []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout(15)
    while len(said) + limited < n and loop.time() < deadline:
        m = await a.expect(any_of(text(type="say", frm=a.name), error("rate_limited")), 15)
        if m.cmd == "error":
            limited += 1
            order.append("limited")
        else:
            said.append(int(m.kwargs["msg"].split()[1]))
            order.append("said")
    assert len(said) + limited == n, f"{len(said)} said + {limited} refused of {n}\n" + a.history()
    assert limited > 0, "a burst of 30 at 2/s must be refused in part"
    assert len(said) > 2, "commands beyond the burst are held back and run later, not all refused"
    assert said == sorted(said), f"commands run in order: {said}"
    assert "said" in order[order.index("limited"):], \
        f"held-back commands run after the refusals: {order}"
    await still_works(a)


def raw_handshake(port):
    s = socket.create_connection((HOST, port), timeout=timeout(5))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, "server closed during the handshake"
        data += chunk
    assert data.startswith(b"HTTP/1.1 101"), data
    return s


async def test_vanishing_clients(mud):
    watcher = await player(mud.port, "bob")
    a = await player(mud.port, "ann")
    await a.command("say about to vanish")
    await watcher.expect(text(type="say", frm=a.name))
    a.drop()  # TCP closed, no WebSocket close
    await watcher.expect(text("lost their connection"))
    # A raw connection that leaves in the middle of a frame.
    s = raw_handshake(mud.port)
    s.sendall(bytes([0x81, 0xFE, 0x01, 0x00]) + os.urandom(4) + b"partial")
    s.close()
    # And one that resets.
    s = raw_handshake(mud.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    await asyncio.sleep(timeout(0.3))
    await still_works(watcher)
    c = await player(mud.port, "cid")
    await c.command("say all good")
    await watcher.expect(text(type="say", frm=c.name))
    assert mud.alive()
