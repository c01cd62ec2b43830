#!/usr/bin/env bash
# Every experiment of docs/reproductions/, end to end, by WORKERS background processes (default 2).
#
#   experiments/run_all.sh [WORKERS]      start (or continue: finished runs are skipped, stopped ones resume)
#   experiments/run_all.sh --stop         stop every worker; the run in progress saves a checkpoint
#
# Environment: PYTHON (default .venv/bin/python), SCRIPTS (which experiments, default all), WORKER_DIR (pid files and logs, default runs),
# WORKER_STAGGER (seconds between worker starts, default 20).
#
# Each worker runs the scripts in the order below with `--split val`; the lock file of each run folder
# (experiments/common.py) makes a worker skip a run that another one is training, so the workers share
# the runs. Each worker gets nproc / WORKERS torch threads: on the 2-core development machine two
# one-thread workers each kept the single-process speed (CycleGAN 0.44 s/iteration per worker vs 0.48
# for one two-thread process), i.e. twice the throughput. Logs: runs/worker<N>.log; after the last run a
# script's tables are rewritten by whichever worker finishes it, so run
# `python -m experiments.<script> --tabulate-only` once every worker has stopped.
set -u
cd "$(dirname "$0")/.."
WORKER_DIR=${WORKER_DIR:-runs}
mkdir -p "$WORKER_DIR"
# SCRIPT:DATASET runs the script with --dataset DATASET
SCRIPTS=${SCRIPTS:-"okada_table1 okada_rate_sweep okada_sweeps time_to_quality shukla_maps mondal_table1 shukla_tables shukla_supplement pretrained_encoder unpaired_payoff label_to_photo_fid okada_rate_sweep:cityscapes cut_comparison cut_comparison:facades"}  # e.g. SCRIPTS=mondal_table1 to run one
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}

if [ "${1:-}" = "--stop" ]; then
  for pidfile in "$WORKER_DIR"/worker*.pid; do
    [ -f "$pidfile" ] || continue
    kill -TERM "$(cat "$pidfile")" 2>/dev/null && echo "stopping worker $(cat "$pidfile") ($pidfile)"
  done
  exit 0
fi

workers=${1:-2}
threads=$(( $(nproc) / workers )); [ "$threads" -ge 1 ] || threads=1

worker() {  # $1: worker number
  local child=""
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child"; rm -f "$WORKER_DIR/worker$1.pid"; exit 143' TERM INT
  for entry in $SCRIPTS; do
    local script=${entry%%:*} dataset=()
    [ "$script" = "$entry" ] || dataset=(--dataset "${entry#*:}")
    echo "=== $(date -u +%FT%TZ) worker $1: $entry"
    OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1 \
      "$PYTHON" -m experiments."$script" --split val "${dataset[@]}" &
    child=$!
    wait "$child"
    child=""
  done
  rm -f "$WORKER_DIR/worker$1.pid"
}

for n in $(seq 1 "$workers"); do
  pidfile="$WORKER_DIR/worker$n.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "worker $n is already running (pid $(cat "$pidfile"))"
    continue
  fi
  worker "$n" > "$WORKER_DIR/worker$n.log" 2>&1 &
  echo $! > "$pidfile"
  echo "worker $n: pid $!, $threads thread(s), log $WORKER_DIR/worker$n.log"
  sleep "${WORKER_STAGGER:-20}"  # lets the first worker take the first run before the next one looks
done
