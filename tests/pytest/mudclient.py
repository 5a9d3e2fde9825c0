"""A small asyncio client for mud_server's WebSocket protocol (docs/mud-protocol.md).

Every message is ["cmdname", [args...], {kwargs...}]. The client reads the server's messages
as a stream: `expect(pred)` reads (and consumes) messages until one matches, keeping every
message received in `log` so that a failed expectation can show what did arrive.

    c = await MudClient.open(port)
    await c.create("Alice", "secret1")        # waits for logged_in, returns its kwargs
    await c.command("say hi")
    m = await c.expect(says(frm="Alice"))

Every frame the server sends must be a text frame holding a [str, list, dict] array; anything
else fails the test at once. Timeouts scale with DALLY_TEST_SLOWDOWN (sanitizer builds).
Loopback only.
"""
import asyncio
import json
import os
import random
import re
import string

import websockets

HOST = "127.0.0.1"
TOKEN_RE = re.compile(r"^[0-9a-f]{64}$")


def slowdown():
    """The factor every timeout is stretched by (DALLY_TEST_SLOWDOWN, default 1)."""
    try:
        return max(1.0, float(os.environ.get("DALLY_TEST_SLOWDOWN", "1")))
    except ValueError:
        return 1.0


def timeout(seconds):
    return seconds * slowdown()


def unique_name(prefix=""):
    """A fresh character name: letters only, 12 characters (3-16 allowed)."""
    prefix = "".join(c for c in prefix if c.isalpha())[:4]
    rest = "".join(random.choice(string.ascii_lowercase) for _ in range(12 - len(prefix)))
    return (prefix + rest).capitalize()


PASSWORD = "hunter22"


class Msg:
    """One server message."""

    __slots__ = ("raw", "cmd", "args", "kwargs")

    def __init__(self, raw):
        self.raw = raw
        try:
            value = json.loads(raw)
        except ValueError as e:
            raise AssertionError(f"server sent a frame that is not JSON ({e}): {raw!r}") from None
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
                and isinstance(value[1], list) and isinstance(value[2], dict)):
            raise AssertionError(f"server sent a message that is not [str, list, dict]: {raw!r}")
        self.cmd, self.args, self.kwargs = value

    @property
    def text(self):
        """All the string args joined by newlines."""
        return "\n".join(a for a in self.args if isinstance(a, str))

    def get(self, key, default=None):
        return self.kwargs.get(key, default)

    def __repr__(self):
        return self.raw if len(self.raw) <= 400 else self.raw[:400] + "...(%d bytes)" % len(self.raw)


# ---- predicates -------------------------------------------------------------------------

def msg(cmd, **kwargs):
    """A message with this cmdname whose kwargs include these values (key `frm` = `from`)."""
    if "frm" in kwargs:
        kwargs["from"] = kwargs.pop("frm")

    def pred(m):
        return m.cmd == cmd and all(m.kwargs.get(k) == v for k, v in kwargs.items())
    pred.__doc__ = f"{cmd} {kwargs}"
    return pred


def text(contains=None, type=None, **kwargs):
    """A text message (of this type) whose lines contain `contains` (a string)."""
    base = msg("text", **kwargs)

    def pred(m):
        if not base(m):
            return False
        if type is not None and m.kwargs.get("type") != type:
            return False
        return contains is None or contains in m.text
    pred.__doc__ = f"text type={type} contains={contains!r} {kwargs}"
    return pred


def says(**kwargs):
    return text(type="say", **kwargs)


def error(code):
    pred = msg("error", code=code)
    pred.__doc__ = f"error code={code}"
    return pred


def room(room_id=None):
    def pred(m):
        return m.cmd == "room" and (room_id is None or m.kwargs.get("id") == room_id)
    pred.__doc__ = f"room id={room_id}"
    return pred


def any_of(*preds):
    def pred(m):
        return any(p(m) for p in preds)
    pred.__doc__ = " or ".join(p.__doc__ or "?" for p in preds)
    return pred


def describe(pred):
    return pred.__doc__ or getattr(pred, "__name__", repr(pred))


# ---- the client -------------------------------------------------------------------------

_open_clients = []


async def close_all():
    """Closes every client still open (called after each test, in the test's event loop)."""
    clients = list(_open_clients)
    _open_clients.clear()
    for c in clients:
        try:
            await asyncio.wait_for(c.ws.close(), timeout(2))
        except Exception:
            c.ws.transport.abort()


class ServerClosed(AssertionError):
    pass


class MudClient:
    def __init__(self, ws, label):
        self.ws = ws
        self.label = label
        self.log = []        # every message received (Msg)
        self.raw_frames = []  # every frame's payload as received (str, or bytes for binary)
        self.buffer = []     # received but not consumed yet
        self.name = None
        self.token = None

    @classmethod
    async def open(cls, port, label="client", path="/ws", **kwargs):
        options = dict(open_timeout=timeout(10), close_timeout=timeout(5), ping_interval=None,
                       max_size=4 << 20)
        options.update(kwargs)
        ws = await websockets.connect(f"ws://{HOST}:{port}{path}", **options)
        c = cls(ws, label)
        _open_clients.append(c)
        return c

    # -- sending --

    async def send_raw(self, data):
        await self.ws.send(data)

    async def send(self, cmd, args=(), kwargs=None):
        await self.ws.send(json.dumps([cmd, list(args), kwargs or {}], separators=(",", ":")))

    async def command(self, line):
        await self.send("text", [line])

    # -- receiving --

    async def _read(self, deadline):
        """One message from the socket, or None when the deadline passes."""
        loop = asyncio.get_running_loop()
        left = deadline - loop.time()
        if left <= 0:
            return None
        try:
            raw = await asyncio.wait_for(self.ws.recv(), left)
        except asyncio.TimeoutError:
            return None
        except websockets.ConnectionClosed as e:
            raise ServerClosed(f"{self.label}: connection closed (code {self.ws.close_code}, "
                               f"reason {self.ws.close_reason!r}) ({e})\n" + self.history()) from None
        self.raw_frames.append(raw)
        if isinstance(raw, bytes):
            raise AssertionError(f"{self.label}: server sent a binary frame: {raw[:200]!r}")
        m = Msg(raw)
        self.log.append(m)
        return m

    def history(self, last=40):
        lines = [f"  {m!r}" for m in self.log[-last:]]
        more = len(self.log) - last
        head = f"{self.label} received {len(self.log)} messages" + (f" (last {last}):" if more > 0 else ":")
        return head + "\n" + "\n".join(lines)

    async def expect(self, pred, wait=5.0, what=None):
        """Reads (consuming) messages until one matches; returns it. Fails after `wait`
        seconds (scaled) with the log of what arrived."""
        loop = asyncio.get_running_loop()
        for i, m in enumerate(self.buffer):
            if pred(m):
                del self.buffer[: i + 1]
                return m
        self.buffer.clear()
        deadline = loop.time() + timeout(wait)
        while True:
            m = await self._read(deadline)
            if m is None:
                raise AssertionError(f"{self.label}: no message matching <{what or describe(pred)}> "
                                     f"within {timeout(wait):.1f} s\n" + self.history())
            if pred(m):
                return m

    async def collect(self, wait=0.5):
        """Everything that arrives within `wait` seconds (scaled), plus what is buffered."""
        loop = asyncio.get_running_loop()
        out = list(self.buffer)
        self.buffer.clear()
        deadline = loop.time() + timeout(wait)
        while True:
            m = await self._read(deadline)
            if m is None:
                return out
            out.append(m)

    async def expect_none(self, pred, wait=0.5, what=None):
        """Nothing matching arrives within `wait` seconds (scaled). The other messages stay
        available to later expects."""
        got = await self.collect(wait)
        bad = [m for m in got if pred(m)]
        if bad:
            raise AssertionError(f"{self.label}: unexpected message matching <{what or describe(pred)}>: "
                                 f"{bad[0]!r}\n" + self.history())
        self.buffer = got

    async def expect_close(self, wait=5.0):
        """Reads until the server closes the connection; returns (close code, messages read
        meanwhile)."""
        loop = asyncio.get_running_loop()
        got = list(self.buffer)
        self.buffer.clear()
        deadline = loop.time() + timeout(wait)
        while True:
            try:
                m = await self._read(deadline)
            except ServerClosed:
                return self.ws.close_code, got
            if m is None:
                raise AssertionError(f"{self.label}: the server did not close the connection within "
                                     f"{timeout(wait):.1f} s\n" + self.history())
            got.append(m)

    # -- helpers --

    async def sync(self, wait=5.0):
        """Round trip: a ping with a unique kwarg; returns once its pong is back, so
        everything the server sent before it has been read (into the buffer)."""
        nonce = random.randrange(1 << 40)
        await self.send("ping", [], {"sync": nonce})
        got = list(self.buffer)
        self.buffer.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout(wait)
        while True:
            m = await self._read(deadline)
            if m is None:
                self.buffer = got
                raise AssertionError(f"{self.label}: no pong for sync {nonce}\n" + self.history())
            if m.cmd == "pong" and m.kwargs.get("sync") == nonce:
                self.buffer = got
                return got
            got.append(m)

    async def _logged_in(self, verb, name, password, wait):
        await self.command(f"{verb} {name} {password}")
        m = await self.expect(any_of(msg("logged_in"), msg("error")), wait)
        if m.cmd == "error":
            raise AssertionError(f"{self.label}: {verb} {name} refused: {m!r}\n" + self.history())
        self.name = m.kwargs.get("name")
        self.token = m.kwargs.get("token")
        # logged_in is followed by room, its text and status.
        await self.expect(msg("status"), wait)
        return m

    async def create(self, name, password=PASSWORD, wait=10.0):
        """create; returns the logged_in message (after the following status)."""
        m = await self._logged_in("create", name, password, wait)
        await self.expect(text("Welcome,", type="system"), wait)
        return m

    async def login(self, name, password=PASSWORD, wait=10.0):
        """connect; returns the logged_in message (after the following status)."""
        return await self._logged_in("connect", name, password, wait)

    async def look(self, wait=5.0):
        """The room message for `look`."""
        await self.command("look")
        return await self.expect(msg("room"), wait)

    async def inventory(self, wait=5.0):
        """The lines of `inventory` (after the first), stripped."""
        await self.command("inventory")
        m = await self.expect(text(type="info", contains="arrying"), wait)
        return [a.strip() for a in m.args[1:]]

    async def go(self, direction, room_id, wait=5.0):
        await self.command(direction)
        return await self.expect(room(room_id), wait)

    async def close(self):
        if self in _open_clients:
            _open_clients.remove(self)
        await self.ws.close()

    def drop(self):
        """Vanishes: closes the TCP connection without a WebSocket close."""
        if self in _open_clients:
            _open_clients.remove(self)
        self.ws.transport.abort()


async def player(port, prefix="", label=None, password=PASSWORD):
    """A new connection with a freshly created character."""
    name = unique_name(prefix)
    c = await MudClient.open(port, label or name)
    await c.create(name, password)
    return c
