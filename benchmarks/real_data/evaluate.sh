#!/usr/bin/env bash
# The numbers of benchmarks/real_data/README.md for one checkpoint, one JSON object per command:
#   bash benchmarks/real_data/evaluate.sh CHECKPOINT OUT.jsonl
set -euo pipefail
M=${1:?usage: evaluate.sh CHECKPOINT OUT.jsonl}
OUT=${2:?usage: evaluate.sh CHECKPOINT OUT.jsonl}
OCR=${OCR:-.venv/bin/ocrlab}
DATA=${DATA:-../shared/data}
: > "$OUT.tmp"
run() { echo "+ ocrlab $*" >&2; $OCR "$@" --json >> "$OUT.tmp"; }
I=("$DATA/iiit5k_test_cs" --labels labels_alnum_lower.tsv --protocol alnum36)
run eval "$M" --data "${I[@]}"
run eval "$M" --data "${I[@]}" --decoder beam
run eval "$M" --data "$DATA/uw3_printed_lines"
run eval "$M" --data synth:n=2000,seed=7
run eval "$M" --data "$DATA/iiit5k_test_cs" --limit 500 --reading
mv "$OUT.tmp" "$OUT"
