"""Movement, rooms, items, looking and help (world: apps/mud_server/worlds/default.json)."""
from mudclient import MudClient, msg, player, room, text

SQUARE_EXITS = ["north", "east", "south", "west", "inn"]


async def test_login_shows_the_start_room(mud):
    a = await player(mud.port, "ann")
    r = await a.look()
    assert r.kwargs["id"] == "square"
    assert r.kwargs["name"] == "Town Square"
    assert r.kwargs["exits"] == SQUARE_EXITS
    assert "a heron fountain" in r.kwargs["items"]
    assert r.kwargs["players"] == [] and r.kwargs["more_players"] == 0
    assert isinstance(r.kwargs["desc"], str) and r.kwargs["desc"]
    t = await a.expect(text(type="room"))
    assert t.args[0] == "Town Square"


async def test_move_by_directions(mud):
    a = await player(mud.port, "ann")
    for cmd, room_id, name in [("n", "market_row", "Market Row"), ("s", "square", "Town Square"),
                               ("e", "east_lane", "East Lane"), ("w", "square", "Town Square"),
                               ("west", "west_lane", "West Lane"), ("east", "square", "Town Square"),
                               ("south", "south_gate", "South Gate"), ("north", "square", "Town Square"),
                               ("N", "market_row", "Market Row"), ("South", "square", "Town Square")]:
        await a.command(cmd)
        r = await a.expect(msg("room"), what=f"room after {cmd}")
        assert r.kwargs["id"] == room_id, f"{cmd} led to {r!r}"
        assert r.kwargs["name"] == name
        t = await a.expect(text(type="room"))
        assert t.args[0] == name
        s = await a.expect(msg("status"))
        assert s.kwargs["room"] == name
    r = await a.go("n", "market_row")
    assert r.kwargs["exits"] == ["south", "north", "shop"]


async def test_move_by_exit_names_and_go(mud):
    a = await player(mud.port, "ann")
    await a.go("inn", "inn_common")
    await a.go("up", "inn_upstairs")
    await a.go("d", "inn_common")
    await a.go("out", "square")
    await a.go("go inn", "inn_common")
    await a.go("go out", "square")
    await a.go("go n", "market_row")
    await a.go("go shop", "general_store")
    await a.go("out", "market_row")


async def test_others_see_enter_and_leave(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    await a.command("n")
    m = await b.expect(msg("room_leave"))
    assert m.args == [a.name]
    assert m.kwargs == {"kind": "player", "to": "north"}
    r = await a.expect(room("market_row"))
    assert b.name not in r.kwargs["players"]
    await a.command("s")
    m = await b.expect(msg("room_enter"))
    assert m.args == [a.name]
    assert m.kwargs == {"kind": "player", "from": "north"}
    r = await a.expect(room("square"))
    assert b.name in r.kwargs["players"]
    await a.command("inn")
    m = await b.expect(msg("room_leave"))
    assert m.kwargs["to"] == "inn"
    await a.command("out")
    m = await b.expect(msg("room_enter"))
    assert m.kwargs["from"] == "inn"
    # A login appears with from "".
    name = "Cid" + a.name[3:]
    c = await MudClient.open(mud.port)
    await c.create(name)
    m = await b.expect(msg("room_enter"))
    assert m.args == [name] and m.kwargs == {"kind": "player", "from": ""}
    r = await c.look()
    assert sorted(r.kwargs["players"]) == sorted([a.name, b.name])


async def test_bad_direction_is_an_error(mud):
    a = await player(mud.port, "ann")
    for cmd in ("up", "d", "go nowhere", "go"):
        await a.command(cmd)
        m = await a.expect(any_text_or_error())
        # No error code in the protocol fits a blocked move: it is an output line of type error.
        assert m.cmd == "text" and m.kwargs["type"] == "error", f"{cmd}: {m!r}"
    r = await a.look()
    assert r.kwargs["id"] == "square"


def any_text_or_error():
    def pred(m):
        return (m.cmd == "text" and m.kwargs.get("type") == "error") or m.cmd == "error"
    pred.__doc__ = "text type=error or error"
    return pred


async def test_get_drop_give_inventory(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    assert await a.inventory() == []
    await a.go("inn", "inn_common")
    await b.go("inn", "inn_common")
    await a.command("get torch")
    await a.expect(text("You pick up a wooden torch", type="info"))
    r = await a.expect(msg("room"))
    assert "a wooden torch" not in r.kwargs["items"]
    await b.expect(text(f"{a.name} picks up a wooden torch"))
    assert await a.inventory() == ["a wooden torch"]
    # Not here, and not takeable.
    await a.command("get anvil")
    await a.expect(text(type="error"))
    await a.command("get hearth")
    await a.expect(text("can't take", type="error"))

    await a.command(f"give torch {b.name.lower()}")
    await a.expect(text(f"You give a wooden torch to {b.name}", type="info"))
    await b.expect(text(f"{a.name} gives you a wooden torch", type="info"))
    assert await a.inventory() == []
    assert await b.inventory() == ["a wooden torch"]

    await b.command("drop torch")
    await b.expect(text("You drop a wooden torch", type="info"))
    await a.expect(text(f"{b.name} drops a wooden torch"))
    r = await b.look()
    assert "a wooden torch" in r.kwargs["items"]
    assert await b.inventory() == []
    await b.command("drop torch")
    await b.expect(text(type="error"))

    await a.command("get all")
    await a.expect(text("You pick up a wooden torch"))
    assert await a.inventory() == ["a wooden torch"]


async def test_look_and_examine_an_npc(mud):
    a = await player(mud.port, "ann")
    await a.go("inn", "inn_common")
    r = await a.look()
    assert "Bram the innkeeper" in r.kwargs["npcs"]
    await a.command("look bram")
    m = await a.expect(text(type="info"))
    assert "ginger beard" in m.text
    await a.command("look at innkeeper")
    m = await a.expect(text(type="info"))
    assert "ginger beard" in m.text
    await a.command("examine bram")
    m = await a.expect(text(type="info"))
    assert "ginger beard" in m.text
    await a.command("look dragon")
    await a.expect(text(type="error"))


async def test_documented_aliases(mud):
    """look/l, inventory/i, examine/ex, attack/kill (docs/mud-protocol.md, Game commands)."""
    a = await player(mud.port, "ann")
    await a.command("l")
    r = await a.expect(msg("room"))
    assert r.kwargs["id"] == "square"
    await a.go("inn", "inn_common")
    await a.command("get torch")
    await a.expect(text("You pick up a wooden torch"))
    await a.command("i")
    m = await a.expect(any_of_cmd("text", "error"))
    assert m.cmd == "text" and "a wooden torch" in m.text, f"i: {m!r}"
    await a.command("ex torch")
    m = await a.expect(any_of_cmd("text", "error"))
    assert m.cmd == "text" and m.kwargs["type"] == "info" and "wooden torch" in m.text.lower(), f"ex torch: {m!r}"
    # The inn is safe: kill is understood, and refused as a text of type error.
    await a.command("kill bram")
    m = await a.expect(any_of_cmd("text", "error"))
    assert m.cmd == "text" and m.kwargs["type"] == "error", f"kill bram: {m!r}"


def any_of_cmd(*cmds):
    def pred(m):
        return m.cmd in cmds
    pred.__doc__ = " or ".join(cmds)
    return pred


async def test_help_lists_commands(mud):
    a = await player(mud.port, "ann")
    await a.command("help")
    m = await a.expect(text(type="help"))
    listing = m.text
    for command in ("look", "go", "say", "emote", "tell", "chat", "channels", "join", "leave", "who",
                    "inventory", "get", "drop", "give", "examine", "attack", "flee", "score", "help", "quit"):
        assert any(line.split() and line.split()[0] == command for line in m.args), \
            f"help does not list {command}:\n{listing}"
    for admin_only in ("announce", "kick", "ban", "unban", "shutdown"):
        assert not any(line.split() and line.split()[0] == admin_only for line in m.args), \
            f"help shows the admin command {admin_only} to a player:\n{listing}"

    await a.command("help say")
    m = await a.expect(text(type="help"))
    assert "say <message>" in m.text
    await a.command("help tell")
    m = await a.expect(text(type="help"))
    assert "tell <name> <message>" in m.text
    await a.command("help frobnicate")
    await a.expect(any_text_or_error())
