#!/usr/bin/env bash
# Builds dally::web's libFuzzer targets with clang and ASan (clang 14 cannot combine UBSan, fuzzer coverage and coroutines: "Cannot represent a difference across sections") and runs each for a fixed
# number of inputs, starting from the seed corpus in fuzz/corpus/<target>.
# Usage: scripts/fuzz.sh [RUNS]        (default 200000 inputs per target)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200000}
build=build/fuzz

if ! command -v clang++ >/dev/null; then
    echo "fuzz: clang++ not found (scripts/install-deps.sh installs it)" >&2
    exit 1
fi
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
    -DDALLY_SANITIZE=address -DDALLY_BUILD_FUZZERS=ON \
    -DDALLY_BUILD_TESTS=OFF -DDALLY_BUILD_EXAMPLES=OFF -DDALLY_BUILD_BENCH=OFF -DDALLY_INSTALL=OFF >/dev/null
cmake --build "$build" --target request_parser_fuzz handshake_fuzz

for target in request_parser_fuzz handshake_fuzz; do
    corpus=$(mktemp -d)
    log=$(mktemp)
    cp fuzz/corpus/"$target"/* "$corpus"/
    echo "fuzz: $target, $runs inputs"
    if ! "$build/fuzz/$target" -runs="$runs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 "$corpus" >"$log" 2>&1; then
        tail -60 "$log" >&2
        echo "fuzz: $target FAILED (crash input saved in the working directory)" >&2
        exit 1
    fi
    grep -E "stat::number_of_executed_units|Done" "$log" || true
    rm -rf "$corpus" "$log"
done
echo "fuzz: ok"
