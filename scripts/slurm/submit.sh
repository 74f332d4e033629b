#!/usr/bin/env bash
# submit.sh CLAIM SCALE [N] — measure one claim on a Slurm cluster.
#
# Submits shard.sbatch as an array of N tasks (`sbatch --array=0-<N-1>`): task I runs the
# claim binary's shard I/N of the (arm, seed) searches into $OUT/shards/I-of-N/. Then submits
# analyse.sbatch with --dependency=afterok:<array job>: once every task has succeeded it runs
# the binary without --shard on the same $OUT, which merges the shards, runs the adaptive
# rounds and writes $OUT/verdict.md. Prints both job ids. Without N, it takes the N that
# `$BIN --dry-run` suggests. Resubmitting into the same $OUT resumes (finished probes are kept).
# Paths given to Slurm are absolute and jobs run in the repository root (--chdir), so the
# repository may sit on a shared filesystem.
#
# Environment (default in brackets):
#   PARTITION      partition to submit to [the cluster's default]
#   CPUS_PER_TASK  CPUs of each job, passed to the binary as --jobs [1]
#   GPUS_PER_TASK  GPUs of each job; > 0 adds --gres=gpu:<n> and --device cuda [0]
#   MEM_PER_TASK   memory of each job (sbatch --mem, e.g. 8G) [the cluster's default]
#   TIME_PER_TASK  time limit of each shard task (e.g. 2:00:00) [the cluster's default]
#   ANALYSIS_TIME  time limit of the analysis job [the cluster's default]
#   OUT            output directory [<repo>/artifacts/<claim>/<scale>]; logs go to $OUT/slurm/
#   EMC_DATA_DIR   directory of the canonical dataset files, passed on to the jobs [unset]
#   BIN            the claim binary [<repo>/target/release/claim-<claim>]
set -euo pipefail

usage="usage: $0 CLAIM SCALE [N]   (e.g. $0 input-size cpu 8; SCALE: smoke|cpu|paper)"
[ $# -ge 2 ] && [ $# -le 3 ] || { echo "$usage" >&2; exit 2; }
claim=$1 scale=$2 n=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)

cpus=${CPUS_PER_TASK:-1}
gpus=${GPUS_PER_TASK:-0}
out=${OUT:-$repo/artifacts/$claim/$scale}
bin=${BIN:-$repo/target/release/claim-$claim}
# Relative paths are taken from the repository root, where the jobs run.
case $out in /*) ;; *) out=$repo/$out ;; esac
case $bin in /*) ;; *) bin=$repo/$bin ;; esac
if [ -n "${EMC_DATA_DIR:-}" ]; then
    case $EMC_DATA_DIR in /*) ;; *) EMC_DATA_DIR=$repo/$EMC_DATA_DIR ;; esac
    export EMC_DATA_DIR
fi

command -v sbatch > /dev/null || { echo "error: no sbatch on PATH (run this on a Slurm login node)" >&2; exit 1; }
if [ ! -x "$bin" ]; then
    features=""; [ "$gpus" -gt 0 ] && features=" --features cuda"
    echo "error: no claim binary at $bin; build it first, in $repo:" >&2
    echo "  cargo build --release -p claim-$claim$features" >&2
    exit 1
fi

if [ -z "$n" ]; then
    n=$("$bin" --scale "$scale" --out "$out" --dry-run | sed -n 's/.*suggested N = \([0-9][0-9]*\).*/\1/p')
    [ -n "$n" ] || { echo "error: no 'suggested N' in the dry run of $bin; pass N" >&2; exit 1; }
fi
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "error: N must be a positive integer, not '$n'" >&2; exit 2; }

device=cpu
common=(--chdir="$repo" --cpus-per-task="$cpus" --export=ALL --parsable)
[ -n "${PARTITION:-}" ] && common+=(--partition="$PARTITION")
[ -n "${MEM_PER_TASK:-}" ] && common+=(--mem="$MEM_PER_TASK")
if [ "$gpus" -gt 0 ]; then common+=(--gres="gpu:$gpus"); device=cuda; fi
shard_time=(); [ -n "${TIME_PER_TASK:-}" ] && shard_time=(--time="$TIME_PER_TASK")
analysis_time=(); [ -n "${ANALYSIS_TIME:-}" ] && analysis_time=(--time="$ANALYSIS_TIME")
args=("$bin" "$scale" "$out" "$cpus" "$device")

mkdir -p "$out/slurm"
array=$(sbatch "${common[@]}" "${shard_time[@]}" --array="0-$((n - 1))" \
    --job-name="emc-$claim-shard" --output="$out/slurm/shard-%A_%a.out" \
    "$here/shard.sbatch" "${args[@]}")
array=${array%%;*}
analysis=$(sbatch "${common[@]}" "${analysis_time[@]}" \
    --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    --job-name="emc-$claim-analyse" --output="$out/slurm/analyse-%j.out" \
    "$here/analyse.sbatch" "${args[@]}")
analysis=${analysis%%;*}

echo "claim $claim, scale $scale, $n shards of $cpus CPU(s) and $gpus GPU(s) each, into $out"
echo "shards: $array (logs $out/slurm/shard-${array}_<task>.out)"
echo "analysis: $analysis (after every shard succeeds; log $out/slurm/analyse-$analysis.out)"
