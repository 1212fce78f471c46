"""What every text source shares: the :class:`TextSource` protocol and the per-sample random
generator that makes a source deterministic (the same line for the same arguments, seed and index
on every machine and in every process)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ocrlab.errors import DataError

# Second entropy word of every text sample's generator (``b"TEXT"``), so that the text's stream
# differs from the renderer's ``default_rng([seed, index])`` for the same sample.
SALT = 0x54455854


@runtime_checkable
class TextSource(Protocol):
    """Anything that gives line ``index`` as a string, the same one every time."""

    def sample(self, index: int) -> str: ...

    def __call__(self, index: int) -> str: ...


def check_index(index: int) -> int:
    """``index`` as an int, or a DataError when it is not a non-negative integer."""
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or index < 0:
        raise DataError(f"text sample index must be a non-negative integer, got {index!r}")
    return int(index)


def sample_rng(seed: int, index: int, *stream: int) -> np.random.Generator:
    """The generator of sample ``index``: ``default_rng([seed, index, SALT, *stream])``."""
    return np.random.default_rng([seed, check_index(index), SALT, *stream])


def check_seed(seed: int) -> int:
    """``seed`` as an int, or a DataError when it is not a non-negative integer."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_lengths(min_chars: int, max_chars: int | None) -> None:
    """A DataError unless ``1 <= min_chars <= max_chars`` (``max_chars`` None: no limit)."""
    if min_chars < 1:
        raise DataError(f"min_chars must be >= 1, got {min_chars}")
    if max_chars is not None and max_chars < min_chars:
        raise DataError(f"max_chars ({max_chars}) must be >= min_chars ({min_chars})")
