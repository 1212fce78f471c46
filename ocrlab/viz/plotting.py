"""The plotly pieces every figure module of ``ocrlab.viz`` shares: the lazy plotly import, the
default width and font, titles whose subtitles wrap to the figure's width, text escaping for
plotly's HTML-subset labels, a line image as a background layer, rounding that keeps the HTML
small, and :func:`save_figure` (HTML, or PNG/SVG/PDF through kaleido and a Chromium).
"""

from __future__ import annotations

import base64
import io
import math
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image as PILImage

from ..errors import OcrlabError
from ..files import write_bytes

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from PIL import Image

__all__ = [
    "FONT",
    "WIDTH",
    "escape_html",
    "image_background",
    "make_subplots",
    "make_title",
    "plotly_go",
    "quoted",
    "round_weights",
    "save_figure",
    "title_margin",
]

WIDTH = 1100  # px, every figure's default width
FONT = {"family": "DejaVu Sans, Arial, sans-serif", "size": 13}
_IMAGE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "webp")
_CHROMIUM = "/usr/bin/chromium"


def log_ticks(lo: float, hi: float, pad: float = 1.5) -> list[float]:
    """1-2-5 ticks for a log axis over [lo, hi] (just the powers of ten over more than three
    decades), kept within a factor ``pad`` of the range, so the axis reads as plain numbers
    instead of plotly's crowded minor digits. ``lo`` and ``hi`` must be positive."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    mantissas = (1, 2, 5) if last - first <= 3 else (1,)
    ticks = [m * 10.0**e for e in range(first, last + 1) for m in mantissas]
    return [t for t in ticks if lo / pad <= t <= hi * pad] or ticks


def plotly_go():
    """``plotly.graph_objects``, or an error that names the extra to install."""
    try:
        import plotly.graph_objects as go
    except ImportError:  # pragma: no cover - plotly is in ocrlab[viz]
        raise OcrlabError("the figures need plotly: pip install 'ocrlab[viz]'") from None
    return go


def make_subplots(**kw):
    """``plotly.subplots.make_subplots`` (imported when first used)."""
    from plotly.subplots import make_subplots as make

    return make(**kw)


def _image_uri(image: Image.Image, max_width: int = 1600) -> str:
    """The image as a PNG data URI, shrunk to at most ``max_width`` pixels wide (it is only a
    background: the axes keep the original pixel coordinates)."""
    if image.width > max_width:
        h = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, h), PILImage.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_background(image: Image.Image, xref: str = "x", yref: str = "y") -> dict:
    """``image`` as a plotly layout image below the data, over ``[0, W] x [0, H]`` of the axes
    ``xref``/``yref`` (the original pixel coordinates, y down)."""
    w, h = image.size
    return {
        "source": _image_uri(image),
        "xref": xref,
        "yref": yref,
        "x": 0,
        "y": 0,
        "sizex": w,
        "sizey": h,
        "sizing": "stretch",
        "layer": "below",
        "xanchor": "left",
        "yanchor": "top",
    }


def make_title(text: str, subtitle: str | None = None, *, width: int = WIDTH) -> dict:
    """A left-aligned title; the subtitle's " · "-separated parts are wrapped onto lines that
    fit ``width`` pixels (plotly does not wrap text itself)."""
    title: dict = {"text": text, "x": 0.01, "xanchor": "left"}
    if subtitle:
        title["subtitle"] = {"text": _wrap(subtitle, max(40, int(width / 7.2)))}
    return title


def title_margin(title: dict, extra: int = 0) -> int:
    """The top margin that holds ``title`` (and its wrapped subtitle) above the plots."""
    sub = title.get("subtitle", {}).get("text", "")
    return 70 + 17 * (sub.count("<br>") + 1 if sub else 0) + extra


def _wrap(text: str, chars: int) -> str:
    lines: list[str] = []
    for part in text.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= chars:
            lines[-1] += " · " + part
        else:  # a part wider than a line (a skip's reason) breaks at its spaces
            wrapped = textwrap.wrap(part, chars, break_long_words=False, break_on_hyphens=False)
            lines.extend(wrapped or [part])
    return "<br>".join(lines)


def escape_html(text: str) -> str:
    """Recognized text as plotly shows it: its labels are a subset of HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoted(text: str, limit: int = 80) -> str:
    """``repr(text)`` cut to ``limit`` characters and escaped, or "nothing" for an empty text."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return escape_html(repr(shown)) if shown else "nothing"


def round_weights(a: np.ndarray) -> list:
    """Fewer digits in the HTML: 4 significant decimals are plenty for an attention weight."""
    return np.round(a.astype(np.float64), 5).tolist()


# -- export ----------------------------------------------------------------------------------------


def _ensure_browser() -> None:
    """kaleido >= 1 renders through a Chrome/Chromium found by choreographer, which honours
    the ``BROWSER_PATH`` environment variable before searching ``PATH`` for chrome, chromium
    and the like. Point it at Debian's Chromium when nothing else was chosen."""
    if not os.environ.get("BROWSER_PATH") and os.path.exists(_CHROMIUM):
        os.environ["BROWSER_PATH"] = _CHROMIUM


def save_figure(
    fig: go.Figure,
    path: str | os.PathLike,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float = 2.0,
) -> Path:
    """Write ``fig`` to ``path``, format from the suffix: ``.html`` is standalone (plotly.js
    inlined, works offline); ``.png``/``.svg``/``.pdf``/``.jpg``/``.webp`` go through kaleido
    (needs a Chrome/Chromium; Debian's ``/usr/bin/chromium`` is used when ``BROWSER_PATH`` is
    unset). ``width``/``height`` default to the figure's own, ``scale`` multiplies raster
    resolution. The file is written atomically (temp file + rename). Returns the path."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt in ("html", "htm"):
        data = fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")
    elif fmt in _IMAGE_FORMATS:
        _ensure_browser()
        try:
            data = fig.to_image(
                format="jpeg" if fmt == "jpg" else fmt, width=width, height=height, scale=scale
            )
        except Exception as exc:  # kaleido / choreographer raise many kinds
            raise OcrlabError(
                f"cannot export {path.name}: {type(exc).__name__}: {exc}. Static export needs "
                "kaleido>=1 and a Chrome/Chromium (Debian: apt install chromium; or set "
                "BROWSER_PATH); .html export needs neither."
            ) from exc
    else:
        raise OcrlabError(
            f"cannot save a figure as {path.name!r}: use .html, "
            + ", ".join(f".{f}" for f in _IMAGE_FORMATS)
        )
    return write_bytes(path, data)
