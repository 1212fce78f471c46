"""Lines of made-up, pronounceable words (:class:`PseudoText`)."""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

import numpy as np

from ocrlab.errors import DataError

from .source import check_lengths, check_seed, sample_rng

if TYPE_CHECKING:
    from ocrlab.charset import Charset


class PseudoText:
    """Lines of made-up, pronounceable words ("brendal tasko Vimer"): text no language model has
    seen, where an LM prior can only hurt. Words are 1-4 syllables of (consonant cluster, vowel
    group, optional coda); casing as in :class:`WordfreqText` lines. ``words_only``: one word.
    Deterministic in (``seed``, index) like the other sources."""

    ONSETS = (
        *"bcdfghjklmnprstvwz",
        "br",
        "cr",
        "dr",
        "fl",
        "gr",
        "pl",
        "st",
        "tr",
        "sh",
        "ch",
        "th",
    )
    VOWELS = (*"aeiou", "ai", "ea", "ou", "io", "y")
    CODAS = ("", "", "", *"nrlstmk", "nd", "st", "rk")

    def __init__(
        self,
        seed: int = 0,
        min_chars: int = 1,
        max_chars: int = 40,
        *,
        words_only: bool = False,
        charset: Charset | None = None,
    ) -> None:
        self.seed = check_seed(seed)
        check_lengths(min_chars, max_chars)
        self.min_chars, self.max_chars = min_chars, max_chars
        self.words_only = words_only
        if charset is not None and charset.missing(string.ascii_letters):
            raise DataError(f"charset {charset.name!r} lacks Latin letters for made-up words")
        if charset is not None and not words_only and charset.missing(" "):
            raise DataError(f"charset {charset.name!r} has no space; use words_only=True")

    def __repr__(self) -> str:
        return (
            f"PseudoText(seed={self.seed}, min_chars={self.min_chars}, "
            f"max_chars={self.max_chars}, words_only={self.words_only})"
        )

    def __call__(self, index: int) -> str:
        return self.sample(index)

    def _word(self, rng: np.random.Generator) -> str:
        pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
        n = int(rng.choice([1, 2, 2, 3, 3, 4]))
        return "".join(pick(self.ONSETS) + pick(self.VOWELS) + pick(self.CODAS) for _ in range(n))

    def sample(self, index: int) -> str:
        rng = sample_rng(self.seed, index, 0x5E0D)
        target = int(rng.integers(self.min_chars, self.max_chars + 1))
        text = ""
        for _ in range(100):
            word = self._word(rng)
            r = rng.random()
            word = word.upper() if r < 0.1 else word.capitalize() if r < 0.3 else word
            text = word if self.words_only or not text else f"{text} {word}"
            if len(text) >= target:
                break
        while len(text) < self.min_chars:
            text += self._word(rng)
        text = text[: self.max_chars]
        return text.rstrip() if len(text.rstrip()) >= self.min_chars else text.replace(" ", "a")
