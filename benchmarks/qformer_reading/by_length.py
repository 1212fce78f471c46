"""LM-decoding CER of a checkpoint's Q-Former branch by label length: where along a line the
LM path stops reading. Writes the reading diagnostics (ocrlab.reading) and a CER per length bucket.

    .venv/bin/python benchmarks/qformer_reading/by_length.py CKPT SPEC [SPEC ...] --out FILE.json
"""

from __future__ import annotations

import argparse
import json

from ocrlab.data.specs import open_dataset
from ocrlab.files import write_json
from ocrlab.metrics import score
from ocrlab.models import OCRModel
from ocrlab.reading import reading_diagnostics

BUCKETS = ((1, 8), (9, 16), (17, 24), (25, 64))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    model = OCRModel.from_pretrained(args.checkpoint).eval()
    results = {"checkpoint": args.checkpoint, "sets": {}}
    for spec in args.specs:
        data = open_dataset(spec)
        d = reading_diagnostics(model, [data[i] for i in range(len(data))])
        row = {k: round(v, 4) for k, v in vars(d).items() if isinstance(v, float)}
        row["lines"] = d.lines
        by_len = {}
        for lo, hi in BUCKETS:
            pairs = [(r, p) for r, p in d.examples if lo <= len(r) <= hi]
            if pairs:
                s = score([p for _, p in pairs], [r for r, _ in pairs])
                by_len[f"{lo}-{hi}"] = {"lines": len(pairs), "lm_cer": round(s.cer, 4)}
        row["lm_cer_by_length"] = by_len
        row["examples"] = d.examples[:8]
        results["sets"][spec] = row
        print(spec, json.dumps({k: v for k, v in row.items() if k != "examples"}))
    write_json(args.out, results)


if __name__ == "__main__":
    main()
