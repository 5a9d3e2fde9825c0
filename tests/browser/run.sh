#!/usr/bin/env bash
# Runs mud_two_players.mjs; exit 77 (ctest: skipped) when playwright-core is not installed.
# Usage: tests/browser/run.sh NODE MUD_SERVER
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
    echo "SKIPPED: playwright-core is not installed (run scripts/install-deps.sh, or npm ci in tests/browser)" >&2
    exit 77
fi
exec "$1" "$here/mud_two_players.mjs" "$2"
