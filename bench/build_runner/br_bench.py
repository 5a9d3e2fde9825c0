#!/usr/bin/python3
"""build_runner benchmarks against the real server (issue 6's targets).

    bench/build_runner/br_bench.py [--server build/release/apps/build_runner/build_runner] [--only NAME]

  start    submission-to-start latency with free slots: from sending POST /api/packages to
           receiving the build's `started` event on the WebSocket (target p99 <= 5 ms)
  api      API requests/s (wrk, GET /api/queue) with no builds, and while 2 builds run and
           stream output; prints the ratio
  queue    RSS with 0 .. 10,000 queued builds (target: flat), and submissions/s
  idle     the server's CPU while 50 builds sleep (target < 1% of a core)

Each part starts its own server in a temporary directory with a one-step toolchain
(`sh ./build.sh`), so what is measured is the runner, not a compiler. Loopback only.
"""
import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKEN = "benchtoken"


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", "-c", "init.defaultBranch=main",
                    *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_repo(base, name, script, tags=0):
    """A repository whose build.sh is `script`; with `tags`, that many commits tagged t0.."""
    path = os.path.join(base, name)
    os.makedirs(path)
    git(path, "init", "-q")
    for i in range(max(1, tags)):
        with open(os.path.join(path, "build.sh"), "w") as f:
            f.write(f"# {i}\n{script}\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", str(i))
        if tags:
            git(path, "tag", f"t{i}")
    subprocess.run(["chmod", "-R", "a+rX", base], check=True)
    return "file://" + path


class Server:
    def __init__(self, binary, base, concurrency, extra=(), config=None):
        """config: the server's JSON config (default: one toolchain running sh ./build.sh)."""
        self.data = os.path.join(base, "data")
        cfg = os.path.join(base, "config.json")
        if config is None:
            config = {"toolchains": [{"name": "sh", "kind": "custom",
                                      "steps": [{"name": "build", "run": "sh ./build.sh"}]}]}
        with open(cfg, "w") as f:
            json.dump(config, f)
        self.out = open(os.path.join(base, "stdout"), "wb+")
        self.proc = subprocess.Popen([binary, "serve", "--port", "0", "--data-dir", self.data, "--token", TOKEN,
                                      "--concurrency", str(concurrency), "--config", cfg, *extra],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            self.out.seek(0)
            m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.out.read())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.out.seek(0)
                sys.exit(f"server did not start:\n{self.out.read().decode(errors='replace')}")
            time.sleep(0.02)

    def post_keepalive(self, path, body):
        """POST on one kept-alive connection (so the latency is the server's, not a new TCP
        connection's)."""
        import http.client
        if not hasattr(self, "conn"):
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.conn.request("POST", path, body=json.dumps(body), headers={"Authorization": f"Bearer {TOKEN}",
                                                                       "Content-Type": "application/json"})
        return json.loads(self.conn.getresponse().read())

    def post(self, path, body):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {TOKEN}",
                                                             "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as r:
            return json.loads(r.read())

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_start(binary, base, n=300, extra=()):
    url = make_repo(base, "quick", "true", tags=n)
    srv = Server(binary, base, concurrency=8, extra=extra)
    lat = []

    async def run():
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/api/events", max_size=None) as ws:
            loop = asyncio.get_running_loop()
            for i in range(n):
                t0 = time.perf_counter()
                pkg = await loop.run_in_executor(None, srv.post_keepalive, "/api/packages",
                                                 {"name": f"p{i}", "repo_url": url, "ref": f"t{i}"})
                bid = pkg["build_ids"][0]
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["type"] == "started" and msg["build"]["id"] == bid:
                        lat.append((time.perf_counter() - t0) * 1000)
                        break
                # Let it finish so that every submission finds free slots.
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["type"] == "finished" and msg["build"]["id"] == bid:
                        break

    asyncio.run(run())
    srv.stop()
    p50, p99 = pct(lat, 50), pct(lat, 99)
    print(f"start: {n} submissions, submission-to-start p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(lat):.2f} ms "
          f"(target p99 <= 5 ms: {'met' if p99 <= 5 else 'MISSED'}; ratio to target {p99 / 5:.2f})")


def wrk_rps(port, seconds=5):
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}/api/queue"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def bench_api(binary, base):
    if not shutil.which("wrk"):
        print("api: SKIPPED (wrk not installed)")
        return
    url = make_repo(base, "chatty", "i=0; while [ $i -lt 200000 ]; do echo line $i; i=$((i+1)); done; sleep 30",
                    tags=2)
    srv = Server(binary, base, concurrency=2)
    idle = wrk_rps(srv.port)
    ids = [srv.post("/api/packages", {"name": f"c{i}", "repo_url": url, "ref": f"t{i}"})["build_ids"][0]
           for i in range(2)]
    deadline = time.monotonic() + 30
    while len(srv.get("/api/queue")["running"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    busy = wrk_rps(srv.port)
    for bid in ids:
        srv.post(f"/api/builds/{bid}/cancel", {})
    srv.stop()
    print(f"api: GET /api/queue {idle:.0f} req/s idle, {busy:.0f} req/s while 2 builds run and stream output "
          f"(ratio {busy / idle:.2f})")


def bench_queue(binary, base, n=10_000):
    blocker = make_repo(base, "blocker", "sleep 600")
    url = make_repo(base, "queued", "true", tags=50)
    srv = Server(binary, base, concurrency=1)
    srv.post("/api/packages", {"name": "blocker", "repo_url": blocker})
    time.sleep(0.5)
    marks = {0: srv.rss_kib()}
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        srv.post("/api/packages", {"name": f"q{i}", "repo_url": url, "ref": f"t{i % 50}", "priority": i % 7})
        if i % (n // 4) == 0:
            marks[i] = srv.rss_kib()
    rate = n / (time.perf_counter() - t0)
    queued = len(srv.get("/api/queue")["queued"])
    srv.stop()
    steps = ", ".join(f"{k}: {v / 1024:.1f} MiB" for k, v in marks.items())
    per = (marks[n] - marks[0]) / n * 1024
    print(f"queue: RSS with queued builds {steps}; {per:.0f} bytes per queued build; {queued} queued; "
          f"{rate:.0f} submissions/s (each committed with synchronous=FULL before its 202)")


def bench_idle(binary, base, n=50):
    url = make_repo(base, "sleepy", "sleep 120", tags=n)
    srv = Server(binary, base, concurrency=n)
    for i in range(n):
        srv.post("/api/packages", {"name": f"s{i}", "repo_url": url, "ref": f"t{i}"})
    deadline = time.monotonic() + 60
    while len(srv.get("/api/queue")["running"]) < n:
        if time.monotonic() > deadline:
            sys.exit("idle: the builds did not all start")
        time.sleep(0.2)
    time.sleep(2)  # the fetches are done; every build is in its sleep
    c0, t0 = srv.cpu_seconds(), time.monotonic()
    time.sleep(10)
    cpu = (srv.cpu_seconds() - c0) / (time.monotonic() - t0) * 100
    running = len(srv.get("/api/queue")["running"])
    srv.stop()
    print(f"idle: server CPU {cpu:.2f}% of a core over 10 s while {running} builds sleep "
          f"(target < 1%: {'met' if cpu < 1 else 'MISSED'})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=os.path.join(REPO, "build/release/apps/build_runner/build_runner"))
    ap.add_argument("--only", choices=["start", "api", "queue", "idle"])
    args = ap.parse_args()
    for name, fn in (("start", bench_start), ("api", bench_api), ("queue", bench_queue), ("idle", bench_idle)):
        if args.only and args.only != name:
            continue
        base = tempfile.mkdtemp(prefix=f"br-bench-{name}-")
        os.chmod(base, 0o755)
        try:
            fn(args.server, base)
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
