#!/usr/bin/env bash
# WebSocket echo benchmark: dally's examples/ws_echo (--threads single) against a Boost.Beast
# async echo server (bench/web/beast_ws_echo, one thread). Servers run interleaved, one at a
# time, pinned to CPU 0; bench/web/ws_loadgen runs pinned to CPU 1 (--load-cpus: another list,
# e.g. 1-3, one loadgen thread per CPU) and plays ping-pong on every connection (send one masked
# binary message, wait for its echo, check it, repeat). Each run is a W s warm-up (default 1)
# and S s measured (default 5); every point is the median of N rounds (default 3; --quick: 2
# rounds of 2 s). Default point: 512-byte messages on 100 connections. Target: dally >= 1.5x
# beast in messages/s (misses marked '!').
#
#   bench/web/ws_bench.sh [BUILD_DIR] [--seconds S] [--warmup W] [--rounds N] [--quick]
#                         [--connections "100"] [--size "512"] [--text] [--load-cpus 1]
#
# BUILD_DIR defaults to build/release at the repository root. Prints messages/s, p50/p99 round
# trip, messages per server CPU-second for each server, and the dally/beast ratios. On loopback
# the client's kernel work per message is about the server's, so one load CPU saturates near
# where one server CPU does: when load% nears 100 x the load CPUs, msgs/s is capped by the
# client and msg/cpu-s is the comparison to read. Only 127.0.0.1 is used.
set -euo pipefail

script=ws_bench.sh
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=lib.sh
source "$repo_root/bench/web/lib.sh"

build="$repo_root/build/release"
seconds=5
seconds_set=0
warmup=1
rounds=3
conn_counts=(100)
sizes=(512)
text=()
target=1.5

usage() { sed -n '2,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a value}; seconds_set=1; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
    --quick) rounds=2; ((seconds_set)) || seconds=2; shift ;;
    --connections) read -r -a conn_counts <<<"${2:?--connections needs a list}"; shift 2 ;;
    --size) read -r -a sizes <<<"${2:?--size needs a list}"; shift 2 ;;
    --text) text=(--text); shift ;;
    --load-cpus) load_cpu=${2:?--load-cpus needs a CPU list}; load_cpu_set=1; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) build=$1; shift ;;
  esac
done
[[ $seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds must be a number"
[[ $warmup =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--warmup must be a number"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
for c in "${conn_counts[@]}" "${sizes[@]}"; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || die "bad connection count or size '$c'"
done

loadgen="$build/bench/web/ws_loadgen"
declare -A server_bin=(
  [dally]="$build/examples/ws_echo"
  [beast]="$build/bench/web/beast_ws_echo"
)
[[ -x $loadgen ]] || die "no $loadgen (build the bench targets first)"
servers=()
for name in dally beast; do
  if [[ -x ${server_bin[$name]} ]]; then
    servers+=("$name")
  else
    warn "no ${server_bin[$name]}: skipping the $name column"
  fi
done
((${#servers[@]} > 0)) || die "no server binaries found under $build"
pick_cpus
check_idle

log=$(mktemp /tmp/dally-ws-bench.XXXXXX.log)
trap cleanup_server EXIT
trap 'exit 130' INT TERM

launch() {
  case $1 in
    dally) start_server dally "${server_bin[dally]}" --port "$port" --threads single ;;
    beast) start_server beast "${server_bin[beast]}" --port "$port" ;;
  esac
}

declare -A samples=()  # "size,conns,server,metric" -> space-separated values from each round
declare -A other_max=()  # "size,conns" -> most CPU other processes took in one run, in %
declare -A load_max=()   # "size,conns" -> most CPU the loadgen took in one run, in %
metrics=(msgs_per_s p50_us p99_us msgs_per_cpu_s)
limit=$(awk -v s="$seconds" -v w="$warmup" 'BEGIN { print s + w + 30 }')
runs=$((${#sizes[@]} * ${#conn_counts[@]} * ${#servers[@]} * rounds))
echo "ws bench: ${servers[*]}; $runs runs of ${warmup}s warm-up + ${seconds}s of ping-pong" \
  "(${text[*]:-binary} frames); server on CPU $server_cpu, ws_loadgen on CPU $load_cpu;" \
  "raw results in $log"

failures=0
run=0
for size in "${sizes[@]}"; do
  for conns in "${conn_counts[@]}"; do
    for ((round = 1; round <= rounds; round++)); do
      for name in "${servers[@]}"; do
        run=$((run + 1))
        if [[ -t 2 ]]; then
          printf '\r[%d/%d] size=%s conns=%s round %d %-6s' "$run" "$runs" "$size" "$conns" \
            "$round" "$name" >&2
        fi
        alloc_port
        if ! launch "$name"; then
          warn "$name did not start on port $port (see $log)"
          stop_server "$name"
          failures=$((failures + 1))
          continue
        fi
        out=
        if ! out=$(timeout --signal=KILL "$limit" taskset -c "$load_cpu" "$loadgen" \
          --port "$port" --connections "$conns" --size "$size" --seconds "$seconds" \
          --warmup "$warmup" --threads "$load_ncpus" --cpu-pid "$server_pid" "${text[@]}" \
          2>>"$log"); then
          warn "ws_loadgen failed against $name (size=$size conns=$conns; see $log)"
          failures=$((failures + 1))
        fi
        echo "server=$name round=$round $out" >>"$log"
        stop_server "$name"
        [[ -n $out ]] || continue
        # A run with bad echoes does not count.
        if [[ $(field errors "$out") != 0 ]]; then continue; fi
        for m in "${metrics[@]}"; do
          v=$(field "$m" "$out")
          if [[ -n $v ]]; then samples["$size,$conns,$name,$m"]+=" $v"; fi
        done
        w=$(field window_s "$out")
        other=$(awk -v s="$(field system_cpu_s "$out")" -v l="$(field loadgen_cpu_s "$out")" \
          -v c="$(field server_cpu_s "$out")" -v w="$w" \
          'BEGIN { o = (w > 0 ? 100 * (s - l - c) / w : 0); printf "%.0f", (o > 0 ? o : 0) }')
        load=$(percent "$(field loadgen_cpu_s "$out")" "$w")
        if ((other > ${other_max["$size,$conns"]:-0})); then other_max["$size,$conns"]=$other; fi
        if ((load > ${load_max["$size,$conns"]:-0})); then load_max["$size,$conns"]=$load; fi
      done
    done
  done
done
if [[ -t 2 ]]; then printf '\r%-60s\r' '' >&2; fi

echo
printf '%5s %5s' "" ""
for name in "${servers[@]}"; do printf ' | %-35s' "$name"; done
printf ' | %-18s |\n' "dally/beast"
printf '%5s %5s' size conns
for name in "${servers[@]}"; do printf ' | %9s %8s %8s %8s' msgs/s p50_us p99_us msg/cpu-s; done
printf ' | %7s %10s | %5s %6s\n' msgs/s msg/cpu-s load% other%
misses=0
for size in "${sizes[@]}"; do
  for conns in "${conn_counts[@]}"; do
    declare -A med=()
    printf '%5s %5s' "$size" "$conns"
    for name in "${servers[@]}"; do
      for m in "${metrics[@]}"; do
        # shellcheck disable=SC2086  # the samples are a space-separated list
        med[$name,$m]=$(median ${samples["$size,$conns,$name,$m"]:-})
      done
      printf ' | %9s %8s %8s %8s' "$(num "${med[$name,msgs_per_s]}" 0)" \
        "$(num "${med[$name,p50_us]}" 1)" "$(num "${med[$name,p99_us]}" 1)" \
        "$(num "${med[$name,msgs_per_cpu_s]}" 0)"
    done
    r=$(mark "$(ratio "${med[dally,msgs_per_s]:-}" "${med[beast,msgs_per_s]:-}")" "$target")
    printf ' | %7s %10s | %5s %6s\n' "$r" \
      "$(ratio "${med[dally,msgs_per_cpu_s]:-}" "${med[beast,msgs_per_cpu_s]:-}")" \
      "${load_max["$size,$conns"]:-0}" "${other_max["$size,$conns"]:-0}"
    if [[ $r == *'!' ]]; then misses=$((misses + 1)); fi
    unset med
  done
done
echo
echo "messages/s of each round (in run order):"
for size in "${sizes[@]}"; do
  for conns in "${conn_counts[@]}"; do
    for name in "${servers[@]}"; do
      printf '  size=%-6s conns=%-5s %-6s %s\n' "$size" "$conns" "$name" \
        "${samples["$size,$conns,$name,msgs_per_s"]:- none}"
    done
  done
done
echo
if [[ " ${servers[*]} " != *" dally "* || " ${servers[*]} " != *" beast "* ]]; then
  echo "only ${servers[*]} ran: no ratios (target not checked)"
elif ((misses > 0)); then
  echo "target dally >= ${target}x beast missed at $misses point(s) (marked '!')"
else
  echo "target dally >= ${target}x beast met at every point"
fi
((failures == 0)) || echo "$failures run(s) failed or saw bad echoes: see $log"
echo "Medians of $rounds rounds; p50/p99 = round trip in microseconds; msg/cpu-s = echoed"
echo "messages per server CPU-second; load% = the most CPU ws_loadgen took in one run (near 100"
echo "per load CPU: the load generator, not the server, is the limit); other% = the most CPU other"
echo "processes took in one run (above ~10: outside work skewed it). Raw output: $log"
