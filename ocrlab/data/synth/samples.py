"""Synthetic samples by index: a shared renderer per preset, one line rendered with its text,
and the deterministic (text, seed) -> sample mapping the synthetic datasets use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..fonts import Font
from ..text import TextSource
from .config import Degradations, SynthConfig
from .renderer import Renderer, RenderResult

_DEFAULT_RENDERERS: dict[str, Renderer] = {}


def default_renderer(preset: str = "default") -> Renderer:
    """A shared ``Renderer(SynthConfig.preset(preset))``, built on first use."""
    r = _DEFAULT_RENDERERS.get(preset)
    if r is None:
        r = _DEFAULT_RENDERERS[preset] = Renderer(SynthConfig.preset(preset))
    return r


def render_line(
    text: str,
    seed: int | Sequence[int] = 0,
    *,
    font: Font | str | Path | None = None,
    size: int | None = None,
    look: str | None = None,
    crop: str | None = None,
    background: str | None = None,
    spacing: float | None = None,
    degrade: bool | str | Degradations | None = None,
) -> Image.Image:
    """Render one line with the shared default renderer and return the RGB image.

    Keywords as in ``Renderer.render``; e.g. ``render_line("Hello", font="DejaVu Serif",
    look="document", degrade=False)``.
    """
    return (
        default_renderer()
        .render(
            text,
            seed,
            font=font,
            size=size,
            look=look,
            crop=crop,
            background=background,
            spacing=spacing,
            degrade=degrade,
        )
        .image
    )


def _text_at(text_source: TextSource | Callable[[int], str], index: int) -> str:
    sample = getattr(text_source, "sample", None)
    return sample(index) if callable(sample) else text_source(index)  # type: ignore[operator]


def synth_sample(
    index: int,
    seed: int,
    text_source: TextSource | Callable[[int], str],
    renderer: Renderer | None = None,
    word_source: TextSource | Callable[[int], str] | None = None,
) -> RenderResult:
    """Sample ``index`` of synthetic set ``seed``: always the same text and the same image.

    text = ``text_source.sample(index)`` (or ``text_source(index)``), render seed = [seed, index].
    With a ``word_source`` (a words-only text source), the sample's crop is decided here, from
    its own seeded draw against the renderer's ``crop``/``p_word``: a word crop reads a single
    word from ``word_source``, a line crop a line from ``text_source`` — so tight word crops hold
    one word, as scene-text benchmarks do.
    """
    renderer = renderer or default_renderer()
    text, crop = sample_text(index, seed, text_source, renderer, word_source)
    return renderer.render(text, [seed, index], crop=crop)


def sample_text(
    index: int,
    seed: int,
    text_source: TextSource | Callable[[int], str],
    renderer: Renderer | None = None,
    word_source: TextSource | Callable[[int], str] | None = None,
) -> tuple[str, str | None]:
    """The text of :func:`synth_sample` ``index`` and the crop it forces (None: the renderer
    decides) — without rendering, e.g. to batch lines of similar length."""
    if word_source is None:
        return _text_at(text_source, index), None
    config = (renderer or default_renderer()).config
    crop = config.crop
    if crop == "mixed":
        u = np.random.default_rng([seed, index, _CROP_SALT]).random()
        crop = "word" if u < config.p_word else "line"
    return _text_at(word_source if crop == "word" else text_source, index), crop


_CROP_SALT = 0x5EED_C80


class SyntheticSource:
    """Indexable synthetic samples: ``source[i]`` is ``synth_sample(i, seed, text, renderer)``."""

    def __init__(
        self,
        text_source: TextSource | Callable[[int], str],
        renderer: Renderer | None = None,
        seed: int = 0,
    ) -> None:
        self.text_source = text_source
        self.renderer = renderer or default_renderer()
        self.seed = seed

    def sample(self, index: int) -> RenderResult:
        return synth_sample(index, self.seed, self.text_source, self.renderer)

    __getitem__ = sample
