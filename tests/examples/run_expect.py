"""Runs a program and checks that each expected line fragment appears in its output."""
import subprocess
import sys

prog, *expected = sys.argv[1:]
out = subprocess.run([prog], capture_output=True, text=True, timeout=50)
sys.stdout.write(out.stdout)
sys.stderr.write(out.stderr)
if out.returncode != 0:
    sys.exit(f"{prog} exited with {out.returncode}")
missing = [e for e in expected if e not in out.stdout]
if missing:
    sys.exit(f"missing from output: {missing}")
