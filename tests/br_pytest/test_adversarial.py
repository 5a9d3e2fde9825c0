"""Hostile packages through the real server: each ends with its expected recorded outcome,
and the server stays healthy. Loopback only: the network test's listener is on 127.0.0.1."""
import os
import socket
import threading

import pytest

from conftest import timeout


def mk(script):
    """A package whose build step runs `script` (a shell script in the checkout)."""
    return {"Makefile": "all:\n\tsh ./evil.sh\ntest:\n", "evil.sh": script}


def submit_one(br, name, files):
    return br.submit(name, br.repo(name, files), toolchains=[br.toolchains()[0]])["build_ids"][0]


def healthy(br):
    assert br.request("GET", "/healthz")[2] == b"ok\n"


def test_network_to_the_hosts_loopback_fails(br):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(listener.accept())
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    script = ("cat > c.c <<'E'\n#include <arpa/inet.h>\n#include <stdio.h>\n#include <sys/socket.h>\n"
              "int main(void){int s=socket(AF_INET,SOCK_STREAM,0);struct sockaddr_in a={0};"
              f"a.sin_family=AF_INET;a.sin_port=htons({port});a.sin_addr.s_addr=htonl(0x7f000001);"
              "if(connect(s,(void*)&a,sizeof a)==0){puts(\"CONNECTED\");return 0;}perror(\"connect\");return 1;}\nE\n"
              "cc -o c c.c && ./c\n")
    b = br.wait(submit_one(br, "net", mk(script)))
    stop.set()
    t.join()
    listener.close()
    assert b["state"] == "failed", b
    assert accepted == []
    log = br.log(b["id"])
    assert "CONNECTED" not in log and "connect:" in log, log
    healthy(br)


def test_writes_outside_the_workspace_fail(br):
    marker = f"br-escape-{os.getpid()}"
    script = (f"touch /usr/{marker} || touch /etc/{marker} || touch $HOME/../{marker} || "
              f"touch /tmp/../{marker} || echo refused; touch /usr/{marker}\n")
    b = br.wait(submit_one(br, "escape", mk(script)))
    assert b["state"] == "failed", b
    for d in ("/usr", "/etc", "/", "/tmp"):
        assert not os.path.exists(os.path.join(d, marker))
    healthy(br)


def test_fork_bomb_is_contained(start_br):
    br = start_br(config={"limits": {"max_processes": 64, "wall_s": 20}})
    b = br.wait(submit_one(br, "bomb", mk("bomb() { bomb | bomb & }; bomb; sleep 2; exit 1\n")), limit=60)
    assert b["state"] in ("failed", "timed_out"), b
    healthy(br)
    # The machine is usable: a normal build still passes.
    ok = br.wait(submit_one(br, "after", {"Makefile": "all:\n\ttrue\ntest:\n"}))
    assert ok["state"] == "passed", ok


def test_eight_gibibytes_are_killed_as_out_of_memory(start_br):
    br = start_br(config={"limits": {"memory_mb": 256}})
    _, t = br.json("GET", "/api/toolchains", expect=200)
    if not any(e.startswith("memory:cgroup") for e in t["enforced"]):
        pytest.skip("no writable memory cgroup on this machine: the memory limit is RLIMIT_AS only")
    script = ("cat > m.c <<'E'\n#include <stdlib.h>\n#include <string.h>\n"
              "int main(void){size_t n=(size_t)8<<30;char*p=malloc(n);if(!p)return 3;"
              "for(size_t i=0;i<n;i+=4096)p[i]=1;return 0;}\nE\ncc -o m m.c && ./m\n")
    b = br.wait(submit_one(br, "hog", mk(script)), limit=60)
    assert b["state"] == "failed" and b["reason"] == "out_of_memory", b
    healthy(br)


def test_endless_loop_times_out(start_br):
    br = start_br(config={"limits": {"wall_s": 2}})
    b = br.wait(submit_one(br, "loop", mk("while :; do :; done\n")), limit=30)
    assert b["state"] == "timed_out" and b["reason"] == "wall_clock", b
    healthy(br)


def test_a_gibibyte_of_output_is_truncated_in_the_log(start_br):
    br = start_br(config={"limits": {"log_mb": 1}})
    b = br.wait(submit_one(br, "flood", mk("head -c 1073741824 /dev/zero | tr '\\0' x\n")), limit=120)
    assert b["state"] == "passed", b
    assert b["log_truncated"] is True and b["log_bytes"] >= 1 << 30, b
    log = br.log(b["id"])
    assert len(log) < (1 << 20) + 4096 and "log truncated" in log
    healthy(br)
