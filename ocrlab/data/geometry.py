"""The renderer's geometry: one homography or one arc bend applied to an ink mask, cropped
straight into its output window, with the points (glyph boxes) moved along.

Every function takes and returns numpy arrays: ``mask`` is a single-channel uint8 image
(ink = 255), ``window`` is ``(x0, y0, x1, y1)`` in its pixels, ``pts`` is ``(k, 2)`` x, y.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 H with dst ~ H @ src for four (x, y) point pairs."""
    a = []
    b = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    h = np.linalg.solve(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def apply_homography(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """``pts`` ((k, 2) x, y) mapped through the 3x3 homography ``h``."""
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def crop_pad(mask: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """``mask[y0:y1, x0:x1]`` with zeros where the window leaves the array."""
    h, w = mask.shape
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return np.ascontiguousarray(mask[y0:y1, x0:x1])
    out = np.zeros((y1 - y0, x1 - x0), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = mask[sy0:sy1, sx0:sx1]
    return out


def warp_window(
    mask: np.ndarray,
    window: tuple[int, int, int, int],
    geo: tuple[float, float, np.ndarray],
    pts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate/shear/perspective-warp the window of ``mask`` and crop to the warped window's
    bounding box in one resampling. Returns the new mask and ``pts`` ((k, 2) x, y in ``mask``
    coordinates) moved into it."""
    angle, shear, jitter = geo
    wx0, wy0, wx1, wy1 = window
    src = np.array([[wx0, wy0], [wx1, wy0], [wx1, wy1], [wx0, wy1]], np.float64)
    c = src.mean(0)
    cos, sin = math.cos(angle), math.sin(angle)
    aff = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    dst = (src - c) @ aff.T + jitter
    dst -= dst.min(0)
    h = homography(src, dst)
    out_w, out_h = (math.ceil(v) for v in dst.max(0))
    out_w, out_h = max(out_w, 1), max(out_h, 1)
    inv = np.linalg.inv(h)
    inv /= inv[2, 2]
    warped = Image.fromarray(mask).transform(
        (out_w, out_h), Image.PERSPECTIVE, tuple(inv.ravel()[:8]), Image.BILINEAR
    )
    return np.asarray(warped), apply_homography(h, pts)


def bend_window(
    mask: np.ndarray,
    window: tuple[int, int, int, int],
    angle: float,
    mid_y: float,
    pts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Set the window of ``mask`` on a circular arc: its mid-line (row ``mid_y``) becomes an
    arc of ``|angle|`` radians, arched for ``angle > 0`` (centre below), sagging for
    ``angle < 0``. Lengths along the mid-line are kept, every column stays perpendicular to it
    (glyphs turn with the arc, as on a round sign). Returns the bent window (cropped to its
    bounding box), ``pts`` ((k, 2) in ``mask`` coordinates) moved into it, and the mid-line's
    circle (centre x, centre y, radius) in the bent window's pixels."""
    wx0, wy0, wx1, wy1 = window
    src = crop_pad(mask, wx0, wy0, wx1, wy1)
    h, w = src.shape
    m, c, sgn = mid_y - wy0, w / 2.0, 1.0 if angle > 0 else -1.0
    radius = w / abs(angle)

    def forward(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = (x - c) / radius
        rho = radius + sgn * (m - y)  # rows away from the centre lie on larger circles
        return rho * np.sin(theta), -sgn * rho * np.cos(theta)

    edge = np.linspace(0.0, 1.0, 33)
    bx = np.r_[edge * w, edge * w, np.zeros(33), np.full(33, w)]
    by = np.r_[np.zeros(33), np.full(33, h), edge * h, edge * h]
    ex, ey = forward(bx, by)
    ox, oy = float(ex.min()), float(ey.min())
    out_w, out_h = max(1, math.ceil(ex.max() - ox)), max(1, math.ceil(ey.max() - oy))

    # inverse map on a grid every 4 px, stretched bilinearly to every pixel (the map is smooth:
    # the error is about 1.4 px / distance from the centre, 0.02 px at a 70 px radius), then a
    # bilinear read of the source; PIL's MESH transform would cost a Python call per cell
    step = 4
    gx = np.arange(0, out_w + step, step, dtype=np.float32) + ox
    gy = np.arange(0, out_h + step, step, dtype=np.float32)[:, None] + oy
    grid = (
        (c + radius * np.arctan2(gx, -sgn * gy)).astype(np.float32),
        (m - sgn * (np.hypot(gx, gy) - radius)).astype(np.float32),
    )
    # node k of the grid image (centre k + 0.5) is output coordinate k * step, so output pixel
    # centre i + 0.5 reads the grid image at 0.5 + (i + 0.5) / step
    box = (0.5, 0.5, 0.5 + out_w / step, 0.5 + out_h / step)
    sx, sy = (
        np.asarray(Image.fromarray(g, "F").resize((out_w, out_h), Image.BILINEAR, box=box))
        for g in grid
    )
    # pixel i covers [i, i + 1); one row and column of zeros around the source absorb reads
    # that fall outside it
    padded = np.pad(src, 1).astype(np.float32).ravel()
    fx = np.clip(sx + 0.5, 0, w + 0.999)
    fy = np.clip(sy + 0.5, 0, h + 0.999)
    x0, y0 = np.floor(fx), np.floor(fy)
    ax, ay = fx - x0, fy - y0
    i00 = y0.astype(np.int32) * (w + 2) + x0.astype(np.int32)
    a, b = np.take(padded, i00), np.take(padded, i00 + 1)
    top = a + (b - a) * ax
    a, b = np.take(padded, i00 + w + 2), np.take(padded, i00 + w + 3)
    top += (a + (b - a) * ax - top) * ay
    bent = (top + 0.5).astype(np.uint8)
    px, py = forward(pts[:, 0] - wx0, pts[:, 1] - wy0)
    moved = np.c_[px - ox, py - oy]
    return bent, moved, (-ox, -oy, radius)
