#!/usr/bin/env bash
# Full-tier RL experiments, one background worker per task (one torch thread each; 2 cores).
# Each worker tunes the learning rate (GRPO, then PPO), runs its task's sweep, then helps with
# the other tasks' sweeps, then runs the shuffled-reward controls (a run being trained by one
# worker is skipped by the others). Safe to
# re-run: finished runs are skipped and unfinished ones resume from their checkpoints.
# Logs: .runs/rl-<task>.log
#   tools/run_rl_sweeps.sh            # both tasks
#   tools/run_rl_sweeps.sh safety     # one worker: safety first, then it helps with the rest
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .runs
all_tasks=(safety summarization)
tasks=("$@")
[ ${#tasks[@]} -eq 0 ] && tasks=("${all_tasks[@]}")
for task in "${tasks[@]}"; do
  (
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    rl=(.venv/bin/python -m alignlimits.experiments rl --tier full --work-dir .runs --threads 1)
    "${rl[@]}" --task "$task" --tune --methods grpo
    "${rl[@]}" --task "$task" --tune --methods ppo
    "${rl[@]}" --task "$task"
    # Helping is best effort: a failure there (say, another task not tuned yet) ends only that step.
    for other in "${all_tasks[@]}"; do
      [ "$other" = "$task" ] || "${rl[@]}" --task "$other" || echo "helping with $other failed (see above)"
    done
    for any in "${all_tasks[@]}"; do  # the shuffled-reward controls, once the sweeps are done
      "${rl[@]}" --task "$any" --control || echo "the $any controls failed (see above)"
    done
  ) >> ".runs/rl-$task.log" 2>&1 &
  echo "$!" > ".runs/rl-$task.pid"
  echo "started $task (pid $!), log .runs/rl-$task.log"
done
