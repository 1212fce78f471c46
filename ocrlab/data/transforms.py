"""From a line image to the model's input tensor, and from samples to a padded CTC batch.

:func:`prepare_lines` is the one way every reader (``OCRModel.recognize``, the ONNX recognizer,
the app, the attention and attribution views) turns images into width-sorted padded batches
and maps what it reads back to the input order and the original pixels.

Layout (DESIGN.md): a grayscale line of height 32, aspect kept, width capped at 512 for training;
a batch is right-padded to its widest line rounded up to a multiple of 4 (the encoder's stride),
and keeps every line's true width so the model can ignore the padding.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import DataError, SkipSample
from .datasets import Sample
from .image import load_image


@dataclass
class LineTransform:
    """Grayscale, resize to ``height`` keeping the aspect ratio, normalize.

    Output width = ``round(w * height / h)`` clamped to ``[multiple, max_width]``: a line
    longer than ``max_width`` is squeezed horizontally (not cropped, so no characters are lost);
    a very narrow image (e.g. 1x5000) becomes ``multiple`` pixels wide. ``max_width=None`` means
    no cap (inference: CTC reads any width). The width is *not* rounded to ``multiple`` here;
    :class:`Collate` pads the batch.

    Pixel values: ``(x / 255 - mean) / std`` with x in 0..255, so with the defaults white is
    +1.0 and black -1.0.
    """

    height: int = 32
    max_width: int | None = 512
    multiple: int = 4
    mean: float = 0.5
    std: float = 0.5
    resample: int = Image.Resampling.BILINEAR

    def __post_init__(self) -> None:
        if self.height < 1 or self.multiple < 1:
            raise ValueError(f"LineTransform: height and multiple must be >= 1, got {self}")
        if self.max_width is not None and self.max_width < self.multiple:
            raise ValueError(f"LineTransform: max_width must be >= multiple, got {self}")
        if self.std <= 0:
            raise ValueError(f"LineTransform: std must be > 0, got {self.std}")

    @property
    def pad_value(self) -> float:
        """The normalized value of white, used to pad batches (lines sit on a light page)."""
        return (1.0 - self.mean) / self.std

    def output_width(self, width: int, height: int) -> int:
        """The width in pixels that an image of ``width`` x ``height`` is resized to."""
        w = round(width * self.height / max(1, height)) if height > 0 else self.multiple
        w = max(self.multiple, w)
        if self.max_width is not None:
            w = min(self.max_width, w)
        return w

    def __call__(self, image: Any) -> torch.Tensor:
        """Return the normalized float32 tensor of shape (1, height, w); w is the true width."""
        if not (isinstance(image, Image.Image) and image.mode in ("L", "RGB")):
            image = load_image(image)
        gray = image if image.mode == "L" else image.convert("L")
        size = (self.output_width(*gray.size), self.height)
        if gray.size != size:
            gray = gray.resize(size, self.resample)
        # (x/255 - mean)/std as one multiply-add; numpy, because per-op torch overhead on a
        # 32x300 image costs more than the arithmetic
        x = np.asarray(gray, dtype=np.float32)[None]  # (1, H, w)
        x *= 1.0 / (255.0 * self.std)
        x -= self.mean / self.std
        return torch.from_numpy(x)


@dataclass
class Batch:
    """A padded batch for CTC training/inference.

    Attributes:
        images: (B, 1, H, Wmax) float32; Wmax = widest line rounded up to a multiple of 4; the
            right padding holds the transform's ``pad_value`` (normalized white).
        widths: (B,) int64 true widths in pixels before padding.
        texts: B label strings as the dataset gave them (not normalized).
        targets: (sum of target_lengths,) int64, the charset ids of all labels concatenated
            (the 1-D form ``torch.nn.functional.ctc_loss`` accepts).
        target_lengths: (B,) int64.
        keys: B sample keys (which dataset and sample each line came from).
        skipped: how many samples of this batch were dropped (unreadable images returned as
            ``None`` by ``skip_bad`` datasets, labels skipped by ``policy="skip"``).
    """

    images: torch.Tensor
    widths: torch.Tensor
    texts: list[str]
    targets: torch.Tensor
    target_lengths: torch.Tensor
    keys: list[str]
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    def _map(self, fn) -> Batch:
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in kw.items():
            if isinstance(v, torch.Tensor):
                kw[k] = fn(v)
        return Batch(**kw)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on ``device``."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Batch:
        """Called by ``DataLoader(pin_memory=True)``."""
        return self._map(lambda t: t.pin_memory())


@dataclass
class Collate:
    """``DataLoader`` collate function: samples -> :class:`Batch`.

    Each sample has ``.image``, ``.text`` and ``.key`` (a :class:`~ocrlab.data.datasets.Sample`);
    images that are not yet tensors go through ``transform`` (default ``LineTransform()``), so
    pass the dataset's transform here when it is not the default (padding uses its
    ``pad_value`` and ``multiple``). ``None`` samples (unreadable images of a ``skip_bad``
    dataset) are dropped and counted in ``Batch.skipped``. Labels are encoded with
    ``charset.encode(text, sample=key, policy=policy)``: ``"error"`` raises a
    :class:`~ocrlab.errors.CharsetError` naming the sample, ``"skip"`` drops and counts it,
    ``"replace"`` substitutes ``replacement``. ``charset=None`` gives empty targets (inference).
    A batch where every sample was dropped has B = 0.
    """

    charset: Any = None
    policy: str = "error"
    replacement: str | None = None
    transform: LineTransform = field(default_factory=LineTransform)

    def __call__(self, samples: Sequence[Any]) -> Batch:
        images: list[torch.Tensor] = []
        texts: list[str] = []
        keys: list[str] = []
        ids: list[list[int]] = []
        skipped = 0
        for sample in samples:
            if sample is None:
                skipped += 1
                continue
            label = self._encode(sample.text, sample.key)
            if label is None:
                skipped += 1
                continue
            image = sample.image
            if not isinstance(image, torch.Tensor):
                image = self.transform(image)
            images.append(image)
            texts.append(sample.text)
            keys.append(sample.key)
            ids.append(label)
        return self._pad(images, texts, keys, ids, skipped)

    def _encode(self, text: str, key: str) -> list[int] | None:
        if self.charset is None:
            return []
        kw = {"sample": key, "policy": self.policy}
        if self.replacement is not None:
            kw["replacement"] = self.replacement
        try:
            return list(self.charset.encode(text, **kw))
        except SkipSample:
            return None

    def _pad(self, images, texts, keys, ids, skipped) -> Batch:
        height = self.transform.height
        for image, key in zip(images, keys, strict=True):
            if image.dim() != 3 or image.shape[0] != 1:
                raise DataError(f"{key}: image tensor must have shape (1, H, w), got {image.shape}")
        heights = {int(im.shape[1]) for im in images}
        if len(heights) > 1:
            detail = ", ".join(f"{k}: {im.shape[1]}" for k, im in zip(keys, images, strict=True))
            raise DataError(f"line heights differ within a batch ({detail})")
        if heights:
            height = heights.pop()
        widths = [int(im.shape[2]) for im in images]
        m = self.transform.multiple
        wmax = max(m, math.ceil(max(widths, default=0) / m) * m)
        batch = torch.full((len(images), 1, height, wmax), self.transform.pad_value)
        for i, image in enumerate(images):
            batch[i, :, :, : widths[i]] = image
        flat = [i for label in ids for i in label]
        return Batch(
            images=batch,
            widths=torch.tensor(widths, dtype=torch.long),
            texts=texts,
            targets=torch.tensor(flat, dtype=torch.long),
            target_lengths=torch.tensor([len(x) for x in ids], dtype=torch.long),
            keys=keys,
            skipped=skipped,
        )


def collate(
    samples: Sequence[Any],
    charset: Any = None,
    policy: str = "error",
    *,
    transform: LineTransform | None = None,
) -> Batch:
    """Functional form of :class:`Collate` (use the class with ``DataLoader(num_workers>0)``,
    or ``functools.partial`` of this)."""
    return Collate(charset, policy, transform=transform or LineTransform())(samples)


@dataclass
class PreparedLines:
    """Line images made ready for a reader by :func:`prepare_lines`.

    ``originals[i]``: the decoded image ``i`` (PIL RGB, its original size); ``tensors[i]``: its
    (1, H, w) model input. :meth:`batches` yields width-sorted padded batches with the input
    indices they hold; :meth:`scale` maps model-input pixels back to the original's.
    """

    originals: list[Image.Image]
    tensors: list[torch.Tensor]
    transform: LineTransform
    batch_size: int

    def __len__(self) -> int:
        return len(self.tensors)

    def scale(self, i: int) -> float:
        """Original pixels per model-input pixel of line ``i`` (horizontally)."""
        return self.originals[i].width / self.tensors[i].shape[-1]

    def batches(self, *, sort: bool = True) -> Iterator[tuple[list[int], Batch]]:
        """``(input indices, Batch)`` of at most ``batch_size`` lines; sorted by width (the
        least padding computed) unless ``sort=False`` (input order)."""
        order = list(range(len(self)))
        if sort:
            order.sort(key=lambda i: self.tensors[i].shape[-1])
        collate = Collate(transform=self.transform)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield idx, collate([Sample(self.tensors[i], "", f"image {i}") for i in idx])


def prepare_lines(
    images: Sequence[Any],
    *,
    height: int = 32,
    max_width: int | None = 2048,
    batch_size: int = 32,
) -> PreparedLines:
    """Decode ``images`` (paths, bytes, PIL images or arrays) and resize them for a reader.

    The aspect ratio is kept; ``max_width`` (pixels after scaling to ``height``) only squeezes
    longer lines (a CTC model reads any width). A file that cannot be read raises a
    :class:`~ocrlab.errors.DataError` naming it (a path by its path, others as ``image i``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    transform = LineTransform(height=height, max_width=max_width)
    originals = [
        load_image(img, name=str(img) if isinstance(img, (str, os.PathLike)) else f"image {i}")
        for i, img in enumerate(images)
    ]
    return PreparedLines(originals, [transform(im) for im in originals], transform, batch_size)
