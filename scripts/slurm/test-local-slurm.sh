#!/usr/bin/env bash
# test-local-slurm.sh — end-to-end test of submit.sh on a throwaway one-node Slurm cluster.
#
# Installs slurm-wlm and munge (apt) when missing; starts munged, slurmctld and slurmd on
# localhost (one partition of 2 CPUs, no accounting, no cgroups, all state, logs and sockets
# under $SLURM_TEST_DIR); builds claim-input-size in release; submits its smoke scale with
# submit.sh as a 4-task array plus the dependent analysis, waits for both (at most
# $SLURM_TEST_TIMEOUT s), checks that every task and the analysis succeeded; then runs the
# same claim in one process and checks that both runs recorded the same probes
# (probes.csv without run_id and seconds, as sorted sets) and the same verdict line.
# Prints PASS or FAIL with a summary. On exit it cancels its jobs and stops the daemons it
# started (by their process ids), leaving the packages installed. Re-runnable: each run
# starts from an empty $SLURM_TEST_DIR, first stopping daemons a previous run left there.
#
# Environment: SLURM_TEST_DIR [/tmp/emc-slurm-test], SLURM_TEST_TIMEOUT [1200],
# EMC_DATA_DIR [/work/shared/data], SLURM_TEST_TASKS [4; empty: the N the dry run suggests].
# Needs root (apt-get, daemons as root).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
base=${SLURM_TEST_DIR:-/tmp/emc-slurm-test}
timeout_s=${SLURM_TEST_TIMEOUT:-1200}
export EMC_DATA_DIR=${EMC_DATA_DIR:-/work/shared/data}
claim=input-size tasks=${SLURM_TEST_TASKS-4}
bin=$repo/target/release/claim-$claim
node=$(hostname -s)
started=$(date +%s)
pids=() array="" analysis=""

say() { echo "== $*"; }
fail() {
    echo "FAIL: $*"
    for log in "$base"/log/slurmctld.log "$base"/log/slurmd.log; do
        [ -s "$log" ] && { echo "--- last lines of $log"; tail -n 15 "$log"; }
    done
    exit 1
}
trap 'fail "line $LINENO: \`$BASH_COMMAND\` exited with status $?"' ERR

# On exit: cancel our jobs, then stop our daemons, slurmd first, each by its own pid.
cleanup() {
    set +e
    trap - ERR
    if [ -n "$array$analysis" ] && [ -n "$(squeue -h -j "${array}${analysis:+,$analysis}" 2>/dev/null)" ]; then
        echo "== cancelling jobs $array $analysis"
        scancel "$array" ${analysis:+"$analysis"}
        for _ in $(seq 30); do [ -z "$(squeue -h -j "$array${analysis:+,$analysis}" 2>/dev/null)" ] && break; sleep 1; done
    fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null || continue
        for _ in $(seq 20); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.5; done
        kill -9 "${pids[i]}" 2>/dev/null
    done
    [ ${#pids[@]} -gt 0 ] && echo "== stopped munged, slurmctld and slurmd (pids ${pids[*]})"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Stops a daemon a previous run of this script left behind: only a live process whose pid
# file lies in $base and whose command line names $base.
stop_stale() {
    local pidfile pid
    for pidfile in "$base"/run/{munged,slurmctld,slurmd}.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF "$base"; then
            echo "== stopping $(basename "$pidfile" .pid) (pid $pid) left by a previous run"
            kill "$pid"
            for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        fi
    done
}

# Starts a daemon in the foreground of a background job and records its pid.
start() {
    local name=$1; shift
    "$@" > "$base/log/$name.out" 2>&1 &
    pids+=($!)
    echo "$!" > "$base/run/$name.pid"
}

[ "$(id -u)" = 0 ] || fail "needs root (apt-get, munged and slurmd run as root)"

say "packages"
if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null || ! command -v munged > /dev/null; then
    apt-get install -y slurm-wlm munge > "$base.apt.log" 2>&1 || fail "apt-get install -y slurm-wlm munge (log $base.apt.log)"
fi
echo "$(slurmctld -V), $(munged -V 2>&1 | head -n 1)"

say "configuration in $base"
stop_stale
rm -rf "$base"
mkdir -p "$base"/{etc,munge,state,spool,log,run}
chmod 755 "$base" "$base/munge"
dd if=/dev/urandom of="$base/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$base/munge/munge.key"
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024 / 2) }' /proc/meminfo)
export SLURM_CONF=$base/etc/slurm.conf
cat > "$SLURM_CONF" <<EOF
ClusterName=emctest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$base/munge/munge.socket
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool
SlurmctldPidFile=$base/run/slurmctld.daemon.pid
SlurmdPidFile=$base/run/slurmd.daemon.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=3600
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 RealMemory=$mem_mb State=UNKNOWN
PartitionName=emctest Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

say "daemons"
start munged munged -F --socket="$base/munge/munge.socket" --key-file="$base/munge/munge.key" \
    --pid-file="$base/run/munged.daemon.pid" --log-file="$base/log/munged.log" --seed-file="$base/munge/seed"
for _ in $(seq 20); do [ -S "$base/munge/munge.socket" ] && break; sleep 0.5; done
munge -S "$base/munge/munge.socket" -n | unmunge -S "$base/munge/munge.socket" > /dev/null \
    || fail "munged does not answer (see $base/log/munged.out)"
start slurmctld slurmctld -D -i -f "$SLURM_CONF"
start slurmd slurmd -D -f "$SLURM_CONF" -N "$node"
for _ in $(seq 60); do
    state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
[ "$state" = idle ] || fail "node $node is '${state:-unknown}', not idle, after 60 s: $(scontrol show node "$node" 2>&1 | grep -i reason || true)"
echo "node $node idle: $(sinfo -h -o '%P %D nodes, %c CPUs, %m MB')"

say "build"
(cd "$repo" && cargo build --release -p "claim-$claim") || fail "cargo build --release -p claim-$claim"

say "submit: ${tasks:-the suggested number of} shard tasks and the analysis"
sharded=$base/sharded single=$base/single
submitted=$(OUT=$sharded CPUS_PER_TASK=1 PARTITION=emctest TIME_PER_TASK=30:00 ANALYSIS_TIME=30:00 \
    "$here/submit.sh" "$claim" smoke ${tasks:+"$tasks"}) || fail "submit.sh $claim smoke $tasks"
echo "$submitted"
tasks=$(sed -n 's/.*scale smoke, \([0-9]*\) shards.*/\1/p' <<< "$submitted")
array=$(awk '/^shards:/ { print $2 }' <<< "$submitted")
analysis=$(awk '/^analysis:/ { print $2 }' <<< "$submitted")
[ -n "$array" ] && [ -n "$analysis" ] || fail "no job ids in the output of submit.sh"

say "waiting for jobs $array and $analysis (at most $timeout_s s)"
wait_start=$(date +%s) last=""
while true; do
    now=$(squeue -h -j "$array,$analysis" -o '%i %T %r' | tr '\n' ';') || fail "squeue failed: is slurmctld still up?"
    [ -n "$now" ] || break
    [ "$now" != "$last" ] && echo "$(date +%T) $now" && last=$now
    [ $(($(date +%s) - wait_start)) -lt "$timeout_s" ] || fail "jobs not finished after $timeout_s s: $now"
    sleep 5
done
echo "both finished after $(($(date +%s) - wait_start)) s"

say "results of the Slurm run"
# One line per job (per task of an array): its state, reason and exit code.
job_states() {
    scontrol -o show job "$1" | awk '{ s = ""; for (i = 1; i <= NF; i++)
        if ($i ~ /^(JobId|ArrayJobId|ArrayTaskId|JobState|Reason|ExitCode)=/) s = s " " $i; print " " s }'
}
tasks_ok=$(scontrol -o show job "$array" | grep -c 'JobState=COMPLETED .*ExitCode=0:0' || true)
if [ "$tasks_ok" != "$tasks" ]; then
    for log in "$sharded"/slurm/shard-*.out; do
        grep -q 'wall time:' "$log" || { echo "--- end of the failed task's log $log"; tail -n 5 "$log"; break; }
    done
    fail "$tasks_ok of $tasks shard tasks completed with exit code 0:
$(job_states "$array")
$(job_states "$analysis")"
fi
scontrol -o show job "$analysis" | grep -q 'JobState=COMPLETED .*ExitCode=0:0' \
    || fail "the analysis job $analysis did not succeed:$(job_states "$analysis"); log $sharded/slurm/analyse-$analysis.out:
$(tail -n 20 "$sharded/slurm/analyse-$analysis.out" 2>/dev/null)"
walls=""
for t in $(seq 0 $((tasks - 1))); do
    log=$sharded/slurm/shard-${array}_$t.out
    [ -f "$sharded/shards/$t-of-$tasks/shard.toml" ] || fail "no shards/$t-of-$tasks/shard.toml in $sharded"
    walls+=" task $t: $(sed -n 's/.*wall time: \([0-9]*\) s$/\1/p' "$log") s;"
done
analysis_wall=$(sed -n 's/.*wall time: \([0-9]*\) s$/\1/p' "$sharded/slurm/analyse-$analysis.out")
[ -f "$sharded/probes.csv" ] && [ -f "$sharded/verdict.md" ] || fail "no probes.csv or verdict.md in $sharded"

say "the same claim in one process"
single_start=$(date +%s)
(cd "$repo" && RAYON_NUM_THREADS=1 "$bin" --scale smoke --out "$single" --jobs 1) > "$base/log/single.out" 2>&1 \
    || fail "single-process run (log $base/log/single.out): $(tail -n 5 "$base/log/single.out")"
single_wall=$(($(date +%s) - single_start))

say "comparing $sharded with $single"
compared=$(python3 - "$sharded" "$single" <<'EOF'
import csv, sys
COLUMNS = ["config_hash", "seed", "n", "fitted", "stop", "epochs", "steps", "train_accuracy", "train_loss"]
def probes(d):
    with open(f"{d}/probes.csv", newline="") as f:
        return sorted(tuple(row[c] for c in COLUMNS) for row in csv.DictReader(f))
def verdict(d):
    lines = [l.strip() for l in open(f"{d}/verdict.md")]
    after = lines[lines.index("## Verdict") + 1:] if "## Verdict" in lines else []
    found = [l for l in after if l][:1] or [l for l in lines if l.startswith("**Verdict") or "Verdict:" in l]
    return found[0] if found else None
a, b = probes(sys.argv[1]), probes(sys.argv[2])
va, vb = verdict(sys.argv[1]), verdict(sys.argv[2])
if not a or va is None:
    sys.exit("no probes or no verdict line in the Slurm run")
if a != b:
    sa, sb = set(a), set(b)
    print(f"probes differ: {len(a)} vs {len(b)}; only in Slurm run: {sorted(sa - sb)[:3]}; only in single run: {sorted(sb - sa)[:3]}", file=sys.stderr)
if va != vb:
    print(f"verdicts differ:\n  Slurm:  {va}\n  single: {vb}", file=sys.stderr)
if a != b or va != vb:
    sys.exit(1)
print(len(a))
print(va)
EOF
) || fail "the Slurm run and the single-process run differ (above)"

echo
echo "PASS: claim-$claim smoke via Slurm ($tasks-task array $array, analysis $analysis) matches one process"
echo "  per-task wall times (logs):$walls analysis: ${analysis_wall:-?} s"
echo "  single-process run: $single_wall s; probes compared: $(head -n 1 <<< "$compared")"
echo "  verdict: $(tail -n 1 <<< "$compared")"
echo "  total wall time of this test: $(($(date +%s) - started)) s; files in $base"
