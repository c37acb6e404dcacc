#!/usr/bin/env bash
# Full-tier RL experiments, one background worker per task (one torch thread each; 2 cores).
# Each worker tunes the learning rate (GRPO, then PPO), then runs the sweep. Safe to re-run:
# finished runs are skipped and unfinished ones resume from their checkpoints.
# Logs: .runs/rl-<task>.log
#   tools/run_rl_sweeps.sh            # both tasks
#   tools/run_rl_sweeps.sh safety     # one task
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .runs
tasks=("$@")
[ ${#tasks[@]} -eq 0 ] && tasks=(safety summarization)
for task in "${tasks[@]}"; do
  (
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    rl=(.venv/bin/python -m alignlimits.experiments rl --task "$task" --tier full --work-dir .runs)
    "${rl[@]}" --tune --methods grpo
    "${rl[@]}" --tune --methods ppo
    "${rl[@]}"
  ) >> ".runs/rl-$task.log" 2>&1 &
  echo "$!" > ".runs/rl-$task.pid"
  echo "started $task (pid $!), log .runs/rl-$task.log"
done
