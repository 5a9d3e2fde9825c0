"""Fixtures for the build_runner end-to-end tests: the real server, real git repositories,
real toolchains and the real sandbox.

    def test_x(br):                      # a server started for the test
        pkg = br.submit("hello", br.repo("hello", HELLO))
        assert br.wait(pkg["build_ids"][0])["state"] == "passed"

    def test_y(start_br):                # a factory, for restarts and custom configs
        srv = start_br(config={"limits": {"wall_s": 3}})

Every server runs with --port 0, a fresh data directory, --token testtoken. The fixture waits
for `listening on 127.0.0.1:PORT` and, in teardown, sends SIGTERM and fails the test if the
server did not exit 0 or printed a sanitizer report. The binary comes from $BUILD_RUNNER
(default build/release/apps/build_runner/build_runner). Timeouts scale with
$DALLY_TEST_SLOWDOWN. Test repositories are made world-readable: builds run as an
unprivileged uid.
"""
import json
import os
import re
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "WARNING: ThreadSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer")
TOKEN = "testtoken"
TERMINAL = {"passed", "failed", "timed_out", "cancelled", "error", "cached"}


def slowdown():
    return float(os.environ.get("DALLY_TEST_SLOWDOWN", "1"))


def timeout(seconds):
    return seconds * slowdown()


def server_path():
    path = os.environ.get("BUILD_RUNNER", "build/release/apps/build_runner/build_runner")
    return path if os.path.isabs(path) else os.path.join(REPO, path)


def tail(path, limit=6000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return "<unreadable>"
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else "...\n" + text[-limit:]


# ---- packages -----------------------------------------------------------------------------

HELLO = {
    "Makefile": "all: hello\nhello: hello.c\n\t$(CC) -O0 -o hello hello.c\n"
                "test: hello\n\t./hello | grep -q 'hello, world'\n",
    "hello.c": '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n',
}
BROKEN = {
    "Makefile": "all:\n\t$(CC) -o broken broken.c\ntest: all\n",
    "broken.c": "int main(void) { return 0 }\n",
}
FAILING_TESTS = {
    "Makefile": "all:\n\t$(CC) -o t t.c\ntest: all\n\t./t\n",
    "t.c": '#include <stdio.h>\nint main(void) { printf("expected 4, got 5\\n"); return 1; }\n',
}


def slow(seconds):
    """A package whose build prints a line and then sleeps."""
    return {"Makefile": f"all:\n\t@echo started sleeping\n\t@sleep {seconds}\ntest:\n"}


def chmod_world_readable(path):
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = os.path.join(root, name)
            mode = os.lstat(p).st_mode
            if not stat.S_ISLNK(mode):
                os.chmod(p, mode | stat.S_IRGRP | stat.S_IROTH | (stat.S_IXGRP | stat.S_IXOTH if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0))
    p = path
    while p not in ("/", ""):
        mode = os.stat(p).st_mode
        os.chmod(p, mode | stat.S_IXOTH | stat.S_IROTH)
        if p in ("/tmp",):
            break
        p = os.path.dirname(p)


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid",
                    "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_repo(base, name, files, tag=None):
    """A git repository with `files` committed on main; returns its file:// URL."""
    path = os.path.join(base, name)
    os.makedirs(path, exist_ok=True)
    git(path, "init", "-q")
    for rel, content in files.items():
        full = os.path.join(path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", f"{name}")
    if tag:
        git(path, "tag", tag)
    chmod_world_readable(path)
    return "file://" + path


# ---- the server ---------------------------------------------------------------------------

class BrServer:
    def __init__(self, data_dir, logdir, run, flags, config):
        self.data_dir = data_dir
        self.flags = list(flags)
        self.config = config
        self.out_path = os.path.join(logdir, f"br-stdout.{run}")
        self.err_path = os.path.join(logdir, f"br-stderr.{run}")
        self.logdir = logdir
        self.proc = None
        self.port = None
        self.expected_exit = False
        self.repo_base = os.path.join(logdir, "repos")
        os.makedirs(self.repo_base, exist_ok=True)

    def argv(self):
        argv = [server_path(), "serve", "--port", "0", "--data-dir", self.data_dir, "--token", TOKEN,
                "--concurrency", "2"]
        if self.config is not None:
            cfg = os.path.join(self.logdir, "config.json")
            with open(cfg, "w") as f:
                json.dump(self.config, f)
            argv += ["--config", cfg]
        return argv + self.flags

    def start(self):
        argv = self.argv()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            # In the test's own directory: a relative --data-dir lands there.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.logdir)
        deadline = time.monotonic() + timeout(30)
        while True:
            with open(self.out_path, "rb") as f:
                m = LISTENING.search(f.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                pytest.fail(f"build_runner exited with {self.proc.returncode} before listening; argv {argv}\n"
                            f"stdout:\n{tail(self.out_path)}\nstderr:\n{tail(self.err_path)}", pytrace=False)
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"build_runner did not listen within {timeout(30):.0f} s\nstderr:\n{tail(self.err_path)}",
                            pytrace=False)
            time.sleep(0.02)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stdout(self):
        return tail(self.out_path, 10**6)

    def stderr(self):
        return tail(self.err_path, 10**6)

    # -- HTTP --
    def request(self, method, path, body=None, token=TOKEN, raw=None, headers=None, timeout_s=10):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout(timeout_s)) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method, path, body=None, token=TOKEN, expect=None, **kw):
        status, _, data = self.request(method, path, body, token, **kw)
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {data[:500]!r}"
        try:
            return status, json.loads(data)
        except ValueError:
            raise AssertionError(f"{method} {path}: {status}, not JSON: {data[:300]!r}")

    def repo(self, name, files, tag=None):
        return make_repo(self.repo_base, name, files, tag)

    def submit(self, name, url, **fields):
        _, pkg = self.json("POST", "/api/packages", dict(name=name, repo_url=url, **fields), expect=202)
        return pkg

    def build(self, build_id):
        return self.json("GET", f"/api/builds/{build_id}", expect=200)[1]

    def wait(self, build_id, states=TERMINAL, limit=120):
        deadline = time.monotonic() + timeout(limit)
        while True:
            b = self.build(build_id)
            if b["state"] in states:
                return b
            if time.monotonic() > deadline:
                pytest.fail(f"build {build_id} still {b['state']} after {timeout(limit):.0f} s: {b}\n"
                            f"log:\n{self.log(build_id, follow=False)[-3000:]}", pytrace=False)
            time.sleep(0.05)

    def log(self, build_id, follow=False):
        status, _, data = self.request("GET", f"/api/builds/{build_id}/log?follow={1 if follow else 0}")
        assert status == 200
        return data.decode("utf-8", "replace")

    def toolchains(self):
        return [t["name"] for t in self.json("GET", "/api/toolchains", expect=200)[1]["toolchains"]]

    # -- process --
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def sanitizer_report(self):
        err = self.stderr()
        for needle in SANITIZER_REPORTS:
            if needle in err:
                return f"build_runner printed a sanitizer report ({needle!r}):\n{tail(self.err_path)}"
        return None

    def terminate(self, wait=30.0):
        self.expected_exit = True
        if self.proc.poll() is not None:
            return f"build_runner was no longer running (status {self.proc.returncode}); stderr:\n{tail(self.err_path)}"
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout(wait))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return f"build_runner did not exit within {timeout(wait):.0f} s of SIGTERM; stderr:\n{tail(self.err_path)}"
        if self.proc.returncode != 0:
            return f"build_runner exited {self.proc.returncode} on SIGTERM; stderr:\n{tail(self.err_path)}"
        return None

    def stop(self):
        problem = self.terminate()
        if problem:
            pytest.fail(problem, pytrace=False)

    def kill9(self):
        self.expected_exit = True
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def start_br(tmp_path):
    """start_br(*flags, config=None, data_dir=None) -> BrServer (started)."""
    # Builds run as an unprivileged uid: it must reach the data and repository directories.
    p = str(tmp_path)
    while p not in ("/", "/tmp", ""):
        os.chmod(p, os.stat(p).st_mode | 0o755)
        p = os.path.dirname(p)
    started = []

    def start(*flags, config=None, data_dir=None):
        srv = BrServer(data_dir or str(tmp_path / "data"), str(tmp_path), len(started), flags, config)
        started.append(srv)
        return srv.start()

    yield start
    problems = []
    for srv in started:
        if srv.alive():
            p = srv.terminate()
            if p:
                problems.append(p)
        elif not srv.expected_exit:
            problems.append(f"build_runner died during the test (status {srv.proc.returncode}); "
                            f"stderr:\n{tail(srv.err_path)}")
        rep = srv.sanitizer_report()
        if rep:
            problems.append(rep)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def br(start_br):
    return start_br()
