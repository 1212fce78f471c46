#!/usr/bin/env bash
# The recipe of models/ocrlab-small-v4 (configs/small-v4.yaml: small-v3 fine-tuned on real scene
# words, weighted and augmented, mixed with synthetic words and lines, CTC + LM loss), longer and
# with larger batches on one GPU, as one prepared script. Prepare here first:
#   bash benchmarks/gpu/prepare.sh && python benchmarks/gpu/pack_real_train.py
# then on the GPU machine, from the repository root (carry .gpu_data and .whl):
#   OUT=... MINUTES=9 bash benchmarks/gpu/train_v4.sh
# Brings back through $OUT (files of at most 16 MiB): the trained model in fp16 (model.safetensors
# and config.json; lm/ and charset.json are the shipped model's), the run's metrics.jsonl and
# the CTC path's scores on the carried IIIT5K crops and UW3 lines.
# It starts from models/ocrlab-small-v3, in git history since v5 replaced it: first run
#   git checkout bfba3ee -- models/ocrlab-small-v3
set -euo pipefail
OUT=${OUT:-benchmarks/gpu/out}
MINUTES=${MINUTES:-9}
STEPS=${STEPS:-20000}
R=${REAL:-.gpu_data/real_train}
mkdir -p "$OUT"
source benchmarks/gpu/env.sh
run=/tmp/v4-gpu
python3 -m ocrlab train --config configs/small-v4.yaml --out "$run" \
  --set "data.train=[\"$R/iiit5k_train_cs.lmdb?repeat=6,seed=1\", \"$R/ic15_train.lmdb?repeat=5,seed=2\", \"synth:n=20000,seed=30,preset=scene\", \"synth:n=20000,seed=31\", \"synth:n=5000,seed=32,preset=degraded\"]" \
  --set data.val="$R/svt_train_cs.lmdb" \
  --set data.batch_size=128 --set data.num_workers=12 --set train.max_steps="$STEPS" \
  --set train.max_minutes="$MINUTES" --set train.eval_every=1000 --set train.save_every=1000 \
  --set train.keep_snapshots=false --set train.threads=null 2>&1 | tail -n 40 | tee "$OUT/train.log"
ckpt=/tmp/v4-gpu-fp16
python3 -m ocrlab convert "$run/checkpoints/best" --out "$ckpt" --dtype float16
cp "$ckpt/model.safetensors" "$ckpt/config.json" "$run/metrics.jsonl" "$run/config.yaml" "$OUT/"
python3 -m ocrlab eval "$ckpt" --data .gpu_data/iiit5k_first500 --protocol alnum36 --json >> "$OUT/eval.jsonl"
python3 -m ocrlab eval "$ckpt" --data .gpu_data/uw3_printed_lines --json >> "$OUT/eval.jsonl"
cut -c1-300 "$OUT/eval.jsonl"
