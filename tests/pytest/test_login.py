"""Accounts: create, connect, name and password rules, throttles, takeover, per-IP limits."""
import asyncio
import re

import pytest

from mudclient import PASSWORD, TOKEN_RE, MudClient, msg, room, text, timeout, unique_name


async def test_create_then_connect(mud):
    name = unique_name("ann")
    c = await MudClient.open(mud.port)
    welcome = await c.expect(text(type="system"))
    assert "connect" in welcome.text and "create" in welcome.text
    await c.command(f"create {name.lower()} {PASSWORD}")
    m = await c.expect(msg("logged_in"), 10)
    assert m.kwargs["name"] == name  # shown capitalised
    assert m.kwargs["admin"] is False
    assert m.kwargs["resumed"] is False
    assert TOKEN_RE.match(m.kwargs["token"]), m
    r = await c.expect(msg("room"))
    assert r.kwargs["id"] == "square"
    s = await c.expect(msg("status"))
    assert s.kwargs["name"] == name and s.kwargs["room"] == "Town Square"
    assert s.kwargs["hp"] == s.kwargs["max_hp"] > 0 and s.kwargs["combat"] == ""

    await c.command("quit")
    bye = await c.expect(msg("bye"))
    assert bye.args and isinstance(bye.args[0], str)
    code, _ = await c.expect_close()
    assert code == 1000

    d = await MudClient.open(mud.port)
    await d.command(f"connect {name.upper()} {PASSWORD}")
    m = await d.expect(msg("logged_in"), 10)
    assert m.kwargs["name"] == name and m.kwargs["resumed"] is False
    assert TOKEN_RE.match(m.kwargs["token"])
    await d.expect(room("square"))


async def test_wrong_password_and_unknown_name(mud):
    name = unique_name("ann")
    c = await MudClient.open(mud.port)
    await c.create(name)
    await c.command("quit")
    await c.expect_close()

    d = await MudClient.open(mud.port)
    await d.command(f"connect {name} wrongpass")
    wrong = await d.expect(msg("error"), 10)
    assert wrong.kwargs["code"] == "login_failed", wrong
    await d.command(f"connect {unique_name('zz')} {PASSWORD}")
    unknown = await d.expect(msg("error"), 10)
    assert unknown.kwargs["code"] == "login_failed", unknown
    assert unknown.args == wrong.args, "the server must not say whether the name or the password was wrong"
    # Still usable: the right password works.
    await d.login(name)


@pytest.mark.parametrize("bad", ["ab", "bob42", "abcdefghijklmnopq", "ann_b", "admin", "System", "osric", "wolf"])
async def test_bad_names(mud, bad):
    c = await MudClient.open(mud.port)
    await c.command(f"create {bad} {PASSWORD}")
    m = await c.expect(msg("error"), 10)
    assert m.kwargs["code"] == "bad_name", m
    assert m.args and m.args[0], "the message says why"


async def test_bad_password(mud):
    c = await MudClient.open(mud.port)
    for pw in ("12345", "a" * 129, "two words"):
        await c.command(f"create {unique_name('ann')} {pw}")
        m = await c.expect(msg("error"), 10)
        assert m.kwargs["code"] == "bad_password", f"password {pw!r}: {m!r}"
    # 6 bytes is enough.
    await c.create(unique_name("ann"), "123456")


async def test_duplicate_name_is_taken_case_insensitively(mud):
    name = unique_name("ann")
    a = await MudClient.open(mud.port)
    await a.create(name)
    b = await MudClient.open(mud.port)
    await b.command(f"create {name.upper()} {PASSWORD}")
    m = await b.expect(msg("error"), 10)
    assert m.kwargs["code"] == "name_taken", m
    # Offline too.
    await a.command("quit")
    await a.expect_close()
    await b.command(f"create {name.lower()} otherpass")
    m = await b.expect(msg("error"), 10)
    assert m.kwargs["code"] == "name_taken", m


@pytest.mark.mud_flags("--max-failed-logins", "3")
async def test_login_throttle(mud):
    name = unique_name("ann")
    a = await MudClient.open(mud.port)
    await a.create(name)
    c = await MudClient.open(mud.port)
    for i in range(3):
        await c.command(f"connect {name} wrongpass{i}")
        m = await c.expect(msg("error"), 10)
        assert m.kwargs["code"] == "login_failed", f"attempt {i + 1}: {m!r}"
    # Now even the right password is refused, from any connection of this address.
    d = await MudClient.open(mud.port)
    await d.command(f"connect {name} {PASSWORD}")
    m = await d.expect(msg("error"), 10)
    assert m.kwargs["code"] == "throttled", m
    assert re.search(r"\d+", m.args[0]), f"the message says when to retry: {m!r}"
    seconds = int(re.search(r"(\d+)", m.args[0]).group(1))
    assert 0 < seconds <= 60, m


@pytest.mark.mud_flags("--max-creates", "2")
async def test_create_throttle(mud):
    c = await MudClient.open(mud.port)
    await c.create(unique_name("ann"))
    d = await MudClient.open(mud.port)
    await d.create(unique_name("bob"))
    e = await MudClient.open(mud.port)
    await e.command(f"create {unique_name('cid')} {PASSWORD}")
    m = await e.expect(msg("error"), 10)
    assert m.kwargs["code"] == "throttled", m
    assert re.search(r"\d+", m.args[0]), f"the message says when to retry: {m!r}"


async def test_takeover(mud):
    name = unique_name("ann")
    first = await MudClient.open(mud.port, "first")
    await first.create(name)
    await first.go("n", "market_row")
    second = await MudClient.open(mud.port, "second")
    m = await second.login(name)
    assert m.kwargs["name"] == name
    r = [x for x in second.log if x.cmd == "room"]
    assert r and r[-1].kwargs["id"] == "market_row", "the character keeps its place"
    await first.expect(msg("bye"))
    code, _ = await first.expect_close()
    assert code == 1000
    # The new connection plays on.
    await second.command("say still here")
    await second.expect(text(type="say"))


async def test_commands_before_login(mud):
    c = await MudClient.open(mud.port)
    for line in ("look", "say hi", "n", "inventory", "xyzzy"):
        await c.command(line)
        m = await c.expect(msg("error"))
        assert m.kwargs["code"] == "not_logged_in", f"{line}: {m!r}"
    await c.command("who")
    await c.expect(msg("who"))
    await c.command("help")
    m = await c.expect(text(type="help"))
    assert "connect" in m.text and "create" in m.text
    await c.command("quit")
    await c.expect(msg("bye"))
    code, _ = await c.expect_close()
    assert code == 1000


@pytest.mark.mud_flags("--max-connections-per-ip", "2")
async def test_max_connections_per_ip(mud):
    a = await MudClient.open(mud.port, "a")
    await a.expect(text(type="system"))
    b = await MudClient.open(mud.port, "b")
    await b.expect(text(type="system"))
    c = await MudClient.open(mud.port, "c")
    m = await c.expect(msg("error"))
    assert m.kwargs["code"] == "too_many_connections", m
    code, _ = await c.expect_close()
    assert code is not None and code != 1006, "closed with a close frame"
    # The first two still work.
    await a.send("who")
    await a.expect(msg("who"))
    # One closes: a new one is welcome.
    await b.close()
    await asyncio.sleep(timeout(0.3))  # the server sees the disconnect
    d = await MudClient.open(mud.port, "d")
    await d.expect(text(type="system"))
    await d.create(unique_name("dan"))


@pytest.mark.mud_flags("--idle-timeout-s", "2")
async def test_idle_timeout(mud):
    a = await MudClient.open(mud.port, "a")
    await a.create(unique_name("ann"))
    bye = await a.expect(msg("bye"), 5)
    assert "idle" in bye.text.lower()
    code, _ = await a.expect_close()
    assert code == 1000
