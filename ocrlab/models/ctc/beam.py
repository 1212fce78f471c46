"""CTC prefix beam search with a character n-gram or word-frequency LM, and the decoder specs
(``"greedy"``, ``"beam:width=10,lm=words"``) that ``--decoder`` and the app take."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import wordfreq

from ocrlab.charset import Charset
from ocrlab.errors import OcrlabError

from .greedy import NEG_INF, Decoded, check_log_probs, decoded_line, forced_align, greedy_decode

# -- language models for beam search ------------------------------------------------------


@runtime_checkable
class LanguageModel(Protocol):
    """What :func:`beam_search` needs of an LM. Scores are natural-log probabilities.

    ``score(prefix, next_char)``: log P(next_char | prefix). ``score_end(prefix)`` (optional,
    0 if missing): log P(end of line | prefix), added once to every finished hypothesis.
    """

    def score(self, prefix: str, next_char: str) -> float: ...


BOS = "\x02"  # start-of-line padding symbol of CharNgramLM
EOS = "\x03"  # end-of-line symbol of CharNgramLM


class CharNgramLM:
    """Character n-gram LM with interpolated Kneser-Ney smoothing (Chen & Goodman 1998).

    ``P(c | h) = max(n(h c) - D, 0) / n(h) + D * N1+(h .) / n(h) * P(c | h[1:])``, where the
    highest order counts n-grams and lower orders count distinct left contexts (continuation
    counts); the unigram level interpolates with a uniform distribution over the seen
    characters + end + one unknown, so nothing gets probability 0. Lines are padded with
    ``order - 1`` BOS symbols and end with EOS.
    """

    def __init__(self, order: int = 5, discount: float = 0.75) -> None:
        if not 1 <= order <= 10:
            raise OcrlabError(f"CharNgramLM order must be in 1..10, got {order}")
        if not 0.0 < discount < 1.0:
            raise OcrlabError(f"CharNgramLM discount must be in (0, 1), got {discount}")
        self.order = order
        self.discount = discount
        # counts[n][history] -> Counter(next char) for histories of length n (0..order-1).
        self.counts: list[dict[str, Counter[str]]] = [defaultdict(Counter) for _ in range(order)]
        self.vocab: set[str] = {EOS}
        self._totals: list[dict[str, tuple[int, int]]] = []
        self._cache: dict[tuple[str, str], float] = {}

    @classmethod
    def from_texts(cls, texts: Iterable[str], order: int = 5, discount: float = 0.75):
        """Train on lines of text (each is one sequence: BOS ... EOS)."""
        lm = cls(order, discount)
        top = lm.counts[order - 1]
        n_lines = 0
        for text in texts:
            n_lines += 1
            lm.vocab.update(text)
            padded = BOS * (order - 1) + text + EOS
            for i in range(order - 1, len(padded)):
                top[padded[i - order + 1 : i]][padded[i]] += 1
        if n_lines == 0:
            raise OcrlabError("CharNgramLM.from_texts: no texts to train on")
        # Lower orders: how many distinct characters precede (h[1:], c) (Kneser-Ney).
        for n in range(order - 1, 0, -1):
            lower = lm.counts[n - 1]
            for h, nxt in lm.counts[n].items():
                for c in nxt:
                    lower[h[1:]][c] += 1
        lm._totals = [
            {h: (sum(c.values()), len(c)) for h, c in level.items()} for level in lm.counts
        ]
        return lm

    def _prob(self, history: str, c: str) -> float:
        p = 1.0 / (len(self.vocab) + 1)  # uniform over vocab + unknown
        for n in range(self.order):  # from unigram (n = 0) up to the full history
            h = history[len(history) - n :] if n else ""
            total, distinct = self._totals[n].get(h, (0, 0))
            if total == 0:
                continue  # unseen history: keep the lower-order estimate
            count = self.counts[n][h].get(c, 0)
            p = max(count - self.discount, 0.0) / total + self.discount * distinct / total * p
        return p

    def score(self, prefix: str, next_char: str) -> float:
        """log P(next_char | the last order-1 characters of prefix)."""
        history = (BOS * (self.order - 1) + prefix)[len(prefix) :]  # last order-1 chars
        key = (history, next_char)
        if key not in self._cache:
            self._cache[key] = math.log(self._prob(history, next_char))
        return self._cache[key]

    def score_end(self, prefix: str) -> float:
        return self.score(prefix, EOS)

    def log_prob(self, text: str, *, end: bool = True) -> float:
        """log P(text) as the sum of character scores (+ end of line)."""
        lp = sum(self.score(text[:i], c) for i, c in enumerate(text))
        return lp + (self.score_end(text) if end else 0.0)


class WordFreqLM:
    """Unigram word LM from ``wordfreq``: each completed word scores log frequency(word).

    Words complete at a space and at the end of the line; characters inside a word score 0.
    Tokens with no letter or digit (punctuation) score 0. Every word costs about log(1e-5), so
    pair it with a positive ``word_bonus`` in :func:`beam_search` to avoid favouring fewer,
    merged words. Offline: wordfreq ships its data.
    """

    def __init__(self, lang: str = "en", min_frequency: float = 1e-8) -> None:
        self.lang = lang
        self.min_frequency = min_frequency
        self._word_frequency = wordfreq.word_frequency
        self._cache: dict[str, float] = {}

    def word_score(self, word: str) -> float:
        if not any(ch.isalnum() for ch in word):
            return 0.0
        if word not in self._cache:
            f = self._word_frequency(word, self.lang, minimum=self.min_frequency)
            self._cache[word] = math.log(f)
        return self._cache[word]

    def score(self, prefix: str, next_char: str) -> float:
        if next_char != " ":
            return 0.0
        return self.word_score(prefix.rsplit(" ", 1)[-1])

    def score_end(self, prefix: str) -> float:
        return self.word_score(prefix.rsplit(" ", 1)[-1])


# -- beam search ----------------------------------------------------------------------------


def logaddexp(a: float, b: float) -> float:
    """``log(exp(a) + exp(b))`` for two floats, exact at -inf (a path not yet taken)."""
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


@dataclass
class _Beam:
    """One prefix: log P(prefix, ending in blank), log P(prefix, ending in its last char)."""

    blank: float = NEG_INF
    char: float = NEG_INF

    @property
    def total(self) -> float:
        return logaddexp(self.blank, self.char)


@torch.no_grad()
def beam_search(
    log_probs: torch.Tensor,
    lengths: torch.Tensor | None,
    charset: Charset,
    beam_width: int = 10,
    lm: LanguageModel | None = None,
    lm_weight: float = 0.5,
    word_bonus: float = 0.0,
    *,
    top_k: int = 32,
    min_char_log_prob: float = -12.0,
) -> list[Decoded]:
    """CTC prefix beam search (Hannun et al. 2014) in log space, with optional shallow fusion.

    Args:
        log_probs: (B, T, C) or (T, C) log-probabilities.
        lengths: (B,) real frames per line (None: all T).
        charset: maps class ids to characters; ``len(charset)`` must be C.
        beam_width: prefixes kept after each frame.
        lm: a :class:`LanguageModel` (e.g. :class:`CharNgramLM`, :class:`WordFreqLM`).
        lm_weight: weight of the LM log-probability in the ranking score.
        word_bonus: added per word (a non-space run) in the prefix; counters an LM's per-word cost.
        top_k, min_char_log_prob: per frame, only the ``top_k`` most likely characters, and of
            those only ones with log-probability >= ``min_char_log_prob`` (the best one always),
            may extend a prefix. Prunes large charsets and confident frames; staying on a prefix
            always uses the full distribution.

    A prefix's rank is ``log P_ctc(prefix) + lm_weight * log P_lm(prefix) + word_bonus * words``
    where P_ctc sums over every alignment. With ``beam_width=1``, no LM and no bonus this is
    best-path decoding, and it returns exactly :func:`greedy_decode`'s result: a single-beam
    prefix search would otherwise merge a prefix's blank- and char-ending mass and can keep a
    prefix that the best path extends, so "width 1" would not mean "greedy".

    The returned spans and char confidences come from :func:`forced_align` of the chosen text.
    """
    if beam_width < 1:
        raise OcrlabError(f"beam_width must be >= 1, got {beam_width}")
    if beam_width == 1 and lm is None and word_bonus == 0.0:
        return greedy_decode(log_probs, lengths, charset)
    log_probs, lengths = check_log_probs(log_probs, lengths, charset)
    k = min(top_k, log_probs.shape[-1] - 1)
    out = []
    for b in range(log_probs.shape[0]):
        lp = log_probs[b, : int(lengths[b])].cpu()  # (T_b, C)
        ids, score = prefix_search(
            lp, charset, beam_width, lm, lm_weight, word_bonus, k, min_char_log_prob
        )
        spans = forced_align(lp, ids)
        probs = [float(lp[a : e + 1, c].max().exp()) for c, (a, e) in zip(ids, spans, strict=True)]
        out.append(decoded_line(charset, list(ids), probs, spans, score))
    return out


def prefix_search(
    lp: torch.Tensor,
    charset: Charset,
    beam_width: int,
    lm: LanguageModel | None,
    lm_weight: float,
    word_bonus: float,
    k: int,
    min_char_log_prob: float,
) -> tuple[tuple[int, ...], float]:
    """One line: lp (T, C) -> (best id sequence, its final score)."""
    T = lp.shape[0]
    if T == 0:
        return (), 0.0
    rows = lp.tolist()  # T lists of C floats
    top_lp, top_ids = lp[:, 1:].topk(k, dim=-1)  # (T, k) best non-blank classes
    keep = top_lp >= min_char_log_prob  # (T, k)
    keep[:, 0] = True
    cand_ids = [
        [c + 1 for c, ok in zip(ids, oks, strict=True) if ok]
        for ids, oks in zip(top_ids.tolist(), keep.tolist(), strict=True)
    ]  # T lists of candidate class ids
    chars = ["", *charset.chars]
    # LM / word-bonus part of each prefix's score, computed once per prefix.
    extra: dict[tuple[int, ...], float] = {(): 0.0}
    text_of: dict[tuple[int, ...], str] = {(): ""}

    def extend(prefix: tuple[int, ...], c: int) -> tuple[int, ...]:
        new = (*prefix, c)
        if new not in extra:
            text, ch = text_of[prefix], chars[c]
            bonus = word_bonus if ch != " " and (not text or text[-1] == " ") else 0.0
            lm_lp = lm.score(text, ch) if lm is not None else 0.0
            extra[new] = extra[prefix] + lm_weight * lm_lp + bonus
            text_of[new] = text + ch
        return new

    beams: dict[tuple[int, ...], _Beam] = {(): _Beam(blank=0.0)}
    for t in range(T):
        row = rows[t]
        nxt: dict[tuple[int, ...], _Beam] = defaultdict(_Beam)
        for prefix, beam in beams.items():
            total = beam.total
            # Blank: the prefix stays, now ending in blank.
            same = nxt[prefix]
            same.blank = logaddexp(same.blank, total + row[0])
            if prefix:
                # The last character again without a blank: merges into the same prefix.
                last = prefix[-1]
                same.char = logaddexp(same.char, beam.char + row[last])
            for c in cand_ids[t]:
                new = nxt[extend(prefix, c)]
                if prefix and c == prefix[-1]:
                    # A repeated character is a new one only after a blank.
                    new.char = logaddexp(new.char, beam.blank + row[c])
                else:
                    new.char = logaddexp(new.char, total + row[c])
        alive = [kv for kv in nxt.items() if kv[1].total > NEG_INF]
        alive.sort(key=lambda kv: kv[1].total + extra[kv[0]], reverse=True)
        beams = dict(alive[:beam_width])

    score_end = getattr(lm, "score_end", None)

    def final(item: tuple[tuple[int, ...], _Beam]) -> float:
        prefix, beam = item
        end = lm_weight * score_end(text_of[prefix]) if score_end is not None else 0.0
        return beam.total + extra[prefix] + end

    best = max(beams.items(), key=final)
    return best[0], final(best)


# -- decoder specs --------------------------------------------------------------------------

#: The named decoders of ``--decoder``: a spec with options overrides these.
DECODERS = {
    "greedy": "greedy",
    # for word crops: the word-frequency LM with the weight chosen on SVT train by
    # benchmarks/beam_decoding.py (results/beam_decoding.json), never on a test set. Not for
    # lines: without a word bonus it merges words (UW3 CER 2.47% -> 6.78% with small-v3)
    "beam": "beam:width=10,lm=words,lm_weight=0.5,word_bonus=0.0",
}

Decoder = Callable[[torch.Tensor, "torch.Tensor | None", Charset], list[Decoded]]


def make_decoder(spec: str | None = "greedy") -> Decoder:
    """A decoder ``(log_probs, lengths, charset) -> list[Decoded]`` from a spec.

    ``"greedy"`` (or ``None``) is :func:`greedy_decode`; ``"beam"`` is the tuned default
    (:data:`DECODERS`); ``"beam:width=W,lm=none|words|words:LANG,lm_weight=X,word_bonus=Y"``
    spells every option of :func:`beam_search` (``lm=words`` is :class:`WordFreqLM`).
    """
    spec = DECODERS.get(spec or "greedy", spec or "greedy")
    kind, _, body = spec.partition(":")
    if kind == "greedy" and not body:
        return greedy_decode
    if kind != "beam":
        raise OcrlabError(
            f"decoder {spec!r}: expected 'greedy', 'beam' or 'beam:width=..,lm=..,lm_weight=..,"
            "word_bonus=..'"
        )
    opts: dict[str, str] = {}
    for part in filter(None, (x.strip() for x in body.split(","))):
        k, eq, v = part.partition("=")
        if not eq or k not in ("width", "lm", "lm_weight", "word_bonus"):
            raise OcrlabError(
                f"decoder {spec!r}: bad option {part!r}; use width, lm, lm_weight, word_bonus"
            )
        opts[k] = v
    try:
        width = int(opts.get("width", "10"))
        lm_weight = float(opts.get("lm_weight", "0.5"))
        word_bonus = float(opts.get("word_bonus", "0"))
    except ValueError as exc:
        raise OcrlabError(f"decoder {spec!r}: {exc}") from None
    if width < 1:
        raise OcrlabError(f"decoder {spec!r}: width must be >= 1, got {width}")
    lm_name, _, lang = opts.get("lm", "none").partition(":")
    if lm_name == "none":
        lm = None
    elif lm_name == "words":
        lm = WordFreqLM(lang or "en")
    else:
        raise OcrlabError(f"decoder {spec!r}: unknown lm {lm_name!r}; use none or words[:LANG]")

    def decode(log_probs: torch.Tensor, lengths: torch.Tensor | None, charset: Charset):
        return beam_search(log_probs, lengths, charset, width, lm, lm_weight, word_bonus)

    decode.spec = spec  # type: ignore[attr-defined]
    return decode
