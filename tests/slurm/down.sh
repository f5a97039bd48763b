#!/usr/bin/env bash
# Stop the daemons tests/slurm/up.sh DIR started (by their pid files in DIR), newest first.
set -uo pipefail
dir=${1:?usage: down.sh DIR}
status=0
for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "down.sh: $pidfile ($pid) did not stop on SIGTERM; sending SIGKILL" >&2
            kill -9 "$pid" 2>/dev/null || status=1
        fi
    fi
    rm -f "$pidfile"
done
# the /etc/slurm/slurm.conf link up.sh made, if it still points into DIR
etc=/etc/slurm/slurm.conf
if [ -L "$etc" ] && [ "$(readlink "$etc")" = "$(cd "$dir" 2>/dev/null && pwd)/slurm.conf" ]; then
    rm -f "$etc"
fi
exit $status
