"""Procedural natural-image textures for scene-text backgrounds: no image files, no downloads.

Scene words sit on walls, wood, foliage, stone, sky and painted metal; the renderer's other
backgrounds are flat, gradients or blurred blobs. Each texture here imitates one real surface
with fractal (multi-octave) noise, cellular patterns and drawn structure (mortar joints, leaves,
planks), at the scale of a text line: a brick course is about one x-height to two em high.

``natural_textures(seed, h, w)`` builds the whole bank once (about 0.5 s); the renderer takes
random windows of it. Everything is drawn from ``numpy.random.default_rng([seed, 4])``, so a
bank is the same in every process.

The renderer's texture banks, each built once per process and texture seed (``BANKS``, cached):
``paper_bank`` (paper grain, fibres and specks), ``photo_bank`` (photo-like walls, boards and
panels), ``natural_bank`` (the surfaces above) and ``noise_bank`` (sensor noise), all
``BANK_H`` x ``BANK_W`` pixels. Lines wider than a bank are stretched, which is invisible on
low-frequency textures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

_Surface = Callable[[np.random.Generator, int, int], np.ndarray]


def fbm(rng: np.random.Generator, h: int, w: int, cells: int, octaves: int = 5) -> np.ndarray:
    """Fractal noise in [0, 1], shape (h, w) float32: ``octaves`` bicubic-upsampled random grids,
    the first ``cells`` cells across the height, each next one twice as fine at half weight."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for k in range(octaves):
        gh = max(2, cells * 2**k)
        gw = max(2, round(gh * w / h))
        grid = Image.fromarray((rng.random((gh, gw)) * 255).astype(np.uint8))
        out += amp * np.asarray(grid.resize((w, h), Image.BICUBIC), np.float32)
        total += amp
        amp *= 0.5
    out /= 255.0 * total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _lerp(t: np.ndarray, c0: Sequence[float], c1: Sequence[float]) -> np.ndarray:
    """(h, w, 3) float32 colours between c0 (t=0) and c1 (t=1)."""
    a, b = np.asarray(c0, np.float32), np.asarray(c1, np.float32)
    return a + (b - a) * np.clip(t, 0, 1)[..., None]


def _jitter(rng: np.random.Generator, c: Sequence[float], amount: float) -> np.ndarray:
    return np.clip(np.asarray(c, np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def _brick(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Running-bond brick wall: courses of bricks, each its own shade, in lighter mortar."""
    course = int(rng.uniform(14, 34))
    brick_w = int(course * rng.uniform(2.0, 3.2))
    joint = max(1, int(course * rng.uniform(0.08, 0.16)))
    palettes = [(150, 60, 45), (120, 70, 50), (170, 120, 80), (110, 110, 105), (185, 160, 120)]
    base = _jitter(rng, palettes[rng.integers(len(palettes))], 10)
    mortar = _jitter(rng, (185, 180, 170), 20)
    ys, xs = np.mgrid[0:h, 0:w]
    row = ys // course
    shift = (row % 2) * (brick_w // 2)
    col = (xs + shift) // brick_w
    # one random shade per brick, looked up through a hash of (row, col)
    shades = rng.uniform(0.75, 1.2, 4096).astype(np.float32)
    shade = shades[(row * 131 + col * 17) % 4096]
    grain = fbm(rng, h, w, cells=6, octaves=4)
    img = base * (shade * (0.8 + 0.4 * grain))[..., None]
    in_joint = ((ys % course) < joint) | (((xs + shift) % brick_w) < joint)
    img[in_joint] = mortar * (0.85 + 0.3 * grain[in_joint, None])
    return img


def _wood(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Planks: long grain lines bent around the odd knot, fine streaks, dark seams."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = fbm(rng, h, w, cells=1, octaves=3)
    for _ in range(rng.integers(0, 3)):  # knots pull the grain around them
        kx, ky, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(6, 20)
        warp += 1.5 * np.exp(-((xs - kx) ** 2 + ((ys - ky) * 2) ** 2) / (2 * (3 * r) ** 2))
    period = rng.uniform(4, 9)
    grain = ((ys + warp * rng.uniform(10, 25)) / period) % 1.0
    grain = np.abs(grain - 0.5) * 2
    streak = np.asarray(
        Image.fromarray((rng.random((h, max(2, w // 80))) * 255).astype(np.uint8)).resize(
            (w, h), Image.BICUBIC
        ),
        np.float32,
    )
    t = 0.4 * grain**2 + 0.35 * streak / 255.0 + 0.25 * warp / max(float(warp.max()), 1e-6)
    light = _jitter(rng, (200, 150, 95), 30)
    dark = light * rng.uniform(0.5, 0.75)
    img = _lerp(t, light, dark)
    board = int(rng.uniform(30, 90))
    seam = (ys.astype(int) % board) < max(1, board // 25)
    img[seam] *= 0.45
    return img


def _foliage(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Leaves in three depth layers (far ones blurred), greens and yellows on dark shade."""
    dark = _jitter(rng, (30, 45, 25), 12)
    img = Image.new("RGB", (w, h), tuple(int(c) for c in dark))
    hue = rng.uniform(0, 1)
    for layer, blur in enumerate((4.0, 1.5, 0.0)):
        lay = img.copy()
        draw = ImageDraw.Draw(lay)
        for _ in range(int(w * h / 900 * (1 + layer))):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            length = rng.uniform(6, 22) * (1 + 0.4 * layer)
            ang = rng.uniform(0, math.pi)
            dx, dy = math.cos(ang) * length / 2, math.sin(ang) * length / 2
            nx, ny = -dy * 0.45, dx * 0.45
            g = rng.uniform(70, 170) * (0.7 + 0.15 * layer)
            col = (g * rng.uniform(0.3, 0.8 + 0.5 * hue), g, g * rng.uniform(0.15, 0.5))
            draw.polygon(
                [(x - dx, y - dy), (x + nx, y + ny), (x + dx, y + dy), (x - nx, y - ny)],
                fill=tuple(int(min(255, c)) for c in col),
            )
        if blur:
            lay = lay.filter(ImageFilter.GaussianBlur(blur))
        img = lay
    arr = np.asarray(img, np.float32)
    light = fbm(rng, h, w, cells=2, octaves=3)
    return arr * (0.6 + 0.7 * light)[..., None]


def _stone(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Concrete or rendered stone: fractal mottling, pits and specks, a crack or two."""
    base = _jitter(rng, (150, 148, 140), 10) * rng.uniform(0.6, 1.3)
    n = fbm(rng, h, w, cells=4, octaves=6)
    img = base * (0.7 + 0.55 * n)[..., None]
    specks = rng.random((h, w))
    img[specks < 0.015] *= 0.55
    img[specks > 0.99] = np.minimum(img[specks > 0.99] * 1.3, 255)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(rng.integers(0, 4)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        pts = [(x, y)]
        for _ in range(int(rng.integers(8, 30))):
            x += rng.uniform(2, 10)
            y += rng.uniform(-6, 6)
            pts.append((x, y))
        draw.line(pts, fill=tuple(int(c * 0.45) for c in base), width=1)
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(0.5)), np.float32)


def _marble(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Polished marble: thin dark veins, sines bent by turbulence, over a clouded ground."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    turb = fbm(rng, h, w, cells=2, octaves=6)
    ang = rng.uniform(0, math.pi)
    f = rng.uniform(0.01, 0.03)
    v = np.sin((xs * math.cos(ang) + ys * math.sin(ang)) * f + turb * rng.uniform(4, 9))
    veins = np.abs(v) ** rng.uniform(0.15, 0.35)
    cloud = fbm(rng, h, w, cells=3, octaves=4)
    ground = rng.uniform(170, 235) + rng.uniform(-8, 8, 3)
    dark = np.asarray((70, 70, 72), np.float32) * rng.uniform(0.5, 1.3)
    return _lerp(veins * (0.85 + 0.15 * cloud), dark, ground)


def _sky(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Blue sky with soft clouds (text on banners and roof signs against the sky)."""
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    blue = _lerp(ys * rng.uniform(0.3, 1.0), _jitter(rng, (90, 140, 210), 25), (190, 215, 240))
    cloud = fbm(rng, h, w, cells=2, octaves=6)
    cover = rng.uniform(0.35, 0.65)
    t = np.clip((cloud - cover) / 0.25, 0, 1)
    white = _jitter(rng, (240, 240, 245), 10)
    return blue * (1 - t[..., None]) + white * t[..., None] * (0.85 + 0.15 * cloud[..., None])


def _fabric(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Woven cloth or canvas (banners, awnings, T-shirts): a fine weave with soft folds."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    p = rng.uniform(2.5, 5.0)
    weave = np.sin(xs * 2 * math.pi / p) * np.sin(ys * 2 * math.pi / p)
    folds = fbm(rng, h, w, cells=1, octaves=2)
    col = _jitter(rng, rng.uniform(40, 220, 3), 0)
    return col * (0.85 + 0.08 * weave + 0.35 * (folds - 0.5))[..., None]


def _metal(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Painted sheet metal: brushed streaks, rust patches breaking through, scratches."""
    streak = np.asarray(
        Image.fromarray((rng.random((h, max(2, w // 60))) * 255).astype(np.uint8)).resize(
            (w, h), Image.BILINEAR
        ),
        np.float32,
    )
    paint = _jitter(rng, rng.uniform(40, 220, 3), 0)
    img = paint * (0.9 + 0.15 * streak[..., None] / 255.0)
    rust = fbm(rng, h, w, cells=3, octaves=6)
    t = np.clip((rust - rng.uniform(0.6, 0.85)) / 0.1, 0, 1)[..., None]
    rust_col = _jitter(rng, (130, 70, 35), 20) * (0.7 + 0.6 * rust[..., None])
    return img * (1 - t) + rust_col * t


def _cobbles(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Cobbles, gravel or pebble-dash: cells around jittered points, each a shade, dark gaps."""
    cell = rng.uniform(10, 28)
    # one ring of extra cells around the image, so border pixels have all their neighbours
    gh, gw = math.ceil(h / cell) + 3, math.ceil(w / cell) + 3
    px = (np.arange(gw)[None, :] - 1 + rng.random((gh, gw))) * cell
    py = (np.arange(gh)[:, None] - 1 + rng.random((gh, gw))) * cell
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ci, cj = (ys // cell).astype(int) + 1, (xs // cell).astype(int) + 1
    best = np.full((h, w), np.inf, np.float32)
    second = np.full((h, w), np.inf, np.float32)
    owner = np.zeros((h, w), np.int64)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            i, j = ci + di, cj + dj
            dist = np.hypot(xs - px[i, j], ys - py[i, j])
            closer = dist < best
            second = np.where(closer, best, np.minimum(second, dist))
            owner = np.where(closer, i * gw + j, owner)
            best = np.where(closer, dist, best)
    shade = rng.uniform(0.6, 1.25, gh * gw).astype(np.float32)[owner]
    edge = np.clip((second - best) / (cell * 0.15), 0, 1)
    base = _jitter(rng, (140, 130, 115), 10) * rng.uniform(0.6, 1.3)
    grain = fbm(rng, h, w, cells=8, octaves=3)
    return base * (shade * (0.35 + 0.65 * edge) * (0.85 + 0.3 * grain))[..., None]


SURFACES: dict[str, _Surface] = {
    "brick": _brick,
    "wood": _wood,
    "foliage": _foliage,
    "stone": _stone,
    "marble": _marble,
    "sky": _sky,
    "fabric": _fabric,
    "metal": _metal,
    "cobbles": _cobbles,
}


def natural_textures(seed: int, h: int, w: int, per_kind: int = 2) -> tuple[np.ndarray, ...]:
    """``per_kind`` textures of every kind in ``SURFACES``, each (h, w, 3) uint8, with uneven
    light (a broad fractal shading, as under daylight) and a little sensor grain."""
    rng = np.random.default_rng([seed, 4])
    out = []
    for make in SURFACES.values():
        for _ in range(per_kind):
            tex = make(rng, h, w)
            light = fbm(rng, h, w, cells=1, octaves=2)
            tex = tex * (1 + rng.uniform(0.1, 0.45) * (light - 0.5))[..., None]
            tex = tex + rng.standard_normal((h, w, 1)).astype(np.float32) * 2.0
            out.append(np.clip(tex, 0, 255).astype(np.uint8))
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# the renderer's banks

BANK_H, BANK_W = 160, 1536


def _smooth_noise(rng: np.random.Generator, cells: tuple[int, int], channels: int) -> np.ndarray:
    """Low-frequency noise in [0, 1], shape (BANK_H, BANK_W, channels): bicubic-upsampled grid."""
    grid = (rng.random((cells[0], cells[1], channels)) * 255).astype(np.uint8)
    img = Image.fromarray(grid if channels == 3 else grid[..., 0])
    up = np.asarray(img.resize((BANK_W, BANK_H), Image.BICUBIC), np.float32) / 255.0
    return up if channels == 3 else up[..., None]


@lru_cache(maxsize=4)
def paper_bank(seed: int, n: int = 6) -> tuple[np.ndarray, ...]:
    """Paper textures, (H, W) uint8 where 255 is clean paper: blotches, fibres, grain, specks."""
    rng = np.random.default_rng([seed, 1])
    out = []
    for _ in range(n):
        blotch = _smooth_noise(rng, (3, 24), 1)[..., 0]
        fibre = np.asarray(
            Image.fromarray((rng.random((BANK_H, BANK_W // 8)) * 255).astype(np.uint8)).resize(
                (BANK_W, BANK_H), Image.BILINEAR
            ),
            np.float32,
        )
        grain = rng.standard_normal((BANK_H, BANK_W)).astype(np.float32)
        shade = blotch * rng.uniform(4, 16) + (fibre / 255.0) * rng.uniform(2, 6) + grain * 1.5
        tex = 255.0 - shade
        img = Image.fromarray(np.clip(tex, 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        for _ in range(rng.integers(0, 12)):  # dust and specks
            x, y = rng.integers(0, BANK_W), rng.integers(0, BANK_H)
            r = rng.uniform(0.4, 1.6)
            d.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.integers(130, 220)))
        out.append(np.asarray(img))
    return tuple(out)


@lru_cache(maxsize=4)
def photo_bank(seed: int, n: int = 12) -> tuple[np.ndarray, ...]:
    """Photo-like colour textures, (H, W, 3) uint8: a muted dominant colour with uneven light,
    blurred blobs, sharp-edged panels, stripes (planks, bricks, blinds) and grain; stand-ins for
    the walls, boards and shop fronts behind scene text."""
    rng = np.random.default_rng([seed, 2])
    ys, xs = np.mgrid[0:BANK_H, 0:BANK_W].astype(np.float32)
    out = []
    for k in range(n):
        hue = rng.random(3).astype(np.float32)
        base = hue.mean() + (hue - hue.mean()) * rng.uniform(0.2, 1.0)
        light = _smooth_noise(rng, (3, 16), 1) * rng.uniform(0.15, 0.5)
        light += _smooth_noise(rng, (14, 100), 1) * rng.uniform(0.01, 0.06)
        drift = (_smooth_noise(rng, (3, 12), 3) - 0.5) * rng.uniform(0.05, 0.3)
        tex = base + (light - light.mean()) + drift
        img = Image.fromarray(np.clip(tex * 255, 0, 255).astype(np.uint8))
        layer = img.copy()
        mask = Image.new("L", (BANK_W, BANK_H), 0)
        dl, dm = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
        for _ in range(rng.integers(3, 12)):
            x, y = rng.uniform(0, BANK_W), rng.uniform(0, BANK_H)
            rx, ry = rng.uniform(10, 160), rng.uniform(10, 90)
            col = np.clip(base + (rng.random(3) - 0.5) * 0.6, 0, 1) * 255
            dl.ellipse((x - rx, y - ry, x + rx, y + ry), fill=tuple(int(c) for c in col))
            dm.ellipse((x - rx, y - ry, x + rx, y + ry), fill=int(rng.integers(80, 230)))
        blur = ImageFilter.GaussianBlur(rng.uniform(3, 14))
        img = Image.composite(layer.filter(blur), img, mask.filter(blur))
        if rng.random() < 0.6:  # panels, frames, sign edges: sharp lines behind the text
            d = ImageDraw.Draw(img)
            for _ in range(rng.integers(1, 5)):
                x0, y0 = rng.uniform(0, BANK_W), rng.uniform(-40, BANK_H)
                w, h = rng.uniform(20, 600), rng.uniform(10, 200)
                col = np.clip(base + (rng.random(3) - 0.5) * 0.8, 0, 1) * 255
                d.rectangle((x0, y0, x0 + w, y0 + h), fill=tuple(int(c) for c in col))
            img = img.filter(ImageFilter.GaussianBlur(0.7))
        tex = np.asarray(img, np.float32) / 255.0
        if k % 3 == 0:  # stripes: planks, bricks, blinds
            ang = rng.uniform(0, math.pi)
            period = rng.uniform(6, 60)
            wave = np.sin((xs * math.cos(ang) + ys * math.sin(ang)) * (2 * math.pi / period))
            tex = tex + wave[..., None] * rng.uniform(0.03, 0.12)
        tex = tex + rng.standard_normal((BANK_H, BANK_W, 1)).astype(np.float32) * 0.012
        out.append(np.clip(tex * 255, 0, 255).astype(np.uint8))
    return tuple(out)


@lru_cache(maxsize=4)
def natural_bank(seed: int) -> tuple[np.ndarray, ...]:
    """Natural surfaces (brick, wood, foliage, stone, marble, sky, cloth, metal, cobbles),
    (H, W, 3) uint8: :func:`natural_textures` at the bank size."""
    return natural_textures(seed, BANK_H, BANK_W)


@lru_cache(maxsize=4)
def noise_bank(seed: int) -> np.ndarray:
    """Standard-normal noise, (H, W, 3) float32, windowed at random offsets per image."""
    rng = np.random.default_rng([seed, 3])
    return rng.standard_normal((BANK_H, BANK_W, 3), dtype=np.float32)


BANKS = (paper_bank, photo_bank, noise_bank, natural_bank)
"""Every bank builder, each called with the texture seed (e.g. to build them before timing)."""
