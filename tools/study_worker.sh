#!/usr/bin/env bash
# One background worker for the language-model study (issue 17): give each of two workers one core.
#
#   nohup tools/study_worker.sh safety summarization > worker-A.log 2>&1 &
#   nohup tools/study_worker.sh summarization safety > worker-B.log 2>&1 &
#
# In order: the lr pilot (on safety; skipped once complete), the study of the first task, the study of the
# second, then the 256-sample frontier of both tasks. Every command resumes from its checkpoints (in
# ~/.cache/alignlimits/runs) and skips runs the other worker holds. A full-tier run refuses to start from
# uncommitted code: the worker retries a minute later, so commit (or stash) edits while workers run. The study
# needs study.STUDY_LRS, set from study.pilot_lr once the pilot is complete; until then `--study` runs only
# the runs that need no learning rate if called with `--methods distill`.
set -u
cd "$(dirname "$0")/.."
first=${1:-safety}
second=${2:-summarization}
ex() {
  until .venv/bin/python -m alignlimits.experiments "$@" --tier full --threads 1 --device cpu; do
    sleep 60
  done
}
ex rl --pilot --task safety
ex rl --study --task "$first"
ex rl --study --task "$second"
ex frontier --task "$first"
ex frontier --task "$second"
