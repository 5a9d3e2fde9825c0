#!/usr/bin/env bash
# mud_server load benchmark: starts BUILD_DIR/apps/mud_server/mud_server on a free 127.0.0.1
# port with a fresh data directory, runs BUILD_DIR/bench/mud/mud_load against it (N WebSocket
# clients: connect, create an account, spread over the world, idle, global-channel latency,
# then moving and talking), stops the server with SIGTERM and prints mud_load's report with
# PASS/MISS against the issue's targets (10,000 clients, global p99 <= 250 ms, idle tick
# p99 <= 10 ms, RSS <= 300 MiB). It builds nothing: build the targets first, e.g.
#   ninja -C build/mud mud_server mud_load
#
#   bench/mud/mud_load.sh [BUILD_DIR] [--clients N] [--source-ips S] [--pin]
#                         [--server-cpu C] [--load-cpu C] [--server-threads MODE]
#                         [--keep-data] [--quiet] [any other mud_load flag with its value]
#
# BUILD_DIR defaults to build/mud at the repository root. --clients defaults to 1000. Other
# flags (--rate-connect, --say-interval-s, --move-interval-s, --global-messages, --duration-s,
# --idle-s, --scatter, ...) go to mud_load unchanged; see bench/mud/README.md.
#
# The server runs with (and why):
#   --hash-cost min           argon2id at the interactive cost is ~50 ms of CPU per account:
#                             10,000 creates would take minutes of both cores just hashing.
#   --max-connections-per-ip and --max-creates = ceil(N / S) + 16, where S is the number of
#                             source addresses mud_load spreads its clients over (127.0.0.2 ..
#                             127.0.0.(1+S), default 253): the defaults (20 connections and 3
#                             accounts per address per 600 s) are for the Internet, and even
#                             spread over 253 addresses 10,000 clients are ~40 per address.
#   --max-connections max(20000, N + 1000)
# --commands-per-second stays at its default (8/s, burst 16): every client sends at most one
# command at a time while it walks and one per 10 s on average after that.
# By default the kernel places both processes: the server's game thread and its network
# runtime then run in parallel (on this 2-core machine that gave lower latencies than pinning,
# see README.md). --pin pins the server to CPU 0 (--server-cpu) and mud_load to CPU 1
# (--load-cpu) with taskset, so that each has a known CPU budget.
# Only 127.0.0.0/8 addresses are used.
set -euo pipefail

script=mud_load.sh
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../web/lib.sh
source "$repo_root/bench/web/lib.sh"

build="$repo_root/build/mud"
clients=1000
source_ips=253
pin=0
server_cpu=0
load_cpu=1
server_threads=
keep_data=0
load_args=()

usage() { sed -n '2,33s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

while (($#)); do
  case $1 in
    --clients) clients=${2:?--clients needs a value}; shift 2 ;;
    --source-ips) source_ips=${2:?--source-ips needs a value}; shift 2 ;;
    --pin) pin=1; shift ;;
    --no-pin) pin=0; shift ;;
    --server-cpu) server_cpu=${2:?--server-cpu needs a CPU}; shift 2 ;;
    --load-cpu) load_cpu=${2:?--load-cpu needs a CPU}; shift 2 ;;
    --server-threads) server_threads=${2:?--server-threads needs a mode}; shift 2 ;;
    --keep-data) keep_data=1; shift ;;
    --quiet) load_args+=(--quiet); shift ;;
    -h | --help) usage; exit 0 ;;
    --*) load_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    *) build=$1; shift ;;
  esac
done
[[ $clients =~ ^[1-9][0-9]*$ ]] || die "--clients must be a positive integer"
if ! [[ $source_ips =~ ^[0-9]+$ ]] || ((source_ips > 253)); then die "--source-ips must be 0..253"; fi

server_bin=$build/apps/mud_server/mud_server
load_bin=$build/bench/mud/mud_load
world=$repo_root/apps/mud_server/worlds/default.json
[[ -x $server_bin ]] || die "no $server_bin (build it: ninja -C $build mud_server)"
[[ -x $load_bin ]] || die "no $load_bin (build it: ninja -C $build mud_load)"
[[ -r $world ]] || die "no world file $world"

# Both processes need a descriptor per client: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [[ $nofile != unlimited ]] && ((nofile < clients + 100)); then
  die "ulimit -n is $nofile (hard limit): too low for $clients clients"
fi

if ((pin)); then
  command -v taskset >/dev/null || die "taskset (util-linux) is needed for --pin"
  if (($(nproc) < 2)); then
    warn "fewer than 2 CPUs: not pinning"
    pin=0
  fi
fi

if ((source_ips > 0)); then
  per_ip=$(((clients + source_ips - 1) / source_ips + 16))
else
  per_ip=$((clients + 16))
fi
max_conns=$((clients + 1000 > 20000 ? clients + 1000 : 20000))

data_dir=$(mktemp -d /tmp/mud-load-data.XXXXXX)
log=$(mktemp /tmp/mud-load-server.XXXXXX.log)
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  cleanup_server
  if ((keep_data)); then echo "$script: data kept in $data_dir" >&2; else rm -rf "$data_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_idle

server_cmd=("$server_bin" --host 127.0.0.1 --port 0 --data-dir "$data_dir" --world "$world"
  --hash-cost min --max-connections-per-ip "$per_ip" --max-creates "$per_ip"
  --max-connections "$max_conns")
[[ -z $server_threads ]] || server_cmd+=(--threads "$server_threads")
load_cmd=("$load_bin" --host 127.0.0.1 --clients "$clients" --source-ips "$source_ips" --world "$world")
if ((pin)); then
  server_cmd=(taskset -c "$server_cpu" "${server_cmd[@]}")
  load_cmd=(taskset -c "$load_cpu" "${load_cmd[@]}")
fi

rev=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$repo_root" status --porcelain -- apps lib include 2>/dev/null) ]]; then rev+=" + uncommitted changes"; fi
echo "$script: mud_server built $(date -r "$server_bin" '+%F %T'); sources at $rev; $(nproc) CPUs"
echo "$script: server: ${server_cmd[*]}"
"${server_cmd[@]}" >"$log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 200); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; server_pid=; die "mud_server exited at start (log above)"; }
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$log")
  [[ -z $port ]] || break
  sleep 0.05
done
[[ -n $port ]] || die "mud_server did not print 'listening on 127.0.0.1:PORT' within 10 s (see $log)"
echo "$script: server pid $server_pid on 127.0.0.1:$port; load: ${load_cmd[*]} --port $port --server-pid $server_pid ${load_args[*]}"
echo

status=0
"${load_cmd[@]}" --port "$port" --server-pid "$server_pid" "${load_args[@]}" || status=$?

# SIGTERM: the server tells everyone, saves every character and exits.
echo
t0=$(date +%s.%N)
kill -TERM "$server_pid" 2>/dev/null || true
for _ in $(seq 600); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  warn "mud_server ignored SIGTERM for 60 s; killing it"
  kill -KILL "$server_pid" 2>/dev/null || true
fi
server_status=0
wait "$server_pid" 2>/dev/null || server_status=$?
server_pid=
t1=$(date +%s.%N)
echo "$script: mud_server stopped after SIGTERM in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s," \
  "exit status $server_status; server log: $log"
# Anything the server said besides its start and stop lines.
grep -v -e '^listening on' -e '^mud_server: world' -e '^dally: backend' -e 'signal 15, shutting down' \
  -e 'stopped; every character saved' "$log" | head -20 | sed 's/^/  server: /' || true
((server_status == 0)) || warn "mud_server exited with status $server_status"
exit "$status"
