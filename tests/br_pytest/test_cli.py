"""The CLI (`build_runner submit|status|logs|cancel|retry`) against a live server."""
import os
import subprocess
import time

from conftest import BROKEN, HELLO, TOKEN, server_path, slow, timeout


def cli(br, *args, token=TOKEN, check=None, timeout_s=120):
    env = dict(os.environ, BUILD_RUNNER_URL=br.url, NO_COLOR="1")
    env.pop("BUILD_RUNNER_TOKEN", None)
    if token:
        env["BUILD_RUNNER_TOKEN"] = token
    p = subprocess.run([server_path(), *args], env=env, capture_output=True, text=True,
                       timeout=timeout(timeout_s), cwd="/")
    if check is not None:
        assert p.returncode == check, (p.returncode, p.stdout, p.stderr)
    return p


def test_submit_wait_passes_with_exit_0_and_a_matrix(br):
    url = br.repo("hello", HELLO)
    p = cli(br, "submit", "hello", url, "--wait", check=0)
    for tc in br.toolchains():
        assert tc in p.stdout, p.stdout
    assert "passed" in p.stdout


def test_submit_wait_fails_with_exit_1(br):
    p = cli(br, "submit", "broken", br.repo("broken", BROKEN), "--toolchain", br.toolchains()[0], "--wait", check=1)
    assert "failed" in p.stdout and "step build exited 2" in p.stdout, p.stdout


def test_submit_a_local_path(br):
    path = br.repo("hello", HELLO)[len("file://"):]
    p = cli(br, "submit", "hello", path, "--toolchain", br.toolchains()[0], "--wait", check=0)
    assert "passed" in p.stdout


def test_status_logs_cancel_retry(start_br):
    br = start_br("--concurrency", "1")
    tc = br.toolchains()[0]
    cli(br, "submit", "slow", br.repo("slow", slow(60)), "--toolchain", tc, check=0)
    bid = br.json("GET", "/api/packages", expect=200)[1]["packages"][0]["builds"][0]["id"]
    br.wait(bid, {"running"})
    assert "running" in cli(br, "status", check=0).stdout
    assert "slow" in cli(br, "status", "--build", str(bid), check=0).stdout
    follow = subprocess.Popen([server_path(), "logs", str(bid), "--follow"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, BUILD_RUNNER_URL=br.url, BUILD_RUNNER_TOKEN=TOKEN))
    time.sleep(0.5)
    cli(br, "cancel", str(bid), check=0)
    out, _ = follow.communicate(timeout=timeout(30))
    assert "started sleeping" in out, out
    assert br.wait(bid)["state"] == "cancelled"
    assert "started sleeping" in cli(br, "logs", str(bid), check=0).stdout
    cli(br, "retry", str(bid), check=0)
    builds = br.json("GET", "/api/packages", expect=200)[1]["packages"][0]["builds"]
    assert [b["retry_of"] for b in builds] == [None, bid], builds  # the retry joins its package
    q = br.json("GET", "/api/queue", expect=200)[1]
    assert q["running"] or q["queued"]
    for b in q["running"] + q["queued"]:
        br.json("POST", f"/api/builds/{b['id']}/cancel")


def test_usage_errors_and_unreachable_or_refused_server(br):
    assert cli(br, "submit", check=2).returncode == 2
    assert cli(br, "cancel", "notanumber").returncode == 2
    p = cli(br, "submit", "hello", br.repo("hello", HELLO), token="wrong", check=3)
    assert "401" in p.stderr or "token" in p.stderr, p.stderr
    env = dict(os.environ, BUILD_RUNNER_URL="http://127.0.0.1:1", BUILD_RUNNER_TOKEN=TOKEN)
    p = subprocess.run([server_path(), "status"], env=env, capture_output=True, text=True, timeout=timeout(30))
    assert p.returncode == 3 and "cannot reach" in p.stderr, p.stderr


def test_the_readme_demo_submits_the_samples_with_the_expected_outcomes(start_br):
    br = start_br(data_dir="br-data")  # the default, relative, as in the README's demo
    env = dict(os.environ, BUILD_RUNNER=server_path(), BUILD_RUNNER_URL=br.url, BUILD_RUNNER_TOKEN=TOKEN)
    demo = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "build-runner-demo.sh")
    p = subprocess.run([demo], env=env, capture_output=True, text=True, timeout=timeout(300))
    assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-2000:])
    assert "hello          passed  (expected)" in p.stdout, p.stdout[-2000:]
