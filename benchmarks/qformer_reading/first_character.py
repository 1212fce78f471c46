"""What reads the first character? ``ocrlab.reading.first_character_survey`` over rendered
scene words (their glyph boxes are known), plus one example line; prints and writes JSON.

    .venv/bin/python benchmarks/qformer_reading/first_character.py CHECKPOINT \
        [--data synth:n=200,seed=12,preset=scene] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ocrlab.data.specs import open_dataset
from ocrlab.data.synth import default_renderer
from ocrlab.machine import machine_info
from ocrlab.models import OCRModel
from ocrlab.reading import first_character_survey
from ocrlab.viz import query_attention


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--data", default="synth:n=200,seed=12,preset=scene")
    ap.add_argument("--example", default="Hello seminar 2026", help="a line to show in full")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    model = OCRModel.from_pretrained(args.checkpoint)
    ds = open_dataset(args.data)
    survey = first_character_survey(model, [ds.render(i) for i in range(len(ds))])
    print(survey.summary())
    rendered = default_renderer().render(args.example, seed=0, look="document", degrade=False)
    qa = query_attention(model, rendered.image)
    example = str(qa.character(0, glyph_box=rendered.char_boxes[0])) if qa.text else None
    print(f"example {args.example!r} read {qa.text!r}: {example}")
    report = {
        "command": "python benchmarks/qformer_reading/first_character.py "
        + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "checkpoint": args.checkpoint,
        "data": args.data,
        "survey": survey.as_dict(),
        "example": {"text": args.example, "read": qa.text, "first_character": example},
        "machine": machine_info("torch", "transformers"),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
