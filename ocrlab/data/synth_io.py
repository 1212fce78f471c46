"""Rendering synthetic datasets to disk: an ordered, optionally multi-process stream of
encoded samples for the (atomic) folder and LMDB writers."""

from __future__ import annotations

import io
import multiprocessing as mp
from collections.abc import Iterator

from PIL import Image

_WORKER_DATASET = None


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of ``image``; a low compression level keeps writing fast (lines are small)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _init_worker(dataset) -> None:
    global _WORKER_DATASET
    _WORKER_DATASET = dataset


def _render_encoded(index: int) -> tuple[bytes, str]:
    sample = _WORKER_DATASET[index]
    return encode_png(sample.image), sample.text


def rendered_samples(dataset, *, workers: int = 1) -> Iterator[tuple[bytes, str]]:
    """Yield ``(png_bytes, text)`` for every sample of ``dataset`` in index order.

    With ``workers > 1`` samples render in a process pool; order (and so the output) is the
    same as with one process, because every sample depends only on its index and seed."""
    if workers <= 1:
        for i in range(len(dataset)):
            sample = dataset[i]
            yield encode_png(sample.image), sample.text
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(dataset,)) as pool:
        yield from pool.imap(_render_encoded, range(len(dataset)), chunksize=64)
