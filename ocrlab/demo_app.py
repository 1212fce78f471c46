"""The library side of the seminar demo (``app.py``): everything the app does that is not widget
wiring, so it can be tested and reused without Gradio.

- :func:`find_checkpoints` lists the checkpoint folders a presenter can switch between;
  :class:`ModelCache` loads each once; :func:`describe_model` and :func:`attention_sizes` say
  what a loaded one has;
- :func:`load_line_image` applies the demo's upload limits, then :func:`~ocrlab.data.image.load_image`;
  :func:`crop_to_ink` trims a sketch to what was drawn;
- :func:`typed_line` renders the "type text" input; :func:`font_families` lists the fonts for it;
- :func:`read_line` reads one line stage by stage and times each stage in milliseconds;
  :func:`confidence_bands` cuts its text into runs of sure / unsure / doubtful characters.
"""

from __future__ import annotations

import io
import json
import os
import string
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .data.fonts import find_fonts
from .data.image import load_image
from .data.synth import default_renderer
from .data.transforms import prepare_lines
from .errors import DataError
from .models import OCRModel, Recognition
from .models.checkpoint import is_checkpoint

#: Largest image the demo reads, in pixels (width x height). A text line is rarely above 1 MP;
#: the limit is far below PIL's decompression-bomb limit so a huge upload is refused from its
#: header, before it is decoded.
MAX_PIXELS = 25_000_000

#: Largest width (pixels, after scaling to the model's height) a line is read at; longer lines
#: are squeezed (as :meth:`OCRModel.recognize` does).
MAX_WIDTH = 2048

#: The stages :func:`read_line` times, in pipeline order.
STAGES = ("preprocess", "encoder + CTC", "decode", "attention", "LM generate")

DEGRADATION_PRESETS = ("clean", "default", "degraded")
LOOKS = ("document", "scene")

_LATIN = string.printable[:94]  # every printable ASCII character but the space


# -- checkpoints ------------------------------------------------------------------------------


def find_checkpoints(root: str | os.PathLike) -> list[Path]:
    """The checkpoint folders under ``root/models`` and ``root/runs``, sorted.

    Looks at ``models/*``, ``runs/*`` and each run's ``checkpoints/best`` and
    ``checkpoints/last`` (not every ``step-*``: a dropdown of dozens of steps helps nobody on a
    projector). Unreadable or half-written folders are left out, never an error.
    """
    root = Path(root)
    candidates: list[Path] = []
    for top in ("models", "runs"):
        base = root / top
        if not base.is_dir():
            continue
        for d in sorted(base.iterdir()):
            if not d.is_dir() or d.name.startswith("."):
                continue
            candidates.append(d)
            candidates.extend(d / "checkpoints" / name for name in ("best", "last"))
    return [c for c in candidates if is_checkpoint(c)]


class ModelCache:
    """Loads each checkpoint once and keeps the ``max_models`` most recently used in memory.

    Thread-safe: the app serves requests concurrently and two of them may ask for a checkpoint
    that is not loaded yet; the lock makes the second wait for the first's load.
    """

    def __init__(self, max_models: int = 3) -> None:
        self.max_models = max_models
        self._models: OrderedDict[Path, OCRModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, checkpoint: str | os.PathLike) -> OCRModel:
        """The model of ``checkpoint`` (raises :class:`~ocrlab.models.CheckpointError` when the
        folder is not a loadable checkpoint)."""
        key = Path(checkpoint).resolve()
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = OCRModel.from_pretrained(key).eval()
                self._models[key] = model
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
            self._models.move_to_end(key)
            return model


def describe_model(model: OCRModel) -> str:
    """One line about a loaded model: trainable parameters (the frozen LM's not counted),
    charset, Q-Former and LM."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    parts = [f"{n / 1e6:.1f} M trainable parameters", f"charset {model.charset.name!r}"]
    if model.qformer is not None:
        q = model.config.qformer
        parts.append(
            f"Q-Former: {q.num_queries} queries, {q.num_layers} layers, {q.num_heads} heads"
        )
    else:
        parts.append("no Q-Former (CTC only)")
    if model.has_lm:
        n_lm = sum(p.numel() for p in model.lm_bridge.lm.parameters())
        parts.append(f"frozen LM: {n_lm / 1e6:.1f} M parameters")
    return " · ".join(parts)


def lm_quality(checkpoint: str | os.PathLike) -> str:
    """How well the LM-decoding path reads, as measured for this checkpoint: the reading
    diagnostics (``ocrlab eval --reading``) in its ``eval_results.jsonl``, so that the LM box
    is never shown without its quality."""
    path = Path(checkpoint) / "eval_results.jsonl"
    parts = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            reading = row.get("reading")
            if isinstance(reading, dict) and "lm_cer" in reading:
                parts.append(f"{100 * reading['lm_cer']:.0f}% CER on {row.get('data', '?')}")
    if not parts:
        return (
            "LM-decoding quality not measured for this checkpoint (ocrlab eval CHECKPOINT "
            "--data synth:n=500,seed=7 --reading); the CTC text above is the reading"
        )
    return "measured: " + "; ".join(parts) + " (the CTC text above is the model's reading)"


def attention_sizes(model: OCRModel) -> tuple[int, int, int] | None:
    """(queries, cross-attention layers, heads) of the model's Q-Former: the ranges of the
    attention views' controls. None for a CTC-only model."""
    if model.qformer is None:
        return None
    q = model.config.qformer
    return q.num_queries, len(model.qformer.cross_layers), q.num_heads


# -- images -----------------------------------------------------------------------------------


def load_line_image(
    source: Any, *, name: str | None = None, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """:func:`~ocrlab.data.image.load_image` with the demo's size limit checked first.

    For a path or encoded bytes the size is read from the header, so an image above
    ``max_pixels`` is refused before it is decoded. Raises :class:`~ocrlab.errors.DataError`
    naming ``name`` for every bad input (missing, empty, not an image, truncated, too large).
    """
    label = name or ("<bytes>" if isinstance(source, (bytes, bytearray)) else str(source))
    size = _header_size(source)
    if size is not None and size[0] * size[1] > max_pixels:
        w, h = size
        raise DataError(
            f"{label}: image too large ({w}x{h} = {w * h:,} pixels); "
            f"this demo reads images of up to {max_pixels:,} pixels"
        )
    return load_image(source, name=label)


def _header_size(source: Any) -> tuple[int, int] | None:
    """(width, height) from an image's header, without decoding; None when the header cannot be
    read (``load_image`` then says why) or the source is already decoded."""
    if isinstance(source, Image.Image):
        return source.size
    if isinstance(source, np.ndarray):
        return (source.shape[1], source.shape[0]) if source.ndim >= 2 else None
    if isinstance(source, (bytes, bytearray)):
        fp: Any = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        fp = source
    else:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                return img.size
    except Image.DecompressionBombError:
        return None  # load_image names it a decompression bomb
    except Exception:  # not an image, truncated header: load_image gives the message
        return None


def crop_to_ink(image: Image.Image, *, margin: float = 0.15, threshold: int = 200) -> Image.Image:
    """Crop ``image`` (RGB, dark ink on light) to the bounding box of its ink plus ``margin``
    (a fraction of the ink's height) on every side.

    A sketch on a large canvas is mostly empty; read whole, the text would be a few pixels tall
    after scaling to the model's height. Raises DataError when nothing darker than ``threshold``
    (grey level 0-255) is there.
    """
    gray = np.asarray(image.convert("L"))
    ys, xs = np.nonzero(gray < threshold)
    if ys.size == 0:
        raise DataError("the sketch is empty: draw a word first")
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    pad = max(2, round(margin * (y1 - y0)))
    box = (
        max(0, x0 - pad),
        max(0, y0 - pad),
        min(gray.shape[1], x1 + pad),
        min(gray.shape[0], y1 + pad),
    )
    return image.crop(box)


# -- typed text -------------------------------------------------------------------------------


def font_families(text: str = _LATIN, *, include_display: bool = False) -> list[str]:
    """Installed font families with a face that draws every character of ``text`` (default:
    all printable ASCII), sorted; display faces (posters, initials) only with
    ``include_display``. A family name is what :func:`typed_line`'s ``font`` takes."""
    families: set[str] = set()
    for font in find_fonts():
        if not include_display and "display" in font.tags:
            continue
        if font.supports(text):
            families.add(font.family)
    return sorted(families)


def typed_line(
    text: str,
    *,
    font: str | None = None,
    preset: str = "clean",
    look: str = "document",
    seed: int = 0,
) -> Image.Image:
    """Render ``text`` as one synthetic line (RGB) for the "type text" input.

    Args:
        font: a family name from :func:`font_families` (None: the renderer picks one per seed).
        preset: degradations, one of ``DEGRADATION_PRESETS``.
        look: ``"document"`` (ink on paper) or ``"scene"`` (coloured text on photo-like
            backgrounds).
        seed: every other random choice (size, spacing, background, degradations).

    Raises DataError for empty text, control characters, or a font without a glyph for some
    character (naming it).
    """
    if preset not in DEGRADATION_PRESETS:
        raise DataError(
            f"unknown degradation preset {preset!r}; choose {', '.join(DEGRADATION_PRESETS)}"
        )
    if look not in LOOKS:
        raise DataError(f"unknown look {look!r}; choose {', '.join(LOOKS)}")
    renderer = default_renderer(preset)
    return renderer.render(text, int(seed), font=font or None, look=look, crop="line").image


# -- reading, stage by stage ------------------------------------------------------------------


@dataclass
class Reading:
    """One line read by :func:`read_line`.

    image: the RGB line as read (original size).
    recognition: the CTC result (text, confidence, per-character confidences and pixel spans).
    lm_text: the LM-decoded text (None when the checkpoint has no LM or it was not asked for).
    attention: the ``ocrlab.viz`` query attention of the line (None when not computed).
    notes: why a view is missing, e.g. ``{"attention": "this checkpoint has no Q-Former"}``.
    times_ms: stage name -> wall time in milliseconds, in pipeline order (``STAGES``).
    """

    image: Image.Image
    recognition: Recognition
    lm_text: str | None = None
    attention: Any = None
    notes: dict[str, str] = field(default_factory=dict)
    times_ms: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(times: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        times[stage] = (time.perf_counter() - start) * 1000.0


def read_line(
    model: OCRModel,
    image: Image.Image,
    *,
    attention: bool = True,
    lm: bool = True,
    max_width: int = MAX_WIDTH,
    decoder: str | None = None,
) -> Reading:
    """Read one RGB line with ``model`` and time each stage (``STAGES``) with ``perf_counter``.

    preprocess: grayscale, resize to the model's height, normalize, pad (``LineTransform`` +
    ``Collate``). encoder + CTC: the forward pass to CTC logits. decode: CTC decoding (greedy, or
    ``decoder``, e.g. ``"beam"``: :func:`ocrlab.models.ctc.make_decoder`) and the characters'
    pixel spans. attention: ``ocrlab.viz.query_attention`` (its own forward pass
    with attention maps). LM generate: ``OCRModel.generate_text`` (encoder, Q-Former and the
    LM's greedy decoding). A stage that does not apply (no Q-Former, no LM, not asked for) is
    left out of ``times_ms`` and, when the checkpoint lacks it, explained in ``notes``.
    """
    times: dict[str, float] = {}
    notes: dict[str, str] = {}
    model.eval()
    device = next(model.parameters()).device
    with torch.inference_mode():
        with _timed(times, "preprocess"):
            line = prepare_lines([image], height=model.config.encoder.height, max_width=max_width)
            ((_, batch),) = line.batches()
            images, widths = batch.images.to(device), batch.widths.to(device)  # (1, 1, 32, W), (1,)
        with _timed(times, "encoder + CTC"):
            out = model(images, widths)
        with _timed(times, "decode"):
            dec = model.decode(out.ctc_logits, out.lengths, decoder)[0]
            recognition = Recognition.from_decoded(dec, model.encoder.output_stride, line.scale(0))
    qa = None
    if attention:
        if model.qformer is None:
            notes["attention"] = "this checkpoint has no Q-Former: no query attention to show"
        else:
            try:
                from .viz import query_attention
            except ImportError as exc:  # the optional `viz` extra (plotly, captum) is missing
                notes["attention"] = f"attention views need ocrlab.viz ({exc})"
            else:
                with _timed(times, "attention"):
                    qa = query_attention(model, image)
    lm_text = None
    if lm:
        if not model.has_lm:
            notes["LM generate"] = "this checkpoint has no LM: only the CTC path reads"
        else:
            with _timed(times, "LM generate"):
                lm_text = model.generate_text(images, widths)[0]
    return Reading(image, recognition, lm_text, qa, notes, times)


def confidence_bands(
    recognition: Recognition,
    bands: Sequence[tuple[float, str | None]] = ((0.9, None), (0.5, "unsure"), (0.0, "doubtful")),
) -> list[tuple[str, str | None]]:
    """The recognized text cut into runs of characters whose confidence falls in the same band.

    ``bands`` are (lower bound, label) from the highest bound down; a character takes the label
    of the first band its confidence reaches. Adjacent characters of one band are merged, so
    the result suits a highlighted-text view: ``[("Hel", None), ("l", "unsure"), ("o", None)]``.
    """
    runs: list[tuple[str, str | None]] = []
    for ch, conf in zip(recognition.text, recognition.char_confidences, strict=False):
        label = next((lab for lo, lab in bands if conf >= lo), bands[-1][1])
        if runs and runs[-1][1] == label:
            runs[-1] = (runs[-1][0] + ch, label)
        else:
            runs.append((ch, label))
    return runs
