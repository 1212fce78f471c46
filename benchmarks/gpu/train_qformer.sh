#!/usr/bin/env bash
# The Q-Former recipe of models/ocrlab-small-v6 (configs/small-v3.yaml: the shipped encoder and
# CTC head frozen, a fresh Q-Former over the BiLSTM stage with sinusoidal positions, LM loss
# only; with the text at the LM's own positions, model.lm.prompt_positions=shared, as the
# shipped Q-Former's second revision), longer and wider on one GPU, as one prepared script. Needs what benchmarks/gpu/prepare.sh
# sends (the rapidfuzz wheel). From the repository root on the GPU machine:
#   OUT=... MINUTES=8 [LAYOUT=spread] bash benchmarks/gpu/train_qformer.sh
# Brings back through $OUT (files of at most 16 MiB): the trained part only, in fp16
# (qformer.safetensors: the Q-Former and the projection; the encoder, CTC head and LM are the
# shipped model's, frozen), the run's metrics.jsonl with the reading diagnostics, and the
# reading diagnostics on the card's two sets. Merge here with
#   python -c "from safetensors.torch import load_file, save_file; ..."  (see the card)
set -euo pipefail
OUT=${OUT:-benchmarks/gpu/out}
MINUTES=${MINUTES:-8}
STEPS=${STEPS:-12000}
LAYOUT=${LAYOUT:-shared}  # lm.prompt_positions; spread: benchmarks/qformer_reading/README.md section 8
mkdir -p "$OUT"
source benchmarks/gpu/env.sh
run=/tmp/qformer-gpu
python3 -m ocrlab train --config configs/small-v3.yaml --out "$run" \
  --set train.init_from=models/ocrlab-small-v6 --set model.lm.prompt_positions="$LAYOUT" \
  --set data.batch_size=128 \
  --set data.num_workers=12 --set train.max_steps="$STEPS" --set train.max_minutes="$MINUTES" \
  --set train.eval_every=1000 --set train.save_every=1000 --set train.keep_snapshots=false \
  --set train.threads=null --set optim.warmup_steps=300 2>&1 | tail -n 40 | tee "$OUT/train.log"
ckpt=/tmp/qformer-gpu-fp16
python3 -m ocrlab convert "$run/checkpoints/last" --out "$ckpt" --dtype float16
python3 - "$ckpt" "$OUT/qformer.safetensors" <<'PY'
import sys
from safetensors.torch import load_file, save_file
state = load_file(f"{sys.argv[1]}/model.safetensors")
keep = {k: v for k, v in state.items() if k.startswith(("qformer.", "lm_bridge.language_projection."))}
save_file(keep, sys.argv[2], metadata={"format": "pt"})
PY
cp "$run/metrics.jsonl" "$run/config.yaml" "$OUT/"
for spec in synth:n=500,seed=12,preset=scene synth:n=500,seed=7; do
  python3 -m ocrlab eval "$ckpt" --data "$spec" --reading --json >> "$OUT/reading.jsonl"
done
tail -n 2 "$OUT/reading.jsonl" | cut -c1-600
