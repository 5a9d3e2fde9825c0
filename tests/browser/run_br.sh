#!/usr/bin/env bash
# Runs build_runner_dashboard.mjs; exit 77 (ctest: skipped) when playwright-core or Chromium is
# missing, and says which.
# Usage: tests/browser/run_br.sh NODE BUILD_RUNNER
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
    echo "SKIPPED: playwright-core is not installed (run scripts/install-deps.sh, or npm ci in tests/browser)" >&2
    exit 77
fi
if [[ -z "${CHROMIUM:-}" ]] && ! command -v chromium >/dev/null 2>&1; then
    echo "SKIPPED: no chromium on PATH (install Debian's chromium, or set CHROMIUM)" >&2
    exit 77
fi
exec "$1" "$here/build_runner_dashboard.mjs" "$2"
