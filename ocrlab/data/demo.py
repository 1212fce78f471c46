"""What ``make demo`` shows until the Gradio app exists: the synthetic data, at a glance."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import DataError
from .sheet import contact_sheet
from .specs import synth_dataset
from .synth import Degradations, Renderer, SynthConfig

# One renderer setting per effect that makes synthetic scenes and print closer to real ones,
# each forced on over the clean preset so it can be checked by eye on its own:
# (name, SynthConfig overrides, Degradations overrides, texts).
_SCENE_WORDS = ("Welcome", "PARKING", "Coffee", "STATION", "Bakery", "EXIT 24")
_PRINT_LINES = (
    "efficient office staff affirm the first flight",
    "AVAILABLE: WAVE, Type, To Yours, LATTE",
    "surveys the techniques used for finding",
)
EFFECTS: tuple[tuple[str, dict[str, Any], dict[str, Any], tuple[str, ...]], ...] = (
    ("curved baseline", {"p_scene": 1.0, "p_curve": 1.0}, {}, _SCENE_WORDS),
    ("natural texture", {"p_scene": 1.0, "scene_backgrounds": {"texture": 1.0}}, {}, _SCENE_WORDS),
    (
        "rotation + perspective",
        {"p_scene": 1.0},
        {"p_rotate": 1.0, "rotate_deg": 10.0, "p_perspective": 1.0, "perspective": 0.3},
        _SCENE_WORDS,
    ),
    (
        "small, blurred, JPEG",
        {"p_scene": 1.0},
        {"p_lowres": 1.0, "p_lowres_jpeg": 1.0, "p_blur": 1.0, "jpeg_quality": (30, 60)},
        _SCENE_WORDS,
    ),
    ("low contrast", {"p_scene": 0.5}, {"p_low_contrast": 1.0}, _SCENE_WORDS),
    ("partial occlusion", {"p_scene": 1.0}, {"p_occlusion": 1.0}, _SCENE_WORDS),
    ("handwriting faces", {"p_scene": 1.0, "font_filter": ("handwriting",)}, {}, _SCENE_WORDS),
    (
        "display and condensed faces",
        {"p_scene": 1.0, "font_filter": ("display",)},
        {},
        _SCENE_WORDS,
    ),
    (
        "print: kerning + ligatures",
        {"p_scene": 0.0, "crop": "line", "p_kerning": 1.0, "p_ligatures": 1.0},
        {},
        _PRINT_LINES,
    ),
    (
        "print: wide word spacing",
        {"p_scene": 0.0, "crop": "line", "p_word_spacing": 1.0, "word_spacing_range": (1.8, 2.6)},
        {},
        _PRINT_LINES,
    ),
)


def effect_sheet(
    name: str,
    overrides: dict[str, Any],
    degrade: dict[str, Any],
    texts: tuple[str, ...],
    *,
    n: int = 3,
    seed: int = 2026,
) -> Image.Image:
    """A contact sheet of ``n`` samples with one renderer effect forced on (see ``EFFECTS``)."""
    config = SynthConfig.preset("clean", **overrides)
    config.degrade = replace(Degradations.preset("none"), **degrade)
    renderer = Renderer(config)
    items = [
        (renderer.render(texts[i % len(texts)], [seed, i]).image, texts[i % len(texts)])
        for i in range(n)
    ]
    return contact_sheet(items, title=f"effect: {name}")


def synth_showcase(out: str | Path, *, per_section: int = 9, seed: int = 2026) -> Path:
    """Write one PNG with a section per synthetic preset (clean document lines, the default mix
    of document lines and scene-text words, heavy degradations, camera-like scene words), one
    per renderer effect (``EFFECTS``), and Japanese when a CJK font is installed. Returns the
    path written."""
    sections = [
        ("clean", "preset=clean: document print and scene-text looks, no degradations"),
        ("default", "preset=default: the training mix of lines and word crops, mild degradations"),
        ("degraded", "preset=degraded: heavy blur, noise, occlusion, warps"),
        ("scene", "preset=scene: words as cameras see them (curves, textures, tilt, small JPEG)"),
    ]
    sheets = []
    for k, (preset, title) in enumerate(sections):
        dataset = synth_dataset(n=per_section, seed=seed + k, preset=preset)
        items = [(s.image, s.text) for s in (dataset[i] for i in range(len(dataset)))]
        sheets.append(contact_sheet(items, title=title))
    sheets += [effect_sheet(*effect, seed=seed) for effect in EFFECTS]
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
