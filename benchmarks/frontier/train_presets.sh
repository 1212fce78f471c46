#!/usr/bin/env bash
# Train presets on one budget for the speed/accuracy frontier: the LM-loss study's CTC-only warm
# start (configs/study/lm_loss.yaml `warmup:`), i.e. 1200 steps of 32 synthetic lines, CTC alone,
# seed 0, on this machine's CPU. The small preset's run is the study's warm start itself
# (benchmarks/lm_loss_study/warmup); this script reproduces it when asked for `small`.
#   bash benchmarks/frontier/train_presets.sh runs/frontier tiny base    (59.7 min for base, 2 cores)
# Then bench_frontier.py with --model tiny-1200=runs/frontier/tiny/checkpoints/last etc. (its
# training configs and metrics are kept in benchmarks/frontier/training/)
set -euo pipefail
out=${1:?usage: train_presets.sh OUT_DIR PRESET [PRESET ...]}
shift
for preset in "$@"; do
  python -m ocrlab train --config "configs/$preset.yaml" --out "$out/$preset" \
    --set 'data.train=["synth:n=60000,seed=1", "synth:n=10000,seed=2,preset=degraded"]' \
    --set 'data.val=synth:n=200,seed=900001' \
    --set data.batch_size=32 --set data.max_width=512 --set data.num_workers=0 \
    --set 'loss.ctc_weight={kind: constant, value: 1.0}' \
    --set 'loss.lm_weight={kind: constant, value: 0.0}' \
    --set optim.lr=0.0015 --set optim.warmup_steps=200 \
    --set optim.weight_decay=0.01 --set optim.grad_clip=5.0 \
    --set train.max_steps=1200 --set train.max_minutes=null --set train.seed=0 \
    --set train.eval_every=400 --set train.save_every=200 --set train.log_every=10 \
    --set train.grad_diag_every=0 --set train.keep_snapshots=false
done
