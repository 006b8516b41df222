#!/usr/bin/env bash
# A single-node Slurm cluster for agf's tests, from Debian's slurm-wlm and munge, started by
# hand (no systemd): munged, then slurmctld and slurmd with a slurm.conf of their own in DIR
# (one node at 127.0.0.1 with this machine's CPUs and memory; linuxproc process tracking, no
# task plugin, no accounting). Run as root.
#
#   eval "$(scripts/slurm-test-cluster.sh start DIR)"   # exports SLURM_CONF, AGF_TEST_SLURM
#   scripts/slurm-test-cluster.sh stop DIR              # and munged, if start started it
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?the cluster folder}
case "$cmd" in
start)
    for b in munged slurmctld slurmd sbatch; do
        command -v "$b" >/dev/null || {
            echo "$b is missing (apt-get install slurm-wlm munge)" >&2
            exit 1
        }
    done
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    # munge: a key, its folders owned by its user, the daemon.
    mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
    chmod 0700 /etc/munge /var/lib/munge /var/log/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    # A munged already running (the host's own) is used and left alone at stop.
    if ! pgrep -x munged >/dev/null; then
        runuser -u munge -- munged
        # munged forks to daemonise: its own pid file names the daemon.
        for _ in $(seq 1 50); do
            [ -s /run/munge/munged.pid ] && break
            sleep 0.1
        done
        cp /run/munge/munged.pid "$dir/munged.pid"
    fi
    node=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
    cat >"$dir/slurm.conf" <<CONF
ClusterName=agftest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=${AGF_SLURM_PORT:-6817}
SlurmdPort=$(( ${AGF_SLURM_PORT:-6817} + 1 ))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -i -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    for _ in $(seq 1 100); do
        if sinfo -h -o %T 2>/dev/null | grep -q idle; then
            echo "export SLURM_CONF='$SLURM_CONF'"
            echo "export AGF_TEST_SLURM=1"
            exit 0
        fi
        sleep 0.1
    done
    echo "the node did not become idle; see $dir/log" >&2
    sinfo >&2 || true
    exit 1
    ;;
stop)
    for d in slurmd slurmctld munged; do
        if [ -s "$dir/$d.pid" ]; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
    done
    ;;
*)
    echo "unknown command $cmd: start or stop" >&2
    exit 1
    ;;
esac
