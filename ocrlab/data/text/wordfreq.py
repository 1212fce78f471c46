"""Realistic lines from word frequencies (:class:`WordfreqText`): words drawn by frequency from
``wordfreq`` (its data ships with the package, no network), mixed with numbers, dates, times,
prices, codes, e-mail addresses and URLs into lines of a chosen length range; or single words
for scene-text-like crops."""

from __future__ import annotations

import datetime as dt
import string
import unicodedata
import zlib
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import wordfreq

from ocrlab.errors import DataError

from .source import check_lengths, check_seed, sample_rng

if TYPE_CHECKING:
    from ocrlab.charset import Charset


KINDS = ("word", "number", "date", "time", "price", "code", "email", "url")
"""The kinds of token a :class:`WordfreqText` line is made of; ``mix`` weighs them."""

DEFAULT_MIX: dict[str, float] = {
    "word": 0.78,
    "number": 0.06,
    "date": 0.03,
    "time": 0.025,
    "price": 0.04,
    "code": 0.03,
    "email": 0.0125,
    "url": 0.0125,
}
"""Token weights of the default mix: mostly words, with enough of each other kind that a few
thousand lines hold all of them many times."""

# Scripts written without spaces between words: their lines join tokens directly.
NO_SPACE_LANGS = frozenset({"ja", "zh"})

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_TLDS = ("com", "org", "net", "io", "de", "co.uk", "fr", "jp", "edu", "info")
_CODE_TEMPLATES = (
    "AA-9999",
    "AAA-999",
    "XXX-XXX",
    "AA9-9999",
    "SN XXXX-XXXX",
    "S/N: 9999-9999",
    "No. 99999",
    "#A-999",
    "REF:999999",
    "AA-9999/A",
    "999-9-99-999999-9",
    "A9A 9A9",
    "AA99 AAA",
)


# -- wordfreq vocabulary ------------------------------------------------------------------------


def _is_word(word: str, lang: str) -> bool:
    """A token of wordfreq's list that reads as a word: letters (and combining marks) only, plus
    inner apostrophes and hyphens for spaced scripts. wordfreq also lists digits (folded to 0),
    emoji, symbols and abbreviations like ``u.s``; those are not words to sample."""
    if not word or unicodedata.category(word[0])[0] != "L":
        return False  # also drops the lone combining accents that wordfreq's ja list holds
    if lang in NO_SPACE_LANGS:
        return not word.isascii() and all(
            unicodedata.category(c)[0] in "LM" or c in "ー々" for c in word
        )
    for i, c in enumerate(word):
        if unicodedata.category(c)[0] in "LM":
            continue
        if c in "'-" and 0 < i < len(word) - 1:
            continue
        return False
    return True


@lru_cache(maxsize=8)
def _vocabulary(lang: str, size: int) -> tuple[tuple[str, ...], np.ndarray]:
    """The ``size`` most frequent words of ``lang`` and their frequencies (per word of text)."""
    if lang not in wordfreq.available_languages():
        raise DataError(
            f"wordfreq has no word list for language {lang!r}; available: "
            + ", ".join(sorted(wordfreq.available_languages()))
        )
    freqs = wordfreq.get_frequency_dict(lang)
    words: list[str] = []
    for word in wordfreq.iter_wordlist(lang):
        if _is_word(word, lang):
            words.append(unicodedata.normalize("NFC", word))
            if len(words) == size:
                break
    # NFC can merge two spellings of one word; keep the first (more frequent) one.
    words = list(dict.fromkeys(words))
    return tuple(words), np.array([freqs.get(w, 0.0) for w in words])


def unigram_frequencies(lang: str = "en", n: int = 30000) -> dict[str, float]:
    """Word -> frequency (share of all word tokens) for the ``n`` most frequent words of ``lang``
    that :class:`WordfreqText` samples from (digits, symbols and emoji left out)."""
    words, freqs = _vocabulary(lang, n)
    return dict(zip(words, freqs.tolist(), strict=True))


class _Vocab:
    """Words with a sampling table: ``draw`` is one binary search, not an O(n) ``choice``."""

    def __init__(self, words: tuple[str, ...] | list[str], weights: np.ndarray) -> None:
        self.words = words
        cdf = np.cumsum(weights, dtype=np.float64)
        self.cdf = cdf / cdf[-1]

    def __len__(self) -> int:
        return len(self.words)

    def draw(self, rng: np.random.Generator) -> str:
        i = int(np.searchsorted(self.cdf, rng.random(), side="right"))
        return self.words[min(i, len(self.words) - 1)]


# -- sources ------------------------------------------------------------------------------------


class WordfreqText:
    """Realistic lines from word frequencies, with numbers, dates, times, prices, codes, e-mail
    addresses and URLs.

    Args:
        lang: a wordfreq language code (``"en"``, ``"de"``, ``"ja"``, ``"zh"``...). ``ja`` and
            ``zh`` join tokens without spaces and use their own date, time and price formats.
        seed: selects the stream; ``sample(i)`` depends only on the arguments, ``seed`` and ``i``.
        min_chars, max_chars: every line's length in characters lies in this range (both
            inclusive). Lines end at a token boundary whenever one falls in range; only when none
            does is the last token cut, so a line never exceeds ``max_chars``.
        vocab_size: how many of the language's most frequent words to draw from.
        rank_from: skip the ``rank_from`` most frequent of them: ``rank_from=30000,
            vocab_size=200000`` draws rare words that a model trained on the top 30000 never saw.
        mix: weight of each token kind (:data:`KINDS`); kinds left out get weight 0. Default
            :data:`DEFAULT_MIX`. ``{"word": 1}`` gives plain prose, ``{"price": 1}`` only prices.
        words_only: each sample is one space-free token (a word, a price, a code...), the look
            of scene-text word crops.
        power: words are drawn with probability proportional to ``frequency ** power``. 1 is the
            raw Zipf distribution, where "the" alone is 5% of English words; the default 0.75
            (as word2vec's negative sampling) keeps frequent words frequent but shows a
            recognizer more of the vocabulary.
        charset: when given, only text it can encode is produced: the vocabulary is filtered and
            tokens it cannot encode are drawn again. A charset without space requires
            ``words_only`` (or a language written without spaces).

    Casing follows the text: a line starts Capitalized half of the time, a word after ``. ! ?``
    is Capitalized, other words are mostly lowercase with some Capitalized and UPPER ones.
    Punctuation ``, . ; : ! ? ' " ( ) -`` attaches to words as in prose.
    """

    def __init__(
        self,
        lang: str = "en",
        seed: int = 0,
        min_chars: int = 1,
        max_chars: int = 40,
        vocab_size: int = 30000,
        mix: Mapping[str, float] | None = None,
        *,
        rank_from: int = 0,
        words_only: bool = False,
        power: float = 0.75,
        charset: Charset | None = None,
    ) -> None:
        self.lang = lang
        self.seed = check_seed(seed)
        check_lengths(min_chars, max_chars)
        self.min_chars, self.max_chars = min_chars, max_chars
        self.vocab_size = vocab_size
        self.words_only = words_only
        self.power = power
        self.charset = charset
        self.mix = dict(DEFAULT_MIX if mix is None else mix)
        unknown = sorted(set(self.mix) - set(KINDS))
        if unknown:
            raise DataError(f"unknown text kind(s) {unknown} in mix; known: {', '.join(KINDS)}")
        if any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise DataError(f"mix weights must be >= 0 with a positive sum, got {self.mix}")
        weights = np.array([self.mix.get(k, 0.0) for k in KINDS], dtype=np.float64)
        self._kind_cdf = np.cumsum(weights) / weights.sum()

        # Sources of different languages with one seed should not share their numbers and codes.
        self._stream = zlib.crc32(lang.encode())
        self.sep = "" if lang in NO_SPACE_LANGS else " "
        if charset is not None and self.sep and not words_only and self.sep not in charset:
            raise DataError(
                f"charset {charset.name!r} has no space, so it cannot encode lines of words; "
                "use words_only=True"
            )
        if not 0 <= rank_from < vocab_size:
            raise DataError(f"rank_from must be in 0..vocab_size-1, got {rank_from}")
        self.rank_from = rank_from
        words, freqs = _vocabulary(lang, vocab_size)
        self._vocab = self._make_vocab(
            words[rank_from:], freqs[rank_from:], f"wordfreq {lang!r} from rank {rank_from}"
        )
        # E-mail addresses and URLs need ASCII words; take English ones for non-Latin scripts.
        ascii_idx = [i for i, w in enumerate(words) if w.isascii() and "'" not in w]
        if len(ascii_idx) < 200:
            words, freqs = _vocabulary("en", min(vocab_size, 5000))
            ascii_idx = [i for i, w in enumerate(words) if "'" not in w]
        self._ascii = self._make_vocab(
            [words[i].replace("-", "") for i in ascii_idx], freqs[ascii_idx], "ASCII"
        )

    def _make_vocab(self, words: Any, freqs: np.ndarray, what: str) -> _Vocab:
        if self.charset is not None:
            keep = [i for i, w in enumerate(words) if not self.charset.missing(w)]
            words, freqs = [words[i] for i in keep], freqs[keep]
        if len(words) == 0:
            raise DataError(f"no {what} word can be encoded by charset {self.charset!r}")
        return _Vocab(words, np.maximum(freqs, 1e-12) ** self.power)

    def __repr__(self) -> str:
        return (
            f"WordfreqText(lang={self.lang!r}, seed={self.seed}, min_chars={self.min_chars}, "
            f"max_chars={self.max_chars}, words_only={self.words_only})"
        )

    def __call__(self, index: int) -> str:
        return self.sample(index)

    def sample(self, index: int) -> str:
        """Line ``index`` of this source: ``min_chars <= len(line) <= max_chars``."""
        rng = sample_rng(self.seed, index, self._stream)
        return self._word(rng) if self.words_only else self._line(rng)

    # -- assembly -------------------------------------------------------------------------------

    def _line(self, rng: np.random.Generator) -> str:
        lo, hi = self.min_chars, self.max_chars
        target = int(rng.integers(lo, hi + 1))
        text, rejects = "", 0
        capital = rng.random() < 0.5
        while len(text) < target:
            tok, capital_next = self._token(rng, capital)
            joined = self._join(text, tok)
            if len(joined) <= hi:
                text, capital = joined, capital_next
                continue
            # Too long for what is left: a few more draws may find a shorter token; stop once
            # the line is long enough, and cut only when nothing fits a line still too short.
            rejects += 1
            if len(text) >= lo and rejects >= 3:
                break
            if rejects >= 12:
                return self._cut(joined)
        return text

    def _join(self, text: str, tok: str) -> str:
        if not text:
            return tok
        if self.sep:
            return text + self.sep + tok
        # Japanese and Chinese run words together, but keep a space between two ASCII tokens
        # ("www.example.com 14:30"), as such text is written, when the charset has one.
        ascii_pair = all(c.isascii() and c.isalnum() for c in (text[-1], tok[0]))
        if ascii_pair and (self.charset is None or " " in self.charset):
            return text + " " + tok
        return text + tok

    def _word(self, rng: np.random.Generator) -> str:
        lo, hi = self.min_chars, self.max_chars
        for _ in range(30):
            tok, _ = self._token(rng, False)
            if lo <= len(tok) <= hi and " " not in tok:
                return tok
        # No token fits (a min_chars beyond most words): run words together, then cut.
        text = ""
        while len(text) < lo:
            text += self._vocab.draw(rng)
        return text[:hi]

    def _cut(self, text: str) -> str:
        """Cut an over-long line to ``max_chars``, never ending on a space."""
        hi = self.max_chars
        if len(text) <= hi:
            return text
        cut = text[:hi]
        if cut[-1].isspace():
            # Dropping the space would fall below min_chars when min == max; the next
            # character (never a space: tokens are joined by at most one space) takes its place.
            cut = cut[:-1] + text[hi]
        return cut

    def _token(self, rng: np.random.Generator, capital: bool) -> tuple[str, bool]:
        """One token and whether the next word starts a sentence."""
        for _ in range(20):
            kind = KINDS[int(np.searchsorted(self._kind_cdf, rng.random(), side="right"))]
            if kind == "word":
                tok, capital_next = self._word_token(rng, capital)
            else:
                tok, capital_next = getattr(self, f"_{kind}")(rng), capital
            if self.charset is None or not self.charset.missing(tok):
                return tok, capital_next
        # The vocabulary was filtered by the charset, so a bare word always encodes.
        return self._vocab.draw(rng), capital

    # -- token kinds -------------------------------------------------------------------------------

    def _word_token(self, rng: np.random.Generator, capital: bool) -> tuple[str, bool]:
        word = self._vocab.draw(rng)
        if self.sep == "":
            return self._ja_punctuate(rng, word)
        r = rng.random()
        if self.words_only:
            # Signs and headings: far more UPPER and Capitalized than prose.
            word = word.upper() if r < 0.25 else word.capitalize() if r < 0.55 else word
        elif capital or r < 0.1:
            word = word.capitalize()
        elif r < 0.15:
            word = word.upper()
        elif word == "i" and self.lang == "en":
            word = "I"
        if self.words_only:
            r = rng.random()
            return (word + "!" if r < 0.02 else word + "." if r < 0.04 else word), False
        if rng.random() < 0.02:
            word = f"{word}-{self._vocab.draw(rng)}"
        r = rng.random()
        if r < 0.02:
            word = f"({word})"
        elif r < 0.035:
            word = f'"{word}"'
        elif r < 0.045:
            word = f"'{word}'"
        r = rng.random()
        for mark, p in ((",", 0.07), (".", 0.12), (";", 0.128), (":", 0.136), ("!", 0.144)):
            if r < p:
                return word + mark, mark in ".!"
        if r < 0.156:
            return word + "?", True
        return word, False

    def _ja_punctuate(self, rng: np.random.Generator, word: str) -> tuple[str, bool]:
        if self.words_only:
            return word, False
        r = rng.random()
        if r < 0.025:
            word = f"「{word}」"
        elif r < 0.03:
            word = f"『{word}』"
        elif r < 0.035:
            word = f"（{word}）"
        r = rng.random()
        for mark, p in (("、", 0.08), ("。", 0.13), ("！", 0.14), ("？", 0.15)):
            if r < p:
                return word + mark, False
        return word, False

    def _number(self, rng: np.random.Generator) -> str:
        n = int(10 ** rng.uniform(0, 6))
        r = rng.random()
        if r < 0.35:
            return str(n % 10000)
        if r < 0.5:
            return f"{max(n, 1000):,}"
        if r < 0.7:
            return f"{n / 10 ** int(rng.integers(1, 3)):.{int(rng.integers(1, 3))}f}"
        if r < 0.8:
            return f"{n % 100}%" if rng.random() < 0.6 else f"{rng.uniform(0, 100):.1f}%"
        if r < 0.85:
            return f"-{n % 1000}" if rng.random() < 0.5 else f"-{rng.uniform(0, 100):.2f}"
        if r < 0.9 and self.lang == "en":
            k = n % 100
            suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
            return f"{k}{suffix}"
        if r < 0.95:
            a = n % 100
            return f"{a}-{a + int(rng.integers(1, 50))}"
        return f"{int(rng.integers(1, 10))}/{int(rng.integers(2, 13))}"

    def _date(self, rng: np.random.Generator) -> str:
        day = dt.date.fromordinal(
            int(rng.integers(dt.date(1950, 1, 1).toordinal(), dt.date(2036, 1, 1).toordinal()))
        )
        y, m, d = day.year, day.month, day.day
        if self.sep == "":
            forms = (
                f"{y}年{m}月{d}日",
                f"{y}/{m:02d}/{d:02d}",
                f"{m}月{d}日",
                f"{y}-{m:02d}-{d:02d}",
            )
        else:
            month = _MONTHS[m - 1]
            forms = (
                f"{y}-{m:02d}-{d:02d}",
                f"{d:02d}/{m:02d}/{y}",
                f"{m}/{d}/{y}",
                f"{m:02d}/{d:02d}/{y % 100:02d}",
                f"{d}.{m}.{y}",
                f"{month} {d}, {y}",
                f"{d} {month[:3]} {y}",
                f"{d:02d}-{month[:3]}-{y}",
                f"{month[:3]}. {d}",
                f"{month} {y}",
            )
        return forms[int(rng.integers(len(forms)))]

    def _time(self, rng: np.random.Generator) -> str:
        h, m, s = int(rng.integers(24)), int(rng.integers(60)), int(rng.integers(60))
        h12, ampm = (h % 12 or 12), ("AM" if h < 12 else "PM")
        if self.sep == "":
            forms = (f"{h}:{m:02d}", f"{h}時{m}分", f"{'午前' if h < 12 else '午後'}{h12}時")
        else:
            forms = (
                f"{h:02d}:{m:02d}",
                f"{h}:{m:02d}",
                f"{h12}:{m:02d} {ampm}",
                f"{h12}:{m:02d}{ampm.lower()}",
                f"{h:02d}:{m:02d}:{s:02d}",
                f"{h12} {ampm}",
                f"{h}h{m:02d}",
            )
        return forms[int(rng.integers(len(forms)))]

    def _price(self, rng: np.random.Generator) -> str:
        amount = 10 ** rng.uniform(-0.3, 4)
        cents = f"{amount:,.2f}"
        whole = f"{round(amount):,}"
        if self.sep == "":
            forms = (f"{whole}円", f"¥{whole}", f"{whole}円（税込）", f"${cents}")
        else:
            forms = (
                f"${cents}",
                f"${whole}",
                f"€{whole}",
                f"€{cents}",
                f"£{cents}",
                f"¥{whole}",
                cents,
                f"{cents} USD",
                f"EUR {cents}",
                f"{cents.replace(',', ' ').replace('.', ',')} €",
            )
        return forms[int(rng.integers(len(forms)))]

    def _code(self, rng: np.random.Generator) -> str:
        template = _CODE_TEMPLATES[int(rng.integers(len(_CODE_TEMPLATES)))]
        upper, digits = string.ascii_uppercase, string.digits
        # O and 0, I and 1 are kept: real serials mix them and a recognizer must tell them apart.
        pools = {"A": upper, "9": digits, "X": upper + digits}
        out = []
        for c in template:
            pool = pools.get(c)
            out.append(pool[int(rng.integers(len(pool)))] if pool else c)
        return "".join(out)

    def _email(self, rng: np.random.Generator) -> str:
        local = self._ascii.draw(rng)
        r = rng.random()
        if r < 0.3:
            local += "." + self._ascii.draw(rng)
        elif r < 0.45:
            local += "_" + self._ascii.draw(rng)
        if rng.random() < 0.3:
            local += str(int(rng.integers(1, 100)))
        domain = self._ascii.draw(rng)
        return f"{local}@{domain}.{_TLDS[int(rng.integers(len(_TLDS)))]}"

    def _url(self, rng: np.random.Generator) -> str:
        host = self._ascii.draw(rng)
        if rng.random() < 0.2:
            host += "-" + self._ascii.draw(rng)
        tld = _TLDS[int(rng.integers(len(_TLDS)))]
        path = self._ascii.draw(rng)
        forms = (
            f"https://www.{host}.{tld}",
            f"www.{host}.{tld}",
            f"http://{host}.{tld}/{path}",
            f"https://{host}.{tld}/{path}?id={int(rng.integers(1, 1000))}",
            f"{host}.{tld}/{path}",
        )
        return forms[int(rng.integers(len(forms)))]
