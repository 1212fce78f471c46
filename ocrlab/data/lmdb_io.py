"""Writing datasets: STR-standard LMDB and image folders with ``labels.tsv``, atomically.

Every writer builds its output in a sibling temporary directory (``<out>.tmp-<pid>``) and
renames it into place only after the last sample (and, for LMDB, ``num-samples``) is written
and synced. An exception or Ctrl-C while writing removes the temporary directory and leaves an
existing ``<out>`` untouched; replacing an existing output needs ``overwrite=True`` and swaps
the directories by rename, so readers never see a half-written dataset.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb
import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ..errors import DataError
from ..files import atomic_dir
from .datasets import FolderDataset
from .image import load_image

DEFAULT_MAP_SIZE = 1 << 28  # 256 MiB to start; doubled whenever LMDB reports MapFullError
_FORMATS = {"PNG": "png", "JPEG": "jpg"}
_EXT = {"PNG": "png", "JPEG": "jpg", "BMP": "bmp", "TIFF": "tif", "WEBP": "webp", "GIF": "gif"}


def write_lmdb(
    samples: Iterable[Any],
    path: str | os.PathLike,
    *,
    image_format: str = "PNG",
    map_size: int | None = None,
    progress: bool = True,
    total: int | None = None,
    overwrite: bool = False,
    commit_every: int = 1000,
) -> int:
    """Write ``(image, text)`` samples to an STR-standard LMDB directory ``path`` (``x.lmdb``).

    Args:
        samples: ``(image, text)`` pairs or objects with ``.image`` and ``.text`` (a
            :class:`~ocrlab.data.datasets.Sample`); ``image`` is encoded image bytes (stored
            as they are after a header check) or a PIL image / array (encoded as
            ``image_format``).
        path: the LMDB directory to create.
        image_format: ``"PNG"`` (lossless) or ``"JPEG"`` (quality 95) for non-bytes images.
        map_size: initial LMDB map size in bytes (grown automatically when full).
        progress: show a tqdm bar; ``total`` is its length when ``samples`` has no ``len``.
        overwrite: replace an existing ``path`` (atomically); otherwise that is an error.
        commit_every: samples per write transaction.

    Returns:
        The number of samples written (keys ``image-%09d`` / ``label-%09d`` from 1, then
        ``num-samples``, which is written last).

    Raises:
        DataError: ``path`` exists without ``overwrite``; a sample with an empty or non-string
            label or an image that cannot be encoded (naming the sample).
    """
    fmt = _check_format(image_format)
    path = Path(path)
    size = int(map_size or DEFAULT_MAP_SIZE)
    total = total if total is not None else _len_or_none(samples)
    _refuse_existing(path, overwrite)
    with atomic_dir(path) as tmp:
        env = lmdb.open(str(tmp), map_size=size, subdir=True, meminit=False, map_async=True)
        try:
            n = 0
            pending: list[tuple[bytes, bytes]] = []
            for sample in _progress(samples, total, progress, path):
                n += 1
                image, text, where = _unpack(sample, n)
                pending.append((b"image-%09d" % n, _encode(image, fmt, where)))
                pending.append((b"label-%09d" % n, text.encode("utf-8")))
                if len(pending) >= 2 * commit_every:
                    size = _put_all(env, pending, size)
                    pending.clear()
            pending.append((b"num-samples", str(n).encode("ascii")))
            size = _put_all(env, pending, size)
            env.sync(True)
        finally:
            env.close()
    return n


def write_folder(
    samples: Iterable[Any],
    out_dir: str | os.PathLike,
    *,
    image_format: str = "PNG",
    progress: bool = True,
    total: int | None = None,
    overwrite: bool = False,
) -> int:
    """Write samples as ``out_dir/images/000000001.png`` ... plus ``out_dir/labels.tsv``.

    Same samples, atomicity and errors as :func:`write_lmdb`; encoded bytes keep their own
    format and extension. Labels containing a tab or a line break cannot be written to
    ``labels.tsv`` and raise ``DataError`` naming the sample. Returns the number written.
    """
    fmt = _check_format(image_format)
    out = Path(out_dir)
    total = total if total is not None else _len_or_none(samples)
    _refuse_existing(out, overwrite)
    with atomic_dir(out) as tmp:
        (tmp / "images").mkdir()
        n = 0
        with open(tmp / "labels.tsv", "w", encoding="utf-8", newline="\n") as labels:
            for sample in _progress(samples, total, progress, out):
                n += 1
                image, text, where = _unpack(sample, n)
                if any(c in text for c in "\t\n\r"):
                    raise DataError(f"{where}: label {text!r} holds a tab or line break")
                data = _encode(image, fmt, where)
                ext = _FORMATS[fmt] if not isinstance(image, (bytes, bytearray)) else _ext_of(data)
                rel = f"images/{n:09d}.{ext}"
                (tmp / rel).write_bytes(data)
                labels.write(f"{rel}\t{text}\n")
            labels.flush()
            os.fsync(labels.fileno())
    return n


@dataclass
class PackReport:
    """What :func:`pack_folder` did; ``str()`` gives a one-line summary."""

    out: Path
    source: Path
    written: int
    skipped: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        s = f"packed {self.written} samples from {self.source} into {self.out}"
        if self.skipped:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            s += f"; skipped {sum(self.skipped.values())} ({reasons})"
        return s

    def __int__(self) -> int:
        return self.written


def pack_folder(
    src_dir: str | os.PathLike,
    out: str | os.PathLike,
    labels: str | os.PathLike = "labels.tsv",
    *,
    charset: Any = None,
    policy: str = "error",
    skip_bad: bool = False,
    image_format: str = "PNG",
    map_size: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> PackReport:
    """Pack a folder dataset (``labels.tsv``) into an LMDB at ``out``.

    Labels are checked as :class:`~ocrlab.data.datasets.FolderDataset` does; every image is
    decoded once to validate it, and its original file bytes are stored (no re-encoding, so
    no quality loss). With ``skip_bad=True`` bad lines and unreadable images are skipped and
    counted in the report; otherwise the first one raises ``DataError`` naming it and nothing
    is written.
    """
    dataset = FolderDataset(src_dir, labels, charset=charset, policy=policy, skip_bad=skip_bad)

    def valid_samples() -> Iterator[tuple[bytes, str]]:
        for entry in dataset.entries:
            try:
                data = entry.path.read_bytes()
                load_image(data, name=str(entry.path))
            except (DataError, OSError) as exc:
                if not skip_bad:
                    if isinstance(exc, DataError):
                        raise
                    raise DataError(f"{entry.path}: cannot read image file ({exc})") from exc
                dataset.skipped["unreadable image"] += 1
                continue
            yield data, entry.text

    written = write_lmdb(
        valid_samples(),
        out,
        image_format=image_format,
        map_size=map_size,
        progress=progress,
        total=len(dataset),
        overwrite=overwrite,
    )
    return PackReport(Path(out), dataset.labels_path, written, Counter(dataset.skipped))


# --- helpers -------------------------------------------------------------------------------


def _refuse_existing(target: Path, overwrite: bool) -> None:
    if target.exists() and not overwrite:
        raise DataError(f"{target}: already exists (pass overwrite=True to replace it)")


def _put_all(env, items: list[tuple[bytes, bytes]], size: int) -> int:
    """Write ``items`` in one transaction, doubling the map size until they fit."""
    while True:
        try:
            with env.begin(write=True) as txn:
                for k, v in items:
                    txn.put(k, v)
            return size
        except lmdb.MapFullError:
            size *= 2
            env.set_mapsize(size)


def _check_format(image_format: str) -> str:
    fmt = image_format.upper().replace("JPG", "JPEG")
    if fmt not in _FORMATS:
        raise ValueError(f"image_format must be 'PNG' or 'JPEG', got {image_format!r}")
    return fmt


def _unpack(sample: Any, n: int) -> tuple[Any, str, str]:
    if hasattr(sample, "image") and hasattr(sample, "text"):
        image, text = sample.image, sample.text
        where = f"sample {n} ({getattr(sample, 'key', '?')})"
    else:
        try:
            image, text = sample
        except (TypeError, ValueError):
            raise DataError(
                f"sample {n}: expected an (image, text) pair, got {type(sample)!r}"
            ) from None
        where = f"sample {n}"
    if not isinstance(text, str):
        raise DataError(f"{where}: label must be a str, got {type(text).__name__}")
    if not text.strip():
        raise DataError(f"{where}: empty label")
    return image, text, where


def _encode(image: Any, fmt: str, where: str) -> bytes:
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        _ext_of(data, where)  # header check only: a non-image must not enter a dataset
        return data
    if isinstance(image, Image.Image):
        ok_modes = ("L", "RGB") if fmt == "JPEG" else ("1", "L", "LA", "P", "RGB", "RGBA")
        if image.mode not in ok_modes:
            image = load_image(image, name=where)
    elif isinstance(image, np.ndarray):
        image = load_image(image, name=where)
    else:
        raise DataError(
            f"{where}: image must be bytes, a PIL image or an array, not {type(image)!r}"
        )
    if image.width == 0 or image.height == 0:
        raise DataError(f"{where}: image has zero size ({image.width}x{image.height} pixels)")
    buf = io.BytesIO()
    if fmt == "JPEG":
        image.save(buf, format="JPEG", quality=95)
    else:
        # Lines are small; a low compression level keeps writing fast at little size cost.
        image.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _ext_of(data: bytes, where: str = "image") -> str:
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{where}: bytes are not an encoded image ({exc})") from exc
    return _EXT.get(fmt, fmt.lower() or "bin")


def _len_or_none(samples: Any) -> int | None:
    try:
        return len(samples)
    except TypeError:
        return None


def _progress(samples: Iterable[Any], total: int | None, progress: bool, out: Path):
    if not progress:
        return samples

    return tqdm(samples, total=total, desc=f"writing {out.name}", unit=" lines")
