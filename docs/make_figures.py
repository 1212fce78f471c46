"""The README's pictures: a static PNG of each notebook's key figure, made from the bundled
model and the committed results, so a reader sees what the toolkit shows before installing it.

    make figures        (or: .venv/bin/python docs/make_figures.py [--checkpoint DIR])

Writes docs/figures/*.png (a few hundred kB each). The speed figures come from notebook 05 once
the committed speed results are rerun with the fair Tesseract harness; the LM-loss study's are
in benchmarks/lm_loss_study/figures/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ocrlab.data.demo import synth_showcase
from ocrlab.demo_app import typed_line
from ocrlab.models import DEFAULT_CHECKPOINT, OCRModel
from ocrlab.viz import (
    attention_matrix,
    attribute_character,
    attribution_figure,
    correspondence_figure,
    model_figure,
    query_attention,
    save_figure,
    training_curves,
)

ROOT = Path(__file__).resolve().parents[1]
LINE = "Hello seminar 2026"  # the app's default line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = Path(args.checkpoint)

    synth_showcase(out / "01_synthetic_data.png", per_section=6)
    curves = ckpt / "training" / "metrics.jsonl"
    if curves.is_file():
        save_figure(training_curves(curves), out / "02_training_curves.png", scale=1.0)
    model = OCRModel.from_pretrained(ckpt)
    model_figure(ckpt, path=out / "03_model.png", dpi=150)
    image = typed_line(LINE, font="DejaVu Serif", preset="clean", look="document", seed=0)
    qa = query_attention(model, image)
    save_figure(attention_matrix(qa), out / "03_queries_x_positions.png", scale=1.0)
    save_figure(correspondence_figure(qa), out / "03_query_character.png", scale=1.0)
    attr = attribute_character(model, image, 0, method="saliency")
    save_figure(attribution_figure(attr), out / "04_attribution.png", scale=1.0)
    for path in sorted(out.glob("*.png")):
        print(f"{path}  {path.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
