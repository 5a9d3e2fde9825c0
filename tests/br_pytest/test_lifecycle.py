"""Builds over time: cancel, retry, timeouts, the cache, deduplication, live logs and events,
and recovery after kill -9."""
import asyncio
import json
import socket
import threading
import time

import websockets

from conftest import BROKEN, HELLO, TOKEN, slow, timeout


def first_tc(br):
    return [br.toolchains()[0]]


def test_cancel_running_and_queued_builds(start_br):
    br = start_br("--concurrency", "1")
    tc = first_tc(br)
    running = br.submit("slow", br.repo("slow", slow(60)), toolchains=tc)["build_ids"][0]
    queued = br.submit("slow2", br.repo("slow2", slow(61)), toolchains=tc)["build_ids"][0]
    br.wait(running, {"running"})
    assert br.build(queued)["state"] == "queued"
    status, data = br.json("POST", f"/api/builds/{queued}/cancel")
    assert status == 200 and data["state"] == "cancelled"
    t0 = time.monotonic()
    status, data = br.json("POST", f"/api/builds/{running}/cancel")
    assert status == 202 and data["cancelling"] is True
    b = br.wait(running, limit=20)
    assert b["state"] == "cancelled" and b["reason"] == "cancelled"
    assert time.monotonic() - t0 < timeout(10)
    assert br.json("POST", f"/api/builds/{running}/cancel")[0] == 409


def test_retry_makes_a_new_build_that_really_runs(br):
    tc = first_tc(br)
    bid = br.submit("broken", br.repo("broken", BROKEN), toolchains=tc)["build_ids"][0]
    assert br.wait(bid)["state"] == "failed"
    status, nb = br.json("POST", f"/api/builds/{bid}/retry")
    assert status == 202 and nb["retry_of"] == bid and nb["id"] != bid
    again = br.wait(nb["id"])
    assert again["state"] == "failed" and again["cached_from"] is None
    assert "== step build" in br.log(nb["id"])


def test_retry_of_an_unfinished_build_is_a_409(start_br):
    br = start_br("--concurrency", "1")
    bid = br.submit("slow", br.repo("slow", slow(60)), toolchains=first_tc(br))["build_ids"][0]
    assert br.json("POST", f"/api/builds/{bid}/retry")[0] == 409
    br.json("POST", f"/api/builds/{bid}/cancel")


def test_wall_clock_and_no_output_limits(start_br):
    br = start_br(config={"limits": {"wall_s": 2, "no_output_s": 60}})
    tc = first_tc(br)
    bid = br.submit("forever", br.repo("forever", {"Makefile": "all:\n\twhile true; do echo .; sleep 0.2; done\ntest:\n"}),
                    toolchains=tc)["build_ids"][0]
    b = br.wait(bid, limit=30)
    assert b["state"] == "timed_out" and b["reason"] == "wall_clock", b
    br.stop()
    br = start_br(config={"limits": {"wall_s": 60, "no_output_s": 2}}, data_dir=br.data_dir + "2")
    bid = br.submit("silent", br.repo("silent", slow(60)), toolchains=tc)["build_ids"][0]
    b = br.wait(bid, limit=30)
    assert b["state"] == "timed_out" and b["reason"] == "no_output", b


def test_same_commit_again_is_cached(br):
    tc = first_tc(br)
    url = br.repo("hello", HELLO)
    first = br.submit("hello", url, toolchains=tc)["build_ids"][0]
    assert br.wait(first)["state"] == "passed"
    second = br.submit("hello", url, toolchains=tc)["build_ids"][0]
    b = br.wait(second)
    assert b["state"] == "cached" and b["cached_from"] == first, b
    assert b"passing" in br.request("GET", "/badge/hello.svg")[2]


def test_identical_queued_builds_are_deduplicated(start_br):
    br = start_br("--concurrency", "1")
    tc = first_tc(br)
    blocker = br.submit("block", br.repo("block", slow(2)), toolchains=tc)["build_ids"][0]
    url = br.repo("hello", HELLO)
    a = br.submit("hello", url, toolchains=tc)["builds"][0]
    b = br.submit("hello", url, toolchains=tc)["builds"][0]
    assert a["duplicate_of"] is None and b["duplicate_of"] == a["id"]
    assert br.wait(blocker)["state"] == "passed"
    assert br.wait(a["id"])["state"] == "passed"
    got = br.wait(b["id"])
    assert got["state"] == "cached" and got["cached_from"] == a["id"]


def test_log_is_streamed_while_the_build_runs(start_br):
    br = start_br()
    bid = br.submit("slow", br.repo("slow", slow(3)), toolchains=first_tc(br))["build_ids"][0]
    br.wait(bid, {"running"})
    sock = socket.create_connection(("127.0.0.1", br.port), timeout=timeout(20))
    sock.sendall(f"GET /api/builds/{bid}/log HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = b""
    t0 = time.monotonic()
    while b"started sleeping" not in got:
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    assert b"Transfer-Encoding: chunked" in got
    assert br.build(bid)["state"] == "running"  # seen before the build ended
    while not got.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    assert got.endswith(b"0\r\n\r\n"), got[-200:]
    assert br.build(bid)["state"] == "passed"
    sock.close()
    assert time.monotonic() - t0 < timeout(20)


def test_websocket_events_and_log_subscription(br):
    tc = first_tc(br)
    url = br.repo("slow", slow(2))

    async def run():
        async with websockets.connect(f"ws://127.0.0.1:{br.port}/api/events") as ws:
            pkg = await asyncio.get_running_loop().run_in_executor(None, lambda: br.submit("slow", url, toolchains=tc))
            bid = pkg["build_ids"][0]
            types = []
            logs = ""
            subscribed = False
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), timeout(30)))
                if msg["type"] == "log":
                    assert msg["build"] == bid
                    logs += msg["data"]
                    continue
                types.append(msg["type"])
                if msg["type"] == "started" and not subscribed:
                    await ws.send(json.dumps({"type": "subscribe", "build": bid}))
                    subscribed = True
                if msg["type"] == "finished":
                    assert msg["build"]["state"] == "passed"
                    break
            assert types[:3] == ["submitted", "queued", "started"], types
            assert "started sleeping" in logs, logs
            await ws.send("nonsense")
            err = json.loads(await asyncio.wait_for(ws.recv(), timeout(10)))
            assert err["type"] == "error"

    asyncio.run(run())


def test_server_sent_events_for_a_package(br):
    pkg = br.submit("hello", br.repo("hello", HELLO), toolchains=first_tc(br))
    status, headers, body = br.request("GET", f"/api/events/stream?package={pkg['id']}", timeout_s=60)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    text = body.decode()
    assert "event: submitted" in text and "event: finished" in text, text


def test_restart_after_kill9_requeues_and_loses_nothing(start_br):
    br = start_br("--concurrency", "1")
    tc = first_tc(br)
    running = br.submit("slow", br.repo("slow", slow(3)), toolchains=tc)["build_ids"][0]
    queued = [br.submit(f"p{i}", br.repo(f"p{i}", HELLO), toolchains=tc)["build_ids"][0] for i in range(3)]
    br.wait(running, {"running"})
    br.kill9()
    br2 = start_br("--concurrency", "1", data_dir=br.data_dir)
    for bid in [running] + queued:
        b = br2.wait(bid)
        assert b["state"] in ("passed", "cached"), b
    assert len(br2.json("GET", "/api/packages", expect=200)[1]["packages"]) == 4


def test_sigterm_puts_running_builds_back(start_br):
    br = start_br("--concurrency", "1")
    bid = br.submit("slow", br.repo("slow", slow(60)), toolchains=first_tc(br))["build_ids"][0]
    br.wait(bid, {"running"})
    t0 = time.monotonic()
    br.stop()
    assert time.monotonic() - t0 < timeout(20)
    br2 = start_br("--concurrency", "1", data_dir=br.data_dir)
    assert br2.build(bid)["state"] in ("queued", "fetching", "running")
    br2.json("POST", f"/api/builds/{bid}/cancel")


def test_a_relative_data_dir_works(start_br):
    # The default (`br-data`) is relative; workspaces must still be found by the sandbox.
    br = start_br(data_dir="rel-data")
    bid = br.submit("hello", br.repo("hello", HELLO), toolchains=first_tc(br))["build_ids"][0]
    b = br.wait(bid)
    assert b["state"] == "passed", (b, br.log(bid))
