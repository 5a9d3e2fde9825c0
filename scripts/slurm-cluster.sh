#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, from Debian's packages (munge, slurmctld,
# slurmd, slurm-client), without systemd: each daemon is started directly and stopped by
# the PID it recorded. Everything it writes lives in one directory (default
# /tmp/dally-slurm, or $DALLY_SLURM_DIR); nothing in /etc is touched. Used by build_runner's
# Slurm tests and benchmarks.
#
#   scripts/slurm-cluster.sh start    # configure, start, wait until the node is idle
#   scripts/slurm-cluster.sh env      # prints: export SLURM_CONF=...
#   scripts/slurm-cluster.sh status   # exit 0 when the node answers
#   scripts/slurm-cluster.sh stop     # TERM each daemon by PID, KILL after 10 s
#
# The ports (127.0.0.1 only) are $DALLY_SLURM_PORT (slurmctld, default 16817) and the one
# after it (slurmd). The node has the machine's CPUs and its memory less 1 GiB; jobs are
# confined by cgroups (task/cgroup with ConstrainRAMSpace), cgroup/v1 where the machine
# has v1 or hybrid mounts, autodetect on a pure v2 machine. Exit status 2 means Slurm
# cannot run here (not installed, or a daemon would not start); the reason is printed.
set -euo pipefail

dir=${DALLY_SLURM_DIR:-/tmp/dally-slurm}
port=${DALLY_SLURM_PORT:-16817}
conf=$dir/etc/slurm.conf

die() { echo "slurm-cluster: $*" >&2; exit 2; }

pid_of() { [[ -s $dir/run/$1.pid ]] && cat "$dir/run/$1.pid"; }
alive() { local p; p=$(pid_of "$1") && kill -0 "$p" 2>/dev/null; }

stop_one() {
    local p
    p=$(pid_of "$1") || return 0
    if kill -0 "$p" 2>/dev/null; then
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
    fi
    rm -f "$dir/run/$1.pid"
}

stop() {
    # Jobs first, so slurmd does not leave job cgroups behind.
    if alive slurmctld && [[ -f $conf ]]; then
        SLURM_CONF=$conf timeout 10 scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
        SLURM_CONF=$conf timeout 10 bash -c 'for _ in $(seq 50); do [[ -z $(squeue -h 2>/dev/null) ]] && break; sleep 0.2; done' || true
    fi
    stop_one slurmd
    stop_one slurmctld
    stop_one munged
}

node_state() { SLURM_CONF=$conf timeout 5 sinfo -h -N -o '%T' 2>/dev/null | head -1; }

write_config() {
    local host cpus mem_mb cgroup_plugin
    host=$(hostname -s)
    cpus=$(nproc)
    mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]] && ! grep -q ' cgroup ' /proc/mounts; then
        cgroup_plugin=autodetect   # pure cgroup v2
    else
        cgroup_plugin=cgroup/v1    # v1 or hybrid: the v2 plugin refuses to start there
    fi
    mkdir -p "$dir/etc" "$dir/run" "$dir/log" "$dir/state" "$dir/spool" "$dir/munge"
    chmod 0700 "$dir" "$dir/munge"
    cat > "$conf" <<EOF
# Written by scripts/slurm-cluster.sh: a one-node cluster on 127.0.0.1.
ClusterName=dally
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/cgroup
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
ReturnToService=2
# A job over its time limit gets SIGTERM, then SIGKILL this many seconds later.
KillWait=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat > "$dir/etc/cgroup.conf" <<EOF
CgroupPlugin=$cgroup_plugin
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
AllowedSwapSpace=0
EOF
    if [[ ! -s $dir/munge/munge.key ]]; then
        ( umask 077; head -c 1024 /dev/urandom > "$dir/munge/munge.key" )
    fi
}

start() {
    for tool in munged slurmctld slurmd srun sinfo scontrol scancel; do
        command -v "$tool" >/dev/null || die "$tool not found (apt-get install munge slurmctld slurmd slurm-client)"
    done
    [[ $(id -u) == 0 ]] || die "the daemons run as root here; run this as root"
    if alive slurmctld && alive slurmd && [[ $(node_state) == idle* || $(node_state) == mix* || $(node_state) == alloc* ]]; then
        echo "slurm-cluster: already running ($dir)"; return 0
    fi
    stop
    write_config
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed" \
        || die "munged did not start: $(tail -3 "$dir/log/munged.log" 2>/dev/null)"
    # -i: ignore state from an earlier run of this directory (its jobs are gone).
    SLURM_CONF=$conf slurmctld -i -f "$conf" \
        || die "slurmctld did not start: $(tail -3 "$dir/log/slurmctld.log" 2>/dev/null)"
    SLURM_CONF=$conf slurmd -f "$conf" \
        || die "slurmd did not start: $(tail -3 "$dir/log/slurmd.log" 2>/dev/null)"
    local state=""
    for _ in $(seq 150); do
        state=$(node_state || true)
        [[ $state == idle* ]] && break
        alive slurmctld || die "slurmctld exited: $(tail -3 "$dir/log/slurmctld.log")"
        alive slurmd || die "slurmd exited: $(tail -3 "$dir/log/slurmd.log")"
        sleep 0.2
    done
    if [[ $state != idle* ]]; then
        local why; why=$(tail -3 "$dir/log/slurmd.log" 2>/dev/null)
        stop
        die "the node did not become idle in 30 s (state '${state}'): $why"
    fi
    echo "slurm-cluster: running in $dir; use: export SLURM_CONF=$conf"
}

case ${1:-} in
    start) start ;;
    stop) stop; echo "slurm-cluster: stopped" ;;
    status) alive slurmctld && alive slurmd && [[ $(node_state) != "" ]] && { node_state; exit 0; }; echo "not running"; exit 1 ;;
    env) echo "export SLURM_CONF=$conf" ;;
    *) echo "usage: $0 start|stop|status|env  (directory: \$DALLY_SLURM_DIR, default /tmp/dally-slurm)" >&2; exit 64 ;;
esac
