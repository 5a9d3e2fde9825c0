#!/usr/bin/env bash
# HTTP/1.1 plaintext keep-alive benchmark: dally's examples/http_hello (--threads single)
# against nginx with one worker, both answering GET / with "Hello, World!". Servers run
# interleaved, one at a time, pinned to CPU 0; wrk (keep-alive, one thread per load CPU) runs
# pinned to CPU 1 (--load-cpus: another list, e.g. 1-3). Each run is a wrk warm-up of W
# seconds (default 1), then S seconds measured (default 10); every point is the median of N
# rounds (default 3; --quick: 2 rounds of 3 s). Connection counts: 50 and 100.
#
#   bench/web/http_bench.sh [BUILD_DIR] [--seconds S] [--warmup W] [--rounds N] [--quick]
#                           [--connections "50 100"] [--load-cpus 1] [--pipeline 1]
#
# BUILD_DIR defaults to build/release at the repository root; nginx is /usr/sbin/nginx or
# $NGINX. Prints both responses once (headers and sizes), then requests/s, p50/p99 latency,
# server CPU % and requests per server CPU-second for each, and dally/nginx ratios. When wrk%
# nears 100 x the number of load CPUs, wrk is the limit and req/s understates the faster
# server: compare req/cpu-s then. --pipeline D (default 1: none) has wrk write D requests at a
# time on each connection (a Lua script), which cuts the client's and the kernel's share of the
# cost per request (TechEmpower's plaintext test pipelines 16). Only 127.0.0.1 is used.
set -euo pipefail

script=http_bench.sh
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=lib.sh
source "$repo_root/bench/web/lib.sh"

build="$repo_root/build/release"
seconds=10
seconds_set=0
warmup=1
rounds=3
conn_counts=(50 100)
nginx_bin=${NGINX:-/usr/sbin/nginx}
pipeline=1

usage() { sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a value}; seconds_set=1; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
    --quick) rounds=2; ((seconds_set)) || seconds=3; shift ;;
    --connections) read -r -a conn_counts <<<"${2:?--connections needs a list}"; shift 2 ;;
    --load-cpus) load_cpu=${2:?--load-cpus needs a CPU list}; load_cpu_set=1; shift 2 ;;
    --pipeline) pipeline=${2:?--pipeline needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) build=$1; shift ;;
  esac
done
# wrk takes whole seconds.
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "--seconds must be a whole number of seconds >= 1"
[[ $warmup =~ ^[0-9]+$ ]] || die "--warmup must be a whole number of seconds"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $pipeline =~ ^[1-9][0-9]*$ ]] || die "--pipeline must be a positive integer"
for c in "${conn_counts[@]}"; do [[ $c =~ ^[1-9][0-9]*$ ]] || die "bad connection count '$c'"; done

command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is needed"
pick_cpus

servers=()
if [[ -x $build/examples/http_hello ]]; then
  servers+=(dally)
else
  warn "no $build/examples/http_hello: skipping the dally column"
fi
if [[ -x $nginx_bin ]]; then
  servers+=(nginx)
else
  warn "no $nginx_bin: skipping the nginx column"
fi
((${#servers[@]} > 0)) || die "neither server was found"

log=$(mktemp /tmp/dally-http-bench.XXXXXX.log)
ngx_dir=$(mktemp -d /tmp/dally-http-bench-nginx.XXXXXX)
cleanup() {
  cleanup_server
  rm -rf "$ngx_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nginx as a foreground process with one worker. master_process stays on (the production
# shape: the master only supervises, the worker serves; both inherit the CPU 0 pinning, and
# the server CPU figures below add the two up). SIGTERM makes the master do a fast shutdown.
# Running as root the worker drops to "nobody"; nothing it serves is on disk.
write_nginx_conf() {
  cat >"$ngx_dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $ngx_dir/nginx.pid;
error_log $ngx_dir/error.log warn;
events {
  worker_connections 4096;
}
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path $ngx_dir/client_body;
  proxy_temp_path $ngx_dir/proxy;
  fastcgi_temp_path $ngx_dir/fastcgi;
  uwsgi_temp_path $ngx_dir/uwsgi;
  scgi_temp_path $ngx_dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location = / {
      return 200 "Hello, World!";
    }
  }
}
EOF
}

# wrk's extra arguments: none for plain keep-alive, or a script writing D pipelined requests.
wrk_args=()
if ((pipeline > 1)); then
  cat >"$ngx_dir/pipeline.lua" <<'EOF'
-- D pipelined GET requests per write; D is the argument after the URL.
init = function(args)
  local r = {}
  for i = 1, tonumber(args[1]) do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
EOF
  wrk_args=(-s "$ngx_dir/pipeline.lua")
fi
# wrk_tail URL -> the URL and, when pipelining, the depth for the script.
wrk_tail() { if ((pipeline > 1)); then echo "$1 $pipeline"; else echo "$1"; fi; }

launch() {
  local name=$1
  case $name in
    dally) start_server dally "$build/examples/http_hello" --port "$port" --threads single ;;
    nginx)
      write_nginx_conf
      start_server nginx "$nginx_bin" -p "$ngx_dir" -e "$ngx_dir/error.log" -c "$ngx_dir/nginx.conf"
      ;;
  esac
}

# Converts wrk's latency ("812.00us", "1.23ms", "2.00s") to microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1e3; else if (v ~ /s$/) m = 1e6; else { print "NA"; exit }
    sub(/[a-z]+$/, "", v); printf "%.1f", v * m }'
}

check_idle

# ---- the responses, once: both must carry the same status, body and Content-Length ----------
declare -A resp_bytes=() resp_body=() resp_clen=() resp_status=() resp_names=() resp_head=()
declare -A threads=()
echo "responses to GET / (curl -i; the Date value is whatever the clock said):"
for name in "${servers[@]}"; do
  alloc_port
  if ! launch "$name"; then
    stop_server "$name"
    die "$name did not start on port $port (see $log)"
  fi
  raw=$(curl -sS -i --max-time 5 "http://127.0.0.1:$port/" 2>>"$log") || {
    stop_server "$name"
    die "curl could not get http://127.0.0.1:$port/ from $name (see $log)"
  }
  # Threads of the server and its children (nginx: master + worker), all on CPU 0.
  threads[$name]=0
  for p in "$server_pid" $(pgrep -P "$server_pid" || true); do
    threads[$name]=$((threads[$name] + $(find "/proc/$p/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)))
  done
  stop_server "$name"
  head=${raw%%$'\r\n\r\n'*}
  body=${raw#*$'\r\n\r\n'}
  resp_bytes[$name]=$(printf '%s' "$raw" | wc -c)
  resp_body[$name]=$body
  resp_status[$name]=$(head -1 <<<"$head" | tr -d '\r')
  resp_clen[$name]=$(grep -i '^content-length:' <<<"$head" | tr -d '\r' | awk '{ print $2 }')
  resp_names[$name]=$(tail -n +2 <<<"$head" | tr -d '\r' | cut -d: -f1 | tr '[:upper:]' '[:lower:]' | sort | tr '\n' ' ')
  # "name: value" lines with lower-case names, Date left out, for the comparison below.
  resp_head[$name]=$(tail -n +2 <<<"$head" | tr -d '\r' |
    awk -F': *' '{ n = tolower($1); if (n != "date") print n ": " substr($0, index($0, ":") + 2) }' | sort)
  printf -- '--- %s: %s bytes (head %s + body %s); %s thread(s) in all\n' "$name" \
    "${resp_bytes[$name]}" "$((${resp_bytes[$name]} - ${#body}))" "${#body}" "${threads[$name]}"
  tr -d '\r' <<<"$head" | sed 's/^/    /'
  printf '    \n    %s\n' "$body"
done
for name in "${servers[@]}"; do
  [[ ${resp_status[$name]} == "HTTP/1.1 200"* ]] || warn "$name answered '${resp_status[$name]}'"
  [[ ${resp_body[$name]} == "Hello, World!" ]] || warn "$name's body is not 'Hello, World!'"
done
if ((${#servers[@]} == 2)); then
  [[ ${resp_clen[dally]} == "${resp_clen[nginx]}" ]] ||
    warn "Content-Length differs: dally '${resp_clen[dally]}', nginx '${resp_clen[nginx]}'"
  only_dally=$(comm -23 <(tr ' ' '\n' <<<"${resp_names[dally]}" | sed '/^$/d') \
    <(tr ' ' '\n' <<<"${resp_names[nginx]}" | sed '/^$/d') | tr '\n' ' ')
  only_nginx=$(comm -13 <(tr ' ' '\n' <<<"${resp_names[dally]}" | sed '/^$/d') \
    <(tr ' ' '\n' <<<"${resp_names[nginx]}" | sed '/^$/d') | tr '\n' ' ')
  echo "header names only dally sends: ${only_dally:-none}; only nginx sends: ${only_nginx:-none}"
  # shellcheck disable=SC2001  # per line, not once per string
  differ=$(join -t '|' <(sed 's/: /|/' <<<"${resp_head[dally]}") <(sed 's/: /|/' <<<"${resp_head[nginx]}") |
    awk -F'|' '$2 != $3 { printf "%s%s (dally \"%s\", nginx \"%s\")", sep, $1, $2, $3; sep = "; " }')
  echo "headers with different values (Date aside): ${differ:-none}"
  echo "response size: dally ${resp_bytes[dally]} bytes, nginx ${resp_bytes[nginx]} bytes" \
    "(difference $((resp_bytes[dally] - resp_bytes[nginx])))"
fi
echo

# ---- the measurement -------------------------------------------------------------------------
declare -A samples=()    # "conns,server,metric" -> space-separated values from each round
declare -A worst=()      # "conns,metric" -> the highest wrk% / other% of any run at the point
metrics=(rps p50_us p99_us srv_pct rps_per_cpu_s)
runs=$((${#conn_counts[@]} * ${#servers[@]} * rounds))
echo "http bench: ${servers[*]}; $runs runs of ${warmup}s warm-up + ${seconds}s of" \
  "wrk -t$load_ncpus -c<conns>$( ((pipeline > 1)) && echo " pipelined x$pipeline"); server on CPU $server_cpu, wrk on CPU $load_cpu; raw output in $log"

run=0
for conns in "${conn_counts[@]}"; do
  for ((round = 1; round <= rounds; round++)); do
    for name in "${servers[@]}"; do
      run=$((run + 1))
      if [[ -t 2 ]]; then
        printf '\r[%d/%d] conns=%s round %d %-6s' "$run" "$runs" "$conns" "$round" "$name" >&2
      fi
      alloc_port
      if ! launch "$name"; then
        warn "$name did not start on port $port (see $log)"
        stop_server "$name"
        continue
      fi
      url="http://127.0.0.1:$port/"
      if ((warmup > 0)); then
        # shellcheck disable=SC2046  # the URL and the depth
        taskset -c "$load_cpu" wrk -t"$load_ncpus" -c"$conns" -d"${warmup}s" "${wrk_args[@]}" \
          $(wrk_tail "$url") >>"$log" 2>&1 || true
      fi
      srv0=$(tree_cpu_seconds "$server_pid")
      busy0=$(system_busy_seconds)
      ch0=$(children_cpu_seconds)
      t0=$(date +%s.%N)
      # shellcheck disable=SC2046  # the URL and the depth
      out=$(taskset -c "$load_cpu" wrk -t"$load_ncpus" -c"$conns" -d"${seconds}s" --latency \
        "${wrk_args[@]}" $(wrk_tail "$url") 2>&1) ||
        warn "wrk failed against $name (conns=$conns)"
      t1=$(date +%s.%N)
      ch1=$(children_cpu_seconds)
      busy1=$(system_busy_seconds)
      srv1=$(tree_cpu_seconds "$server_pid")
      stop_server "$name"
      printf '== %s conns=%s round=%s\n%s\n' "$name" "$conns" "$round" "$out" >>"$log"

      rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
      [[ -n $rps ]] || { warn "no Requests/sec from wrk against $name (see $log)"; continue; }
      if grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$out"; then
        warn "$name, conns=$conns, round $round: $(grep -e 'Non-2xx' -e 'Socket errors' <<<"$out" |
          sed 's/^ *//' | tr '\n' ';')"
      fi
      p50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
      p99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
      read -r window srv wrk_cpu other < <(awk -v t0="$t0" -v t1="$t1" -v s0="$srv0" \
        -v s1="$srv1" -v c0="$ch0" -v c1="$ch1" -v b0="$busy0" -v b1="$busy1" 'BEGIN {
          w = t1 - t0; s = s1 - s0; c = c1 - c0; o = (b1 - b0) - s - c
          printf "%.3f %.3f %.3f %.3f\n", w, s, c, (o > 0 ? o : 0) }')
      samples["$conns,$name,rps"]+=" $rps"
      samples["$conns,$name,p50_us"]+=" $p50"
      samples["$conns,$name,p99_us"]+=" $p99"
      samples["$conns,$name,srv_pct"]+=" $(percent "$srv" "$window")"
      samples["$conns,$name,rps_per_cpu_s"]+=" $(awk -v r="$rps" -v w="$window" -v s="$srv" \
        'BEGIN { print (s > 0 ? r * w / s : "NA") }')"
      for m in wrk other; do
        v=$(percent "$([[ $m == wrk ]] && echo "$wrk_cpu" || echo "$other")" "$window")
        if ((v > ${worst["$conns,$m"]:-0})); then worst["$conns,$m"]=$v; fi
      done
      echo "-> $name conns=$conns round=$round rps=$rps p50_us=$p50 p99_us=$p99 window_s=$window" \
        "server_cpu_s=$srv wrk_cpu_s=$wrk_cpu other_cpu_s=$other" >>"$log"
    done
  done
done
if [[ -t 2 ]]; then printf '\r%-50s\r' '' >&2; fi

echo
printf '%5s' ""
for name in "${servers[@]}"; do printf ' | %-37s' "$name"; done
printf ' | %-15s |\n' "dally/nginx"
printf '%5s' conns
for name in "${servers[@]}"; do printf ' | %9s %8s %8s %4s %5s' req/s p50_us p99_us srv% req/cs; done
printf ' | %6s %8s | %4s %6s\n' req/s req/cpu-s wrk% other%
for conns in "${conn_counts[@]}"; do
  declare -A med=()
  printf '%5s' "$conns"
  for name in "${servers[@]}"; do
    for m in "${metrics[@]}"; do
      # shellcheck disable=SC2086  # the samples are a space-separated list
      med[$name,$m]=$(median ${samples["$conns,$name,$m"]:-})
    done
    printf ' | %9s %8s %8s %4s %5s' "$(num "${med[$name,rps]}" 0)" "$(num "${med[$name,p50_us]}" 1)" \
      "$(num "${med[$name,p99_us]}" 1)" "$(num "${med[$name,srv_pct]}" 0)" \
      "$(awk -v v="${med[$name,rps_per_cpu_s]}" 'BEGIN { print (v == "NA" ? v : sprintf("%.0fk", v / 1000)) }')"
  done
  printf ' | %6s %8s | %4s %6s\n' "$(ratio "${med[dally,rps]:-}" "${med[nginx,rps]:-}")" \
    "$(ratio "${med[dally,rps_per_cpu_s]:-}" "${med[nginx,rps_per_cpu_s]:-}")" \
    "${worst["$conns,wrk"]:-0}" "${worst["$conns,other"]:-0}"
  unset med
done
echo
echo "requests/s of each round (in run order):"
for conns in "${conn_counts[@]}"; do
  for name in "${servers[@]}"; do
    printf '  conns=%-4s %-6s %s\n' "$conns" "$name" "${samples["$conns,$name,rps"]:- none}"
  done
done
echo
echo "Medians of $rounds rounds. p50/p99 from wrk --latency, in microseconds. srv% = server CPU"
echo "(all threads; nginx master + worker) in % of one CPU: well under 100 means the server was"
echo "not the bottleneck (look at wrk%). req/cs = requests per server CPU-second. wrk% and other%"
echo "= the most CPU wrk and other processes took in one run of the point (other% above ~10:"
echo "outside work skewed it). Raw wrk output: $log"
