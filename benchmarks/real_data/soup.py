"""Interpolate the CTC path of two checkpoints (WiSE-FT) and score every mix.

    .venv/bin/python benchmarks/real_data/soup.py models/ocrlab-small-v3 \
        models/ocrlab-small-v4-words --alphas 0 0.25 0.5 0.75 1 --out benchmarks/real_data/soup.json

``alpha`` 0 is the first checkpoint, 1 the second's CTC path (the Q-Former is always the
first's: ``ocrlab.models.soup.interpolate``). Two validation sets choose ``alpha`` (SVT train,
never trained on; synthetic clean print of an unused seed, which has the spaces); the
evaluation sets are scored for every ``alpha`` and never used to choose it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ocrlab.data.datasets import FolderDataset
from ocrlab.data.specs import open_dataset
from ocrlab.evaluation import evaluate
from ocrlab.models import OCRModel
from ocrlab.models.soup import interpolate

DATA = Path("../shared/data")
SETS = {
    # name: (role, dataset factory, protocol, decoder)
    "svt_val": (
        "validation",
        lambda: FolderDataset(DATA / "real_train/svt_train_cs", skip_empty=True),
        "exact",
        None,
    ),
    "synth_clean_val": (
        "validation",
        lambda: open_dataset("synth:n=500,seed=8,preset=clean"),
        "exact",
        None,
    ),
    "iiit5k": (
        "evaluation",
        lambda: FolderDataset(DATA / "iiit5k_test_cs", "labels_alnum_lower.tsv", skip_empty=True),
        "alnum36",
        None,
    ),
    "iiit5k_beam": (
        "evaluation",
        lambda: FolderDataset(DATA / "iiit5k_test_cs", "labels_alnum_lower.tsv", skip_empty=True),
        "alnum36",
        "beam",
    ),
    "uw3": (
        "evaluation",
        lambda: FolderDataset(DATA / "uw3_printed_lines", skip_empty=True),
        "exact",
        None,
    ),
    "synth_default": ("evaluation", lambda: open_dataset("synth:n=2000,seed=7"), "exact", None),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("other")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0, 0.25, 0.5, 0.75, 1])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    other = OCRModel.from_pretrained(args.other)
    datasets = {name: SETS[name][1]() for name in args.sets}
    rows = []
    for alpha in tqdm(args.alphas, desc="alpha"):
        model = interpolate(OCRModel.from_pretrained(args.base), other, alpha)
        row: dict = {"alpha": alpha}
        for name, ds in datasets.items():
            role, _, protocol, decoder = SETS[name]
            t0 = time.perf_counter()
            res = evaluate(model, ds, protocol=protocol, decoder=decoder)
            row[name] = {
                "role": role,
                "cer": res.scores.cer,
                "accuracy": res.scores.accuracy,
                "n": res.scores.n,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            tqdm.write(
                f"alpha {alpha:.2f} {name}: CER {res.scores.cer:.2%}, acc {res.scores.accuracy:.1%}"
            )
        rows.append(row)
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "base": args.base,
        "other": args.other,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "rows": rows,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
