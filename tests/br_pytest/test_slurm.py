"""The Slurm executor against a real one-node Slurm cluster (scripts/slurm-cluster.sh): how
each of Slurm's endings maps onto a build, cancelling, re-attaching after kill -9 and
SIGTERM, and the start-up checks. Every test skips, with the script's reason, where Slurm
cannot run.

The cluster lives in $DALLY_SLURM_TEST_DIR (default /tmp/dally-slurm-test) on port
$DALLY_SLURM_TEST_PORT (default 16837), apart from a developer's (/tmp/dally-slurm, 16817),
and is stopped at the end. Slurm's time limit is whole minutes, checked every 30 s, so the
time-limit build takes 60-95 s: it is submitted when the module starts and checked by the
last test, and the other tests run meanwhile on the node's other CPU (every build asks for
one CPU).
"""
import os
import re
import subprocess
import time

import pytest

from conftest import BROKEN, HELLO, REPO, BrServer, server_path, timeout

SLURM_DIR = os.environ.get("DALLY_SLURM_TEST_DIR", "/tmp/dally-slurm-test")
SLURM_PORT = os.environ.get("DALLY_SLURM_TEST_PORT", "16837")
SCRIPT = os.path.join(REPO, "scripts", "slurm-cluster.sh")
# Two clusters on one machine share its cgroup tree (/sys/fs/cgroup/*/slurm_<node>/job_<id>):
# the same job id alive in both would share a cgroup (limits, and the kill at the job's end).
# The developer's cluster counts from 1; this one, once started, is told to count from here.
FIRST_JOB_ID = 7_000_000

TICKS = "for i in $(seq 1 8); do echo tick $i; sleep 1; done"
TOOLCHAINS = [
    {"name": "cc", "kind": "custom", "env": {"CC": "gcc"},
     "steps": [{"name": "build", "run": "make"}, {"name": "run", "run": "./hello"}]},
    {"name": "long", "kind": "custom", "steps": [{"name": "count", "run": TICKS}]},
    {"name": "slow", "kind": "custom",
     "steps": [{"name": "count", "run": "for i in $(seq 1 120); do echo tick $i; sleep 1; done"}]},
    {"name": "forever", "kind": "custom", "limits": {"wall_s": 3, "fetch_timeout_s": 10},
     "steps": [{"name": "spin", "run": "while true; do echo still here; sleep 1; done"}]},
    {"name": "hog", "kind": "custom", "limits": {"memory_mb": 128},
     "steps": [{"name": "alloc", "run": "python3 -c 'x = bytearray(2000*1024*1024)'"}]},
]
EMPTY = {"README": "nothing to build\n"}


def slurm(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout(30))
    assert r.returncode == 0, f"{argv}: exit {r.returncode}: {r.stderr}"
    return r


def job_state(job_id):
    out = slurm("scontrol", "show", "job", "-o", job_id).stdout
    m = re.search(r"(?:^| )JobState=(\S+)", out)
    assert m, out
    return m.group(1)


def jobs_named(name, all_states=True):
    """Slurm job ids with this name: every job the cluster still knows (MinJobAge is 600 s),
    or with all_states=False only those pending, running or completing."""
    argv = ["squeue", "-h", "-o", "%i %j %T"] + (["--states=all"] if all_states else [])
    return [line.split()[0] for line in slurm(*argv).stdout.splitlines() if line.split()[1:2] == [name]]


@pytest.fixture(scope="module")
def cluster():
    env = dict(os.environ, DALLY_SLURM_DIR=SLURM_DIR, DALLY_SLURM_PORT=SLURM_PORT)
    r = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=timeout(120))
    if r.returncode != 0:
        pytest.skip(f"no Slurm cluster here: scripts/slurm-cluster.sh start exited {r.returncode}: "
                    f"{(r.stderr + r.stdout).strip()}")
    conf = os.path.join(SLURM_DIR, "etc", "slurm.conf")
    with pytest.MonkeyPatch.context() as mp:
        # The servers inherit it; so do scontrol and squeue here.
        mp.setenv("SLURM_CONF", conf)
        with open(conf) as f:
            configured = "FirstJobId=" in f.read()  # already running, with it
        if not configured:
            # The script writes the config at each start; slurmctld takes the setting on reconfigure.
            with open(conf, "a") as f:
                f.write(f"FirstJobId={FIRST_JOB_ID}\n")
            slurm("scontrol", "reconfigure")
        yield conf
    subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, timeout=timeout(120))


def config(tmp, prefix, **slurm_fields):
    """A Slurm executor config with TOOLCHAINS; jobs named <prefix>-<build id> (unique per
    test: job names outlive a server) and a node work directory of the test's own."""
    return {"executor": "slurm",
            "limits": {"cpus": 1, "memory_mb": 512, "wall_s": 120, "fetch_timeout_s": 30},
            "slurm": {"job_prefix": f"{prefix}{os.getpid()}", "node_work_dir": os.path.join(str(tmp), "node-work"),
                      **slurm_fields},
            "toolchains": TOOLCHAINS}


def job_name(srv, build_id):
    return f"{srv.config['slurm']['job_prefix']}-{build_id}"


def wait_log(srv, build_id, needle, limit=60):
    deadline = time.monotonic() + timeout(limit)
    while True:
        log = srv.log(build_id)
        if needle in log:
            return log
        b = srv.build(build_id)
        assert b["state"] not in ("passed", "failed", "timed_out", "cancelled", "error"), (b, log)
        assert time.monotonic() < deadline, f"no {needle!r} in the log of build {build_id} after {limit} s:\n{log}"
        time.sleep(0.1)


def assert_ticks_once(log):
    for i in range(1, 9):
        assert len(re.findall(rf"^tick {i}$", log, re.M)) == 1, f"tick {i}:\n{log}"


@pytest.fixture(scope="module")
def time_limited(cluster, tmp_path_factory):
    """A server and a build that only Slurm's time limit ends, submitted first (it takes a
    minute or more) and checked by the last test."""
    tmp = tmp_path_factory.mktemp("slurm-timeout")
    p = str(tmp)
    while p not in ("/", "/tmp", ""):  # builds run as an unprivileged uid
        os.chmod(p, os.stat(p).st_mode | 0o755)
        p = os.path.dirname(p)
    srv = BrServer(str(tmp / "data"), str(tmp), 0, ["--concurrency", "4"], config(tmp, "to"))
    srv.start()
    bid = srv.submit("forever", srv.repo("forever", EMPTY), toolchains=["forever"])["build_ids"][0]
    yield srv, bid, time.monotonic()
    problem = srv.terminate() or srv.sanitizer_report()
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.fixture(autouse=True)
def _slurm(cluster, time_limited):
    """Every test needs the cluster, and the time-limited build runs from the first one on."""


def test_toolchains_report_the_slurm_executor(start_br, tmp_path):
    srv = start_br(config=config(tmp_path, "tc", partition="debug"))
    _, tc = srv.json("GET", "/api/toolchains", expect=200)
    assert tc["executor"] == "slurm", tc
    assert tc["executor_settings"]["partition"] == "debug", tc
    assert tc["executor_settings"]["fetch"] == "node", tc
    # Nodes run this very binary (node-run) unless slurm.node_command says otherwise.
    assert tc["executor_settings"]["node_command"] == os.path.realpath(server_path()), tc
    assert "memory:slurm --mem" in tc["enforced"] and "wall_clock:slurm --time" in tc["enforced"], tc
    assert [t["name"] for t in tc["toolchains"]] == [t["name"] for t in TOOLCHAINS]


def test_passing_build_runs_as_a_slurm_job(start_br, tmp_path):
    srv = start_br(config=config(tmp_path, "ok"))
    bid = srv.submit("hello", srv.repo("hello", HELLO), toolchains=["cc"])["build_ids"][0]
    b = srv.wait(bid)
    log = srv.log(bid)
    assert b["state"] == "passed" and b["exit_code"] == 0, (b, log)
    assert b["job_id"] and b["job_id"].isdigit(), b
    assert f"== slurm job {b['job_id']} on " in log, log
    assert "-o hello hello.c" in log and "hello, world" in log, log  # the steps' own output
    assert jobs_named(job_name(srv, bid)) == [b["job_id"]]
    assert job_state(b["job_id"]) == "COMPLETED"


def test_compile_error_fails_the_build(start_br, tmp_path):
    srv = start_br(config=config(tmp_path, "cc"))
    bid = srv.submit("broken", srv.repo("broken", BROKEN), toolchains=["cc"])["build_ids"][0]
    b = srv.wait(bid)
    log = srv.log(bid)
    assert b["state"] == "failed" and b["failed_step"] == "build" and b["exit_code"] == 2, (b, log)
    assert "broken.c" in log and "error" in log, log
    assert b["job_id"] and jobs_named(job_name(srv, bid)) == [b["job_id"]]


def test_out_of_memory_is_slurms_verdict(start_br, tmp_path):
    srv = start_br(config=config(tmp_path, "oom"))
    bid = srv.submit("hog", srv.repo("hog", EMPTY), toolchains=["hog"])["build_ids"][0]
    b = srv.wait(bid)
    assert b["state"] == "failed" and b["reason"] == "out_of_memory", (b, srv.log(bid))
    assert job_state(b["job_id"]) == "OUT_OF_MEMORY"


def test_cancel_ends_the_slurm_job(start_br, tmp_path):
    srv = start_br(config=config(tmp_path, "cx"))
    bid = srv.submit("slow", srv.repo("slow", EMPTY), toolchains=["slow"])["build_ids"][0]
    wait_log(srv, bid, "tick 1\n")
    job_id = srv.build(bid)["job_id"]
    assert job_id and job_state(job_id) == "RUNNING"
    t0 = time.monotonic()
    status, data = srv.json("POST", f"/api/builds/{bid}/cancel")
    assert status == 202 and data["cancelling"] is True, data
    b = srv.wait(bid, limit=30)
    assert b["state"] == "cancelled" and b["reason"] == "cancelled", b
    assert time.monotonic() - t0 < timeout(15)
    assert "== cancelling: scancel sent" in srv.log(bid)
    assert job_state(job_id) == "CANCELLED"
    assert jobs_named(job_name(srv, bid), all_states=False) == []
    assert jobs_named(job_name(srv, bid)) == [job_id]


def test_fetch_on_the_coordinator_into_a_shared_directory(start_br, tmp_path):
    shared = tmp_path / "shared"
    srv = start_br(config=config(tmp_path, "co", fetch="coordinator", shared_dir=str(shared)))
    _, tc = srv.json("GET", "/api/toolchains", expect=200)
    assert tc["executor_settings"]["fetch"] == "coordinator", tc
    assert tc["executor_settings"]["work_dir"] == str(shared), tc
    bid = srv.submit("hello", srv.repo("hello", HELLO), toolchains=["cc"])["build_ids"][0]
    b = srv.wait(bid)
    log = srv.log(bid)
    assert b["state"] == "passed", (b, log)
    # Fetched before the job started (the coordinator's fetch comes first in the log).
    assert log.index("== fetch ") < log.index(f"== slurm job {b['job_id']} on "), log
    assert "hello, world" in log, log
    assert os.listdir(shared) == [], "the shared workspace outlived its build"


def test_default_job_names_carry_the_servers_instance_id(start_br, tmp_path):
    cfg = config(tmp_path, "unused")
    del cfg["slurm"]["job_prefix"]
    srv = start_br(config=cfg)
    bid = srv.submit("hello", srv.repo("hello", HELLO), toolchains=["cc"])["build_ids"][0]
    b = srv.wait(bid)
    assert b["state"] == "passed", b
    with open(os.path.join(srv.data_dir, "slurm", "instance")) as f:
        instance = f.read().strip()
    assert re.fullmatch(r"[0-9a-f]{8}", instance), instance
    _, tc = srv.json("GET", "/api/toolchains", expect=200)
    assert tc["executor_settings"]["job_prefix"] == f"br-{instance}", tc
    assert jobs_named(f"br-{instance}-{bid}") == [b["job_id"]]


def test_kill9_mid_build_reattaches_to_the_same_job(start_br, tmp_path):
    cfg = config(tmp_path, "k9")
    srv = start_br(config=cfg)
    bid = srv.submit("long", srv.repo("long", EMPTY), toolchains=["long"])["build_ids"][0]
    wait_log(srv, bid, "tick 2\n")
    job_id = srv.build(bid)["job_id"]
    assert job_id
    srv.kill9()
    assert job_state(job_id) == "RUNNING"  # the job does not depend on the server
    srv2 = start_br(config=cfg, data_dir=srv.data_dir)
    b = srv2.wait(bid, limit=60)
    log = srv2.log(bid)
    assert b["state"] == "passed" and b["job_id"] == job_id, (b, log)
    # srun outlived the server (its own session): the new server follows it, not Slurm's records.
    assert f"== build_runner restarted: following Slurm job {job_id} again\n" in log, log
    assert_ticks_once(log)
    assert jobs_named(job_name(srv, bid)) == [job_id]
    assert job_state(job_id) == "COMPLETED"


def test_sigterm_leaves_the_job_running_and_the_next_server_finishes_it(start_br, tmp_path):
    cfg = config(tmp_path, "st")
    srv = start_br(config=cfg)
    bid = srv.submit("long", srv.repo("long", EMPTY), toolchains=["long"])["build_ids"][0]
    wait_log(srv, bid, "tick 2\n")
    job_id = srv.build(bid)["job_id"]
    t0 = time.monotonic()
    srv.stop()  # fails the test unless it exits 0
    assert time.monotonic() - t0 < timeout(5)
    assert job_state(job_id) == "RUNNING"
    srv2 = start_br(config=cfg, data_dir=srv.data_dir)
    during = srv2.build(bid)
    assert during["state"] == "running" and during["job_id"] == job_id, during
    b = srv2.wait(bid, limit=60)
    log = srv2.log(bid)
    assert b["state"] == "passed", (b, log)
    assert f"== build_runner restarted: following Slurm job {job_id} again" in log, log
    assert_ticks_once(log)
    assert jobs_named(job_name(srv, bid)) == [job_id]


def test_unknown_partition_stops_the_server_at_start(tmp_path):
    cfg = config(tmp_path, "bp", partition="nosuchpartition")
    srv = BrServer(str(tmp_path / "data"), str(tmp_path), 0, [], cfg)
    r = subprocess.run(srv.argv(), capture_output=True, text=True, timeout=timeout(60), cwd=str(tmp_path))
    assert r.returncode != 0, r
    assert "listening" not in r.stdout
    assert 'partition "nosuchpartition"' in r.stderr, r.stderr


def test_slurm_time_limit_times_the_build_out(time_limited):
    srv, bid, t0 = time_limited
    b = srv.wait(bid, limit=150)
    log = srv.log(bid)
    assert b["state"] == "timed_out" and b["reason"] == "wall_clock", (b, log)
    assert "DUE TO TIME LIMIT" in log, log
    assert job_state(b["job_id"]) == "TIMEOUT"
    # Slurm's limit (whole minutes), not a 3 s timer of the server's or the node's.
    assert time.monotonic() - t0 >= 55, log
