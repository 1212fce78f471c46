"""The single place that turns a file, bytes, a PIL image or an array into an RGB PIL image.

Every reader in ocrlab (datasets, packers, the demo, the app) goes through :func:`load_image`, so
every unusual mode (16-bit, float, CMYK, palette with transparency, 1-bit, alpha) and every bad
file (missing, not an image, truncated, empty, decompression bomb) is handled once, with a
:class:`~ocrlab.errors.DataError` that names the file.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import DataError

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray

# Modes that carry transparency; transparent pixels are shown on white, as a page would be.
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WHITE = (255, 255, 255)


def load_image(source: ImageSource, *, name: str | None = None) -> Image.Image:
    """Load ``source`` as a fully decoded ``"RGB"`` image.

    Args:
        source: a path, encoded image bytes, a PIL image (any mode) or a numpy array of shape
            (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) with dtype uint8, uint16, another integer
            type, bool or float.
        name: what error messages call the image (default: the path, ``<bytes>``,
            ``<PIL image>`` or ``<array>``); datasets pass the sample's file or key.

    Returns:
        A PIL image of mode ``"RGB"``, size (W, H) in pixels, already loaded (no lazy file
        handle), with EXIF orientation applied. An RGB PIL image passed in comes back as the
        same object (no copy).

    Pixel conventions: alpha is composited on white; 16-bit images are scaled by 1/257 to 8 bit;
    32-bit integer images (PIL's ``"I"``, e.g. some 16-bit PNGs) are taken as 16-bit when their
    maximum is above 255 and rescaled min..max when above 65535; float images in [0, 1] are
    multiplied by 255, floats in [0, 255] are kept, anything else is rescaled min..max.
    Extreme aspect ratios are not an error here (:class:`~ocrlab.data.transforms.LineTransform`
    clamps the width).

    Raises:
        DataError: naming the file (or ``name``) when the path is missing or a directory, the
            file is empty, not an image, truncated or corrupt, the image has zero width or
            height, or it has more pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` (a decompression
            bomb).
    """
    if isinstance(source, Image.Image):
        label = name or "<PIL image>"
        img = _decode(source, label)
    elif isinstance(source, np.ndarray):
        label = name or "<array>"
        img = _from_array(source, label)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        data = bytes(source)
        if not data:
            raise DataError(f"{label}: empty image data (0 bytes)")
        img = _open(io.BytesIO(data), label)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or str(path)
        if not path.exists():
            raise DataError(f"{label}: image file not found")
        if path.is_dir():
            raise DataError(f"{label}: is a directory, not an image file")
        if path.stat().st_size == 0:
            raise DataError(f"{label}: empty image file (0 bytes)")
        try:
            fp = path.open("rb")
        except OSError as exc:
            raise DataError(f"{label}: cannot read image file ({exc})") from exc
        with fp:
            img = _open(fp, label)
    else:
        raise TypeError(
            f"load_image: expected a path, bytes, PIL image or numpy array, got {type(source)!r}"
        )
    return _to_rgb(img, label)


def _open(fp, label: str) -> Image.Image:
    """Open and fully decode an encoded image from a binary file object."""
    try:
        # PIL only warns between MAX_IMAGE_PIXELS and twice that; a bomb is an error here.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{label}: image too large, possible decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise DataError(f"{label}: not an image file (PIL cannot identify its format)") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{label}: cannot open image ({exc})") from exc
    return _decode(img, label)


def _decode(img: Image.Image, label: str) -> Image.Image:
    """Force decoding (a lazy PIL image only reads its header) and check its size."""
    w, h = img.size
    if w <= 0 or h <= 0:
        raise DataError(f"{label}: image has zero size ({w}x{h} pixels)")
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and w * h > limit:
        raise DataError(
            f"{label}: image too large ({w}x{h} = {w * h} pixels > PIL.Image.MAX_IMAGE_PIXELS"
            f" = {limit}), possible decompression bomb"
        )
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone switched PIL to pad truncated files silently; we still want to know.
        warnings.warn(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set: truncated images load without error",
            stacklevel=3,
        )
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"{label}: truncated or corrupt image ({exc})") from exc
    except Image.DecompressionBombError as exc:  # pragma: no cover - caught at open normally
        raise DataError(f"{label}: image too large, possible decompression bomb ({exc})") from exc
    # A broken EXIF block must not make an otherwise good image unreadable.
    with contextlib.suppress(Exception):
        img = ImageOps.exif_transpose(img)
    return img


def _to_rgb(img: Image.Image, label: str) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("P", "PA") or (mode == "L" and "transparency" in img.info):
        # Palette / grey-key transparency (tRNS) only survives through RGBA.
        has_alpha = mode == "PA" or "transparency" in img.info
        if not has_alpha:
            return img.convert("RGB")
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        return _from_array(np.asarray(img), label)
    try:  # "1", "L", "CMYK", "YCbCr", "LAB", "HSV" and anything else PIL can convert
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise DataError(f"{label}: unsupported image mode {mode!r} ({exc})") from exc


def _from_array(array: np.ndarray, label: str) -> Image.Image:
    """An (H, W[, C]) array of any numeric dtype as an RGB image (conventions in load_image)."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise DataError(
            f"{label}: array of shape {a.shape} is not an image; expected (H, W), (H, W, 1),"
            " (H, W, 3) or (H, W, 4)"
        )
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        raise DataError(f"{label}: image has zero size ({w}x{h} pixels)")
    a8 = _to_uint8(a, label)
    if a8.ndim == 2:
        return Image.fromarray(a8, mode="L").convert("RGB")
    if a8.shape[2] == 3:
        return Image.fromarray(np.ascontiguousarray(a8), mode="RGB")
    return _to_rgb(Image.fromarray(np.ascontiguousarray(a8), mode="RGBA"), label)


def _to_uint8(a: np.ndarray, label: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64, copy=False)
        if not np.isfinite(a).all():
            raise DataError(f"{label}: float image contains NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0.0 and hi <= 1.0:
            a = a * 255.0
        elif not (lo >= 0.0 and hi <= 255.0):
            a = _stretch(a, lo, hi)
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        if a.dtype == np.uint16:
            return (a.astype(np.uint32) // 257).astype(np.uint8)
        lo, hi = int(a.min()), int(a.max())
        if lo >= 0 and hi <= 255:
            return a.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return (a.astype(np.uint32) // 257).astype(np.uint8)
        return np.clip(np.rint(_stretch(a.astype(np.float64), lo, hi)), 0, 255).astype(np.uint8)
    raise DataError(f"{label}: unsupported array dtype {a.dtype}")


def _stretch(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map lo..hi to 0..255 (a constant image becomes mid-grey rather than dividing by 0)."""
    if hi <= lo:
        return np.full_like(a, 128.0, dtype=np.float64)
    return (a - lo) * (255.0 / (hi - lo))
