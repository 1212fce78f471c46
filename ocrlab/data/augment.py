"""Augmentation of real crops, and the dataset wrapper that weights and augments a real set.

A few thousand real words in a mix with hundreds of thousands of synthetic lines would be
drowned; :class:`Augmented` repeats a dataset ``repeat`` times (its sampling weight relative
to its size) and gives every repetition its own augmentation, drawn from ``(seed, index)`` so
that item ``i`` is the same image in every run and every DataLoader worker.

The augmentation (:class:`Augment`) is what a camera does to a word a detector has cut out:
the crop box off by a few pixels (jitter), the text rotated by a few degrees, a perspective
from an oblique view, defocus blur, and brightness/contrast changes. The geometry is one
resampling: the source quadrilateral (the image corners, jittered, rotated and displaced)
is mapped onto the output rectangle with PIL's ``QUAD`` transform, and pixels from outside the
crop take the crop's border colour.

Word crops have no spaces, and a model fine-tuned on them learns that real text has none (it
merges the words of printed lines). ``join=A-B`` makes each item a row of ``A`` to ``B`` crops
of the set, each augmented on its own, scaled to one height and set apart by a gap of 0.3-1.0
times that height, its label their labels joined by single spaces: real pixels with real gaps.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from ..errors import DataError


@dataclass(frozen=True)
class Augment:
    """Each effect applied independently with probability ``p_*``.

    Units: ``jitter`` the largest move of each crop edge, as a fraction of the crop height
    (positive: the box grows, negative: it shrinks); ``rotate_deg`` the largest |angle|;
    ``perspective`` the largest displacement of each corner, as a fraction of the height;
    ``blur_sigma`` px; ``brightness``/``contrast`` the ranges of PIL's enhancement factors
    (1 = unchanged); ``p_invert`` light text on dark and back.
    """

    p_jitter: float = 0.8
    jitter: float = 0.12
    p_rotate: float = 0.4
    rotate_deg: float = 5.0
    p_perspective: float = 0.3
    perspective: float = 0.12
    p_blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    p_colour: float = 0.6
    brightness: tuple[float, float] = (0.7, 1.3)
    contrast: tuple[float, float] = (0.5, 1.4)
    p_invert: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.startswith("p_") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"Augment.{f.name} must be in [0, 1], got {getattr(self, f.name)}")

    @classmethod
    def preset(cls, name: str) -> Augment:
        """``"none"`` (all off) or ``"real"`` (the defaults: what real word crops need)."""
        if name == "none":
            return cls(**{f.name: 0.0 for f in fields(cls) if f.name.startswith("p_")})
        if name == "real":
            return cls()
        raise ValueError(f"unknown augmentation preset {name!r}; choose none or real")

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        """``image`` (RGB or L) augmented with draws from ``rng``; same size or close to it."""
        return self.apply(image, rng)[0]

    def apply(self, image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, list[str]]:
        """The augmented image and the names of the effects applied (for ``ocrlab data show``)."""
        w, h = image.size
        applied: list[str] = []
        # corners of the source quadrilateral: top-left, bottom-left, bottom-right, top-right
        # (the order of PIL's QUAD data)
        quad = np.array([[0, 0], [0, h], [w, h], [w, 0]], np.float64)
        if rng.random() < self.p_jitter:
            dx0, dy0, dx1, dy1 = rng.uniform(-self.jitter, self.jitter, 4) * h
            quad += [[-dx0, -dy0], [-dx0, dy1], [dx1, dy1], [dx1, -dy0]]
            applied.append("jitter")
        if rng.random() < self.p_rotate:
            angle = rng.uniform(-self.rotate_deg, self.rotate_deg)
            a = math.radians(angle)
            rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            c = quad.mean(0)
            quad = (quad - c) @ rot.T + c
            applied.append(f"rotate={angle:+.1f}")
        if rng.random() < self.p_perspective:
            quad += rng.uniform(-self.perspective, self.perspective, (4, 2)) * h
            applied.append("perspective")
        if applied:
            out_w = max(1, round(np.linalg.norm(quad[3] - quad[0])))
            out_h = max(1, round(np.linalg.norm(quad[1] - quad[0])))
            image = image.transform(
                (out_w, out_h),
                Image.Transform.QUAD,
                tuple(quad.ravel()),
                Image.Resampling.BILINEAR,
                fillcolor=border_colour(image),
            )
        if rng.random() < self.p_blur:
            s = rng.uniform(*self.blur_sigma)
            image = image.filter(ImageFilter.GaussianBlur(s))
            applied.append(f"blur={s:.2f}")
        if rng.random() < self.p_colour:
            b, c = rng.uniform(*self.brightness), rng.uniform(*self.contrast)
            image = ImageEnhance.Contrast(ImageEnhance.Brightness(image).enhance(b)).enhance(c)
            applied.append(f"colour=b{b:.2f},c{c:.2f}")
        if rng.random() < self.p_invert:
            image = ImageOps.invert(image.convert("RGB") if image.mode != "L" else image)
            applied.append("invert")
        return image, applied


def border_colour(image: Image.Image) -> int | tuple[int, ...]:
    """The median colour of the image's one-pixel border: what lies just outside a crop."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    edge = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    med = np.median(edge, axis=0).astype(int)
    return int(med[0]) if image.mode == "L" else tuple(int(v) for v in med)


def parse_join(value: str) -> tuple[int, int]:
    """``"3"`` → (3, 3), ``"2-4"`` → (2, 4): how many crops one joined item holds."""
    lo, _, hi = value.partition("-")
    try:
        join = (int(lo), int(hi or lo))
    except ValueError:
        raise ValueError(f"join must be K or A-B (crops per item), got {value!r}") from None
    if not 1 <= join[0] <= join[1]:
        raise ValueError(f"join must satisfy 1 <= A <= B, got {value!r}")
    return join


def join_crops(
    images: list[Image.Image], rng: np.random.Generator, gap: tuple[float, float] = (0.3, 1.0)
) -> Image.Image:
    """``images`` side by side at the first one's height, each gap ``gap`` × that height wide
    and filled with the left neighbour's border colour (RGB out)."""
    h = images[0].height
    scaled = [
        im.convert("RGB").resize(
            (max(1, round(im.width * h / im.height)), h), Image.Resampling.BILINEAR
        )
        for im in images
    ]
    gaps = [round(rng.uniform(*gap) * h) for _ in scaled[1:]]
    canvas = Image.new("RGB", (sum(im.width for im in scaled) + sum(gaps), h))
    x = 0
    for k, im in enumerate(scaled):
        canvas.paste(im, (x, 0))
        x += im.width
        if k < len(gaps):
            canvas.paste(border_colour(im), (x, 0, x + gaps[k], h))
            x += gaps[k]
    return canvas


class Augmented:
    """``base`` seen ``repeat`` times, each repetition of item ``i`` augmented differently.

    Item ``j`` is ``base[j % len(base)]`` augmented with ``numpy.random.default_rng((seed, j))``
    (so ``repeat=1`` with ``Augment.preset("none")`` is ``base`` itself), then ``transform``.
    With ``join=(A, B)`` item ``j`` is that crop followed by ``k - 1`` others of the set
    (``k`` in ``A..B``, drawn with the partners from ``(seed, j, 1)``), each augmented on its
    own (:func:`join_crops`); its label is their labels joined by spaces.
    The base dataset must return PIL images (no transform of its own); ``None`` (an unreadable
    image skipped by ``skip_bad``) passes through for the collate to count.
    """

    def __init__(
        self,
        base: Any,
        *,
        repeat: int = 1,
        augment: Augment | None = None,
        seed: int = 0,
        transform: Any = None,
        join: tuple[int, int] = (1, 1),
    ) -> None:
        if repeat < 1:
            raise DataError(f"{getattr(base, 'name', base)}: repeat must be >= 1, got {repeat}")
        if getattr(base, "transform", None) is not None:
            raise ValueError("Augmented: the base dataset must not have a transform of its own")
        if not 1 <= join[0] <= join[1]:
            raise ValueError(f"join must satisfy 1 <= A <= B, got {join}")
        self.base, self.repeat, self.seed, self.join = base, repeat, seed, tuple(join)
        self.augment = augment if augment is not None else Augment()
        self.transform = transform
        self.name = getattr(base, "name", type(base).__name__)

    def __len__(self) -> int:
        return len(self.base) * self.repeat

    def _base_index(self, index: int) -> int:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"{self.name}: index {index} out of range for {n} samples")
        return index % len(self.base)

    def _members(self, index: int) -> list[int]:
        """The base indices item ``index`` is made of (one unless ``join``)."""
        first = self._base_index(index)
        if self.join == (1, 1):
            return [first]
        rng = np.random.default_rng((self.seed, index % len(self), 1))
        k = int(rng.integers(self.join[0], self.join[1] + 1))
        return [first, *(int(i) for i in rng.integers(0, len(self.base), k - 1))]

    def text_at(self, index: int) -> str:
        return " ".join(self.base.text_at(i) for i in self._members(index))

    def __getitem__(self, index: int) -> Any:
        members = self._members(index)
        samples = [self.base[i] for i in members]
        if any(s is None for s in samples):
            return None
        index = index % len(self)
        rng = np.random.default_rng((self.seed, index))
        if len(samples) == 1:
            image = self.augment(samples[0].image, rng)
        else:
            image = join_crops([self.augment(s.image, rng) for s in samples], rng)
        if self.transform is not None:
            image = self.transform(image)
        key = "+".join(s.key for s in samples)
        if self.repeat > 1:
            key = f"{key}#{index // len(self.base)}"
        # the base set's own sample type, so this module needs no import of the datasets
        return replace(samples[0], image=image, text=" ".join(s.text for s in samples), key=key)

    @property
    def skipped(self) -> Counter[str]:
        return getattr(self.base, "skipped", Counter())

    def report(self) -> str:
        head = self.base.report() if hasattr(self.base, "report") else f"{self.name}"
        joined = (
            "" if self.join == (1, 1) else f", {self.join[0]}-{self.join[1]} crops joined per item"
        )
        return f"{head}; x{self.repeat} with augmentation (seed {self.seed}){joined}"
