#!/usr/bin/env bash
# Every number on a shipped model's card: the CTC path on the dev sets (as v2's card) and the
# Q-Former branch's reading diagnostics on the Q-Former issue's two sets, then the first-character
# survey. Writes MODEL/eval_results.jsonl (one JSON object per command) and
# MODEL/first_character.json.   bash benchmarks/qformer_reading/evaluate.sh models/ocrlab-small-v3
set -euo pipefail
M=${1:?usage: evaluate.sh MODEL_DIR}
OCR=${OCR:-.venv/bin/ocrlab}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data}
out="$M/eval_results.jsonl"
: > "$out.tmp"
run() { echo "+ ocrlab $*" >&2; $OCR "$@" --json >> "$out.tmp"; }
run eval "$M" --data synth:n=2000,seed=7
run eval "$M" --data synth:n=2000,seed=7,preset=clean
run eval "$M" --data "$DATA/uw3_printed_lines"
run eval "$M" --data "$DATA/iiit5k_test_cs" --labels labels_alnum_lower.tsv --protocol alnum36
# the beam decoder with the word-frequency LM (ocrlab.models.ctc.DECODERS["beam"])
run eval "$M" --data "$DATA/uw3_printed_lines" --decoder beam
run eval "$M" --data "$DATA/iiit5k_test_cs" --labels labels_alnum_lower.tsv --protocol alnum36 --decoder beam
run eval "$M" --data synth:n=500,seed=12,preset=scene --reading
run eval "$M" --data synth:n=500,seed=7 --reading
# the branch on real words: the first 500 IIIT5K test words (case-sensitive labels)
run eval "$M" --data "$DATA/iiit5k_test_cs" --limit 500 --reading
mv "$out.tmp" "$out"
$PY benchmarks/qformer_reading/first_character.py "$M" --out "$M/first_character.json"
