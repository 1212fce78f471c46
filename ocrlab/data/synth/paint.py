"""The renderer's paint box: every random choice drawn from one generator (:class:`Draws`),
windows of the texture banks, colours, and small image operations."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image


class Draws:
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


def window(bank: np.ndarray | tuple[np.ndarray, ...], w: int, h: int, d: Draws) -> np.ndarray:
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


def lum(c: Sequence[float]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def colourize(grey: np.ndarray, c0: Sequence[float], c1: Sequence[float]) -> Image.Image:
    """RGB image of the (H, W) uint8 ``grey`` mapped to lerp(c0, c1, grey / 255). A numpy LUT:
    ``Image.point`` rounds its 768-entry table in Python on every call."""
    t = np.arange(256, dtype=np.float32)[:, None] / 255.0
    c0a, c1a = np.asarray(c0, np.float32), np.asarray(c1, np.float32)
    lut = np.clip(c0a + (c1a - c0a) * t + 0.5, 0, 255).astype(np.uint8)  # (256, 3)
    return Image.fromarray(lut[grey])


def scale_mask(mask: Image.Image, k: float) -> Image.Image:
    """The L mask times ``k``, clipped to 255."""
    arr = np.asarray(mask, np.float32) * k
    return Image.fromarray(np.minimum(arr, 255.0).astype(np.uint8))


def random_colour(d: Draws) -> tuple[int, int, int]:
    if d.chance(0.35):  # black, white and greys are the commonest sign colours
        g = d.int(0, 255)
        return (g, g, g)
    return (d.int(0, 255), d.int(0, 255), d.int(0, 255))


def contrasting(d: Draws, bg_lum: float, min_contrast: float) -> tuple[int, int, int]:
    for _ in range(12):
        c = random_colour(d)
        if abs(lum(c) - bg_lum) >= min_contrast:
            return c
    return (0, 0, 0) if bg_lum > 127 else (255, 255, 255)


def gradient_l(w: int, h: int, d: Draws) -> np.ndarray:
    """(h, w) uint8 linear ramp 0..255 at a random angle."""
    ang = d.uniform(0, 2 * math.pi)
    gx = np.linspace(0, math.cos(ang) * w / max(w, h), w, dtype=np.float32)
    gy = np.linspace(0, math.sin(ang) * h / max(w, h), h, dtype=np.float32)
    g = gy[:, None] + gx[None, :]
    g -= g.min()
    g *= 255.0 / max(float(g.max()), 1e-6)
    return g.astype(np.uint8)


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    """``img`` after a JPEG round trip at ``quality``, same mode."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


def shift(a_img: Image.Image, dx: int, dy: int) -> Image.Image:
    """The mask moved by (dx, dy) px, zero-filled (ImageChops.offset would wrap around)."""
    out = Image.new("L", a_img.size, 0)
    out.paste(a_img, (dx, dy))
    return out
