"""Characters survive restarts: quit, graceful shutdown (SIGTERM), and a crash after an autosave."""
import asyncio

from mudclient import MudClient, msg, player, text, timeout


async def where_and_what(port, name):
    c = await MudClient.open(port, name)
    await c.login(name)
    rooms = [m for m in c.log if m.cmd == "room"]
    return c, rooms[-1].kwargs["id"], await c.inventory()


async def pick_up(c, direction, room_id, item, item_name):
    await c.go(direction, room_id)
    await c.command(f"get {item}")
    await c.expect(text(f"You pick up {item_name}"))


async def test_quit_then_restart(start_mud):
    srv = start_mud()
    a = await player(srv.port, "ann")
    await pick_up(a, "n", "market_row", "bread", "a crusty loaf of bread")
    await a.command("quit")
    await a.expect(msg("bye"))
    await a.expect_close()
    srv.stop()

    srv2 = start_mud(data_dir=srv.data_dir)
    _, room_id, inventory = await where_and_what(srv2.port, a.name)
    assert room_id == "market_row"
    assert inventory == ["a crusty loaf of bread"]


async def test_sigterm_saves_everyone(start_mud):
    srv = start_mud()
    a = await player(srv.port, "ann")
    await pick_up(a, "inn", "inn_common", "torch", "a wooden torch")
    await a.sync()
    srv.proc.terminate()
    await a.expect(msg("bye"))
    await a.expect_close()
    assert srv.wait_exit() == 0

    srv2 = start_mud(data_dir=srv.data_dir)
    _, room_id, inventory = await where_and_what(srv2.port, a.name)
    assert room_id == "inn_common"
    assert inventory == ["a wooden torch"]


async def test_crash_after_autosave(start_mud):
    srv = start_mud("--autosave-s", "1")
    a = await player(srv.port, "ann")
    await pick_up(a, "inn", "inn_common", "torch", "a wooden torch")
    await a.go("up", "inn_upstairs")
    await a.sync()
    await asyncio.sleep(timeout(2.5))  # at least two autosaves (every 1 s)
    srv.kill9()
    a.drop()

    srv2 = start_mud(data_dir=srv.data_dir)
    _, room_id, inventory = await where_and_what(srv2.port, a.name)
    assert room_id == "inn_upstairs"
    assert inventory == ["a wooden torch"]
