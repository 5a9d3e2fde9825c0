#!/usr/bin/env bash
# Builds the release echo server (when needed) and runs it, by default on port 7000.
# Usage: scripts/run-echo.sh [echo_server args...]   e.g. scripts/run-echo.sh --port 7001
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -f build/release/CMakeCache.txt || CMakePresets.json -nt build/release/CMakeCache.txt ]]; then
    cmake --preset release
fi
cmake --build --preset release --target echo_server

args=("$@")
port_given=0
for arg in "${args[@]}"; do
    if [[ "$arg" == --port || "$arg" == --port=* ]]; then
        port_given=1
    fi
done
if ((!port_given)); then
    args=(--port 7000 "${args[@]}")
fi
exec build/release/examples/echo_server "${args[@]}"
