"""Recognition metrics — the one implementation that training, eval, bench, notebooks and the
app all use.

- CER: edit distance summed over lines / reference characters summed over lines (corpus level,
  so long lines weigh more; an empty reference adds its prediction's length to the errors).
- Line accuracy: share of lines read exactly (word accuracy on word-crop benchmarks).
- 1-NED: mean over lines of ``1 - d(p, r) / max(|p|, |r|)`` (PARSeq's definition; 1 when both
  are empty).
- WER: word-level edit distance / reference words, words split on whitespace.

Protocols say what is compared: ``exact`` compares the strings as they are; ``alnum36`` is the
case-insensitive scene-text benchmark protocol: lowercase both sides and keep only 0-9 and a-z.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from rapidfuzz.distance import Levenshtein

PROTOCOLS = ("exact", "alnum36")
_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def apply_protocol(text: str, protocol: str = "exact") -> str:
    """Normalize ``text`` as the protocol compares it."""
    if protocol == "exact":
        return text
    if protocol == "alnum36":
        return _NOT_ALNUM.sub("", text.lower())
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


@dataclass(frozen=True)
class Scores:
    """Scores over a set of lines. ``cer`` and ``wer`` are fractions (0.05 = 5%)."""

    n: int
    cer: float
    accuracy: float
    ned: float
    wer: float
    char_errors: int
    ref_chars: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def score(predictions: Sequence[str], references: Sequence[str], protocol: str = "exact") -> Scores:
    """Score ``predictions`` against ``references`` (same length) under ``protocol``."""
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references: they must pair up"
        )
    char_errors = ref_chars = correct = 0
    word_errors = ref_words = 0
    ned = 0.0
    for pred, ref in zip(predictions, references, strict=True):
        p, r = apply_protocol(pred, protocol), apply_protocol(ref, protocol)
        d = Levenshtein.distance(p, r)
        char_errors += d
        ref_chars += len(r)
        correct += p == r
        ned += 1.0 - d / max(len(p), len(r)) if (p or r) else 1.0
        rw = r.split()
        word_errors += Levenshtein.distance(p.split(), rw)
        ref_words += len(rw)
    n = len(references)
    return Scores(
        n=n,
        cer=char_errors / ref_chars if ref_chars else float(char_errors > 0),
        accuracy=correct / n if n else 0.0,
        ned=ned / n if n else 0.0,
        wer=word_errors / ref_words if ref_words else float(word_errors > 0),
        char_errors=char_errors,
        ref_chars=ref_chars,
    )


def line_errors(predictions: Sequence[str], references: Sequence[str], protocol: str = "exact"):
    """Per-line ``(edit distance, reference length)`` pairs — for paired bootstrap statistics."""
    out = []
    for pred, ref in zip(predictions, references, strict=True):
        p, r = apply_protocol(pred, protocol), apply_protocol(ref, protocol)
        out.append((Levenshtein.distance(p, r), len(r)))
    return out
