# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # variables shared with (set by, used by) the sourcing script
# Shared helpers for bench/web/http_bench.sh and ws_bench.sh (sourced, not run). The same
# conventions as bench/echo/run.sh: one server at a time pinned to $server_cpu, the load
# generator pinned to $load_cpu, a fresh port per server run, SIGTERM then SIGKILL.
# The sourcing script sets $script (its name, for messages) and $log (a file for server output).

die() { echo "$script: $*" >&2; exit 1; }
warn() { echo "$script: warning: $*" >&2; }

# $load_cpu is a taskset CPU list ("1", "1-3", "1,3"); --load-cpus sets it. $load_ncpus is the
# number of CPUs in it: the load generators run that many threads.
server_cpu=0
load_cpu=1
load_cpu_set=0
load_ncpus=1
pick_cpus() {
  command -v taskset >/dev/null || die "taskset (util-linux) is needed to pin the processes"
  local ncpu cpus=() parts=() part a b
  ncpu=$(nproc)
  if ((!load_cpu_set && ncpu < 2)); then
    warn "fewer than 2 CPUs: server and load generator share CPU 0"
    load_cpu=0
  fi
  IFS=, read -r -a parts <<<"$load_cpu"
  for part in "${parts[@]}"; do
    if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then
      a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]}
    elif [[ $part =~ ^[0-9]+$ ]]; then
      a=$part b=$part
    else
      die "bad CPU list '$load_cpu' (want e.g. 1, 1-3 or 1,3)"
    fi
    for ((; a <= b; a++)); do cpus+=("$a"); done
  done
  ((${#cpus[@]} > 0)) || die "empty CPU list '$load_cpu'"
  for a in "${cpus[@]}"; do
    ((a < ncpu)) || die "CPU $a is not online (this machine has $ncpu)"
    ((a != server_cpu || ncpu < 2)) || warn "the load generator shares CPU $server_cpu with the server"
  done
  load_ncpus=${#cpus[@]}
}

# Busy % of all CPUs over half a second: nothing keeps other work off them.
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
check_idle() {
  local busy
  busy=$(cpu_busy_percent)
  if ((busy > 10)); then
    warn "the CPUs are ${busy}% busy before the benchmark: other work is running; expect noise"
  fi
}

# Busy (non-idle, non-iowait) seconds of all CPUs since boot.
system_busy_seconds() {
  awk -v hz="$(getconf CLK_TCK)" 'NR == 1 {
    for (i = 2; i <= 9 && i <= NF; i++) { t += $i; if (i == 5 || i == 6) idle += $i }
    printf "%.3f", (t - idle) / hz; exit }' /proc/stat
}

# utime+stime in seconds of PID and its direct children (nginx's master and worker), all
# threads included; 0 for a process that is gone.
tree_cpu_seconds() {
  local pid=$1 p ticks=0 t
  for p in "$pid" $(pgrep -P "$pid" 2>/dev/null || true); do
    # Fields 14 and 15 after the ")" that closes the command name.
    t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
    ticks=$((ticks + ${t:-0}))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}

# CPU seconds of this shell's waited-for children and their descendants (cutime + cstime of
# $$, which names this shell even inside a $(...) subshell): the difference around a
# load generator's run is its CPU time.
children_cpu_seconds() {
  sed 's/.*) //' "/proc/$$/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }'
}

# A fresh port for every server run, so no run meets another's TIME_WAIT sockets; below the
# kernel's ephemeral range, which the load generators' sockets use. Sets $port.
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

server_pid=
cleanup_server() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
}

# start_server NAME CMD... : runs CMD pinned to $server_cpu (output to $log) and waits until
# 127.0.0.1:$port accepts a connection.
start_server() {
  local name=$1
  shift
  echo "== $name: $*" >>"$log"
  taskset -c "$server_cpu" "$@" >>"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 200); do
    kill -0 "$server_pid" 2>/dev/null || { wait "$server_pid" 2>/dev/null; server_pid=; return 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

# SIGTERM, then SIGKILL if the server has not exited within 5 s; warns on a non-zero status.
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
  ((status == 0)) || warn "$name exited with status $status (see $log)"
  server_pid=
}

# field NAME LINE -> the value of NAME=value in LINE.
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

# num V DECIMALS -> V rounded, or V itself when it is not a number ("NA").
num() { awk -v v="$1" -v d="$2" 'BEGIN { print (v == "NA" || v == "") ? "NA" : sprintf("%." d "f", v) }'; }
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
# percent CPU_SECONDS WINDOW_SECONDS -> CPU use in % of one CPU.
percent() { awk -v c="$1" -v w="$2" 'BEGIN { printf "%.0f", (w > 0 ? 100 * c / w : 0) }'; }
