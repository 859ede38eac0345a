#!/usr/bin/env bash
# GPU check for the precision strategies: trains every strategy on CUDA, fp8 included, records tokens/s and
# peak memory (`plait compare` table + figure), runs the GPU test suite, then measures GPT-2-124M throughput
# and MFU in bf16 and fp8 (tools/bench/gpu_throughput.py). Sections: ~6 min + ~8 min at most.
#   SKIP_SWEEP=1 bash tools/gpu_check.sh    # throughput section only
#
#   bash tools/gpu_check.sh                 # results in $OUT (set by the device runner) or outputs/gpu_check
#   PYTHON=/path/to/python bash tools/gpu_check.sh
#
# A strategy the GPU cannot run (fp8 below compute capability 8.9, or torchao missing) is recorded as a
# failed trial with its reason in <trial>/FAILED; the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
RESULTS="${OUT:-outputs/gpu_check}"
SWEEP="$RESULTS/sweep"
mkdir -p "$RESULTS"
export WANDB_MODE=offline HYDRA_FULL_ERROR=1
plait() { "$PYTHON" -m framework.cli "$@"; }

{
  echo "== machine"; date -u; nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv || true
  "$PYTHON" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(), "capability", torch.cuda.get_device_capability())
try:
    import torchao
    print("torchao", torchao.__version__)
except ImportError as exc:
    print("torchao missing:", exc)
PY
} 2>&1 | tee "$RESULTS/machine.txt"

# One sweep, one process: a wider model and larger batches than the CPU default so GEMMs are big enough
# for tensor cores to matter (still small: fp8's gains need larger matrices than this).
if [ -z "${SKIP_SWEEP:-}" ]; then
echo "== sweep (every strategy on cuda)"
timeout 330 "$PYTHON" -m framework.cli train -m \
  precision=fp32,amp_fp16,amp_bf16,fp16_master,bf16,fp64_master,fp8 \
  trainer.device=cuda trainer.max_steps=150 trainer.batch_size=256 trainer.log_every_n_steps=25 \
  trainer.eval_every_n_steps=150 trainer.checkpoint_every_n_steps=0 \
  model.d_model=512 model.n_heads=8 model.d_ff=2048 model.n_layers=4 \
  logger=[console,jsonl] hydra.sweep.dir="$SWEEP" 2>&1 | tee "$RESULTS/sweep.log" | grep -E "HYDRA|done|failed|error" || true

echo "== compare"
plait compare "$SWEEP" --out "$RESULTS" 2>&1 | tee "$RESULTS/compare.txt"
for trial in "$SWEEP"/*/; do
  [ -f "$trial/FAILED" ] && echo "FAILED $(basename "$trial"): $(cat "$trial/FAILED")"
done | tee "$RESULTS/failed.txt"

echo "== pytest -m gpu"
timeout 120 "$PYTHON" -m pytest -q -m gpu tests 2>&1 | tail -25 | tee "$RESULTS/pytest_gpu.txt"

rm -rf "$SWEEP"/*/checkpoints "$SWEEP"/*/tokenizer  # keep results small: configs, metrics, reports
fi

# GPT-2-124M shape (12 x 768, 12 heads, context 1024, vocab 50,304): bf16 autocast and fp8 (torchao), both
# torch.compile'd, fused AdamW, flash attention via SDPA, the largest batch that fits; MFU vs 989 TFLOP/s
# (H200 dense bf16; pass PEAK_TFLOPS for another GPU). Compiles take most of the time.
echo "== throughput (GPT-2 124M shape)"
timeout 480 "$PYTHON" tools/bench/gpu_throughput.py --precisions amp_bf16,fp8 \
  --peak-tflops "${PEAK_TFLOPS:-989}" --json "$RESULTS/throughput.json" 2>&1 | tee "$RESULTS/throughput.md"
echo "== results in $RESULTS"
