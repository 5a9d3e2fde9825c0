"""Resume: a dropped connection takes its character back with the logged_in token."""
import asyncio

import pytest

from mudclient import MudClient, any_of, msg, player, text, timeout, unique_name


async def resume(port, token, label="resumer"):
    c = await MudClient.open(port, label)
    await c.expect(text(type="system"))  # the welcome
    await c.send("resume", [token])
    return c, await c.expect(any_of(msg("logged_in"), msg("error")))


async def test_resume_after_drop(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    token = a.token
    await a.go("inn", "inn_common")
    await a.command("get torch")
    await a.expect(text("You pick up a wooden torch"))
    await b.go("inn", "inn_common")
    await a.sync()

    a.drop()  # TCP gone, no quit
    m = await b.expect(text("lost their connection"))
    assert a.name in m.text
    # Still in the world, link-dead.
    await b.send("who")
    w = await b.expect(msg("who"))
    assert a.name in [p["name"] for p in w.kwargs["players"]]
    r = await b.look()
    assert a.name in r.kwargs["players"]

    c, m = await resume(mud.port, token)
    assert m.cmd == "logged_in", m
    assert m.kwargs["resumed"] is True
    assert m.kwargs["name"] == a.name
    r = await c.expect(msg("room"))
    assert r.kwargs["id"] == "inn_common"
    await c.expect(msg("status"))
    assert await c.inventory() == ["a wooden torch"]
    # And it plays: b hears it.
    await c.command("say back again")
    await b.expect(text(type="say", frm=a.name))


async def test_resume_after_websocket_close(mud):
    a = await player(mud.port, "ann")
    token = a.token
    await a.go("n", "market_row")
    await a.close()  # a clean WebSocket close, but no quit
    c, m = await resume(mud.port, token)
    assert m.cmd == "logged_in" and m.kwargs["resumed"] is True, m
    r = await c.expect(msg("room"))
    assert r.kwargs["id"] == "market_row"


async def test_bad_token(mud):
    c, m = await resume(mud.port, "ab" * 32)
    assert m.cmd == "error" and m.kwargs["code"] == "resume_failed", m
    # The connection is still usable.
    await c.create(unique_name("ann"))


@pytest.mark.mud_flags("--resume-grace-s", "1")
async def test_token_expires_after_grace(mud):
    a = await player(mud.port, "ann")
    name, token = a.name, a.token
    await a.go("n", "market_row")
    await a.sync()
    a.drop()
    await asyncio.sleep(timeout(2.5))  # grace 1 s, plus the once-a-second check and a tick
    c, m = await resume(mud.port, token)
    assert m.cmd == "error" and m.kwargs["code"] == "resume_failed", m
    # It left the world, saved where it stood.
    await c.send("who")
    w = await c.expect(msg("who"))
    assert name not in [p["name"] for p in w.kwargs["players"]]
    m = await c.login(name)
    assert m.kwargs["resumed"] is False
    r = [x for x in c.log if x.cmd == "room"]
    assert r[-1].kwargs["id"] == "market_row"


async def test_quit_voids_the_token(mud):
    a = await player(mud.port, "ann")
    token = a.token
    await a.command("quit")
    await a.expect(msg("bye"))
    await a.expect_close()
    c, m = await resume(mud.port, token)
    assert m.cmd == "error" and m.kwargs["code"] == "resume_failed", m


async def test_connect_voids_the_old_token(mud):
    a = await player(mud.port, "ann")
    name, old = a.name, a.token
    a.drop()
    b = await MudClient.open(mud.port, "b")
    m = await b.login(name)
    new = m.kwargs["token"]
    assert new != old
    c, m = await resume(mud.port, old, "old-token")
    assert m.cmd == "error" and m.kwargs["code"] == "resume_failed", \
        f"the token from before a successful connect must be void: {m!r}"
    # The new one is fine: b is still playing (a resume with it would take over).
    await b.command("look")
    await b.expect(msg("room"))


async def test_old_token_after_connect_and_quit(mud):
    """The token from before a connect must stay void after that character quits (and is
    gone from the world); the server must keep running."""
    a = await player(mud.port, "ann")
    name, old = a.name, a.token
    b = await MudClient.open(mud.port, "b")
    await b.login(name)  # takes over; a new token
    await a.expect_close()
    await b.command("quit")
    await b.expect(msg("bye"))
    await b.expect_close()
    c, m = await resume(mud.port, old, "old-token")
    assert m.cmd == "error" and m.kwargs["code"] == "resume_failed", m
    d = await player(mud.port, "dan")
    await d.command("look")
    await d.expect(msg("room"))
