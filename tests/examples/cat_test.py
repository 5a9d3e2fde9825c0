"""Runs examples/cat on temp files (one larger than its buffer, one empty, one missing)
and checks that stdout is their concatenation, the missing one is reported on stderr, and
the exit status is 1 because of it."""
import os
import subprocess
import sys
import tempfile

prog = sys.argv[1]
with tempfile.TemporaryDirectory() as d:
    big = bytes((i * 7 + i // 251) % 256 for i in range(300_000))
    small = b"hello, ring\n"
    paths = [os.path.join(d, n) for n in ("big", "empty", "small")]
    for p, data in zip(paths, (big, b"", small)):
        with open(p, "wb") as f:
            f.write(data)

    out = subprocess.run([prog, *paths], capture_output=True, timeout=50)
    if out.returncode != 0:
        sys.exit(f"cat exited with {out.returncode}: {out.stderr!r}")
    if out.stdout != big + small:
        sys.exit(f"output differs: {len(out.stdout)} bytes, expected {len(big + small)}")

    missing = os.path.join(d, "missing")
    out = subprocess.run([prog, paths[2], missing, paths[2]], capture_output=True, timeout=50)
    if out.returncode != 1:
        sys.exit(f"cat with a missing file exited with {out.returncode}, expected 1")
    if out.stdout != small + small:
        sys.exit(f"output with a missing file differs: {out.stdout!r}")
    if b"missing: No such file or directory" not in out.stderr:
        sys.exit(f"missing file not reported: {out.stderr!r}")

    out = subprocess.run([prog], input=small, capture_output=True, timeout=50)
    if out.returncode != 0 or out.stdout != small:
        sys.exit(f"cat from stdin: {out.returncode} {out.stdout!r}")
print("cat ok")
