"""The renderer: text to an RGB line or word image with exact per-character boxes, in the
document or the scene look (see the package docstring for how it stays fast)."""

from __future__ import annotations

import math
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from ocrlab.charset import describe_chars
from ocrlab.errors import DataError

from ..fonts import Font, find_fonts, font_from_file
from ..geometry import bend_window, crop_pad, warp_window
from ..layout import layout_text
from ..textures import natural_bank, noise_bank, paper_bank, photo_bank
from .config import LOOKS, Degradations, SynthConfig
from .degrade import apply_degradations
from .paint import (
    Draws,
    colourize,
    contrasting,
    gradient_l,
    lum,
    random_colour,
    scale_mask,
    shift,
    window,
)


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
                f"font {chosen.name} ({chosen.path}) has no glyph for {describe_chars(missing)} "
                f"in text {text!r}"
            )
        return chosen

    def pick_font(self, text: str, look: str, d: Draws) -> Font:
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
                f"{describe_chars(uncovered)} (with the others). Install a font that covers them "
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
        check_text(text)
        cfg = self.config
        d = Draws(np.random.default_rng(seed))
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
        img = apply_degradations(img, deg, d, p, scene, self.config.texture_seed)
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
        self, deg: Degradations, d: Draws, size: int, p: dict[str, Any]
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
        d: Draws,
        p: dict[str, Any],
        background: str | None,
    ) -> Image.Image:
        """Grey composition (255 = paper, 0 = ink) tinted by one LUT: ink and paper colours."""
        cfg = self.config
        u_kind = d.pick(cfg.doc_backgrounds)
        kind = background or u_kind
        if kind == "paper":
            g = Image.fromarray(np.ascontiguousarray(window(paper_bank(cfg.texture_seed), W, H, d)))
        elif kind == "gradient":  # uneven light over a scanned or photographed page
            lo = d.int(200, 245)
            ramp = gradient_l(W, H, d).astype(np.float32) * ((255 - lo) / 255.0) + lo
            g = Image.fromarray(ramp.astype(np.uint8))
        elif kind == "noise":
            n = window(noise_bank(cfg.texture_seed), W, H, d)[..., 0]
            g = Image.fromarray(np.clip(250.0 + n * d.uniform(2, 8), 0, 255).astype(np.uint8))
        elif kind in ("photo", "texture"):
            bank = photo_bank if kind == "photo" else natural_bank
            tex = window(bank(cfg.texture_seed), W, H, d)
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
        d: Draws,
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
        c1, c2 = random_colour(d), random_colour(d)
        if kind in ("photo", "texture"):
            bank = photo_bank if kind == "photo" else natural_bank
            tex = window(bank(cfg.texture_seed), W, H, d)
            gain = np.asarray([d.uniform(0.7, 1.2) for _ in range(3)], np.float32)
            lut = np.minimum(np.arange(256, dtype=np.float32)[:, None] * gain, 255).astype(np.uint8)
            img = Image.fromarray(lut[tex, np.arange(3)])
        elif kind == "paper":
            tex = window(paper_bank(cfg.texture_seed), W, H, d)
            img = colourize(tex, [c * 0.6 for c in c1], c1)
        elif kind == "gradient":
            img = colourize(gradient_l(W, H, d), c1, c2)
        elif kind == "noise":
            n = window(noise_bank(cfg.texture_seed), W, H, d)
            arr = np.asarray(c1, np.float32) + n * d.uniform(6, 25)
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        else:
            img = Image.new("RGB", (W, H), c1)
        small = np.asarray(img)[:: max(1, H // 6), :: max(1, W // 24)]
        bg_lum = float(lum(small.reshape(-1, 3).mean(0)))

        fill = contrasting(d, bg_lum, cfg.min_contrast)
        light_fill = lum(fill) > 127
        if shadow:
            dx, dy, soft = shadow
            sh = shift(a_img, dx, dy)
            if soft >= 0.5:
                sh = sh.filter(ImageFilter.BoxBlur(soft))
            opacity = d.uniform(0.4, 0.85)
            sh = scale_mask(sh, opacity)
            img.paste((0, 0, 0) if d.chance(0.7) else random_colour(d), (0, 0), sh)
        if outline:
            # Dilation as a box blur plus a steep ramp: a round, anti-aliased outline, cheaply.
            ring = scale_mask(a_img.filter(ImageFilter.BoxBlur(outline)), 2 * outline + 1)
            o_col = (20, 20, 20) if light_fill else (245, 245, 245)
            if d.chance(0.3):
                o_col = random_colour(d)
            img.paste(o_col, (0, 0), ring)
        if emboss:
            hi_col = tuple(min(255, int(c + 90)) for c in fill)
            lo_col = tuple(max(0, int(c - 90)) for c in fill)
            img.paste(lo_col, (0, 0), shift(a_img, 1, 1))
            img.paste(hi_col, (0, 0), shift(a_img, -1, -1))
        if fill_grad:
            other = contrasting(d, bg_lum, cfg.min_contrast)
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


def check_text(text: str) -> None:
    if not isinstance(text, str):
        raise DataError(f"text to render must be a str, got {type(text).__name__}: {text!r}")
    if not text.strip():
        raise DataError(f"text to render is empty or only whitespace: {text!r}")
    bad = sorted({ch for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")})
    if bad:
        raise DataError(
            f"text {text!r} holds control characters {describe_chars(bad)}; a line has none"
        )
