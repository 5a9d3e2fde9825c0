#!/usr/bin/env bash
# Installs dally's build and test dependencies on Debian/Ubuntu. Idempotent: packages already
# installed are left alone, and apt-get runs only when something is missing.
# Usage: scripts/install-deps.sh
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config
    liburing-dev libfmt-dev
    libgtest-dev libgmock-dev googletest libbenchmark-dev libboost-dev
    python3 curl util-linux git
    # dally::web: llhttp's C sources, wslay, libcrypto (SHA-1/base64), simdjson
    node-llhttp libwslay-dev libssl-dev libsimdjson-dev
    # web tests and benchmarks: WebSocket client, pytest, nginx and wrk as references
    python3-websockets python3-pytest nginx-light wrk clang
    # apps: SQLite, libsodium (argon2id); the browser test drives Debian's chromium
    libsqlite3-dev libsodium-dev chromium
    # build_runner: the sandbox, and toolchains for the default matrix and its tests
    bubblewrap make gcc g++ clang
    # build_runner's Slurm executor: a one-node cluster for its tests (scripts/slurm-cluster.sh)
    munge slurmctld slurmd slurm-client
)
# Node.js and npm for the browser test (playwright-core); Debian's own when none is installed.
if ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
fi

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

install_browser_test_deps() {
    # playwright-core from the npm registry, pinned by tests/browser/package-lock.json. It
    # drives the system chromium; it never downloads a browser.
    local dir
    dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/browser"
    if [[ ! -d "$dir/node_modules/playwright-core" ]]; then
        echo "installing playwright-core (npm ci in tests/browser)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

if ((${#missing[@]} == 0)); then
    echo "all dependencies present"
    install_browser_test_deps
    exit 0
fi

sudo=()
if ((EUID != 0)); then
    if ! command -v sudo >/dev/null; then
        echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
echo "installed: ${missing[*]}"
install_browser_test_deps
