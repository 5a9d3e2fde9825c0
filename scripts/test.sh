#!/usr/bin/env bash
# Configures (when needed), builds and runs every test for one CMake preset, once on the
# io_uring backend and once on the epoll fallback (DALLY_BACKEND).
# Usage: scripts/test.sh [release|debug|asan|tsan]   (default: release)
# Environment: DALLY_BUILD_JOBS (default: nproc) and CTEST_PARALLEL_LEVEL (default: nproc).
set -euo pipefail

preset="${1:-release}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache="build/${preset}/CMakeCache.txt"
if [[ ! -f "$cache" || CMakePresets.json -nt "$cache" ]]; then
    cmake --preset "$preset"
fi
cmake --build --preset "$preset" --parallel "${DALLY_BUILD_JOBS:-$(nproc)}"
# The whole suite runs on both backends: io_uring (the default here) and the epoll fallback.
# The Slurm suite (label slurm) runs once, on the first backend: it spends its time waiting
# for Slurm, and the server code it drives is the same on both.
epoll_filter=()
if [[ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" == 2 ]]; then
    echo "== SKIPPED: tests on the io_uring backend (io_uring is disabled on this machine)"
else
    epoll_filter=(-LE slurm)
    echo "== tests on the io_uring backend"
    CTEST_PARALLEL_LEVEL="${CTEST_PARALLEL_LEVEL:-$(nproc)}" DALLY_BACKEND=io_uring ctest --preset "$preset"
fi
echo "== tests on the epoll backend${epoll_filter:+ (the Slurm suite ran above)}"
CTEST_PARALLEL_LEVEL="${CTEST_PARALLEL_LEVEL:-$(nproc)}" DALLY_BACKEND=epoll ctest --preset "$preset" "${epoll_filter[@]}"
