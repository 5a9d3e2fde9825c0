#!/usr/bin/python3
"""build_runner's Slurm executor against a one-node Slurm cluster: what it adds to Slurm's
own cost of running a job, and 100 builds at once.

    bench/build_runner/br_slurm_bench.py [--server PATH] [--n 20] [--burst 100] [--only srun|trivial|burst]

  srun     `srun --cpus-per-task=1 --mem=512M true`, N times: Slurm's own floor (the reference)
  trivial  a build whose one step is `true`, of a tiny local git repository, N times one after
           the other, with the Slurm executor and then the local one: from sending POST
           /api/packages to the build's `started` event on the WebSocket (a slot taken), to the
           first event with its Slurm job id (build_runner running on the node) and to its
           `finished` event (the terminal state, committed, as the API shows it)
  burst    100 such builds submitted at once through Slurm, each asking for 1 CPU of the node:
           all must pass, each with exactly one Slurm job (job ids all distinct); total time

Slurm is the cluster of scripts/slurm-cluster.sh ($DALLY_SLURM_DIR, default /tmp/dally-slurm),
started here if it is not running (and then stopped at the end). Builds fetch on the node
into the benchmark's own directory, and jobs are named trivial<pid>-<build id> and
burst<pid>-<build id>, so a server already using the cluster is not disturbed. Loopback only.
"""
import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import websockets

from br_bench import REPO, Server, make_repo, pct

SCRIPT = os.path.join(REPO, "scripts", "slurm-cluster.sh")
SLURM_DIR = os.environ.get("DALLY_SLURM_DIR", "/tmp/dally-slurm")
TRIVIAL = [{"name": "trivial", "kind": "custom", "steps": [{"name": "build", "run": "true"}]}]


def slurm_config(base, part, executor="slurm"):
    """Jobs are named <part><pid>-<build id>: build ids restart with each server."""
    return {"executor": executor,
            "limits": {"cpus": 1, "memory_mb": 512},
            "slurm": {"job_prefix": f"{part}{os.getpid()}", "node_work_dir": os.path.join(base, "node-work")},
            "toolchains": TRIVIAL}


def summary(values):
    return f"{statistics.median(values):8.1f} {pct(values, 90):8.1f}"


# ---- srun true --------------------------------------------------------------------------

def bench_srun(n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(["srun", "--cpus-per-task=1", "--mem=512M", "true"], check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times


# ---- one trivial build at a time ----------------------------------------------------------

def bench_trivial(binary, base, n, executor):
    url = make_repo(base, "trivial", "true", tags=n)
    srv = Server(binary, base, 4, config=slurm_config(base, "trivial", executor))
    start, on_node, end = [], [], []

    async def run():
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/api/events", max_size=None) as ws:
            loop = asyncio.get_running_loop()
            for i in range(n):
                t0 = time.perf_counter()
                pkg = await loop.run_in_executor(None, srv.post_keepalive, "/api/packages",
                                                 {"name": f"t{i}", "repo_url": url, "ref": f"t{i}"})
                bid = pkg["build_ids"][0]
                seen_job = False
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
                    b = msg.get("build")
                    if not isinstance(b, dict) or b.get("id") != bid:
                        continue
                    now = (time.perf_counter() - t0) * 1000
                    if msg["type"] == "started":
                        start.append(now)
                    if b.get("job_id") and not seen_job:
                        seen_job = True
                        on_node.append(now)
                    if msg["type"] == "finished":
                        end.append(now)
                        if b["state"] != "passed":
                            sys.exit(f"trivial ({executor}): build {bid} ended {b['state']}: {b}")
                        break

    asyncio.run(run())
    srv.stop()
    return start, on_node, end


# ---- 100 at once ----------------------------------------------------------------------------

def bench_burst(binary, base, n):
    url = make_repo(base, "burst", "true", tags=n)
    cfg = slurm_config(base, "burst")
    srv = Server(binary, base, n, config=cfg)
    t0 = time.perf_counter()
    ids = [srv.post("/api/packages", {"name": f"b{i}", "repo_url": url, "ref": f"t{i}"})["build_ids"][0]
           for i in range(n)]
    submitted = time.perf_counter() - t0
    deadline = time.monotonic() + 600
    while True:
        builds = [srv.get(f"/api/builds/{bid}") for bid in ids]
        if all(b["state"] not in ("queued", "fetching", "running") for b in builds):
            break
        if time.monotonic() > deadline:
            sys.exit(f"burst: not finished after 600 s: {[b['state'] for b in builds]}")
        time.sleep(0.2)
    total = time.perf_counter() - t0
    srv.stop()
    states = {}
    for b in builds:
        states[b["state"]] = states.get(b["state"], 0) + 1
    job_ids = [b["job_id"] for b in builds]
    # Every job Slurm still knows (MinJobAge 600 s) with one of our names.
    prefix = cfg["slurm"]["job_prefix"] + "-"
    listing = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i %j"], check=True, capture_output=True,
                             text=True).stdout.split("\n")
    per_name = {}
    for line in listing:
        words = line.split()
        if len(words) == 2 and words[1].startswith(prefix):
            per_name.setdefault(words[1], []).append(words[0])
    expected = {f"{prefix}{bid}" for bid in ids}
    one_each = set(per_name) == expected and all(len(v) == 1 for v in per_name.values())
    slurm_ids_match = all(per_name.get(f"{prefix}{b['id']}") == [b["job_id"]] for b in builds)
    distinct = len(set(j for j in job_ids if j)) == n and all(job_ids)
    ok = states.get("passed") == n and one_each and slurm_ids_match and distinct
    print(f"burst: {n} builds submitted in {submitted:.2f} s, all ended after {total:.1f} s "
          f"({n / total:.1f} builds/s on {os.cpu_count()} CPUs); states {states}; "
          f"{len(set(j for j in job_ids if j))} distinct job ids; Slurm jobs named {prefix}*: "
          f"{sum(len(v) for v in per_name.values())} for {len(per_name)} names; "
          f"exactly one job per build, the one the build records: {'yes' if one_each and slurm_ids_match else 'NO'}"
          f" -> {'OK' if ok else 'FAILED'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=os.path.join(REPO, "build/release/apps/build_runner/build_runner"))
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--only", choices=["srun", "trivial", "burst"])
    args = ap.parse_args()

    env = dict(os.environ, DALLY_SLURM_DIR=SLURM_DIR)
    started_here = subprocess.run([SCRIPT, "status"], env=env, capture_output=True).returncode != 0
    if started_here:
        r = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"no Slurm cluster: {(r.stderr + r.stdout).strip()}")
    os.environ["SLURM_CONF"] = os.path.join(SLURM_DIR, "etc", "slurm.conf")
    ok = True
    try:
        rows = {}
        if args.only in (None, "srun"):
            rows["srun true"] = (None, None, bench_srun(args.n))
        if args.only in (None, "trivial"):
            for executor in ("slurm", "local"):
                base = tempfile.mkdtemp(prefix=f"br-slurm-bench-{executor}-")
                os.chmod(base, 0o755)
                try:
                    rows[f"build_runner, {executor}"] = bench_trivial(args.server, base, args.n, executor)
                finally:
                    shutil.rmtree(base, ignore_errors=True)
        if rows:
            print(f"{'N=' + str(args.n) + ', ms':<24} {'to start':>17} {'to node':>17} {'to the result':>17}")
            print(f"{'':<24} {'median      p90':>17} {'median      p90':>17} {'median      p90':>17}")
            for name, (start, node, end) in rows.items():
                cols = [summary(v) if v else f"{'-':>8} {'-':>8}" for v in (start, node, end)]
                print(f"{name:<24} {cols[0]:>17} {cols[1]:>17} {cols[2]:>17}")
        if "srun true" in rows and "build_runner, slurm" in rows:
            srun = statistics.median(rows["srun true"][2])
            slurm = statistics.median(rows["build_runner, slurm"][2])
            local = statistics.median(rows["build_runner, local"][2])
            added = slurm - srun
            print(f"Slurm adds {added:.0f} ms over srun true (median {slurm:.0f} vs {srun:.0f} ms, ratio "
                  f"{slurm / srun:.2f}; target <= 200 ms: {'met' if added <= 200 else 'MISSED'}); the same build "
                  f"with the local executor takes {local:.0f} ms, so {added - local:.0f} ms are the executor's own")
        if args.only in (None, "burst"):
            base = tempfile.mkdtemp(prefix="br-slurm-bench-burst-")
            os.chmod(base, 0o755)
            try:
                ok = bench_burst(args.server, base, args.burst)
            finally:
                shutil.rmtree(base, ignore_errors=True)
    finally:
        if started_here:
            subprocess.run([SCRIPT, "stop"], env=env, capture_output=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
