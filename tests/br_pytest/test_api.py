"""The HTTP API against the real server: submissions through real toolchains, the token,
and bad input (each refused with a 4xx naming the field, nothing written)."""
import json
import socket

import pytest

from conftest import BROKEN, FAILING_TESTS, HELLO, TOKEN, timeout


def test_passing_package_builds_on_every_toolchain(br):
    tcs = br.toolchains()
    assert any(t.startswith("gcc-") for t in tcs), tcs
    pkg = br.submit("hello", br.repo("hello", HELLO), ref="main")
    assert pkg["name"] == "hello" and len(pkg["build_ids"]) == len(tcs)
    assert sorted(b["toolchain"] for b in pkg["builds"]) == sorted(tcs)
    for bid in pkg["build_ids"]:
        b = br.wait(bid)
        assert b["state"] == "passed", (b, br.log(bid))
        assert b["exit_code"] == 0 and len(b["commit"]) == 40
        assert b["duration_ms"] > 0 and b["finished_ms"] >= b["started_ms"] > 0
        log = br.log(bid)
        assert "== step build" in log and "== step test" in log, log
    # The package view and the badge agree.
    _, view = br.json("GET", f"/api/packages/{pkg['id']}", expect=200)
    assert all(b["state"] == "passed" for b in view["builds"])
    status, headers, svg = br.request("GET", "/badge/hello.svg", token=None)
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    assert b"passing" in svg


def test_compile_error_and_failing_tests_are_recorded(br):
    tc = br.toolchains()[0]
    broken = br.submit("broken", br.repo("broken", BROKEN), toolchains=[tc])
    failing = br.submit("failing", br.repo("failing", FAILING_TESTS), toolchains=[tc])
    b = br.wait(broken["build_ids"][0])
    assert b["state"] == "failed" and b["failed_step"] == "build" and b["exit_code"] == 2, b
    assert "error" in br.log(b["id"])
    f = br.wait(failing["build_ids"][0])
    assert f["state"] == "failed" and f["failed_step"] == "test" and f["exit_code"] == 2, f
    assert "expected 4, got 5" in br.log(f["id"])
    assert b"failing" in br.request("GET", "/badge/broken.svg")[2]


def test_write_endpoints_need_the_token(br):
    url = br.repo("hello", HELLO)
    for token in (None, "wrong", TOKEN + "x"):
        status, headers, body = br.request("POST", "/api/packages", {"name": "x", "repo_url": url}, token=token)
        assert status == 401, body
        assert headers["WWW-Authenticate"] == "Bearer"
        assert "error" in json.loads(body)
    status, _, _ = br.request("POST", "/api/builds/1/cancel", token=None)
    assert status == 401
    assert br.json("GET", "/api/packages", token=None, expect=200)[1]["packages"] == []


@pytest.mark.parametrize("body,field", [
    ({"repo_url": "file:///tmp"}, "name"),
    ({"name": "x"}, "repo_url"),
    ({"name": "../etc", "repo_url": "REPO"}, "name"),
    ({"name": "a/b", "repo_url": "REPO"}, "name"),
    ({"name": "x; rm -rf /", "repo_url": "REPO"}, "name"),
    ({"name": "x" * 65, "repo_url": "REPO"}, "name"),
    ({"name": 5, "repo_url": "REPO"}, "name"),
    ({"name": "x", "repo_url": "file:///etc"}, "repo_url"),
    ({"name": "x", "repo_url": "--upload-pack=touch /tmp/pwned"}, "repo_url"),
    ({"name": "x", "repo_url": "ext::sh -c touch% /tmp/pwned"}, "repo_url"),
    ({"name": "x", "repo_url": "ssh://-oProxyCommand=touch /tmp/pwned/x"}, "repo_url"),
    ({"name": "x", "repo_url": "file:///tmp/../etc"}, "repo_url"),
    ({"name": "x", "repo_url": "REPO\nfoo"}, "repo_url"),
    ({"name": "x", "repo_url": "https://" + "a" * 3000}, "repo_url"),
    ({"name": "x", "repo_url": "REPO", "ref": "--output=/tmp/x"}, "ref"),
    ({"name": "x", "repo_url": "REPO", "ref": "a..b"}, "ref"),
    ({"name": "x", "repo_url": "REPO", "toolchains": ["no-such-toolchain"]}, "toolchains"),
    ({"name": "x", "repo_url": "REPO", "toolchains": "gcc"}, "toolchains"),
    ({"name": "x", "repo_url": "REPO", "priority": "high"}, "priority"),
    ({"name": "x", "repo_url": "REPO", "priority": 1000}, "priority"),
    ({"name": "x", "repo_url": "REPO", "surprise": 1}, "surprise"),
])
def test_invalid_submissions_name_the_field_and_write_nothing(br, body, field):
    url = br.repo("hello", HELLO)
    body = {k: (v.replace("REPO", url) if isinstance(v, str) else v) for k, v in body.items()}
    status, data = br.json("POST", "/api/packages", body)
    assert status == 400, data
    assert data.get("field") == field, data
    assert data["error"]
    assert br.json("GET", "/api/packages", expect=200)[1]["packages"] == []


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,2]", b"null", b'{"name": "x", "repo_url": ', b"\xff\xfe{}",
                                 b'{"name":"x","repo_url":"a"}garbage'])
def test_malformed_json_is_a_400(br, raw):
    status, _, body = br.request("POST", "/api/packages", raw=raw)
    assert status == 400, body
    assert "error" in json.loads(body)
    assert br.json("GET", "/api/packages", expect=200)[1]["packages"] == []


def test_huge_body_is_a_413_and_the_server_goes_on(br):
    # The server answers from Content-Length and closes without reading the body, so the
    # client sends only its start: a client still pushing the rest would get EPIPE before it
    # could read the answer.
    body_len = (1 << 20) + 2
    with socket.create_connection(("127.0.0.1", br.port), timeout=timeout(10)) as sock:
        sock.sendall(f"POST /api/packages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {body_len}\r\n\r\n".encode()
                     + b"{" + b" " * 4096)
        status = int(sock.makefile("rb").readline().split()[1])
    assert status == 413
    assert br.request("GET", "/healthz")[0] == 200


def test_unknown_ids_are_404(br):
    for path in ("/api/builds/999", "/api/packages/999", "/api/builds/abc", "/api/builds/999/log"):
        assert br.request("GET", path)[0] == 404, path
    for path in ("/api/builds/999/cancel", "/api/builds/999/retry"):
        assert br.request("POST", path)[0] == 404, path


def test_toolchains_report_limits_and_enforcement(br):
    _, t = br.json("GET", "/api/toolchains", expect=200)
    assert t["executor"] == "local" and t["sandbox"] is True
    assert t["concurrency"] == 2
    assert t["enforced"], t
    for tc in t["toolchains"]:
        assert tc["limits"]["memory_bytes"] == 2 << 30
        assert tc["limits"]["wall_s"] == 1200
        assert [s["name"] for s in tc["steps"]] == ["build", "test"]


def test_health_and_metrics(br):
    assert br.request("GET", "/healthz")[2] == b"ok\n"
    pkg = br.submit("hello", br.repo("hello", HELLO), toolchains=[br.toolchains()[0]])
    br.wait(pkg["build_ids"][0])
    status, _, text = br.request("GET", "/metrics")
    assert status == 200
    assert b"br_submissions_total 1" in text
    assert b'br_builds{state="passed"} 1' in text


def test_dashboard_is_served(br):
    status, headers, body = br.request("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
