"""Rendering synthetic datasets to disk: options → dataset, and an ordered, optionally
multi-process stream of encoded samples for the (atomic) folder and LMDB writers."""

from __future__ import annotations

import io
import multiprocessing as mp
from collections.abc import Iterator, Sequence

from PIL import Image

_WORKER_DATASET = None


def synth_dataset(
    *,
    n: int,
    seed: int = 0,
    preset: str = "default",
    text: str = "wordfreq:en",
    crop: str | None = None,
    min_chars: int | None = None,
    max_chars: int | None = None,
    font_dirs: Sequence[str] = (),
    charset=None,
):
    """A :class:`~ocrlab.data.datasets.SyntheticLines` from command-line style options.

    With a ``charset``, the text source only draws text the charset can encode."""
    from .datasets import SyntheticLines
    from .synth import Renderer, SynthConfig
    from .text import make_text_source

    config = SynthConfig.preset(preset)
    if crop is not None:
        config.crop = crop
    if font_dirs:
        config.font_dirs = list(font_dirs)
    for key, value in (("min_chars", min_chars), ("max_chars", max_chars)):
        if value is not None:
            text += f",{key}={value}"
    words = None
    if text.startswith("wordfreq") and "words_only" not in text:
        words = make_text_source(text + ",words_only=true", seed=seed, charset=charset)
    source = make_text_source(text, seed=seed, charset=charset)
    return SyntheticLines(n, seed=seed, text=source, renderer=Renderer(config), words=words)


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
