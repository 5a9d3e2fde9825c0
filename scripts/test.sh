#!/usr/bin/env bash
# Configures (when needed), builds and runs every test for one CMake preset.
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
CTEST_PARALLEL_LEVEL="${CTEST_PARALLEL_LEVEL:-$(nproc)}" ctest --preset "$preset"
