"""What ``make demo`` shows until the Gradio app exists: the synthetic data, at a glance."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..errors import DataError
from .sheet import contact_sheet


def synth_showcase(out: str | Path, *, per_section: int = 9, seed: int = 2026) -> Path:
    """Write one PNG with a section per synthetic preset (clean document lines, the default mix
    of document lines and scene-text words, heavy degradations) and Japanese when a CJK font is
    installed. Returns the path written."""
    from .synth_io import synth_dataset

    sections = [
        ("clean", "preset=clean: document print and scene-text looks, no degradations"),
        ("default", "preset=default: the training mix of lines and word crops, mild degradations"),
        ("degraded", "preset=degraded: heavy blur, noise, occlusion, warps"),
    ]
    sheets = []
    for k, (preset, title) in enumerate(sections):
        dataset = synth_dataset(n=per_section, seed=seed + k, preset=preset)
        items = [(s.image, s.text) for s in (dataset[i] for i in range(len(dataset)))]
        sheets.append(contact_sheet(items, title=title))
    try:
        dataset = synth_dataset(n=3, seed=seed, preset="clean", text="wordfreq:ja,max_chars=14")
        items = [(s.image, s.text) for s in (dataset[i] for i in range(len(dataset)))]
        sheets.append(contact_sheet(items, title="Japanese (fonts-noto-cjk)"))
    except DataError as exc:  # no CJK font on this machine: the rest of the demo still stands
        print(f"(Japanese section left out: {exc})")
    width = max(s.width for s in sheets)
    canvas = Image.new("RGB", (width, sum(s.height for s in sheets)), "white")
    y = 0
    for sheet in sheets:
        canvas.paste(sheet, (0, y))
        y += sheet.height
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out
