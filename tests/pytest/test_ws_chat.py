"""Chat between players: the wire format, say, tell, emote, channels, who, ping."""
import json

from mudclient import MudClient, error, msg, player, says, text, unique_name


async def test_frames_are_compact_three_element_arrays(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    await a.command('say Grüße, "quoted" \\ back ✓')
    await b.expect(says(frm=a.name))
    await a.command("emote waves")
    await b.expect(text(type="emote", frm=a.name))
    await a.command(f"tell {b.name} psst")
    await b.expect(text(type="tell", frm=a.name))
    await a.command("look")
    await a.command("who")
    await a.send("who")
    await a.send("ping", [], {"n": 1, "s": "x y"})
    await a.command("xyzzy")
    await a.send_raw("{not json")
    await a.sync()
    await b.sync()
    frames = a.raw_frames + b.raw_frames
    assert len(frames) >= 15
    for raw in frames:
        assert isinstance(raw, str), f"binary frame from the server: {raw!r}"
        value = json.loads(raw)
        assert isinstance(value, list) and len(value) == 3, raw
        assert isinstance(value[0], str) and isinstance(value[1], list) and isinstance(value[2], dict), raw
        assert json.dumps(value, separators=(",", ":"), ensure_ascii=False) == raw, \
            f"not compact JSON (spaces outside strings, or odd escapes): {raw!r}"


async def test_ping_echoes_kwargs(mud):
    c = await MudClient.open(mud.port)
    await c.send("ping", [], {"t": 12345, "tag": "abc", "nested": {"k": [1, 2]}})
    m = await c.expect(msg("pong"))
    assert m.args == []
    assert m.kwargs == {"t": 12345, "tag": "abc", "nested": {"k": [1, 2]}}


async def test_say_reaches_the_room_only(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    c = await player(mud.port, "cid")
    await c.go("n", "market_row")
    await a.command("say lovely weather today")
    mine = await a.expect(says(frm=a.name))
    assert mine.kwargs["msg"] == "lovely weather today"
    theirs = await b.expect(says(frm=a.name))
    assert theirs.kwargs["msg"] == "lovely weather today"
    assert a.name in theirs.args[0] and "lovely weather today" in theirs.args[0]
    await c.expect_none(says(frm=a.name))
    # The ' shorthand.
    await b.command("'and a fine day")
    m = await a.expect(says(frm=b.name))
    assert m.kwargs["msg"] == "and a fine day"


async def test_tell_reaches_another_room(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    c = await player(mud.port, "cid")
    await b.go("n", "market_row")
    await a.command(f"tell {b.name.lower()} meet me at the inn")
    m = await b.expect(text(type="tell", frm=a.name))
    assert m.kwargs["to"] == b.name
    assert m.kwargs["msg"] == "meet me at the inn"
    assert "meet me at the inn" in m.args[0]
    echo = await a.expect(text(type="tell"))
    assert echo.kwargs["from"] == a.name and echo.kwargs["to"] == b.name
    await c.expect_none(text(type="tell"))
    # To someone who is not online.
    await a.command(f"tell {unique_name('zz')} hello?")
    await a.expect(text(type="error"))


async def test_emote(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    await a.command("emote waves cheerfully")
    m = await b.expect(text(type="emote", frm=a.name))
    assert m.kwargs["msg"] == "waves cheerfully"
    assert m.args[0] == f"{a.name} waves cheerfully."
    await a.expect(text(type="emote", frm=a.name))
    await a.command(":grins")
    m = await b.expect(text(type="emote", frm=a.name))
    assert m.args[0] == f"{a.name} grins."


async def test_global_channel_reaches_another_room(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    await b.go("n", "market_row")
    await b.go("n", "well_plaza")
    await a.command("chat anyone around?")
    m = await b.expect(text(type="channel", frm=a.name))
    assert m.kwargs["channel"] == "global"
    assert m.kwargs["msg"] == "anyone around?"
    await a.expect(text(type="channel", frm=a.name))
    await b.command("global yes, up north")
    m = await a.expect(text(type="channel", frm=b.name))
    assert m.kwargs["channel"] == "global" and m.kwargs["msg"] == "yes, up north"


async def test_custom_channel_join_talk_leave(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    c = await player(mud.port, "cid")
    await a.command("channels")
    m = await a.expect(msg("channels"))
    assert m.kwargs["joined"] == ["global"]
    assert "global" in m.kwargs["available"]

    for bad in ("x", "a1", "seventeenletterss"):
        await a.command(f"join {bad}")
        await a.expect(text(type="error"), what=f"error text for join {bad}")
    await a.command("join guild")
    m = await a.expect(msg("channels"))
    assert "guild" in m.kwargs["joined"] and "global" in m.kwargs["joined"]
    await b.command("join Guild")
    m = await b.expect(msg("channels"))
    assert "guild" in m.kwargs["joined"]
    assert "guild" in m.kwargs["available"]
    await b.go("e", "east_lane")

    await a.command("guild meet at dawn")
    m = await b.expect(text(type="channel", frm=a.name))
    assert m.kwargs["channel"] == "guild" and m.kwargs["msg"] == "meet at dawn"
    await a.expect(text(type="channel", channel="guild", frm=a.name))
    # Not on it: c neither hears it nor can talk on it.
    await c.expect_none(text(type="channel", channel="guild"))
    await c.command("guild hello")
    await c.expect(error("unknown_command"))

    await b.command("leave guild")
    m = await b.expect(msg("channels"))
    assert "guild" not in m.kwargs["joined"]
    await a.command("guild still there?")
    await a.expect(text(type="channel", channel="guild", frm=a.name))
    await b.expect_none(text(type="channel", channel="guild"))


async def test_who_lists_both(mud):
    a = await player(mud.port, "ann")
    b = await player(mud.port, "bob")
    await b.go("n", "market_row")
    for send in (lambda: a.send("who"), lambda: a.command("who")):
        await send()
        m = await a.expect(msg("who"))
        assert m.kwargs["count"] == 2
        names = [p["name"] for p in m.kwargs["players"]]
        assert names == sorted([a.name, b.name], key=str.lower)
        rooms = {p["name"]: p["room"] for p in m.kwargs["players"]}
        assert rooms == {a.name: "Town Square", b.name: "Market Row"}
        for p in m.kwargs["players"]:
            assert p["admin"] is False and isinstance(p["idle"], int)
    # Out-of-band who works before login too.
    c = await MudClient.open(mud.port)
    await c.send("who")
    m = await c.expect(msg("who"))
    assert m.kwargs["count"] == 2
