"""How many of a line set's spaces each checkpoint reads (greedy CTC), and its CER.

    .venv/bin/python benchmarks/real_data/spaces.py models/ocrlab-small-v5 OLD/ocrlab-small-v3 \
        OLD/ocrlab-small-v4-words --out benchmarks/real_data/uw3_spaces.json

(OLD: ``git archive bfba3ee models/ocrlab-small-v3 models/ocrlab-small-v4-words | tar -x -C OLD``.)
A model fine-tuned on word crops merges the words of printed lines; this counts it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ocrlab.data.datasets import FolderDataset
from ocrlab.evaluation import evaluate
from ocrlab.models import OCRModel


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--data", default="../shared/data/uw3_printed_lines")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    dataset = FolderDataset(args.data, skip_empty=True)
    rows = []
    for checkpoint in args.checkpoints:
        res = evaluate(OCRModel.from_pretrained(checkpoint), dataset)
        row = {
            "checkpoint": checkpoint,
            "spaces_read": sum(p.count(" ") for p in res.predictions),
            "spaces_in_labels": sum(r.count(" ") for r in res.references),
            "cer": res.scores.cer,
            "char_errors": res.scores.char_errors,
        }
        print(row)
        rows.append(row)
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "data": args.data}
    args.out.write_text(json.dumps({**report, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
