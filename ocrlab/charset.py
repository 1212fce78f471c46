"""The CTC vocabulary: index 0 is the blank, characters sit at 1..N in a fixed order.

A :class:`Charset` turns label text into class ids and back. Before encoding, text goes through
:meth:`Charset.normalize`:

1. Unicode NFC, so that a decomposed ``か`` + ``U+3099`` matches the precomposed ``が`` the charset
   holds (every charset stores NFC characters; the constructor refuses others).
2. Lowercasing when the charset is ``casefold`` (the ``alnum36`` preset). ``str.lower`` rather
   than ``str.casefold``: casefold turns ``ß`` into ``ss`` and would change what a label says.
3. Typographic and full-width characters mapped to ASCII (``’`` -> ``'``, ``…`` -> ``...``,
   ``（`` -> ``(``, no-break space -> space; see :data:`TYPOGRAPHIC_TO_ASCII`), but only for a
   character the charset lacks, and only when every character of its replacement is in the
   charset. A charset that holds ``’`` keeps it; one that holds neither leaves it to the policy.
   The rule is the same for every charset: for ``latin`` it is what makes real-world quotes and
   dashes encodable, for ``ja`` it maps full-width digits and Latin letters to the ASCII ones the
   preset holds.

Characters a label still cannot encode are handled by the ``policy`` of :meth:`Charset.encode`:
``"error"`` raises :class:`~ocrlab.errors.CharsetError`, ``"replace"`` substitutes them, ``"skip"``
raises :class:`~ocrlab.errors.SkipSample` so that a dataset drops the sample and counts it.
"""

from __future__ import annotations

import json
import os
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import wordfreq

from ocrlab.errors import CharsetError, DataError, SkipSample
from ocrlab.files import read_text_lines, write_json

__all__ = [
    "FORMAT_VERSION",
    "JA_KANJI_COUNT",
    "JA_PUNCTUATION",
    "POLICIES",
    "PRESETS",
    "TYPOGRAPHIC_TO_ASCII",
    "Charset",
    "common_kanji",
]

FORMAT_VERSION = 1
"""Version written into saved charset files; :meth:`Charset.load` refuses newer ones."""

POLICIES = ("error", "replace", "skip")

PRESETS = ("latin", "alnum36", "ja")

JA_KANJI_COUNT = 2000
"""How many kanji the ``ja`` preset holds: about the jōyō list's size, and it covers the kanji of
99.6% of the word occurrences in wordfreq's Japanese list."""

# Iteration and closing marks, brackets and dots of Japanese text. The prolonged sound mark ー and
# the middle dot ・ come with the katakana block. The ideographic space is left out on purpose:
# normalize() maps it to the ASCII space, so that the model has one space class, not two.
JA_PUNCTUATION = "、。〃々〆〇〈〉《》「」『』【】〒〔〕〜〝〟…‥※゛゜"

_TYPOGRAPHIC: dict[str, str] = {
    "\u2018": "'",  # left single quotation mark
    "\u2019": "'",  # right single quotation mark, also the usual apostrophe
    "\u201a": "'",  # single low-9 quotation mark
    "\u2032": "'",  # prime
    "\u201c": '"',  # left double quotation mark
    "\u201d": '"',  # right double quotation mark
    "\u201e": '"',  # double low-9 quotation mark
    "\u2033": '"',  # double prime
    "\u00ab": '"',  # left guillemet
    "\u00bb": '"',  # right guillemet
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u00ad": "-",  # soft hyphen (printed when it breaks a line)
    "\u2026": "...",  # horizontal ellipsis
    "\u00a0": " ",  # no-break space
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u3000": " ",  # ideographic space
    "\u00d7": "x",  # multiplication sign, as in 3×4
}
# Full-width ASCII variants (U+FF01..U+FF5E) as Japanese and Chinese text writes digits and Latin.
_FULLWIDTH = {chr(cp): chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}

TYPOGRAPHIC_TO_ASCII: dict[str, str] = {**_TYPOGRAPHIC, **_FULLWIDTH}
"""Characters :meth:`Charset.normalize` maps to ASCII when the charset lacks them (see module doc)."""


def _ranges(*spans: tuple[int, int]) -> str:
    return "".join(chr(cp) for lo, hi in spans for cp in range(lo, hi + 1))


# Hiragana letters plus the iteration marks ゝゞ (not the combining sound marks U+3099/U+309A).
_HIRAGANA = _ranges((0x3041, 0x3096), (0x309D, 0x309E))
# Katakana letters, ・ (U+30FB), ー (U+30FC) and the iteration marks ヽヾ.
_KATAKANA = _ranges((0x30A1, 0x30FA), (0x30FB, 0x30FE))
_LATIN = string.printable[:95]  # digits, letters, punctuation, space; not \t\n\r\x0b\x0c


def _is_kanji(ch: str) -> bool:
    cp = ord(ch)
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF


@lru_cache(maxsize=4)
def common_kanji(n: int = JA_KANJI_COUNT) -> str:
    """The ``n`` most frequent kanji of wordfreq's Japanese word list, in code-point order.

    A kanji's weight is the summed frequency of the words that contain it (each occurrence
    counts). Ties break by code point, so the result depends only on the installed wordfreq data.
    Sorting the chosen ones by code point keeps their ids stable when frequencies shift slightly.
    """
    weight: Counter[str] = Counter()
    for word, freq in wordfreq.get_frequency_dict("ja").items():
        for ch in word:
            if _is_kanji(ch):
                weight[ch] += freq
    ranked = sorted(weight.items(), key=lambda kv: (-kv[1], kv[0]))
    return "".join(sorted(ch for ch, _ in ranked[:n]))


def describe_chars(chars: Iterable[str]) -> str:
    """``'a' (U+0061), ...`` for an error message, sorted."""
    return ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in sorted(chars))


def _short(text: str, limit: int = 80) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


class Charset:
    """A CTC vocabulary: blank at index 0, ``chars[i]`` at index ``i + 1``.

    Args:
        chars: the characters in class order, as a string or a sequence of one-character strings.
            Each must be a single code point in NFC form, and none may repeat.
        name: a label saved with the charset (``"latin"``, ``"ja"``, a corpus name...).
        casefold: lowercase text before encoding; then ``chars`` must hold no uppercase letters.

    ``len(charset)`` is N + 1, the number of CTC classes. Two charsets are equal when they hold
    the same characters in the same order with the same ``casefold``: those encode every text
    identically, so the ``name`` does not take part.
    """

    blank: int = 0

    def __init__(
        self, chars: str | Sequence[str], *, name: str = "custom", casefold: bool = False
    ) -> None:
        chars = list(chars)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise DataError(f"charset {name!r}: every entry must be one character, got {bad[:5]!r}")
        if not chars:
            raise DataError(f"charset {name!r}: no characters")
        dup = sorted(c for c, k in Counter(chars).items() if k > 1)
        if dup:
            raise DataError(f"charset {name!r}: duplicated characters {describe_chars(dup)}")
        not_nfc = [c for c in chars if unicodedata.normalize("NFC", c) != c]
        if not_nfc:
            raise DataError(
                f"charset {name!r}: characters not in Unicode NFC form {describe_chars(not_nfc)}; "
                "labels are NFC-normalized before encoding, so these could never match"
            )
        if casefold:
            upper = [c for c in chars if c.lower() != c]
            if upper:
                raise DataError(
                    f"charset {name!r} is casefold but holds uppercase characters "
                    f"{describe_chars(upper)}"
                )
        self.chars: list[str] = chars
        self.name = name
        self.casefold = casefold
        self._ids = {c: i for i, c in enumerate(chars, start=1)}
        self._fold_table = {
            ord(src): dst
            for src, dst in TYPOGRAPHIC_TO_ASCII.items()
            if src not in self._ids and all(c in self._ids for c in dst)
        }

    # -- presets and builders ---------------------------------------------------------------

    @classmethod
    def preset(cls, name: str) -> Charset:
        """A built-in charset.

        - ``"latin"``: the 95 printable ASCII characters including space.
        - ``"alnum36"``: ``0-9a-z`` with ``casefold=True`` (the scene-text word benchmarks' set).
        - ``"ja"``: printable ASCII, hiragana, katakana, :data:`JA_PUNCTUATION` and the
          :data:`JA_KANJI_COUNT` most frequent kanji (:func:`common_kanji`), in that order.
        """
        if name == "latin":
            return cls(_LATIN, name="latin")
        if name == "alnum36":
            return cls(string.digits + string.ascii_lowercase, name="alnum36", casefold=True)
        if name == "ja":
            kana = _HIRAGANA + _KATAKANA
            punct = "".join(c for c in JA_PUNCTUATION if c not in kana)
            return cls(_LATIN + kana + punct + common_kanji(JA_KANJI_COUNT), name="ja")
        raise DataError(f"unknown charset preset {name!r}; choose one of {', '.join(PRESETS)}")

    @classmethod
    def from_corpus(
        cls,
        texts: Iterable[str],
        *,
        min_count: int = 1,
        name: str = "corpus",
        casefold: bool = False,
    ) -> Charset:
        """The characters that occur at least ``min_count`` times in ``texts``, by code point.

        Texts are NFC-normalized (and lowercased when ``casefold``) first. Space is kept; other
        whitespace and control characters (newline, tab...) are not label characters and are
        left out.
        """
        if min_count < 1:
            raise DataError(f"charset {name!r}: min_count must be >= 1, got {min_count}")
        counts: Counter[str] = Counter()
        for text in texts:
            text = unicodedata.normalize("NFC", text)
            counts.update(text.lower() if casefold else text)
        chars = sorted(
            c
            for c, k in counts.items()
            if k >= min_count and (c == " " or not (c.isspace() or unicodedata.category(c) == "Cc"))
        )
        if not chars:
            raise DataError(
                f"charset {name!r}: no character occurs at least {min_count} time(s) in the corpus"
            )
        return cls(chars, name=name, casefold=casefold)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        min_count: int = 1,
        name: str | None = None,
        casefold: bool = False,
    ) -> Charset:
        """:meth:`from_corpus` over the lines of a UTF-8 text file; ``name`` defaults to its stem."""
        path = Path(path)
        return cls.from_corpus(
            read_text_lines(path),
            min_count=min_count,
            name=path.stem if name is None else name,
            casefold=casefold,
        )

    # -- persistence ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        """The JSON-ready form :meth:`save` writes: ``name``, ``chars``, ``casefold``, ``version``."""
        return {
            "name": self.name,
            "chars": list(self.chars),
            "casefold": self.casefold,
            "version": FORMAT_VERSION,
        }

    @classmethod
    def from_dict(cls, data: object, *, source: str = "charset data") -> Charset:
        """Rebuild from :meth:`to_dict`'s form; errors name ``source`` (a path, a checkpoint)."""
        if not isinstance(data, dict):
            raise DataError(f"{source}: expected a JSON object, got {type(data).__name__}")
        missing = [k for k in ("name", "chars", "casefold", "version") if k not in data]
        if missing:
            raise DataError(f"{source}: missing field(s) {', '.join(missing)}")
        version = data["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise DataError(f"{source}: 'version' must be a positive integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise DataError(
                f"{source}: charset format version {version} is newer than this ocrlab "
                f"understands ({FORMAT_VERSION}); upgrade ocrlab"
            )
        chars, name, casefold = data["chars"], data["name"], data["casefold"]
        if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
            raise DataError(f"{source}: 'chars' must be a list of strings")
        if not isinstance(name, str):
            raise DataError(f"{source}: 'name' must be a string, got {name!r}")
        if not isinstance(casefold, bool):
            raise DataError(f"{source}: 'casefold' must be true or false, got {casefold!r}")
        try:
            return cls(chars, name=name, casefold=casefold)
        except DataError as err:
            raise DataError(f"{source}: {err}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the charset as UTF-8 JSON, atomically (temp file + rename)."""
        write_json(path, self.to_dict(), indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Charset:
        """Read a file :meth:`save` wrote. Raises DataError naming ``path`` if missing or corrupt."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{path}: charset file not found") from None
        except OSError as err:
            raise DataError(f"{path}: cannot read charset file ({err.strerror or err})") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: charset file is not UTF-8 ({err.reason})") from None
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}: charset file is not valid JSON ({err.msg} at line {err.lineno}, "
                f"column {err.colno})"
            ) from None
        return cls.from_dict(data, source=str(path))

    # -- the vocabulary ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.chars) + 1

    def __contains__(self, ch: object) -> bool:
        return isinstance(ch, str) and ch in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self.chars)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Charset):
            return NotImplemented
        return self.chars == other.chars and self.casefold == other.casefold

    def __hash__(self) -> int:
        return hash((tuple(self.chars), self.casefold))

    def __repr__(self) -> str:
        fold = ", casefold=True" if self.casefold else ""
        return f"Charset(name={self.name!r}, {len(self.chars)} chars{fold})"

    def index(self, ch: str) -> int:
        """The class id (1..N) of one character; CharsetError if it is not in the charset."""
        try:
            return self._ids[ch]
        except (KeyError, TypeError):
            raise CharsetError(f"{ch!r} is not in charset {self.name!r}") from None

    # -- text <-> ids --------------------------------------------------------------------------

    def normalize(self, text: str) -> str:
        """NFC, lowercase if ``casefold``, then the ASCII fallbacks this charset needs."""
        text = unicodedata.normalize("NFC", text)
        if self.casefold:
            text = text.lower()
        return text.translate(self._fold_table)

    def missing(self, text: str) -> set[str]:
        """Characters of ``normalize(text)`` the charset cannot encode (empty set: all fine)."""
        return {c for c in self.normalize(text) if c not in self._ids}

    def encode(
        self,
        text: str,
        *,
        sample: str | None = None,
        policy: str = "error",
        replacement: str | None = None,
    ) -> list[int]:
        """Class ids (1..N) of ``normalize(text)``; ``[]`` for empty text.

        Args:
            text: the label.
            sample: names the sample in error messages, e.g. ``"labels.tsv:12"`` or an LMDB key.
            policy: what to do with characters the charset lacks:
                ``"error"`` raises :class:`CharsetError` naming the sample and listing each
                character with its code point; ``"replace"`` puts ``replacement`` in their place;
                ``"skip"`` raises :class:`SkipSample` (a CharsetError) with the same message, for a
                dataset to catch, drop the sample and count it.
            replacement: for ``"replace"``: one character of the charset, or ``""`` to drop the
                unknown characters. Default: ``"?"`` when the charset has it, else ``""``.
        """
        if policy not in POLICIES:
            raise DataError(f"unknown charset policy {policy!r}; choose one of {POLICIES}")
        norm = self.normalize(text)
        ids = self._ids
        try:
            return [ids[c] for c in norm]
        except KeyError:
            pass
        bad = {c for c in norm if c not in ids}
        if policy == "replace":
            if replacement is None:
                replacement = "?" if "?" in ids else ""
            if replacement and replacement not in ids:
                raise DataError(
                    f"replacement {replacement!r} is not a character of charset {self.name!r}"
                )
            return [
                ids[c] if c in ids else ids[replacement] for c in norm if c in ids or replacement
            ]
        where = f"sample {sample}" if sample is not None else "text"
        message = (
            f"{where}: label {_short(text)} has {len(bad)} character(s) not in charset "
            f"{self.name!r}: {describe_chars(bad)}"
        )
        raise (SkipSample if policy == "skip" else CharsetError)(message)

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of ``ids``, blanks dropped. No CTC collapse of repeats: that is the
        model's decoder's job. Accepts ints, numpy arrays and 1-D tensors."""
        out = []
        n = len(self.chars)
        for i in ids:
            i = int(i)
            if i == self.blank:
                continue
            if not 0 < i <= n:
                raise DataError(f"id {i} is outside charset {self.name!r} (0..{n})")
            out.append(self.chars[i - 1])
        return "".join(out)
