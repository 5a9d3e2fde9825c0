"""Fixtures for the mud_server end-to-end tests.

Every test gets its own server in a fresh temporary data directory, started as

    mud_server --port 0 --hash-cost min --admin Root --data-dir DIR [--max-creates 1000] EXTRA...

(flags given later win, so a test can override the defaults). Two ways to get one:

    @pytest.mark.mud_flags("--max-failed-logins", "3")
    async def test_x(mud): ...                 # started before the test, with those flags

    async def test_y(start_mud):
        srv = start_mud("--autosave-s", "1")   # as many as needed; restart on the same dir
        srv2 = start_mud(data_dir=srv.data_dir)  # (after srv stopped)

The fixture waits for `listening on 127.0.0.1:PORT` (20 s), and in teardown sends SIGTERM
(SIGKILL after 10 s). A test fails if a server exited non-zero (unless the test killed it on
purpose), or printed a sanitizer report on stderr.

The server comes from $MUD_SERVER (default build/mud/apps/mud_server/mud_server under the
repository root). Timeouts scale with $DALLY_TEST_SLOWDOWN (sanitizer builds set 5).

Test functions may be `async def`: they run in a fresh event loop (asyncio.run), with a time
limit, and clients still open at the end are closed.
"""
import asyncio
import inspect
import os
import re
import signal
import subprocess
import time

import pytest

import mudclient
from mudclient import timeout

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "WARNING: ThreadSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer")
TEST_TIME_LIMIT = 60  # seconds, scaled


def server_path():
    path = os.environ.get("MUD_SERVER", "build/mud/apps/mud_server/mud_server")
    return path if os.path.isabs(path) else os.path.join(REPO, path)


def pytest_configure(config):
    config.addinivalue_line("markers", "mud_flags(*flags): extra mud_server flags for the `mud` fixture")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Runs `async def` tests in their own event loop."""
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    async def main():
        try:
            await asyncio.wait_for(fn(**args), timeout(TEST_TIME_LIMIT))
        except asyncio.TimeoutError:
            pytest.fail(f"test exceeded its time limit of {timeout(TEST_TIME_LIMIT):.0f} s", pytrace=False)
        finally:
            await mudclient.close_all()

    asyncio.run(main())
    return True


def tail(path, limit=6000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return "<unreadable>"
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else "...\n" + text[-limit:]


class MudProcess:
    """One run of mud_server; its stdout and stderr go to files in the data dir's parent."""

    def __init__(self, flags, data_dir, logdir, run):
        self.flags = list(flags)
        self.data_dir = data_dir
        self.out_path = os.path.join(logdir, f"stdout.{run}")
        self.err_path = os.path.join(logdir, f"stderr.{run}")
        self.proc = None
        self.port = None
        self.expected_exit = False  # the test stopped or killed it itself

    @property
    def argv(self):
        return [server_path(), "--port", "0", "--hash-cost", "min", "--admin", "Root",
                "--data-dir", self.data_dir, "--max-creates", "1000"] + self.flags

    def start(self):
        argv = self.argv
        deadline = time.monotonic() + timeout(30)
        while True:  # the binary may be missing for a moment while it is being rebuilt
            try:
                with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
                    self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    pytest.fail(f"cannot start {argv[0]}: {e}", pytrace=False)
                time.sleep(0.5)
        deadline = time.monotonic() + timeout(20)
        while True:
            with open(self.out_path, "rb") as f:
                m = LISTENING.search(f.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                pytest.fail(f"mud_server exited with status {self.proc.returncode} before 'listening on'; "
                            f"argv {argv}\nstderr:\n{tail(self.err_path)}", pytrace=False)
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("mud_server printed no 'listening on 127.0.0.1:PORT' line within "
                            f"{timeout(20):.0f} s\nstderr:\n{tail(self.err_path)}", pytrace=False)
            time.sleep(0.02)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def describe_exit(self):
        rc = self.proc.returncode
        how = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
        return f"mud_server {how}; stderr:\n{tail(self.err_path)}"

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def sanitizer_report(self):
        err = self.stderr()
        for needle in SANITIZER_REPORTS:
            if needle in err:
                return f"mud_server printed a sanitizer report ({needle!r}):\n{tail(self.err_path)}"
        return None

    def terminate(self, wait=10.0):
        """SIGTERM and wait (SIGKILL after `wait` s); returns None if it exited 0, else a
        failure text."""
        self.expected_exit = True
        if self.proc.poll() is not None:
            return f"mud_server was no longer running: {self.describe_exit()}"
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout(wait))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return f"mud_server did not exit within {timeout(wait):.0f} s of SIGTERM; stderr:\n{tail(self.err_path)}"
        if self.proc.returncode != 0:
            return "mud_server did not exit cleanly on SIGTERM: " + self.describe_exit()
        return None

    def stop(self):
        """SIGTERM; fails the test unless the server exits 0 in time."""
        problem = self.terminate()
        if problem:
            pytest.fail(problem, pytrace=False)

    def kill9(self):
        self.expected_exit = True
        self.proc.kill()
        self.proc.wait()

    def wait_exit(self, wait=10.0):
        """Waits for the server to exit by itself; returns its status."""
        self.expected_exit = True
        try:
            return self.proc.wait(timeout(wait))
        except subprocess.TimeoutExpired:
            pytest.fail(f"mud_server did not exit within {timeout(wait):.0f} s; stderr:\n{tail(self.err_path)}",
                        pytrace=False)


@pytest.fixture
def start_mud(tmp_path):
    """A factory: start_mud(*flags, data_dir=None) -> MudProcess (started)."""
    started = []
    default_dir = str(tmp_path / "data")

    def start(*flags, data_dir=None):
        srv = MudProcess([str(f) for f in flags], data_dir or default_dir, str(tmp_path), len(started) + 1)
        started.append(srv)
        return srv.start()

    yield start
    problems = []
    for srv in started:
        if srv.proc is None:
            continue
        if srv.alive():
            problem = srv.terminate()
            if problem:
                problems.append(problem)
        elif not srv.expected_exit:
            problems.append("mud_server died during the test: " + srv.describe_exit())
        elif srv.proc.returncode not in (0, -signal.SIGKILL):
            problems.append("mud_server exited with an error: " + srv.describe_exit())
        report = srv.sanitizer_report()
        if report:
            problems.append(report)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def mud(request, start_mud):
    """A server started with the flags of the test's mud_flags marker (if any)."""
    marker = request.node.get_closest_marker("mud_flags")
    flags = marker.args if marker else ()
    return start_mud(*flags)
