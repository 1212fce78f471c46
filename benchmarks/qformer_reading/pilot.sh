#!/usr/bin/env bash
# Pilots of the Q-Former recipe: a fresh Q-Former + projection over small-v2's FROZEN encoder,
# LM loss only, on scene-word crops; one variable changed per run. Each run: STEPS steps of 32
# (default 300), then the reading diagnostics on 256 unseen scene words (seed 13).
#   bash benchmarks/qformer_reading/pilot.sh OUT_DIR [STEPS] [NAME ...]
# With NAMEs, only those runs (e.g. the prompt-positions pair: context_sin_q32 context_sin_q32_shared).
# The pilots start from models/ocrlab-small-v2 (configs/small-v3.yaml's init_from), which is in
# git history: `git checkout 0ccdbcd -- models/ocrlab-small-v2` first (or set
# --set train.init_from=models/ocrlab-small-v3: the same encoder and CTC head, in fp16).
set -euo pipefail
OUT=${1:?usage: pilot.sh OUT_DIR [STEPS]}
STEPS=${2:-300}
ONLY=("${@:3}")
PY=${PY:-.venv/bin/python}
common=(--config configs/small-v3.yaml
        --set train.init_from=${INIT:-models/ocrlab-small-v2}
        --set 'data.train=["synth:n=200000,seed=11,preset=scene"]'
        --set 'data.val=synth:n=256,seed=13,preset=scene'
        --set train.max_steps=$STEPS --set train.max_minutes=null --set optim.warmup_steps=30
        --set train.eval_every=$STEPS --set train.save_every=$STEPS --set train.keep_snapshots=false
        --set train.reading_lines=0 --set optim.lr=0.0003)
run() {  # name, overrides...
    local name=$1; shift
    if [ ${#ONLY[@]} -gt 0 ] && [[ ! " ${ONLY[*]} " == *" $name "* ]]; then return; fi
    [ -f "$OUT/$name/result.json" ] && { echo "$name: done"; return; }
    rm -rf "${OUT:?}/$name"
    $PY -m ocrlab.cli train "${common[@]}" "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
    $PY -m ocrlab.cli eval "$OUT/$name/checkpoints/last" --data synth:n=256,seed=13,preset=scene \
        --reading --json > "$OUT/$name/result.json"
    echo "$name: $(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['reading']; print({k: round(v, 3) for k, v in r.items() if isinstance(v, float)})" "$OUT/$name/result.json")"
}
mkdir -p "$OUT"
run cnn_none_q16      --set model.qformer.source_stage=cnn --set model.qformer.positions=none --set model.qformer.num_queries=16
run cnn_sin_q16       --set model.qformer.source_stage=cnn --set model.qformer.num_queries=16
run context_sin_q16   --set model.qformer.num_queries=16
run context_sin_q32
run context_sin_q32_lr1e-3 --set optim.lr=0.001
# the text after the queries at the LM's own positions (lm.prompt_positions, ocrlab/models/lm.py)
run context_sin_q32_shared --set model.lm.prompt_positions=shared
run context_sin_q32_shared_lr1e-3 --set model.lm.prompt_positions=shared --set optim.lr=0.001
# warm starts: small-v3's trained Q-Former and projection, STEPS more, in each layout (INIT=models/ocrlab-small-v3)
run v3_warm_sequential --set 'train.init_skip=[]'
run v3_warm_shared --set 'train.init_skip=[]' --set model.lm.prompt_positions=shared
