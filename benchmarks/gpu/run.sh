#!/usr/bin/env bash
# The GPU bench, one prepared script: on the GPU machine, from the repository root, after
# benchmarks/gpu/prepare.sh on the machine that sends the tree. Writes under $OUT (default
# benchmarks/gpu/out): the JSON reports, their text tables, nvidia-smi's view, the logs.
#   OUT=... bash benchmarks/gpu/run.sh          (DEVICE=cpu for a dry run anywhere)
set -uo pipefail
OUT=${OUT:-benchmarks/gpu/out}
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-}  # e.g. "--lines 16 --repeats 1" for a dry run
mkdir -p "$OUT"
export TQDM_MININTERVAL=10
source benchmarks/gpu/env.sh  # NO_WHEELS=1: dry run here
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  python3 -c "import torch, transformers, sys; print(sys.version.split()[0], torch.__version__, \
transformers.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"
} | tee "$OUT/device.txt"
rc=0
# smoke: every engine on 16 crops (seconds), so a broken path fails before the long runs
python3 -m ocrlab bench models/ocrlab-small-v6 --device "$DEVICE" --quick --lines 16 \
  --repeats 1 --batch-sizes 8 32 --data .gpu_data/iiit5k_first500/labels.tsv \
  --engines torch_ctc torch_ctc_bf16 lm_generate lm_generate_gpt2 > "$OUT/smoke.txt" 2>&1 \
  || { tail -c 3000 "$OUT/smoke.txt"; exit 1; }
grep -A6 '^engine' "$OUT/smoke.txt" | head -7
# IIIT5K word crops (the CPU bench's set; the first 500), every GPU engine and GPT-2; then UW3
# printed lines (70, median 952 px wide), the CTC engines and the LM path (GPT-2 at 100 tokens a
# line would take minutes)
python3 -m ocrlab bench models/ocrlab-small-v6 --device "$DEVICE" \
  --data .gpu_data/iiit5k_first500/labels.tsv --protocol alnum36 --batch-sizes 8 32 128 512 \
  --out "$OUT/bench_iiit5k_gpu.json" $EXTRA > "$OUT/bench_iiit5k_gpu.txt" 2> "$OUT/iiit5k.log" || rc=1
tail -n 30 "$OUT/bench_iiit5k_gpu.txt"; tail -c 400 "$OUT/iiit5k.log"; echo
python3 -m ocrlab bench models/ocrlab-small-v6 --device "$DEVICE" \
  --data .gpu_data/uw3_printed_lines --batch-sizes 8 32 70 --repeats 3 \
  --engines torch_ctc torch_ctc_bf16 lm_generate \
  --out "$OUT/bench_uw3_gpu.json" $EXTRA > "$OUT/bench_uw3_gpu.txt" 2> "$OUT/uw3.log" || rc=1
tail -n 30 "$OUT/bench_uw3_gpu.txt"; tail -c 400 "$OUT/uw3.log"; echo
exit $rc
