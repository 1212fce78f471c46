#!/usr/bin/env bash
# Where do the queries look on a long line? Pilots of the source positions over small-v5's
# FROZEN encoder: a fresh Q-Former + projection, LM loss only, half scene words and half
# synthetic lines (seeds 70-71, used nowhere else), STEPS steps of 32 (default 400) at lr 3e-4,
# one variable changed: qformer.positions sinusoidal (the frame index, as small-v5 has it) or
# relative (the place as a fraction of the line's real width). Then the reading diagnostics and
# the LM-decoding CER by label length (by_length.py) on 256 unseen lines (seed 14) and 256
# unseen scene words (seed 13).
#   bash benchmarks/qformer_reading/pilot_relative.sh OUT_DIR [STEPS] [NAME ...]
# small-v5 is in git history: `git checkout 50668fb -- models/ocrlab-small-v5` first.
set -euo pipefail
OUT=${1:?usage: pilot_relative.sh OUT_DIR [STEPS] [NAME ...]}
STEPS=${2:-400}
ONLY=("${@:3}")
PY=${PY:-.venv/bin/python}
common=(--config configs/small-v6.yaml
        --set train.init_from=${INIT:-models/ocrlab-small-v5}
        --set 'train.init_skip=[qformer., lm_bridge.language_projection.]'
        --set 'train.freeze=[encoder., ctc_head.]'
        --set 'data.train=["synth:n=100000,seed=70,preset=scene", "synth:n=100000,seed=71"]'
        --set 'data.val=synth:n=64,seed=14'
        --set loss.ctc_weight.value=0.0 --set loss.lm_weight.value=1.0
        --set optim.lr=0.0003 --set optim.warmup_steps=30
        --set train.max_steps=$STEPS --set train.max_minutes=null
        --set train.eval_every=$STEPS --set train.save_every=$STEPS --set train.keep_snapshots=false
        --set train.reading_lines=0 --set train.threads=${THREADS:-2})
run() {  # name, overrides...
    local name=$1; shift
    if [ ${#ONLY[@]} -gt 0 ] && [[ ! " ${ONLY[*]} " == *" $name "* ]]; then return; fi
    [ -f "$OUT/$name/by_length.json" ] && { echo "$name: done"; return; }
    rm -rf "${OUT:?}/$name"
    $PY -m ocrlab.cli train "${common[@]}" "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
    $PY benchmarks/qformer_reading/by_length.py "$OUT/$name/checkpoints/last" \
        synth:n=256,seed=14 synth:n=256,seed=13,preset=scene --out "$OUT/$name/by_length.json"
    $PY benchmarks/qformer_reading/peaks.py "$OUT/$name/checkpoints/last" synth:n=256,seed=14 \
        --out "$OUT/$name/peaks.json"
}
mkdir -p "$OUT"
run sinusoidal --set model.qformer.positions=sinusoidal
run relative --set model.qformer.positions=relative
# warm starts: small-v6's trained Q-Former and projection (INIT=models/ocrlab-small-v6), STEPS
# more over its frozen encoder, keeping its positions or switching them to relative
run warm_sinusoidal --set 'train.init_skip=[]' --set model.qformer.positions=sinusoidal
run warm_relative --set 'train.init_skip=[]' --set model.qformer.positions=relative
