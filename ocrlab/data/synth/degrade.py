"""What happens to a rendered line after it is drawn: rules and strokes, occlusion, resolution
loss, blur, low contrast, noise and JPEG, each with its probability (:class:`Degradations`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..textures import noise_bank
from .config import Degradations
from .paint import Draws, colourize, jpeg, lum, random_colour, window


def apply_degradations(
    img: Image.Image,
    deg: Degradations,
    d: Draws,
    p: dict[str, Any],
    scene: bool,
    texture_seed: int,
) -> Image.Image:
    """Lines, occlusion, resolution drop (JPEG while small), blur, low contrast, noise
    (grey images stay grey until the document tint), then JPEG. Each step is drawn with
    its probability."""
    W, H = img.size
    applied: list[str] = []
    ramp = p.pop("_ramp", None)
    grey = img.mode == "L"

    def colour(v: tuple[int, int, int]) -> int | tuple[int, int, int]:
        return int(lum(v)) if grey else v

    if d.chance(deg.p_lines):
        draw = ImageDraw.Draw(img)
        for _ in range(d.int(1, 2)):
            c = colour((0, 0, 0)) if grey else random_colour(d)
            width = d.int(1, max(1, H // 16))
            if d.chance(0.6):  # table rule / underline, near the top or bottom edge
                y = d.uniform(0, 0.15) * H if d.chance(0.5) else d.uniform(0.85, 1.0) * H
                draw.line((0, y + d.uniform(-2, 2), W, y + d.uniform(-2, 2)), fill=c, width=width)
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
        c = colour(random_colour(d)) if scene or d.chance(0.5) else 255
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
            small = jpeg(small, q)
            applied.append(f"lowres_jpeg={q}")
        img = small.resize((W, H), resample)
    if d.chance(deg.p_blur):
        s = d.uniform(*deg.blur_sigma)
        img = img.filter(ImageFilter.GaussianBlur(s))
        applied.append(f"blur={s:.2f}")
    if ramp is not None:
        img = colourize(np.asarray(img), *ramp)
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
        n = window(noise_bank(texture_seed), W, H, d)
        if d.chance(0.5):  # luminance-only noise (scanners) vs colour noise (cameras)
            n = n[..., :1]
        arr = np.asarray(img, np.float32) + n * s
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        applied.append(f"noise={s:.1f}")
    if d.chance(deg.p_jpeg):
        q = d.int(*deg.jpeg_quality)
        img = jpeg(img, q).convert("RGB")
        applied.append(f"jpeg={q}")
    p["degradations"] = applied
    return img
