#!/usr/bin/env bash
# Builds the release mud_server (when needed) and runs it on its embedded defaults: the web
# client on http://127.0.0.1:4000/, the shipped world, data in ./mud-data. Ctrl-C saves
# everyone and stops it.
# Usage: scripts/run-mud.sh [mud_server flags...]   e.g. scripts/run-mud.sh --port 4001 --admin Root
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -f build/release/CMakeCache.txt || CMakePresets.json -nt build/release/CMakeCache.txt ]]; then
    cmake --preset release
fi
cmake --build --preset release --target mud_server --parallel "${DALLY_BUILD_JOBS:-$(nproc)}"
exec build/release/apps/mud_server/mud_server "$@"
