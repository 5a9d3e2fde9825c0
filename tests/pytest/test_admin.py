"""Admin commands (the server runs with --admin Root): announce, kick, ban/unban, shutdown."""
from mudclient import MudClient, msg, player, text


async def root(port):
    c = await MudClient.open(port, "Root")
    m = await c.create("Root")
    assert m.kwargs["admin"] is True, m
    return c


async def test_announce_reaches_everyone(mud):
    r = await root(mud.port)
    b = await player(mud.port, "bob")
    c = await player(mud.port, "cid")
    await c.go("n", "market_row")
    await c.go("n", "well_plaza")
    await r.command("announce The fair opens at noon")
    for who in (r, b, c):
        m = await who.expect(text(type="announce"))
        assert "The fair opens at noon" in m.text


async def test_kick(mud):
    r = await root(mud.port)
    b = await player(mud.port, "bob")
    await r.command(f"kick {b.name.lower()} being rude")
    bye = await b.expect(msg("bye"))
    assert "being rude" in bye.text
    code, _ = await b.expect_close()
    assert code == 1008
    m = await r.expect(msg("room_leave"))
    assert m.args == [b.name]
    await r.expect(text(b.name, type="system"))
    # Not banned: back in at once.
    b2 = await MudClient.open(mud.port, "bob again")
    await b2.login(b.name)
    await r.send("who")
    w = await r.expect(msg("who"))
    assert b.name in [p["name"] for p in w.kwargs["players"]]


async def test_ban_and_unban(mud):
    r = await root(mud.port)
    b = await player(mud.port, "bob")
    name = b.name
    await r.command(f"ban {name} cheating")
    await b.expect(msg("bye"))
    code, _ = await b.expect_close()
    assert code == 1008
    await r.expect(text(name, type="system"))

    c = await MudClient.open(mud.port, "banned")
    await c.command(f"connect {name} hunter22")
    m = await c.expect(msg("error"), 10)
    assert m.kwargs["code"] == "banned", m

    await r.command(f"unban {name.lower()}")
    await r.expect(text(name, type="system"))
    await c.login(name)


async def test_players_cannot_use_admin_commands(mud):
    r = await root(mud.port)
    b = await player(mud.port, "bob")
    for line in ("announce hello", "kick Root", "ban Root", "unban Root", "shutdown", "shutdown 0"):
        await b.command(line)
        m = await b.expect(msg("error"))
        assert m.kwargs["code"] == "unknown_command", f"{line}: {m!r}"
    await r.expect_none(msg("bye"), 0.3)
    await r.expect_none(text(type="announce"), 0.1)
    await r.command("look")
    await r.expect(msg("room"))
    assert mud.alive()
    # help shows admin commands to admins only.
    await r.command("help")
    m = await r.expect(text(type="help"))
    assert "announce" in m.text and "shutdown" in m.text


async def test_shutdown_command(start_mud):
    srv = start_mud()
    r = await root(srv.port)
    b = await player(srv.port, "bob")
    await b.go("inn", "inn_common")
    await b.command("get torch")
    await b.expect(text("You pick up a wooden torch"))
    await r.command("shutdown 1")
    for who in (r, b):
        m = await who.expect(text(type="announce"))
        assert "shut" in m.text.lower()
        await who.expect(msg("bye"), 10)
        code, _ = await who.expect_close()
        assert code is not None and code != 1006, f"{who.label}: closed with a close frame"
    assert srv.wait_exit(15) == 0

    srv2 = start_mud(data_dir=srv.data_dir)
    c = await MudClient.open(srv2.port, "bob again")
    await c.login(b.name)
    rooms = [m for m in c.log if m.cmd == "room"]
    assert rooms[-1].kwargs["id"] == "inn_common"
    assert await c.inventory() == ["a wooden torch"]


async def test_shutdown_closes_with_1001(start_mud):
    """docs/mud-protocol.md: after bye the WebSocket is closed with 1001 (going away) on shutdown."""
    srv = start_mud()
    r = await root(srv.port)
    await r.command("shutdown 0")
    await r.expect(msg("bye"), 10)
    code, _ = await r.expect_close()
    assert code == 1001
    assert srv.wait_exit(15) == 0


async def test_shutdown_usage_error(mud):
    r = await root(mud.port)
    await r.command("shutdown soon")
    await r.expect(text(type="error"))
    await r.expect_none(msg("bye"), 1.5)
    assert mud.alive()
