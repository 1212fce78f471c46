"""The Q-Former figures of a model card, as PNGs: the training curves with the reading
diagnostics, and for the app's default line the queries x positions map, the query <->
character view and every query over the image.

    .venv/bin/python benchmarks/qformer_reading/figures.py CHECKPOINT RUN_METRICS OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from ocrlab.demo_app import typed_line
from ocrlab.models import OCRModel
from ocrlab.viz import (
    attention_grid,
    attention_matrix,
    correspondence_figure,
    query_attention,
    save_figure,
    training_curves,
)

LINE = "Hello seminar 2026"  # the app's default line, rendered as the app renders it


def main(checkpoint: str, metrics: str, out: str) -> int:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_figure(training_curves(metrics), out_dir / "training_curves.png", scale=1.0)
    model = OCRModel.from_pretrained(checkpoint)
    image = typed_line(LINE, font="DejaVu Serif", preset="clean", look="document", seed=0)
    qa = query_attention(model, image)
    save_figure(attention_matrix(qa), out_dir / "queries_x_positions.png", scale=1.0)
    save_figure(correspondence_figure(qa), out_dir / "query_character.png", scale=1.0)
    save_figure(attention_grid(qa), out_dir / "all_queries.png", scale=1.0)
    print(f"read {qa.text!r}; {qa.stats()}")
    print("\n".join(qa.summary()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
