"""Where along a line the Q-Former's last layer looks: each query's attention peak (mean over
heads) as a fraction of the line's real frames, pooled by label length, next to the LM-decoding
CER of the same lines by length (by_length.py). A branch that reads a whole line spreads its
peaks over the whole line; one that reads only the start crowds them at the left.

    .venv/bin/python benchmarks/qformer_reading/peaks.py CKPT SPEC --out FILE.json
"""

from __future__ import annotations

import argparse

import numpy as np

from ocrlab.data.specs import open_dataset
from ocrlab.files import write_json
from ocrlab.models import OCRModel
from ocrlab.viz.attention import query_attention_batch

BUCKETS = ((1, 8), (9, 16), (17, 24), (25, 64))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("spec")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    model = OCRModel.from_pretrained(args.checkpoint).eval()
    data = open_dataset(args.spec)
    maps = query_attention_batch(model, [data[i].image for i in range(len(data))])
    rows = {}
    for lo, hi in BUCKETS:
        fractions, frames = [], []
        for qa in maps:
            if not lo <= len(qa.text) <= hi:
                continue
            real = qa.num_positions  # the map's columns: the line's real frames
            peaks = qa.aggregate(layer=-1).argmax(-1).float()  # (Q,) frame of each query's peak
            fractions += (peaks / max(real - 1, 1)).tolist()
            frames.append(real)
        if not frames:
            continue
        f = np.asarray(fractions)
        rows[f"{lo}-{hi}"] = {
            "lines": len(frames),
            "median_frames": float(np.median(frames)),
            "peaks_in_first_half": round(float((f < 0.5).mean()), 3),
            "peaks_in_last_quarter": round(float((f >= 0.75).mean()), 3),
            "peak_fraction_quartiles": [
                round(float(q), 3) for q in np.quantile(f, [0.25, 0.5, 0.75])
            ],
        }
        print(f"{lo}-{hi} chars: {rows[f'{lo}-{hi}']}")
    write_json(
        args.out,
        {
            "checkpoint": args.checkpoint,
            "data": args.spec,
            "by_length": rows,
            "how": "last cross-attention layer, mean over heads; each query's argmax frame / (real frames - 1)",
        },
    )


if __name__ == "__main__":
    main()
