#!/usr/bin/env bash
# Submits the sample packages in examples/packages/ to a running build_runner and prints
# each one's result matrix: hello should pass, broken and failing-tests should fail.
#
# Usage: scripts/build-runner-demo.sh
# Environment:
#   BUILD_RUNNER        the binary (default: build/release/apps/build_runner/build_runner)
#   BUILD_RUNNER_URL    the server (default: http://127.0.0.1:8080)
#   BUILD_RUNNER_TOKEN  its token (default: ./br-data/token, when the server runs from here)
# Exit status: 0 if every package ended as expected; 1 if one did not; 3 if the server could
# not be reached or refused a submission.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
br="${BUILD_RUNNER:-$root/build/release/apps/build_runner/build_runner}"
if [[ ! -x "$br" ]]; then
    echo "demo: no build_runner binary at $br (build it, or set BUILD_RUNNER)" >&2
    exit 2
fi

work="$(mktemp -d -t br-demo.XXXXXX)"
# Builds fetch as an unprivileged uid: it must be able to read the repositories.
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# name and the exit status `submit --wait` should end with (0 passed, 1 a build failed)
packages=(hello:0 broken:1 failing-tests:1)
summary=()
status=0
for entry in "${packages[@]}"; do
    name="${entry%%:*}"
    want="${entry##*:}"
    repo="$work/$name"
    cp -r "$root/examples/packages/$name" "$repo"
    # A fixed author and date make the commit the same on every run; no user config or hooks.
    git -C "$repo" -c init.defaultBranch=main init -q
    git -C "$repo" add -A
    GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z" \
        git -C "$repo" -c user.name="build_runner demo" -c user.email="demo@build-runner.invalid" \
        -c commit.gpgsign=false -c core.hooksPath=/dev/null commit -q -m "$name: sample package"

    echo "== $name"
    set +e
    "$br" submit "$name" "$repo" --wait
    got=$?
    set -e
    echo
    if [[ $got -ge 2 ]]; then
        echo "demo: submitting $name failed (exit $got); is the server running and the token right?" >&2
        exit 3
    fi
    outcome=$([[ $got -eq 0 ]] && echo passed || echo failed)
    expected=$([[ $want -eq 0 ]] && echo passed || echo failed)
    if [[ $got -eq $want ]]; then
        summary+=("$(printf '%-14s %-7s (expected)' "$name" "$outcome")")
    else
        summary+=("$(printf '%-14s %-7s UNEXPECTED: should have %s' "$name" "$outcome" "$expected")")
        status=1
    fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
