"""Assemble a checkpoint folder from what benchmarks/gpu/train_recipe.sh brings back: the CTC
path (ctc_path.safetensors, float32) and the branch (branch.safetensors, float16) of the GPU
run, its config.json, and the charset and frozen LM of the model it started from (--base).
Loads the result once, so a folder that does not build a model is never left behind.

    .venv/bin/python benchmarks/gpu/merge.py OUT --base models/ocrlab-small-v6 --out runs/gpu-model
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from ocrlab.files import atomic_dir
from ocrlab.models import OCRModel
from ocrlab.models.checkpoint import CHARSET_NAME, CONFIG_NAME, LM_DIR, WEIGHTS_NAME

PARTS = ("ctc_path.safetensors", "branch.safetensors")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gpu_out", type=Path, help="the folder train_recipe.sh wrote ($OUT)")
    ap.add_argument("--base", type=Path, required=True, help="the checkpoint it started from")
    ap.add_argument("--out", type=Path, required=True, help="the checkpoint folder to write")
    args = ap.parse_args()
    missing = [p for p in (*PARTS, CONFIG_NAME) if not (args.gpu_out / p).is_file()]
    if missing:
        raise SystemExit(f"{args.gpu_out}: missing {', '.join(missing)} (train_recipe.sh's $OUT?)")
    state = {}
    for part in PARTS:
        state.update(load_file(str(args.gpu_out / part)))
    with atomic_dir(args.out) as tmp:
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        shutil.copy(args.gpu_out / CONFIG_NAME, tmp / CONFIG_NAME)
        shutil.copy(args.base / CHARSET_NAME, tmp / CHARSET_NAME)
        if (args.base / LM_DIR).is_dir():
            shutil.copytree(args.base / LM_DIR, tmp / LM_DIR)
        OCRModel.from_pretrained(tmp)  # raises if the parts do not make this model
    print(f"{args.out}: {len(state)} tensors from {args.gpu_out}, charset and LM from {args.base}")


if __name__ == "__main__":
    main()
