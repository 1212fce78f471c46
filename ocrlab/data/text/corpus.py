"""Lines of a user's UTF-8 corpus file, cut into windows (:class:`CorpusText`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ocrlab.errors import DataError
from ocrlab.files import read_text_lines

from .source import SALT, check_index, check_lengths, check_seed


class CorpusText:
    """Lines of a user's UTF-8 corpus file, in a seeded order.

    Whitespace runs become single spaces and empty lines are skipped. With ``max_chars``, a longer
    line is cut into windows at word boundaries (a word longer than ``max_chars``, or a line of a
    script without spaces, is cut at ``max_chars``). Windows shorter than ``min_chars`` are left
    out. ``sample(i)`` is window ``perm_e[i % n]`` where ``perm_e`` is a seeded permutation for
    epoch ``e = i // n``: each run of ``n`` indices visits every window once. ``shuffle=False``
    gives the windows in file order.

    The whole file is read at construction (memory ~ its size); errors name the file, and the
    line for text that is not UTF-8.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        seed: int = 0,
        min_chars: int = 1,
        max_chars: int | None = None,
        *,
        shuffle: bool = True,
    ) -> None:
        self.path = Path(path)
        self.seed = check_seed(seed)
        check_lengths(min_chars, max_chars)
        self.min_chars, self.max_chars, self.shuffle = min_chars, max_chars, shuffle
        windows: list[str] = []
        nonempty = 0
        for line in read_text_lines(self.path):
            words = line.split()
            if not words:
                continue
            nonempty += 1
            for window in _windows(words, max_chars):
                if len(window) >= min_chars:
                    windows.append(window)
        if nonempty == 0:
            raise DataError(f"{self.path}: corpus has no non-empty lines")
        if not windows:
            raise DataError(f"{self.path}: no line of the corpus has at least {min_chars} chars")
        self.windows = windows
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        """Number of windows; indices beyond it start another pass in another order."""
        return len(self.windows)

    def __repr__(self) -> str:
        return f"CorpusText({str(self.path)!r}, seed={self.seed}, {len(self)} windows)"

    def __call__(self, index: int) -> str:
        return self.sample(index)

    def sample(self, index: int) -> str:
        n = len(self.windows)
        epoch, pos = divmod(check_index(index), n)
        if not self.shuffle:
            return self.windows[pos]
        perm = self._perms.get(epoch)
        if perm is None:
            if len(self._perms) >= 2:  # a DataLoader reads one or two passes at a time
                self._perms.pop(next(iter(self._perms)))
            perm = np.random.default_rng([self.seed, epoch, SALT]).permutation(n)
            self._perms[epoch] = perm
        return self.windows[int(perm[pos])]


def _windows(words: list[str], max_chars: int | None) -> Iterator[str]:
    """Pack ``words`` greedily into space-joined windows of at most ``max_chars`` characters."""
    if max_chars is None:
        yield " ".join(words)
        return
    current = ""
    for word in words:
        while len(word) > max_chars:
            if current:
                yield current
                current = ""
            yield word[:max_chars]
            word = word[max_chars:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= max_chars:
            current += " " + word
        else:
            yield current
            current = word
    if current:
        yield current
