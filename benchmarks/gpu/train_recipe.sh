#!/usr/bin/env bash
# The shipped model's training recipe, longer and with larger batches on one GPU, as one prepared
# script: any config of configs/ (default: configs/small-v8.yaml, the latest fine-tuning of the
# default model), with its real training splits read from the LMDBs that
# benchmarks/gpu/pack_real_train.py packs (the options after `?` - repeat, join, seed - are kept).
# Prepare here first (git-ignored, carried by the device tool):
#   bash benchmarks/gpu/prepare.sh && .venv/bin/python benchmarks/gpu/pack_real_train.py
# then on the GPU machine, from the repository root (carry .gpu_data and .whl):
#   OUT=... MINUTES=9 [CONFIG=configs/small-v8.yaml] [INIT=models/ocrlab-small-v6] bash benchmarks/gpu/train_recipe.sh
# Brings back through $OUT (files of at most 16 MiB): the trained weights in two files,
# ctc_path.safetensors (encoder and CTC head, float32, 15.3 MiB for the small preset) and
# branch.safetensors (Q-Former and projection, float16), with config.json, the run's
# metrics.jsonl and config.yaml, and eval.jsonl (IIIT5K's first 500 crops, UW3, synthetic lines,
# the reading diagnostics). Assemble a checkpoint here with
#   .venv/bin/python benchmarks/gpu/merge.py OUT --base models/ocrlab-small-v6 --out runs/gpu-model
# DRY=1 runs it on the CPU for a few steps (a check of the script, not of the recipe).
set -euo pipefail
OUT=${OUT:-benchmarks/gpu/out}
CONFIG=${CONFIG:-configs/small-v8.yaml}
INIT=${INIT-models/ocrlab-small-v6}  # INIT= (empty): from scratch
MINUTES=${MINUTES:-9}
STEPS=${STEPS:-20000}
BATCH=${BATCH:-128}
R=${REAL:-.gpu_data/real_train}
mkdir -p "$OUT"
source benchmarks/gpu/env.sh
run=/tmp/recipe-gpu
extra=(--set data.num_workers=12 --set train.threads=null)
if [ -n "${DRY:-}" ]; then
  extra=(--set data.num_workers=0 --set train.threads=1); STEPS=3; BATCH=4; rm -rf "$run"
fi
python3 - "$CONFIG" "$R" /tmp/recipe.yaml <<'PY'
# the config with each ../shared/data/real_train/SPLIT?OPTS read from R/SPLIT.lmdb?OPTS
import sys
from pathlib import Path

import yaml

config, real, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
cfg = yaml.safe_load(Path(config).read_text())


def packed(spec: str) -> str:
    path, sep, opts = spec.partition("?")
    if "real_train/" not in path:
        return spec
    lmdb = real / f"{Path(path).name}.lmdb"
    if not lmdb.is_dir():
        sys.exit(f"{config}: {spec} needs {lmdb}; run benchmarks/gpu/pack_real_train.py")
    return f"{lmdb}{sep}{opts}"


data = cfg["data"]
data["train"] = [packed(s) for s in data["train"]]
data["val"] = packed(data["val"])
Path(out).write_text(yaml.safe_dump(cfg, sort_keys=False))
print("training mix:", *data["train"], "validation:", data["val"], sep="\n  ")
PY
python3 -m ocrlab train --config /tmp/recipe.yaml --out "$run" \
  --set train.init_from="${INIT:-null}" --set data.batch_size="$BATCH" \
  --set train.max_steps="$STEPS" --set train.max_minutes="$MINUTES" \
  --set train.eval_every=1000 --set train.save_every=1000 --set train.keep_snapshots=false \
  "${extra[@]}" 2>&1 | tail -n 40 | tee "$OUT/train.log"
python3 - "$run/checkpoints/last" "$OUT" <<'PY'
# two files under 16 MiB: the CTC path as trained (float32), the branch in float16
import shutil
import sys

from safetensors.torch import load_file, save_file

ckpt, out = sys.argv[1], sys.argv[2]
state = load_file(f"{ckpt}/model.safetensors")
ctc = {k: v for k, v in state.items() if k.startswith(("encoder.", "ctc_head."))}
branch = {k: v.half() if v.is_floating_point() else v for k, v in state.items() if k not in ctc}
save_file(ctc, f"{out}/ctc_path.safetensors", metadata={"format": "pt"})
save_file(branch, f"{out}/branch.safetensors", metadata={"format": "pt"})
shutil.copy(f"{ckpt}/config.json", out)
PY
cp "$run/metrics.jsonl" "$run/config.yaml" "$OUT/"
ckpt="$run/checkpoints/last"
python3 -m ocrlab eval "$ckpt" --data .gpu_data/iiit5k_first500 --protocol alnum36 --json >> "$OUT/eval.jsonl"
python3 -m ocrlab eval "$ckpt" --data .gpu_data/uw3_printed_lines --json >> "$OUT/eval.jsonl"
n=2000; [ -n "${DRY:-}" ] && n=16
python3 -m ocrlab eval "$ckpt" --data "synth:n=$n,seed=7" --json >> "$OUT/eval.jsonl"
python3 -m ocrlab eval "$ckpt" --data "synth:n=$((n / 4)),seed=12,preset=scene" --reading --json >> "$OUT/eval.jsonl"
cut -c1-300 "$OUT/eval.jsonl"
