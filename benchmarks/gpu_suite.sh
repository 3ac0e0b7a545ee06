#!/usr/bin/env bash
# Every GPU figure of benchmarks/RESULTS.md in one go, sized for one short call on a lent H100/H200
# (at most 580 s of steps after the machine is up: fits one 600 s call). Needs only torch, numpy,
# safetensors and psutil (transformers for the peer row): no Prefect, Ray, MLflow, DuckDB or
# pydantic, and arlm is used from the checkout (PYTHONPATH), not installed.
#
#   bash benchmarks/gpu_suite.sh OUT_DIR [CORPUS]           # CORPUS: tinyshakespeare.txt
#   ARLM_SUITE_QUICK=1 bash benchmarks/gpu_suite.sh /tmp/s  # CPU: every step at toy sizes
#
# Each step's table goes to OUT_DIR/<step>.txt and to stdout (its stderr to OUT_DIR/<step>.err);
# a step that fails or runs out of time is reported and the others still run; the exit status is
# non-zero if any failed. Time-to-quality steps get a training budget a little under their limit,
# and print a line per recipe as it ends, so a step cut short still leaves its figures.
set -uo pipefail
out=${1:?usage: gpu_suite.sh OUT_DIR [CORPUS]}
corpus=${2:-benchmarks/data/tinyshakespeare.txt}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd)                       # absolute before the cd below
[ -f "$corpus" ] && corpus=$(cd "$(dirname "$corpus")" && pwd)/$(basename "$corpus")
cd "$here" || exit 2
if [ ! -f "$corpus" ]; then
  echo "error: corpus $corpus not found (mkdir -p benchmarks/data && cp ../shared/data/tinyshakespeare.txt benchmarks/data/)" >&2
  exit 2
fi
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
quick=""
[ -n "${ARLM_SUITE_QUICK:-}" ] && quick="--quick"
failed=0

step() {  # step NAME LIMIT_S CMD...
  local name=$1 limit=$2
  shift 2
  echo "== $name: $*"
  local t0=$SECONDS
  timeout "$limit" "$@" 2> "$out/$name.err" | tee "$out/$name.txt"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
  if [ "$rc" -ne 0 ]; then
    failed=1
    tail -20 "$out/$name.err"
  fi
}

ttq() {  # ttq NAME LIMIT_S ARGS...: time_to_quality with a training budget under the limit
  local name=$1 limit=$2
  shift 2
  local budget=$((limit - 20))
  [ -n "$quick" ] && budget=12  # the CPU smoke test checks that every step runs, not how far
  # shellcheck disable=SC2086  # $quick is empty or one word
  step "$name" "$limit" "$py" benchmarks/time_to_quality.py --corpus "$corpus" --max-seconds "$budget" \
    "$@" $quick
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
} | tee "$out/device.txt"

# 1. throughput: matmul peak; GPT-2 small and baby GPT beside transformers; LSTM/GRU beside bare torch
# shellcheck disable=SC2086
step gpu_train 190 "$py" benchmarks/gpu_train.py $quick
# 2. time to quality, compiled and eager (the faster is the recipe's figure), then nanoGPT's
#    settings through the same loop as the in-run reference
ttq ttq_arlm_compiled 90 --recipes arlm --compile true
ttq ttq_arlm_eager 80 --recipes arlm --compile false
ttq ttq_nanogpt_eager 110 --recipes nanogpt --compile false
# 3. the ablation's middle steps (nanogpt and +muon = arlm are above): what rope and the schedule add
ttq ttq_rope 60 --recipes +rope --compile false
ttq ttq_schedule 50 --recipes +schedule --compile false
exit $failed
