"""Pack the real training splits for a GPU run of a training recipe (train_recipe.sh): each
crop scaled to a height of 64 px (the model reads 32; augmentation works on the larger crop)
and stored as JPEG (quality 95) in an LMDB under .gpu_data/, which the device tool carries
(64 MiB in all).

    python benchmarks/gpu/pack_real_train.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from ocrlab.data.datasets import FolderDataset
from ocrlab.data.lmdb_io import write_lmdb

SPLITS = ("iiit5k_train_cs", "ic15_train", "svt_train_cs")
HEIGHT = 64


def scaled(dataset: FolderDataset):
    for i in range(len(dataset)):
        sample = dataset[i]
        img = sample.image
        if img.height > HEIGHT:
            w = max(1, round(img.width * HEIGHT / img.height))
            img = img.resize((w, HEIGHT), Image.Resampling.LANCZOS)
        yield img, sample.text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--out", default=".gpu_data/real_train")
    args = ap.parse_args()
    for split in SPLITS:
        dataset = FolderDataset(Path(args.shared) / "real_train" / split)
        out = Path(args.out) / f"{split}.lmdb"
        n = write_lmdb(
            scaled(dataset), out, image_format="JPEG", total=len(dataset), overwrite=True
        )
        size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
        print(f"{split}: {n} crops -> {out} ({size:.1f} MB)")


if __name__ == "__main__":
    main()
