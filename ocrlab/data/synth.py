"""Synthetic text-line images: document print and scene-text-like words, with degradations.

The renderer is PIL + numpy only and built for throughput (>= 500 lines/s per process):

- text is laid out glyph by glyph from a cache of glyph masks (``ocrlab.data.layout``), which
  gives exact per-character boxes, free letter spacing, and no per-line FreeType call once the
  cache is warm;
- every geometric change (rotation, shear, perspective) is one homography applied once to the
  single-channel ink mask, cropped straight into the output window; a curved baseline is one
  piecewise-bilinear mesh warp of the same mask before it (``ocrlab.data.geometry``);
- kerning and ligatures come from the font itself (HarfBuzz via Pillow's Raqm layout, asked once
  per letter pair and cached), so the glyph-by-glyph layout keeps its speed and exact boxes;
- backgrounds are random windows of texture banks generated once per process (procedural
  natural surfaces in ``ocrlab.data.textures``);
- the document look is composed in grayscale and tinted to colour with one lookup table.

Determinism: ``Renderer.render(text, seed)`` draws every choice from
``numpy.random.default_rng(seed)``, so the same (text, seed, config, installed fonts) gives the
same pixels in any process.
"""

from __future__ import annotations

import io
import math
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ocrlab.data.fonts import Font, find_fonts, font_from_file
from ocrlab.data.geometry import bend_window, crop_pad, warp_window
from ocrlab.data.layout import layout_text
from ocrlab.data.textures import natural_bank, noise_bank, paper_bank, photo_bank
from ocrlab.errors import DataError

LOOKS = ("document", "scene")
CROPS = ("line", "word", "mixed")
BACKGROUNDS = ("flat", "gradient", "noise", "paper", "photo", "texture")

# ----------------------------------------------------------------------------------------------
# configuration


@dataclass
class Degradations:
    """Image degradations, each applied independently with probability ``p_*``.

    Units: ``blur_sigma`` px (Gaussian std); ``noise_sigma`` grey levels (0-255);
    ``jpeg_quality`` PIL quality; ``rotate_deg`` max |angle| in degrees; ``shear`` max |tan| of
    the slant; ``perspective`` max corner displacement as a fraction of the text height;
    ``lowres_scale`` the downscale factor before scaling back up (never below a 9 px em, where
    no reader could tell the letters apart); ``p_lowres_jpeg`` the chance
    that a low-resolution image is JPEG-compressed while small (a small camera crop blown up:
    8 x 8 blocks become 8/scale px); ``occlusion_frac`` the share of the width (side occluders)
    or height (top/bottom bands) that is covered; ``contrast_range`` the factor the whole
    image's contrast is multiplied by (haze, glare, faded print), around a random brightness.
    """

    p_blur: float = 0.25
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    p_noise: float = 0.25
    noise_sigma: tuple[float, float] = (2.0, 12.0)
    p_jpeg: float = 0.25
    jpeg_quality: tuple[int, int] = (30, 90)
    p_rotate: float = 0.2
    rotate_deg: float = 3.0
    p_shear: float = 0.1
    shear: float = 0.25
    p_perspective: float = 0.1
    perspective: float = 0.15
    p_lowres: float = 0.15
    lowres_scale: tuple[float, float] = (0.4, 0.8)
    p_lowres_jpeg: float = 0.3
    p_lines: float = 0.1
    p_occlusion: float = 0.05
    occlusion_frac: tuple[float, float] = (0.05, 0.2)
    p_low_contrast: float = 0.05
    contrast_range: tuple[float, float] = (0.3, 0.6)

    @classmethod
    def preset(cls, name: str) -> Degradations:
        """``"none"``/``"clean"`` (all off), ``"default"``, ``"scene"`` (camera words: stronger
        rotation and perspective, small blurry JPEG crops, occlusion, low contrast), or
        ``"degraded"`` (heavy)."""
        if name in ("none", "clean"):
            return cls(**{f.name: 0.0 for f in fields(cls) if f.name.startswith("p_")})
        if name == "default":
            return cls()
        if name == "scene":
            # incidental scene words (ICDAR 2015 style) are tilted, seen at an angle, small
            # and compressed far more often than printed lines
            return cls(
                p_blur=0.3,
                p_rotate=0.35,
                rotate_deg=10.0,
                p_shear=0.2,
                shear=0.3,
                p_perspective=0.3,
                perspective=0.3,
                p_lowres=0.3,
                lowres_scale=(0.35, 0.8),
                p_lowres_jpeg=0.5,
                p_occlusion=0.12,
                p_low_contrast=0.15,
            )
        if name == "degraded":
            return cls(
                p_blur=0.6,
                blur_sigma=(0.5, 2.0),
                p_noise=0.5,
                noise_sigma=(5.0, 25.0),
                p_jpeg=0.5,
                jpeg_quality=(10, 60),
                p_rotate=0.4,
                rotate_deg=5.0,
                p_shear=0.25,
                shear=0.35,
                p_perspective=0.3,
                perspective=0.25,
                p_lowres=0.4,
                lowres_scale=(0.25, 0.6),
                p_lowres_jpeg=0.5,
                p_lines=0.3,
                p_occlusion=0.3,
                occlusion_frac=(0.1, 0.3),
                p_low_contrast=0.25,
                contrast_range=(0.25, 0.5),
            )
        raise ValueError(
            f"unknown degradation preset {name!r}; choose none, default, scene or degraded"
        )


@dataclass
class SynthConfig:
    """Every knob of the renderer; probabilities are per rendered image.

    Sizes are in pixels of the rendered image (before any model-side resize): ``size_range`` is
    the font em size, drawn on a grid of ``size_step`` so glyph caches stay warm. Letter spacing
    is in em. Colours are grey levels 0-255; ``min_contrast`` is the least luminance difference
    between a scene text fill and the mean of its background.
    Background dicts map a kind in ``BACKGROUNDS`` to its relative weight ("texture": natural
    surfaces such as brick, wood, foliage, stone, sky).

    Typesetting: ``p_kerning`` uses the font's own pair kerning, ``p_ligatures`` draws ff, fi,
    fl, ffi, ffl as the font's ligature glyphs where it has them (the label keeps the plain
    letters), ``p_word_spacing`` multiplies every word gap of the line by one factor from
    ``word_spacing_range`` (justified print). ``p_curve`` (scene look) sets the text on a
    circular arc spanning ``curve_deg`` degrees, arched or sagging, flattened where a long line
    would otherwise bow by more than ``curve_max_sag`` em.
    """

    p_scene: float = 0.35
    crop: str = "mixed"
    p_word: float = 0.35
    size_range: tuple[int, int] = (22, 40)
    size_step: int = 4
    p_spacing: float = 0.25
    spacing_range: tuple[float, float] = (-0.04, 0.25)
    p_kerning: float = 0.7
    p_ligatures: float = 0.5
    p_word_spacing: float = 0.25
    word_spacing_range: tuple[float, float] = (0.75, 2.5)
    # document look: dark ink on light paper
    doc_ink: tuple[int, int] = (0, 80)
    doc_paper: tuple[int, int] = (195, 255)
    p_color_ink: float = 0.12
    doc_backgrounds: dict[str, float] = field(
        default_factory=lambda: {"flat": 0.3, "gradient": 0.15, "noise": 0.15, "paper": 0.4}
    )
    p_doc_bold: float = 0.05
    p_doc_condensed: float = 0.08
    # scene look: coloured, stylised text on textured or photo-like backgrounds
    min_contrast: int = 70
    scene_backgrounds: dict[str, float] = field(
        default_factory=lambda: {
            "flat": 0.15,
            "gradient": 0.2,
            "noise": 0.05,
            "paper": 0.05,
            "photo": 0.45,
            "texture": 0.1,
        }
    )
    p_outline: float = 0.3
    outline_width: tuple[int, int] = (1, 3)
    p_shadow: float = 0.3
    shadow_offset: tuple[int, int] = (1, 4)
    p_emboss: float = 0.1
    p_fill_gradient: float = 0.2
    p_bold: float = 0.25
    bold_width: tuple[int, int] = (1, 2)
    p_condensed: float = 0.3
    condensed_range: tuple[float, float] = (0.6, 0.92)
    display_weight: float = 3.0
    p_curve: float = 0.03
    curve_deg: tuple[float, float] = (20.0, 120.0)
    curve_max_sag: float = 1.5
    # degradations and fonts
    degrade: Degradations = field(default_factory=Degradations)
    font_dirs: tuple[str, ...] = ()
    include_system_fonts: bool = True
    font_filter: tuple[str, ...] = ()
    texture_seed: int = 0

    def __post_init__(self) -> None:
        # YAML gives lists and nested dicts; keep the types the renderer relies on.
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                setattr(self, f.name, tuple(v))
        if isinstance(self.degrade, dict):
            self.degrade = Degradations(**self.degrade)
        for f in fields(self.degrade):
            v = getattr(self.degrade, f.name)
            if isinstance(v, list):
                setattr(self.degrade, f.name, tuple(v))
        if self.crop not in CROPS:
            raise ValueError(f"SynthConfig.crop must be one of {CROPS}, got {self.crop!r}")
        for name in ("doc_backgrounds", "scene_backgrounds"):
            weights = getattr(self, name)
            bad = set(weights) - set(BACKGROUNDS)
            if bad or not weights or sum(weights.values()) <= 0:
                raise ValueError(
                    f"SynthConfig.{name} needs positive weights over {BACKGROUNDS}, got {weights}"
                )
        if self.size_range[0] < 4 or self.size_range[1] < self.size_range[0]:
            raise ValueError(
                f"SynthConfig.size_range must be (min>=4, max>=min): {self.size_range}"
            )

    @classmethod
    def preset(cls, name: str = "default", **overrides: Any) -> SynthConfig:
        """``"clean"`` (no degradations), ``"default"``, ``"degraded"`` (heavy degradations),
        ``"scene"`` (word crops, mostly scene look: curved words, natural textures, the
        ``"scene"`` degradations)."""
        if name == "clean":
            base = cls(degrade=Degradations.preset("none"))
        elif name == "default":
            base = cls()
        elif name == "degraded":
            base = cls(degrade=Degradations.preset("degraded"))
        elif name == "scene":
            # tight crops of single words, mostly in the scene look (signage, posters, shop
            # fronts): what scene-text benchmarks such as IIIT5K show
            base = cls(
                p_scene=0.8,
                crop="word",
                p_ligatures=0.15,
                p_curve=0.15,
                scene_backgrounds={
                    "flat": 0.12,
                    "gradient": 0.13,
                    "noise": 0.05,
                    "paper": 0.05,
                    "photo": 0.35,
                    "texture": 0.3,
                },
                degrade=Degradations.preset("scene"),
            )
        else:
            raise ValueError(
                f"unknown SynthConfig preset {name!r}; choose clean, default, degraded, scene"
            )
        return replace(base, **overrides) if overrides else base


# ----------------------------------------------------------------------------------------------
# results and random draws


@dataclass
class RenderResult:
    """One rendered sample.

    ``image``: mode "RGB", size (W, H) px. ``char_boxes[i] = (x0, x1)``: the pixel columns of
    ``text[i]``'s advance box in ``image`` (x1 exclusive, non-decreasing x0; the letters of a
    ligature share its advance in proportion to their own). Exact when ``geometric`` is False;
    after a curve, rotation, shear or perspective they follow the text's mid-line.
    ``params`` records every random choice (font, size, colours, effects, degradations); a
    curved sample's ``params["curve"]`` gives the mid-line's circle (centre, radius in px) in
    the curved image, before any rotation, shear or perspective.
    """

    image: Image.Image
    text: str
    font: Font
    char_boxes: list[tuple[int, int]]
    look: str
    params: dict[str, Any]
    geometric: bool = False


class _Draws:
    """Uniform draws from one seeded generator, pre-fetched in blocks (a per-call numpy draw
    costs more than the Python arithmetic it feeds)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._buf = rng.random(128).tolist()
        self._i = 0

    def u(self) -> float:
        if self._i == len(self._buf):
            self._buf = self.rng.random(128).tolist()
            self._i = 0
        self._i += 1
        return self._buf[self._i - 1]

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.u()

    def int(self, lo: int, hi: int) -> int:
        """Integer in [lo, hi] inclusive."""
        return min(hi, lo + int(self.u() * (hi - lo + 1)))

    def chance(self, p: float) -> bool:
        return self.u() < p

    def pick(self, weights: dict[str, float]) -> str:
        total = sum(weights.values())
        r = self.u() * total
        for k, w in weights.items():
            r -= w
            if r < 0:
                return k
        return next(iter(weights))


# ----------------------------------------------------------------------------------------------
# backgrounds: random windows of the texture banks of ``ocrlab.data.textures``


def _window(bank: np.ndarray | tuple[np.ndarray, ...], w: int, h: int, d: _Draws) -> np.ndarray:
    """A (h, w, ...) window of ``bank`` (or of a random texture of a tuple of them) at a random
    offset, randomly mirrored; where the bank is smaller than the window, an image bank is
    stretched and the float noise bank mirror-tiled (stretched noise would not be noise, and PIL
    holds no 3-channel float image)."""
    if isinstance(bank, tuple):
        bank = bank[d.int(0, len(bank) - 1)]
    bh, bw = bank.shape[:2]
    if w > bw or h > bh:
        if bank.dtype == np.uint8:
            img = Image.fromarray(bank).resize((max(w, bw), max(h, bh)), Image.BILINEAR)
            bank = np.asarray(img)
        else:
            extra = ((0, max(0, h - bh)), (0, max(0, w - bw))) + ((0, 0),) * (bank.ndim - 2)
            bank = np.pad(bank, extra, mode="symmetric")
        bh, bw = bank.shape[:2]
    y, x = d.int(0, bh - h), d.int(0, bw - w)
    win = bank[y : y + h, x : x + w]
    return win[:, ::-1] if d.chance(0.5) else win


# ----------------------------------------------------------------------------------------------
# colour helpers


def _lum(c: Sequence[float]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _ramp(grey: np.ndarray, c0: Sequence[float], c1: Sequence[float]) -> Image.Image:
    """RGB image of the (H, W) uint8 ``grey`` mapped to lerp(c0, c1, grey / 255). A numpy LUT:
    ``Image.point`` rounds its 768-entry table in Python on every call."""
    t = np.arange(256, dtype=np.float32)[:, None] / 255.0
    c0a, c1a = np.asarray(c0, np.float32), np.asarray(c1, np.float32)
    lut = np.clip(c0a + (c1a - c0a) * t + 0.5, 0, 255).astype(np.uint8)  # (256, 3)
    return Image.fromarray(lut[grey])


def _scale_mask(mask: Image.Image, k: float) -> Image.Image:
    """The L mask times ``k``, clipped to 255."""
    arr = np.asarray(mask, np.float32) * k
    return Image.fromarray(np.minimum(arr, 255.0).astype(np.uint8))


def _random_colour(d: _Draws) -> tuple[int, int, int]:
    if d.chance(0.35):  # black, white and greys are the commonest sign colours
        g = d.int(0, 255)
        return (g, g, g)
    return (d.int(0, 255), d.int(0, 255), d.int(0, 255))


def _contrasting(d: _Draws, bg_lum: float, min_contrast: float) -> tuple[int, int, int]:
    for _ in range(12):
        c = _random_colour(d)
        if abs(_lum(c) - bg_lum) >= min_contrast:
            return c
    return (0, 0, 0) if bg_lum > 127 else (255, 255, 255)


def _gradient_l(w: int, h: int, d: _Draws) -> np.ndarray:
    """(h, w) uint8 linear ramp 0..255 at a random angle."""
    ang = d.uniform(0, 2 * math.pi)
    gx = np.linspace(0, math.cos(ang) * w / max(w, h), w, dtype=np.float32)
    gy = np.linspace(0, math.sin(ang) * h / max(w, h), h, dtype=np.float32)
    g = gy[:, None] + gx[None, :]
    g -= g.min()
    g *= 255.0 / max(float(g.max()), 1e-6)
    return g.astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# the renderer


class TextSource(Protocol):
    def sample(self, index: int) -> str: ...


class Renderer:
    """Renders text to RGB line / word images; see ``SynthConfig`` for what varies.

    ``fonts`` defaults to ``find_fonts(config.font_dirs, config.include_system_fonts)`` filtered by
    ``config.font_filter`` (tags a font must all have; a tag written ``"!tag"`` excludes).
    """

    def __init__(self, config: SynthConfig | None = None, fonts: list[Font] | None = None) -> None:
        self.config = config or SynthConfig()
        cfg = self.config
        if fonts is None:
            fonts = find_fonts(cfg.font_dirs, include_system=cfg.include_system_fonts)
        want = {t for t in cfg.font_filter if not t.startswith("!")}
        avoid = {t[1:] for t in cfg.font_filter if t.startswith("!")}
        self.fonts = [f for f in fonts if want <= f.tags and not (avoid & f.tags)]
        if not self.fonts:
            raise DataError(
                f"no fonts left to render with (font_filter={cfg.font_filter!r}, "
                f"{len(fonts)} fonts found before filtering)"
            )
        self._all_bits = (1 << len(self.fonts)) - 1
        self._char_bits: dict[str, int] = {}
        self._cands: dict[tuple[int, str], tuple[list[int], list[float]]] = {}
        self._family_best: dict[str, dict[str, float]] = {}
        self._sizes = list(range(cfg.size_range[0], cfg.size_range[1] + 1, max(1, cfg.size_step)))
        # Script fonts (Noto Sans Malayalam, ...) carry a few Latin letters; a Latin line drawn
        # in them is just Noto Sans again, so they only count when no full-Latin font fits.
        basic = {ord(c) for c in string.ascii_letters + string.digits}
        self._full_latin = [basic <= f.codepoints() for f in self.fonts]

    # -- fonts ---------------------------------------------------------------------------------

    def _bits(self, ch: str) -> int:
        bits = self._char_bits.get(ch)
        if bits is None:
            cp, lower = ord(ch), ch.islower()
            bits = 0
            for i, f in enumerate(self.fonts):
                # not just the cmap: a "caps" face draws lowercase letters as capitals
                if cp in f.codepoints() and not (lower and "caps" in f.tags):
                    bits |= 1 << i
            self._char_bits[ch] = bits
        return bits

    def _weight(self, font: Font, look: str) -> float:
        t = font.tags
        w = 1.0
        if look == "document":
            w *= 0.35 if "italic" in t else 1.0
            w *= 0.45 if "bold" in t else 1.0
            w *= 0.5 if "light" in t else 1.0
            w *= 0.5 if "condensed" in t else 1.0
            w *= 0.1 if "display" in t else 1.0
            w *= 0.05 if "handwriting" in t else 1.0
        else:
            boost = self.config.display_weight
            w *= boost if "display" in t else 1.0
            w *= math.sqrt(boost) if "bold" in t else 1.0
            w *= math.sqrt(boost) if "condensed" in t else 1.0
            w *= 0.5 if "italic" in t else 1.0
            w *= 0.6 if "light" in t else 1.0
        return w

    def _candidates(self, bits: int, look: str) -> tuple[list[int], list[float]]:
        """Indices of the fonts in ``bits`` and their cumulative pick weights: each family
        weighs the same in total (so 40 Noto faces do not drown one URW face), split over its
        faces by style, with style preferences per look."""
        key = (bits, look)
        hit = self._cands.get(key)
        if hit is not None:
            return hit
        idx = [i for i in range(len(self.fonts)) if bits >> i & 1]
        latin = [i for i in idx if self._full_latin[i]]
        idx = latin or idx
        fam_total: dict[str, float] = {}
        raw = []
        for i in idx:
            f = self.fonts[i]
            w = self._weight(f, look)
            raw.append(w)
            fam_total[f.family] = fam_total.get(f.family, 0.0) + w
        best = self._family_best.get(look)
        if best is None:
            # A family's total is its best face's preference, so a family of only display
            # faces still wins more scene picks than a family with one display face.
            best = self._family_best[look] = {}
            for g in self.fonts:
                best[g.family] = max(best.get(g.family, 0.0), self._weight(g, look))
        cum, acc = [], 0.0
        for i, w in zip(idx, raw, strict=True):
            f = self.fonts[i]
            fam_w = 0.5 if "mono" in f.tags else 1.0
            acc += fam_w * best[f.family] * w / fam_total[f.family]
            cum.append(acc)
        self._cands[key] = (idx, cum)
        return idx, cum

    def _resolve_font(self, font: Font | str | Path, text: str) -> Font:
        if isinstance(font, Font):
            chosen = font
        else:
            p = Path(font).expanduser()
            if p.suffix.lower() in (".ttf", ".otf", ".ttc", ".otc") or p.is_file():
                chosen = font_from_file(p)
            else:
                name = str(font).lower()
                exact = [f for f in self.fonts if f.name.lower() == name]
                fam = [f for f in self.fonts if f.family.lower() == name]
                pref = ("regular", "book", "roman", "medium", "normal")
                fam.sort(key=lambda f: (f.style.lower() not in pref, f.style))
                found = exact or fam
                if not found:
                    families = sorted({f.family for f in self.fonts})
                    raise DataError(
                        f"no font named {font!r}; installed families include {families[:20]}"
                    )
                chosen = found[0]
        missing = chosen.missing(text)
        if missing:
            raise DataError(
                f"font {chosen.name} ({chosen.path}) has no glyph for {_describe(missing)} "
                f"in text {text!r}"
            )
        return chosen

    def pick_font(self, text: str, look: str, d: _Draws) -> Font:
        """A font that covers every character of ``text`` (DataError naming them if none does)."""
        bits = self._all_bits
        for ch in set(text):
            if not ch.isspace():
                bits &= self._bits(ch)
        if not bits:
            uncovered = sorted(
                {ch for ch in text if not ch.isspace() and not self._bits(ch)}
            ) or sorted({ch for ch in text if not ch.isspace()})
            raise DataError(
                f"no installed font can render all of {text!r}: no font has "
                f"{_describe(uncovered)} (with the others). Install a font that covers them "
                f"(Debian: fonts-noto-cjk for Japanese) or pass SynthConfig.font_dirs"
            )
        idx, cum = self._candidates(bits, look)
        r = d.u() * cum[-1]
        lo, hi = 0, len(cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] > r:
                hi = mid
            else:
                lo = mid + 1
        return self.fonts[idx[lo]]

    # -- rendering -----------------------------------------------------------------------------

    def render(
        self,
        text: str,
        seed: int | Sequence[int] = 0,
        *,
        font: Font | str | Path | None = None,
        size: int | None = None,
        look: str | None = None,
        crop: str | None = None,
        background: str | None = None,
        spacing: float | None = None,
        degrade: bool | str | Degradations | None = None,
    ) -> RenderResult:
        """Render ``text`` with every choice drawn from ``seed``; keywords pin single choices.

        ``font``: a Font, a font file path, or a family / "Family Style" name. ``size``: font em
        size in px. ``look``: "document" or "scene". ``crop``: "line" or "word". ``background``:
        one of ``BACKGROUNDS``. ``spacing``: letter spacing in em. ``degrade``: None uses the
        config, False none, True the "default" preset, a preset name or a ``Degradations``.
        Pinned keywords do not shift the other random choices (every draw is still made).
        """
        _check_text(text)
        cfg = self.config
        d = _Draws(np.random.default_rng(seed))
        p: dict[str, Any] = {}

        u_look, u_crop = d.u(), d.u()
        look = look or ("scene" if u_look < cfg.p_scene else "document")
        if look not in LOOKS:
            raise ValueError(f"look must be one of {LOOKS}, got {look!r}")
        if crop is None:
            crop = cfg.crop
            if crop == "mixed":
                crop = "word" if u_crop < cfg.p_word else "line"
        if crop not in ("line", "word"):
            raise ValueError(f"crop must be 'line' or 'word', got {crop!r}")
        scene = look == "scene"

        if font is None:
            chosen = self.pick_font(text, look, d)
        else:  # a pinned font may lie outside self.fonts; spend the pick's one draw anyway
            d.u()
            chosen = self._resolve_font(font, text)
        u_size = self._sizes[d.int(0, len(self._sizes) - 1)]
        size = int(size) if size is not None else u_size
        u_spacing = d.uniform(*cfg.spacing_range) if d.chance(cfg.p_spacing) else 0.0
        spacing = float(spacing) if spacing is not None else u_spacing

        bold = d.int(*cfg.bold_width) if d.chance(cfg.p_bold if scene else cfg.p_doc_bold) else 0
        squeeze = 1.0
        if d.chance(cfg.p_condensed if scene else cfg.p_doc_condensed):
            squeeze = d.uniform(*cfg.condensed_range) if scene else d.uniform(0.82, 0.95)
        kerning = d.chance(cfg.p_kerning)
        # typesetters turn ligatures off in letter-spaced text, where they would show gaps
        ligatures = d.chance(cfg.p_ligatures) and abs(spacing) < 0.03
        word_space = d.uniform(*cfg.word_spacing_range) if d.chance(cfg.p_word_spacing) else 1.0
        p.update(font=chosen.name, font_path=str(chosen.path), size=size, spacing=spacing)
        p.update(bold=bold, squeeze=round(squeeze, 3), crop=crop)
        p.update(kerning=kerning, ligatures=ligatures, word_space=round(word_space, 3))

        # scene effects are drawn now: they widen a tight crop
        outline = d.int(*cfg.outline_width) if scene and d.chance(cfg.p_outline) else 0
        shadow = None
        if scene and d.chance(cfg.p_shadow):
            off = d.int(*cfg.shadow_offset)
            ang = d.uniform(0.3, 1.3)  # mostly down-right, like an overhead light
            shadow = (round(off * math.cos(ang)), round(off * math.sin(ang)), d.uniform(0, 2))
        emboss = scene and d.chance(cfg.p_emboss)
        fill_grad = scene and d.chance(cfg.p_fill_gradient)
        bend = 0.0
        if scene and d.chance(cfg.p_curve):
            bend = math.radians(d.uniform(*cfg.curve_deg)) * (1 if d.chance(0.6) else -1)
        p.update(outline=outline, shadow=shadow, emboss=emboss, fill_gradient=fill_grad)

        lay = layout_text(
            text,
            chosen,
            size,
            spacing * size,
            bold,
            kerning=kerning,
            ligatures=ligatures,
            word_space=word_space,
        )
        mask, bx0, bx1 = lay.mask, lay.x0, lay.x1
        ink = lay.ink
        if squeeze != 1.0:
            h, w = mask.shape
            nw = max(1, round(w * squeeze))
            mask = np.asarray(Image.fromarray(mask).resize((nw, h), Image.BILINEAR))
            bx0, bx1 = bx0 * squeeze, bx1 * squeeze
            ink = (
                math.floor(ink[0] * squeeze),
                ink[1],
                min(nw, math.ceil(ink[2] * squeeze)),
                ink[3],
            )

        # region to keep: the ink (word crops) or the ink's columns over the line box (lines)
        if crop == "word":
            rx0, ry0, rx1, ry1 = ink
        else:
            rx0, rx1 = ink[0], ink[2]
            ry0, ry1 = min(ink[1], lay.line[0]), max(ink[3], lay.line[1])
        grow = outline + (1 if emboss else 0)
        sx = sy = 0
        if shadow:
            sx, sy = shadow[0], shadow[1]
            grow += math.ceil(shadow[2])
        rx0, ry0 = rx0 - grow + min(0, sx), ry0 - grow + min(0, sy)
        rx1, ry1 = rx1 + grow + max(0, sx), ry1 + grow + max(0, sy)
        if crop == "word":
            m = [d.uniform(0.0, 0.08) * size for _ in range(4)]
        else:
            m = [
                d.uniform(0.05, 0.6) * size,
                d.uniform(0.05, 0.35) * size,
                d.uniform(0.05, 0.6) * size,
                d.uniform(0.05, 0.35) * size,
            ]
        wx0, wy0 = math.floor(rx0 - m[0]), math.floor(ry0 - m[1])
        wx1, wy1 = math.ceil(rx1 + m[2]), math.ceil(ry1 + m[3])

        deg = self._degradations(degrade)
        geo = self._geometry(deg, d, size, p)
        n = len(text)
        # char box edges on the mid-line, (2n, 2) x, y: moved along by every warp
        pts = np.column_stack((np.concatenate((bx0, bx1)), np.full(2 * n, lay.mid_y)))
        window = (wx0, wy0, wx1, wy1)
        if bend:
            # a long line may bow by at most curve_max_sag em: sag ~ width * angle / 8
            limit = 8 * cfg.curve_max_sag * size / max(1, wx1 - wx0)
            # and the arc's inner rows must stay outside its centre
            inner = (wy1 - lay.mid_y) if bend > 0 else (lay.mid_y - wy0)
            limit = min(limit, (wx1 - wx0) / (1.3 * max(inner, 1.0)))
            bend = math.copysign(min(abs(bend), limit), bend)
            mask, pts, circle = bend_window(mask, window, bend, lay.mid_y, pts)
            window = (0, 0, mask.shape[1], mask.shape[0])
            p["curve"] = {
                "angle_deg": round(math.degrees(bend), 2),
                "centre": (round(circle[0], 2), round(circle[1], 2)),
                "radius": round(circle[2], 2),
            }
        if geo is not None:
            alpha, pts = warp_window(mask, window, geo, pts)
        elif bend:
            alpha = mask
        else:
            alpha = crop_pad(mask, *window)
            pts = pts - (wx0, wy0)
        geometric = bool(bend) or geo is not None
        cx0, cx1 = np.rint(pts[:n, 0]), np.rint(pts[n:, 0])
        H, W = alpha.shape
        a_img = Image.fromarray(alpha)

        if scene:
            img = self._compose_scene(
                a_img, W, H, d, p, background, outline, shadow, emboss, fill_grad
            )
        else:
            img = self._compose_document(a_img, W, H, d, p, background)
        img = self._degrade(img, deg, d, p, scene)
        if img.mode != "RGB":
            img = img.convert("RGB")

        x0s = np.clip(np.maximum.accumulate(cx0), 0, W)
        x1s = np.clip(np.maximum(cx1, x0s), 0, W)
        boxes = [(int(a), int(b)) for a, b in zip(x0s, x1s, strict=True)]
        return RenderResult(img, text, chosen, boxes, look, p, geometric)

    # -- pieces of render ------------------------------------------------------------------------

    def _degradations(self, degrade: bool | str | Degradations | None) -> Degradations:
        if degrade is None:
            return self.config.degrade
        if isinstance(degrade, Degradations):
            return degrade
        if degrade is True:
            return Degradations.preset("default")
        if degrade is False:
            return Degradations.preset("none")
        return Degradations.preset(str(degrade))

    def _geometry(
        self, deg: Degradations, d: _Draws, size: int, p: dict[str, Any]
    ) -> tuple[float, float, np.ndarray] | None:
        """(angle rad, shear tan, corner jitter (4, 2) px) or None when nothing was drawn."""
        rot = d.uniform(-deg.rotate_deg, deg.rotate_deg) if d.chance(deg.p_rotate) else 0.0
        shear = d.uniform(-deg.shear, deg.shear) if d.chance(deg.p_shear) else 0.0
        jitter = np.zeros((4, 2))
        if d.chance(deg.p_perspective):
            amp = deg.perspective * size
            jitter = np.array([[d.uniform(-amp, amp), d.uniform(-amp, amp)] for _ in range(4)])
        if rot == 0.0 and shear == 0.0 and not jitter.any():
            return None
        p.update(
            rotate_deg=round(rot, 3), shear=round(shear, 3), perspective=jitter.round(2).tolist()
        )
        return math.radians(rot), shear, jitter

    def _compose_document(
        self,
        a_img: Image.Image,
        W: int,
        H: int,
        d: _Draws,
        p: dict[str, Any],
        background: str | None,
    ) -> Image.Image:
        """Grey composition (255 = paper, 0 = ink) tinted by one LUT: ink and paper colours."""
        cfg = self.config
        u_kind = d.pick(cfg.doc_backgrounds)
        kind = background or u_kind
        if kind == "paper":
            g = Image.fromarray(
                np.ascontiguousarray(_window(paper_bank(cfg.texture_seed), W, H, d))
            )
        elif kind == "gradient":  # uneven light over a scanned or photographed page
            lo = d.int(200, 245)
            ramp = _gradient_l(W, H, d).astype(np.float32) * ((255 - lo) / 255.0) + lo
            g = Image.fromarray(ramp.astype(np.uint8))
        elif kind == "noise":
            n = _window(noise_bank(cfg.texture_seed), W, H, d)[..., 0]
            g = Image.fromarray(np.clip(250.0 + n * d.uniform(2, 8), 0, 255).astype(np.uint8))
        elif kind in ("photo", "texture"):
            bank = photo_bank if kind == "photo" else natural_bank
            tex = _window(bank(cfg.texture_seed), W, H, d)
            g = Image.fromarray(np.ascontiguousarray(tex)).convert("L")
        else:
            g = Image.new("L", (W, H), 255)
        g.paste(d.int(0, 25), (0, 0), a_img)  # the ink end of the tint ramp, give or take
        ink_grey = d.int(*cfg.doc_ink)
        lo, hi = cfg.doc_paper
        paper = hi - (hi - lo) * d.u() ** 2  # most paper is near white
        if d.chance(cfg.p_color_ink):  # ballpoint blue, stamp red, green
            hue = [(20, 40, 140), (150, 20, 20), (20, 90, 40)][d.int(0, 2)]
            ink = tuple(min(255, c + ink_grey // 2) for c in hue)
        else:
            ink = (ink_grey,) * 3
        tint = (d.uniform(-6, 4), d.uniform(-6, 2), d.uniform(-14, 0))  # white to yellowed
        paper_rgb = tuple(min(255.0, paper + t) for t in tint)
        p.update(background=kind, ink=ink, paper=tuple(round(c) for c in paper_rgb))
        p["_ramp"] = (ink, paper_rgb)
        return g

    def _compose_scene(
        self,
        a_img: Image.Image,
        W: int,
        H: int,
        d: _Draws,
        p: dict[str, Any],
        background: str | None,
        outline: int,
        shadow: tuple[int, int, float] | None,
        emboss: bool,
        fill_grad: bool,
    ) -> Image.Image:
        cfg = self.config
        u_kind = d.pick(cfg.scene_backgrounds)
        kind = background or u_kind
        c1, c2 = _random_colour(d), _random_colour(d)
        if kind in ("photo", "texture"):
            bank = photo_bank if kind == "photo" else natural_bank
            tex = _window(bank(cfg.texture_seed), W, H, d)
            gain = np.asarray([d.uniform(0.7, 1.2) for _ in range(3)], np.float32)
            lut = np.minimum(np.arange(256, dtype=np.float32)[:, None] * gain, 255).astype(np.uint8)
            img = Image.fromarray(lut[tex, np.arange(3)])
        elif kind == "paper":
            tex = _window(paper_bank(cfg.texture_seed), W, H, d)
            img = _ramp(tex, [c * 0.6 for c in c1], c1)
        elif kind == "gradient":
            img = _ramp(_gradient_l(W, H, d), c1, c2)
        elif kind == "noise":
            n = _window(noise_bank(cfg.texture_seed), W, H, d)
            arr = np.asarray(c1, np.float32) + n * d.uniform(6, 25)
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        else:
            img = Image.new("RGB", (W, H), c1)
        small = np.asarray(img)[:: max(1, H // 6), :: max(1, W // 24)]
        bg_lum = float(_lum(small.reshape(-1, 3).mean(0)))

        fill = _contrasting(d, bg_lum, cfg.min_contrast)
        light_fill = _lum(fill) > 127
        if shadow:
            dx, dy, soft = shadow
            sh = _shift(a_img, dx, dy)
            if soft >= 0.5:
                sh = sh.filter(ImageFilter.BoxBlur(soft))
            opacity = d.uniform(0.4, 0.85)
            sh = _scale_mask(sh, opacity)
            img.paste((0, 0, 0) if d.chance(0.7) else _random_colour(d), (0, 0), sh)
        if outline:
            # Dilation as a box blur plus a steep ramp: a round, anti-aliased outline, cheaply.
            ring = _scale_mask(a_img.filter(ImageFilter.BoxBlur(outline)), 2 * outline + 1)
            o_col = (20, 20, 20) if light_fill else (245, 245, 245)
            if d.chance(0.3):
                o_col = _random_colour(d)
            img.paste(o_col, (0, 0), ring)
        if emboss:
            hi_col = tuple(min(255, int(c + 90)) for c in fill)
            lo_col = tuple(max(0, int(c - 90)) for c in fill)
            img.paste(lo_col, (0, 0), _shift(a_img, 1, 1))
            img.paste(hi_col, (0, 0), _shift(a_img, -1, -1))
        if fill_grad:
            other = _contrasting(d, bg_lum, cfg.min_contrast)
            ramp = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None, None]
            grad = np.asarray(fill, np.float32) * (1 - ramp) + np.asarray(other, np.float32) * ramp
            layer = Image.fromarray(
                np.ascontiguousarray(np.broadcast_to(grad.astype(np.uint8), (H, W, 3)))
            )
            img.paste(layer, (0, 0), a_img)
        else:
            img.paste(fill, (0, 0), a_img)
        p.update(background=kind, fill=fill, bg_luminance=round(bg_lum, 1))
        return img

    def _degrade(
        self, img: Image.Image, deg: Degradations, d: _Draws, p: dict[str, Any], scene: bool
    ) -> Image.Image:
        """Lines, occlusion, resolution drop (JPEG while small), blur, low contrast, noise
        (grey images stay grey until the document tint), then JPEG. Each step is drawn with
        its probability."""
        W, H = img.size
        applied: list[str] = []
        ramp = p.pop("_ramp", None)
        grey = img.mode == "L"

        def colour(v: tuple[int, int, int]) -> int | tuple[int, int, int]:
            return int(_lum(v)) if grey else v

        if d.chance(deg.p_lines):
            draw = ImageDraw.Draw(img)
            for _ in range(d.int(1, 2)):
                c = colour((0, 0, 0)) if grey else _random_colour(d)
                width = d.int(1, max(1, H // 16))
                if d.chance(0.6):  # table rule / underline, near the top or bottom edge
                    y = d.uniform(0, 0.15) * H if d.chance(0.5) else d.uniform(0.85, 1.0) * H
                    draw.line(
                        (0, y + d.uniform(-2, 2), W, y + d.uniform(-2, 2)), fill=c, width=width
                    )
                else:  # a stray stroke across the text
                    draw.line(
                        (d.uniform(0, W), d.uniform(0, H), d.uniform(0, W), d.uniform(0, H)),
                        fill=c,
                        width=width,
                    )
            applied.append("lines")
        if d.chance(deg.p_occlusion):
            # Partial by design: a band over the tops or feet of the letters, a pole or wire in
            # front, or a blob; the text stays readable, so the label stays true.
            draw = ImageDraw.Draw(img)
            frac = d.uniform(*deg.occlusion_frac)
            c = colour(_random_colour(d)) if scene or d.chance(0.5) else 255
            kind = d.int(0, 2)
            if kind == 0:
                y = frac * H if d.chance(0.5) else (1 - frac) * H
                xa, xb = sorted((d.uniform(0, W), d.uniform(0, W)))
                draw.rectangle((xa, 0 if y < H / 2 else y, xb, y if y < H / 2 else H), fill=c)
            elif kind == 1:
                x = d.uniform(0, W)
                half = max(1.0, frac * H * 0.5)
                tilt = d.uniform(-0.3, 0.3) * H
                draw.polygon(
                    [(x - half, 0), (x + half, 0), (x + half + tilt, H), (x - half + tilt, H)],
                    fill=c,
                )
            else:
                r = max(1.0, frac * H * 1.5)
                x, y = d.uniform(0, W), d.uniform(0, H)
                draw.ellipse((x - r, y - r * 0.7, x + r, y + r * 0.7), fill=c)
            applied.append("occlusion")
        if d.chance(deg.p_lowres):
            # never below a 9 px em: smaller, and no reader could tell the letters apart
            s = max(d.uniform(*deg.lowres_scale), 9.0 / p.get("size", 9.0))
            small = img.resize((max(1, round(W * s)), max(1, round(H * s))), Image.BILINEAR)
            resample = (Image.NEAREST, Image.BILINEAR, Image.BICUBIC)[d.int(0, 2)]
            applied.append(f"lowres={s:.2f}")
            if d.chance(deg.p_lowres_jpeg):
                q = d.int(*deg.jpeg_quality)
                small = _jpeg(small, q)
                applied.append(f"lowres_jpeg={q}")
            img = small.resize((W, H), resample)
        if d.chance(deg.p_blur):
            s = d.uniform(*deg.blur_sigma)
            img = img.filter(ImageFilter.GaussianBlur(s))
            applied.append(f"blur={s:.2f}")
        if ramp is not None:
            img = _ramp(np.asarray(img), *ramp)
        if d.chance(deg.p_low_contrast):
            # v -> mid + (v - mean) * k: the range shrinks by k around a random brightness
            # that keeps it inside 0..255 (dim and hazy, or washed out by glare)
            k = d.uniform(*deg.contrast_range)
            arr = np.asarray(img)
            mean = float(arr[::3, ::3].mean())
            mid = d.uniform(mean * k, 255 - (255 - mean) * k)
            lut = np.clip(mid + (np.arange(256, dtype=np.float32) - mean) * k + 0.5, 0, 255)
            img = Image.fromarray(lut.astype(np.uint8)[arr])
            applied.append(f"contrast={k:.2f}")
        if d.chance(deg.p_noise):
            s = d.uniform(*deg.noise_sigma)
            n = _window(noise_bank(self.config.texture_seed), W, H, d)
            if d.chance(0.5):  # luminance-only noise (scanners) vs colour noise (cameras)
                n = n[..., :1]
            arr = np.asarray(img, np.float32) + n * s
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
            applied.append(f"noise={s:.1f}")
        if d.chance(deg.p_jpeg):
            q = d.int(*deg.jpeg_quality)
            img = _jpeg(img, q).convert("RGB")
            applied.append(f"jpeg={q}")
        p["degradations"] = applied
        return img


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    """``img`` after a JPEG round trip at ``quality``, same mode."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


def _shift(a_img: Image.Image, dx: int, dy: int) -> Image.Image:
    """The mask moved by (dx, dy) px, zero-filled (ImageChops.offset would wrap around)."""
    out = Image.new("L", a_img.size, 0)
    out.paste(a_img, (dx, dy))
    return out


def _describe(chars: Sequence[str]) -> str:
    return ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars)


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise DataError(f"text to render must be a str, got {type(text).__name__}: {text!r}")
    if not text.strip():
        raise DataError(f"text to render is empty or only whitespace: {text!r}")
    bad = sorted({ch for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")})
    if bad:
        raise DataError(f"text {text!r} holds control characters {_describe(bad)}; a line has none")


# ----------------------------------------------------------------------------------------------
# module-level conveniences


_DEFAULT_RENDERERS: dict[str, Renderer] = {}


def default_renderer(preset: str = "default") -> Renderer:
    """A shared ``Renderer(SynthConfig.preset(preset))``, built on first use."""
    r = _DEFAULT_RENDERERS.get(preset)
    if r is None:
        r = _DEFAULT_RENDERERS[preset] = Renderer(SynthConfig.preset(preset))
    return r


def render_line(
    text: str,
    seed: int | Sequence[int] = 0,
    *,
    font: Font | str | Path | None = None,
    size: int | None = None,
    look: str | None = None,
    crop: str | None = None,
    background: str | None = None,
    spacing: float | None = None,
    degrade: bool | str | Degradations | None = None,
) -> Image.Image:
    """Render one line with the shared default renderer and return the RGB image.

    Keywords as in ``Renderer.render``; e.g. ``render_line("Hello", font="DejaVu Serif",
    look="document", degrade=False)``.
    """
    return (
        default_renderer()
        .render(
            text,
            seed,
            font=font,
            size=size,
            look=look,
            crop=crop,
            background=background,
            spacing=spacing,
            degrade=degrade,
        )
        .image
    )


def _text_at(text_source: TextSource | Callable[[int], str], index: int) -> str:
    sample = getattr(text_source, "sample", None)
    return sample(index) if callable(sample) else text_source(index)  # type: ignore[operator]


def synth_sample(
    index: int,
    seed: int,
    text_source: TextSource | Callable[[int], str],
    renderer: Renderer | None = None,
    word_source: TextSource | Callable[[int], str] | None = None,
) -> RenderResult:
    """Sample ``index`` of synthetic set ``seed``: always the same text and the same image.

    text = ``text_source.sample(index)`` (or ``text_source(index)``), render seed = [seed, index].
    With a ``word_source`` (a words-only text source), the sample's crop is decided here, from
    its own seeded draw against the renderer's ``crop``/``p_word``: a word crop reads a single
    word from ``word_source``, a line crop a line from ``text_source`` — so tight word crops hold
    one word, as scene-text benchmarks do.
    """
    renderer = renderer or default_renderer()
    text, crop = sample_text(index, seed, text_source, renderer, word_source)
    return renderer.render(text, [seed, index], crop=crop)


def sample_text(
    index: int,
    seed: int,
    text_source: TextSource | Callable[[int], str],
    renderer: Renderer | None = None,
    word_source: TextSource | Callable[[int], str] | None = None,
) -> tuple[str, str | None]:
    """The text of :func:`synth_sample` ``index`` and the crop it forces (None: the renderer
    decides) — without rendering, e.g. to batch lines of similar length."""
    if word_source is None:
        return _text_at(text_source, index), None
    config = (renderer or default_renderer()).config
    crop = config.crop
    if crop == "mixed":
        u = np.random.default_rng([seed, index, _CROP_SALT]).random()
        crop = "word" if u < config.p_word else "line"
    return _text_at(word_source if crop == "word" else text_source, index), crop


_CROP_SALT = 0x5EED_C80


class SyntheticSource:
    """Indexable synthetic samples: ``source[i]`` is ``synth_sample(i, seed, text, renderer)``."""

    def __init__(
        self,
        text_source: TextSource | Callable[[int], str],
        renderer: Renderer | None = None,
        seed: int = 0,
    ) -> None:
        self.text_source = text_source
        self.renderer = renderer or default_renderer()
        self.seed = seed

    def sample(self, index: int) -> RenderResult:
        return synth_sample(index, self.seed, self.text_source, self.renderer)

    __getitem__ = sample
