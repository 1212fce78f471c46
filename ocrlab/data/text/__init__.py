"""Deterministic text sources: the strings that the synthetic renderer draws.

A text source maps an index to a line: ``source.sample(i)`` (or ``source(i)``) returns the same
string for the same source arguments, ``seed`` and ``i`` on every machine and in every process,
because each sample draws from its own ``numpy.random.default_rng([seed, i, salt])``. The salt keeps
the text's random stream apart from the renderer's, which is seeded ``[seed, i]``.

- :class:`WordfreqText`: words drawn by frequency from ``wordfreq`` (its data ships with the
  package, no network), mixed with numbers, dates, times, prices, codes, e-mail addresses and URLs
  into lines of a chosen length range; or single words for scene-text-like crops.
- :class:`CorpusText`: the lines of a user's UTF-8 corpus file, cut into windows.
- :class:`PseudoText`: lines of made-up, pronounceable words (``"pseudo"``), text no language
  model has seen; with ``WordfreqText(rank_from=...)`` (rare words) the test where an LM prior
  could hurt.
- :func:`make_text_source`: any of them from a spec string such as ``"wordfreq:ja"``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ocrlab.errors import DataError

from .corpus import CorpusText
from .pseudo import PseudoText
from .source import TextSource
from .wordfreq import DEFAULT_MIX, KINDS, WordfreqText, unigram_frequencies

if TYPE_CHECKING:
    from ocrlab.charset import Charset


__all__ = [
    "DEFAULT_MIX",
    "KINDS",
    "CorpusText",
    "PseudoText",
    "TextSource",
    "WordfreqText",
    "make_text_source",
    "unigram_frequencies",
]

_SOURCES: dict[str, type] = {
    "wordfreq": WordfreqText,
    "corpus": CorpusText,
    "pseudo": PseudoText,
}
_FIRST_ARG = {"wordfreq": "lang", "corpus": "path"}


def _parse_value(key: str, value: str) -> Any:
    if key == "mix":  # mix=word:0.9;price:0.1
        try:
            return {k.strip(): float(w) for k, w in (p.split(":") for p in value.split(";"))}
        except ValueError:
            raise DataError(f"mix must look like 'word:0.9;price:0.1', got {value!r}") from None
    low = value.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def make_text_source(
    spec: str | Mapping[str, Any] | TextSource,
    seed: int = 0,
    *,
    charset: Charset | None = None,
) -> TextSource:
    """Build a text source from a spec.

    - ``"wordfreq:en"``, ``"wordfreq:ja,max_chars=20"``, ``"wordfreq:en,words_only=true"``,
      ``"wordfreq:en,mix=word:0.9;price:0.1"``; ``"wordfreq"`` alone means English.
    - ``"corpus:/path/to/lines.txt"``, ``"corpus:lines.txt,max_chars=40,shuffle=false"``
      (the path ends at the first comma).
    - a mapping ``{"kind": "wordfreq", "lang": "en", ...}`` or ``{"kind": "corpus", "path": ...}``.
    - an existing text source, returned as it is.

    ``seed`` applies unless the spec sets its own; ``charset`` is passed to :class:`WordfreqText`.
    """
    if isinstance(spec, TextSource) and not isinstance(spec, Mapping):
        return spec
    if isinstance(spec, str):
        head, *options = spec.split(",")
        kind, _, first = head.partition(":")
        kwargs: dict[str, Any] = {}
        if first:
            kwargs[_FIRST_ARG.get(kind.strip(), "_")] = first.strip()
        for option in options:
            key, eq, value = option.partition("=")
            if not eq:
                raise DataError(f"text source spec {spec!r}: expected key=value, got {option!r}")
            kwargs[key.strip()] = _parse_value(key.strip(), value.strip())
        kind = kind.strip()
    elif isinstance(spec, Mapping):
        kwargs = dict(spec)
        kind = str(kwargs.pop("kind", ""))
    else:
        raise DataError(f"text source spec must be a string or a mapping, got {spec!r}")
    cls = _SOURCES.get(kind)
    if cls is None:
        raise DataError(
            f"unknown text source {kind!r} in {spec!r}; use 'wordfreq:<lang>', 'corpus:<path>' or 'pseudo'"
        )
    params = inspect.signature(cls).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise DataError(
            f"text source spec {spec!r}: unknown option(s) {', '.join(unknown)}; "
            f"{kind} takes {', '.join(params)}"
        )
    if kind == "corpus" and "path" not in kwargs:
        raise DataError(f"text source spec {spec!r}: give the corpus path, 'corpus:<path>'")
    kwargs.setdefault("seed", seed)
    if kind in ("wordfreq", "pseudo") and charset is not None:
        kwargs.setdefault("charset", charset)
    return cls(**kwargs)
