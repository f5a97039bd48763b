#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this machine, for tests/slurm/test_slurm.py (or by hand):
#
#   tests/slurm/up.sh DIR          # then: export SLURM_CONF=DIR/slurm.conf; sinfo; sbatch ...
#   tests/slurm/down.sh DIR        # stops the daemons this script started
#
# Everything lives in DIR: slurm.conf, gres.conf, a private munge key and socket (so no
# /run/munge and no system munged), the daemons' state, logs and pid files, and jobcomp.txt
# (one line per finished job). Outside DIR only the link /etc/slurm/slurm.conf -> DIR (see
# below; down.sh removes it); a machine with a slurm.conf of its own is refused (exit 3). No
# systemd, no cgroups (proctrack/linuxproc, task/none) and no accounting database
# (accounting_storage/none): jobs stay visible to `squeue` for MinJobAge seconds after they
# end, which is what the workflow's status checks use (profiles/slurm). Needs root (slurmd
# runs jobs as their user) and Debian's `slurm-wlm` and `munge` packages.
set -euo pipefail

dir=${1:?usage: up.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
chmod 700 "$dir"
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"

for bin in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$bin" >/dev/null || { echo "up.sh: $bin not found (apt-get install slurm-wlm munge)" >&2; exit 2; }
done

# munge: its own key and socket in DIR (--force: munged otherwise refuses a socket in a
# directory not open to all users, and DIR is private, mode 700; only root uses it here)
[ -f "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key"
chmod 600 "$dir/munge/munge.key"
socket="$dir/munge/munge.socket"
munged --force --socket="$socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed"

# the node as slurmd sees it (CPUs, sockets, cores, threads), memory a bit under the machine's
node=$(slurmd -C | head -1)
host=$(hostname -s)
mem=$(echo "$node" | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
mem=$((mem * 9 / 10))
node=$(echo "$node" | sed "s/RealMemory=[0-9]*/RealMemory=$mem/")

# ports: the defaults unless SLURM_TEST_PORTS="ctld slurmd" says otherwise
read -r ctld_port slurmd_port <<<"${SLURM_TEST_PORTS:-6817 6818}"

cat >"$dir/slurm.conf" <<CONF
# written by tests/slurm/up.sh: a one-node test cluster
ClusterName=overparam-test
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
# finished jobs stay in squeue for an hour: the workflow's status checks read them there
MinJobAge=3600
ReturnToService=2
SchedulerParameters=sched_interval=2
# two GPUs in name only (their "device files" are /dev/null and /dev/zero; nothing uses them):
# a job asks for one as on a GPU cluster, and the scheduler hands them out
GresTypes=gpu
$node Gres=gpu:2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# The daemons and the commands run here read DIR/slurm.conf through SLURM_CONF, but a job's
# nested `srun` does not see it (snakemake-executor-plugin-slurm-jobstep 0.6.1 drops every
# SLURM_* variable but the job's ids before it calls srun) and falls back to SLURM's default
# /etc/slurm/slurm.conf: link that to ours, unless the machine has a slurm.conf of its own.
etc=/etc/slurm/slurm.conf
if [ -L "$etc" ] && [ ! -e "$etc" ]; then rm -f "$etc"; fi   # left by an earlier run
if [ -e "$etc" ] && [ "$(readlink -f "$etc")" != "$dir/slurm.conf" ]; then
    echo "up.sh: $etc exists (a SLURM installation of its own); not starting a test cluster" >&2
    kill "$(cat "$dir/munge/munged.pid")" 2>/dev/null || true
    exit 3
fi
mkdir -p /etc/slurm
ln -sfn "$dir/slurm.conf" "$etc"

printf 'Name=gpu File=/dev/null\nName=gpu File=/dev/zero\n' >"$dir/gres.conf"

export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

# wait (up to 30 s) until the node takes jobs
for _ in $(seq 60); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case "$state" in idle | mix | alloc) echo "SLURM up: SLURM_CONF=$SLURM_CONF (node $host: $state)"; exit 0 ;; esac
    sleep 0.5
done
echo "up.sh: the node did not come up (state: '${state:-none}'); logs in $dir" >&2
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
exit 1
