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
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "all dependencies present"
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
