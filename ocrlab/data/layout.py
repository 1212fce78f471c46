"""Glyph-by-glyph text layout for the renderer: a line's ink mask and each character's box.

Glyph masks come from a process-wide cache (one FreeType call per font, size and character), so
laying out a line costs no FreeType call once the cache is warm. Kerning is the font's own, as
HarfBuzz applies it (Pillow's Raqm layout, asked once per letter pair at one em size and
scaled); ligatures are the font's ff, fi, fl, ffi and ffl glyphs at the Unicode presentation
forms. :func:`layout_text` is the one entry point; ``ocrlab.data.synth`` draws what it returns.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from ocrlab.data.fonts import Font
from ocrlab.errors import DataError

__all__ = ["GlyphLayout", "layout_text"]


@lru_cache(maxsize=1024)
def _pil_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: glyphs are placed one by one here, so shaping buys nothing and costs time.
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


# Ligature glyphs a font may map at the Unicode presentation forms; longest match first.
_LIGATURES = (
    ("ffi", "\ufb03"),
    ("ffl", "\ufb04"),
    ("ff", "\ufb00"),
    ("fi", "\ufb01"),
    ("fl", "\ufb02"),
)
# Kerning is read at this em size and scaled: one cache entry per (font, pair), for all sizes.
# Raqm (HarfBuzz) applies GPOS kerning, where modern fonts keep it; Pillow's basic layout, the
# fallback where Pillow was built without Raqm, reads only the old ``kern`` table.
_KERN_EM = 200
_RAQM = features.check_feature("raqm")
_KERN_FEATURES = ["kern", "-liga", "-clig", "-calt", "-dlig"] if _RAQM else None
_KERNS: dict[str, dict[str, float]] = {}  # font path -> letter pair -> kerning in em
_KERN_ADV: dict[tuple[str, str], float] = {}
_KERN_CACHE_MAX = 300_000  # pairs over all fonts (tens of MB); then the cache starts over
_kern_count = 0


@lru_cache(maxsize=512)
def _shaping_font(path: str) -> ImageFont.FreeTypeFont:
    engine = ImageFont.Layout.RAQM if _RAQM else ImageFont.Layout.BASIC
    return ImageFont.truetype(path, _KERN_EM, layout_engine=engine)


def _kern_table(path: str) -> dict[str, float]:
    """The cache of kerning pairs for one font (filled by ``_kern``); one dict per font keeps
    the per-letter lookup in ``_layout`` a single ``dict.get``."""
    table = _KERNS.get(path)
    if table is None:
        table = _KERNS[path] = {}
    return table


def _kern(path: str, table: dict[str, float], pair: str) -> float:
    """The font's kerning between the two letters of ``pair`` in em (negative: closer), as
    HarfBuzz applies it (GPOS pair adjustments and the old ``kern`` table), ligatures and
    alternates off; stored in ``table``. Pairs with a space are not kerned."""
    global _kern_count
    if pair[0].isspace() or pair[1].isspace():
        k = 0.0
    else:
        font = _shaping_font(path)
        adv = 0.0
        for ch in pair:
            v = _KERN_ADV.get((path, ch))
            if v is None:
                v = _KERN_ADV[(path, ch)] = font.getlength(ch, features=_KERN_FEATURES)
            adv += v
        k = (font.getlength(pair, features=_KERN_FEATURES) - adv) / _KERN_EM
    if _kern_count >= _KERN_CACHE_MAX:
        for t in _KERNS.values():  # emptied in place: callers may hold a table
            t.clear()
        _KERN_ADV.clear()
        _kern_count = 0
    table[pair] = k
    _kern_count += 1
    return k


_Glyph = tuple["np.ndarray | None", int, int, float]  # mask (h, w) uint8, dx, dy, advance px
_GLYPHS: dict[tuple[str, int, str], _Glyph] = {}
_GLYPH_CACHE_MAX = 300_000


def _glyph(font: Font, size: int, ch: str) -> _Glyph:
    key = (str(font.path), size, ch)
    g = _GLYPHS.get(key)
    if g is not None:
        return g
    pil = _pil_font(key[0], size)
    if ch.isspace() and ord(ch) not in font.codepoints():
        # A space the font lacks (e.g. U+3000 in a Latin face) is a gap, not tofu.
        adv = pil.getlength(" ") * (2.0 if unicodedata.east_asian_width(ch) in "WF" else 1.0)
        g = (None, 0, 0, adv)
    else:
        core, (dx, dy) = pil.getmask2(ch, mode="L", anchor="ls")
        w, h = core.size
        mask = None
        if w > 0 and h > 0:
            try:  # the fast route to pixels; the fallback is the public, slower one
                mask = np.asarray(Image.Image()._new(core))
            except AttributeError:  # pragma: no cover - depends on Pillow internals
                im = Image.new("L", (w, h))
                ImageDraw.Draw(im).text((-dx, -dy), ch, fill=255, font=pil, anchor="ls")
                mask = np.asarray(im)
            if not mask.any():
                mask = None
        g = (mask, dx, dy, pil.getlength(ch))
    if len(_GLYPHS) >= _GLYPH_CACHE_MAX:
        _GLYPHS.clear()
    _GLYPHS[key] = g
    return g


@dataclass
class GlyphLayout:
    mask: np.ndarray  # (H, W) uint8 ink alpha
    x0: np.ndarray  # (n,) float advance-box left edge of each char
    x1: np.ndarray  # (n,) float advance-box right edge
    ink: tuple[int, int, int, int]  # ink bbox (x0, y0, x1, y1), x1/y1 exclusive
    line: tuple[int, int]  # line box rows (top = baseline - ascent, bottom = baseline + descent)
    mid_y: float  # mid-line row, where boxes are measured after geometry


def _units(text: str, font: Font) -> list[tuple[str, int]]:
    """``text`` as (glyph character, letters it draws): ligature glyphs for ff, fi, fl, ffi,
    ffl where the font maps the presentation form, one letter per glyph elsewhere."""
    cmap = font.codepoints()
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(text):
        for seq, lig in _LIGATURES:
            if text.startswith(seq, i) and ord(lig) in cmap:
                out.append((lig, len(seq)))
                i += len(seq)
                break
        else:
            out.append((text[i], 1))
            i += 1
    return out


def layout_text(
    text: str,
    font: Font,
    size: int,
    spacing_px: float,
    bold: int,
    *,
    kerning: bool = False,
    ligatures: bool = False,
    word_space: float = 1.0,
) -> GlyphLayout:
    """Place ``text`` glyph by glyph: advance + letter spacing, the font's kerning between
    letters (``kerning``), ligature glyphs (``ligatures``), word gaps times ``word_space``."""
    path = str(font.path)
    pil = _pil_font(path, size)
    ascent, descent = pil.getmetrics()
    if ligatures and ("ff" in text or "fi" in text or "fl" in text):
        units = _units(text, font)
    else:
        units = [(ch, 1) for ch in text]
    glyphs = [_glyph(font, size, ch) for ch, _ in units]
    kerns = [0.0] * len(units)
    if kerning:
        table = _kern_table(path)
        start = units[0][1]
        for k in range(1, len(units)):
            # between the last letter before this glyph and its first letter
            pair = text[start - 1 : start + 1]
            v = table.get(pair)
            kerns[k] = (_kern(path, table, pair) if v is None else v) * size
            start += units[k][1]
    gaps = [
        (word_space - 1.0) * g[3] if ch.isspace() else 0.0
        for (ch, _), g in zip(units, glyphs, strict=True)
    ]
    pad = size // 2 + bold + 2
    total = sum(g[3] for g in glyphs) + sum(kerns) + sum(gaps)
    total += spacing_px * max(0, len(units) - 1)
    width = math.ceil(max(total, 0.0)) + 2 * pad + size
    height = ascent + descent + 2 * pad
    base = pad + ascent
    canvas = np.zeros((height, width), np.uint8)
    n = len(text)
    x0 = np.empty(n)
    x1 = np.empty(n)
    ix0, iy0, ix1, iy1 = width, height, 0, 0
    pen = float(pad)
    i = 0
    for (_, count), (mask, dx, dy, adv), kern, gap in zip(units, glyphs, kerns, gaps, strict=True):
        pen += kern
        adv += gap
        if count == 1:
            x0[i] = pen
            x1[i] = pen + adv
        else:  # a ligature's letters share its advance in proportion to their own
            own = [_glyph(font, size, c)[3] for c in text[i : i + count]]
            edges = pen + adv * np.cumsum([0.0, *own]) / max(sum(own), 1e-6)
            x0[i : i + count] = edges[:-1]
            x1[i : i + count] = edges[1:]
        i += count
        if mask is not None:
            gx, gy = round(pen) + dx, base + dy
            h, w = mask.shape
            # Clip to the canvas: accents above the ascent or long descenders stay in the pad
            # unless a font overshoots wildly.
            cx0, cy0 = max(gx, 0), max(gy, 0)
            cx1, cy1 = min(gx + w, width), min(gy + h, height)
            if cx1 > cx0 and cy1 > cy0:
                sub = mask[cy0 - gy : cy1 - gy, cx0 - gx : cx1 - gx]
                dst = canvas[cy0:cy1, cx0:cx1]
                np.maximum(dst, sub, out=dst)
                ix0, iy0, ix1, iy1 = min(ix0, cx0), min(iy0, cy0), max(ix1, cx1), max(iy1, cy1)
        pen += adv + spacing_px
    if ix1 <= ix0:
        raise DataError(f"text {text!r} renders no visible ink in font {font.name}")
    for _ in range(bold):  # faux bold: smear each stroke one pixel to the right per step
        np.maximum(canvas[:, 1:], canvas[:, :-1], out=canvas[:, 1:])
    ix1 = min(width, ix1 + bold)
    return GlyphLayout(
        canvas,
        x0,
        x1 + bold,
        (ix0, iy0, ix1, iy1),
        (base - ascent, base + descent),
        base - ascent * 0.35,
    )
