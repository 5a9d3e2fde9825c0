#!/usr/bin/env bash
# Echo benchmark: dally's echo server against a hand-written liburing loop (the ceiling for an
# io_uring runtime) and Boost.Asio (epoll). Servers run interleaved, one at a time, pinned to
# core 0; the load generator runs pinned to core 1. Every point is the median of 3 rounds
# (2 with --quick, N with --rounds N); sizes 64 and 512 bytes, 1, 50 and 500 connections.
#
#   bench/echo/run.sh [BUILD_DIR] [--seconds S] [--warmup W] [--quick] [--rounds N]
#
# BUILD_DIR defaults to build/release at the repository root. Targets, for both round trips/s
# and round trips per server CPU-second: dally >= 0.95x liburing at every point, and
# dally >= 1.0x asio at every point with 50 or more connections. Misses are marked with '!'.
# Only 127.0.0.1 is used.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build="$repo_root/build/release"
seconds=3
warmup=1
rounds=3
sizes=(64 512)
conn_counts=(1 50 500)

usage() { sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() { echo "run.sh: $*" >&2; exit 1; }
warn() { echo "run.sh: warning: $*" >&2; }

while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
    --quick) rounds=2; shift ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) build=$1; shift ;;
  esac
done
[[ $seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds must be a number"
[[ $warmup =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--warmup must be a number"

loadgen="$build/bench/echo/loadgen"
declare -A server_bin=(
  [dally]="$build/examples/echo_server"
  [liburing]="$build/bench/echo/liburing_echo"
  [asio]="$build/bench/echo/asio_echo"
)
[[ -x $loadgen ]] || die "no $loadgen (build the bench targets first)"
servers=()
for name in dally liburing asio; do
  if [[ -x ${server_bin[$name]} ]]; then
    servers+=("$name")
  else
    warn "no ${server_bin[$name]}: skipping the $name column"
  fi
done
((${#servers[@]} > 0)) || die "no server binaries found under $build"
command -v taskset >/dev/null || die "taskset (util-linux) is needed to pin the processes"

server_cpu=0
load_cpu=1
if (($(nproc) < 2)); then
  warn "fewer than 2 CPUs: server and load generator share CPU 0"
  load_cpu=0
fi

# Nothing keeps other work off the two CPUs, so measure how busy they are before starting.
cpu_busy_percent() {
  local a b
  a=$(head -1 /proc/stat)
  sleep 0.5
  b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    n = split(a, x); split(b, y)
    for (i = 2; i <= n; i++) { d = y[i] - x[i]; total += d; if (i == 5 || i == 6) idle += d }
    printf "%.0f", total ? 100 * (total - idle) / total : 0 }'
}
busy=$(cpu_busy_percent)
if ((busy > 10)); then
  warn "the CPUs are ${busy}% busy before the benchmark: other work is running; expect noise"
fi

log=$(mktemp /tmp/dally-echo-bench.XXXXXX.log)
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh port for every server run, so no run meets another's TIME_WAIT sockets. The range
# stays below the kernel's ephemeral ports, which the load generator's sockets use.
next_port=$((20000 + RANDOM % 10000))
alloc_port() {
  while :; do
    if ((next_port >= 32000)); then next_port=20000; fi
    port=$next_port
    next_port=$((next_port + 1))
    if ! command -v ss >/dev/null || [[ -z $(ss -Htan "( sport = :$port )") ]]; then
      return 0
    fi
  done
}

# Starts server $1 on $port pinned to $server_cpu and waits until the port accepts.
start_server() {
  local name=$1 cmd
  case $name in
    dally) cmd=("${server_bin[dally]}" --port "$port" --threads 1) ;;
    *) cmd=("${server_bin[$name]}" --port "$port") ;;
  esac
  taskset -c "$server_cpu" "${cmd[@]}" >>"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || { server_pid=; return 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

# SIGTERM, then SIGKILL if the server has not exited within 5 s.
stop_server() {
  local name=$1 status=0
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    warn "$name ignored SIGTERM for 5 s; killing it"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || status=$?
  ((status == 0)) || warn "$name exited with status $status"
  server_pid=
}

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

median() {
  printf '%s\n' "$@" | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) print "NA"
      else if (NR % 2) print v[(NR + 1) / 2]
      else print (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

declare -A samples=()  # "size,conns,server,metric" -> space-separated values from each round
declare -A other_max=()  # "size,conns" -> most CPU other processes took in one run, in %
metrics=(rps p50_us p99_us rt_per_cpu_s)
limit=$(awk -v s="$seconds" -v w="$warmup" 'BEGIN { print s + w + 30 }')
runs=$((${#sizes[@]} * ${#conn_counts[@]} * ${#servers[@]} * rounds))
echo "echo bench: ${servers[*]}; $runs runs of ${warmup}s warm-up + ${seconds}s;" \
  "server on CPU $server_cpu, loadgen on CPU $load_cpu; raw results in $log"

run=0
for size in "${sizes[@]}"; do
  for conns in "${conn_counts[@]}"; do
    for ((round = 1; round <= rounds; round++)); do
      for name in "${servers[@]}"; do
        run=$((run + 1))
        if [[ -t 2 ]]; then
          printf '\r[%d/%d] size=%s conns=%s round %d %-8s' "$run" "$runs" "$size" "$conns" \
            "$round" "$name" >&2
        fi
        alloc_port
        if ! start_server "$name"; then
          warn "$name did not start on port $port (see $log)"
          stop_server "$name"
          continue
        fi
        out=
        if ! out=$(timeout --signal=KILL "$limit" taskset -c "$load_cpu" "$loadgen" \
          --host 127.0.0.1 --port "$port" --conns "$conns" --size "$size" \
          --seconds "$seconds" --warmup "$warmup" --cpu-pid "$server_pid" 2>>"$log"); then
          warn "loadgen failed against $name (size=$size conns=$conns; see $log)"
        fi
        echo "server=$name round=$round $out" >>"$log"
        stop_server "$name"
        [[ -n $out ]] || continue
        for m in "${metrics[@]}"; do
          v=$(field "$m" "$out")
          if [[ -n $v ]]; then samples["$size,$conns,$name,$m"]+=" $v"; fi
        done
        # CPU taken by other processes during the window, in % of one CPU. /proc/stat is
        # tick-sampled, so it reads low (even negative) when the CPUs idle often (1 connection).
        other=$(awk -v s="$(field system_cpu_s "$out")" -v l="$(field loadgen_cpu_s "$out")" \
          -v c="$(field server_cpu_s "$out")" -v w="$(field window_s "$out")" \
          'BEGIN { o = w > 0 ? 100 * (s - l - c) / w : 0; printf "%.0f", (o > 0 ? o : 0) }')
        if ((other > ${other_max["$size,$conns"]:-0})); then other_max["$size,$conns"]=$other; fi
      done
    done
  done
done
if [[ -t 2 ]]; then printf '\r%-60s\r' '' >&2; fi

# num V DECIMALS -> V rounded, or V itself when it is not a number ("NA").
num() { awk -v v="$1" -v d="$2" 'BEGIN { print (v == "NA") ? v : sprintf("%." d "f", v) }'; }
# ratio A B -> A/B with two decimals, or "-" when either is missing.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || a == "NA" || b == "NA" || b + 0 == 0) print "-"
    else printf "%.2f", a / b }'
}
# mark R MIN -> R, with '!' appended when R is below MIN.
mark() {
  awk -v r="$1" -v min="$2" 'BEGIN {
    if (r == "-") print r; else if (r + 0 < min + 0) print r "!"; else print r }'
}

echo
printf '%5s %5s' "" ""
for name in "${servers[@]}"; do printf ' | %-35s' "$name"; done
printf ' | %-23s | %-23s |\n' "dally/liburing" "dally/asio"
printf '%5s %5s' size conns
for name in "${servers[@]}"; do printf ' | %9s %8s %8s %8s' rps p50_us p99_us rt/cpu-s; done
printf ' | %11s %11s | %11s %11s | %6s\n' rps rt/cpu-s rps rt/cpu-s other%

misses=0
points=0
for size in "${sizes[@]}"; do
  for conns in "${conn_counts[@]}"; do
    points=$((points + 1))
    declare -A med=()
    printf '%5s %5s' "$size" "$conns"
    for name in "${servers[@]}"; do
      for m in "${metrics[@]}"; do
        # shellcheck disable=SC2086  # the samples are a space-separated list
        med[$name,$m]=$(median ${samples["$size,$conns,$name,$m"]:-})
      done
      printf ' | %9s %8s %8s %8s' "$(num "${med[$name,rps]}" 0)" \
        "$(num "${med[$name,p50_us]}" 1)" "$(num "${med[$name,p99_us]}" 1)" \
        "$(num "${med[$name,rt_per_cpu_s]}" 0)"
    done
    asio_min=0  # no target against asio below 50 connections
    if ((conns >= 50)); then asio_min=1.0; fi
    row=()
    for peer in liburing asio; do
      min=0.95
      [[ $peer == asio ]] && min=$asio_min
      for m in rps rt_per_cpu_s; do
        row+=("$(mark "$(ratio "${med[dally,$m]:-}" "${med[$peer,$m]:-}")" "$min")")
      done
    done
    printf ' | %11s %11s | %11s %11s | %6s\n' "${row[@]}" "${other_max["$size,$conns"]:-0}"
    if [[ "${row[*]}" == *'!'* ]]; then misses=$((misses + 1)); fi
    unset med
  done
done

echo
if [[ " ${servers[*]} " != *" dally "* ]]; then
  echo "dally's echo server was not found: no ratios (targets not checked)"
elif ((misses > 0)); then
  echo "targets missed at $misses of $points points (marked '!')"
else
  echo "all targets met at $points points"
fi
echo "p50/p99 in microseconds; rt/cpu-s = round trips per server CPU-second; other% = the"
echo "most CPU (% of one) other processes took during one run of the point: above ~10 that"
echo "point is skewed by outside work. Raw loadgen output: $log"
