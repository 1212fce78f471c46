"""CTC: the classification head, the loss, and the decoders that turn frames into text.

Conventions (Graves et al. 2006): class 0 is the blank, class ``i >= 1`` is ``charset.chars[i-1]``;
``log_probs`` are (B, T, C) log-softmax outputs; a line's real frames are ``t < lengths[b]``.

Decoders:

- :func:`greedy_decode`: best path (argmax per frame, merge repeats, drop blanks), vectorized
  in torch over the whole batch. The fast path.
- :func:`beam_search`: CTC prefix beam search (Hannun et al. 2014), summing over alignments in
  log space, optionally with a character n-gram LM (:class:`CharNgramLM`) or a word-frequency
  LM (:class:`WordFreqLM`) shallow-fused with ``lm_weight`` and a per-word ``word_bonus``.

:func:`make_decoder` turns a short spec (``"greedy"``, ``"beam:width=10,lm=words"``) into
one of them, the form in which ``ocrlab eval/predict --decoder`` and the app choose a decoder.

Both return one :class:`Decoded` per line with per-character confidences and frame spans, so
a caller can draw where each character was read (``Encoder.positions_to_pixels``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
import wordfreq
from torch import nn

from ocrlab.charset import Charset
from ocrlab.errors import OcrlabError

__all__ = [
    "DECODERS",
    "CTCHead",
    "CharNgramLM",
    "Decoded",
    "LanguageModel",
    "WordFreqLM",
    "beam_search",
    "ctc_feasible",
    "ctc_loss",
    "forced_align",
    "greedy_decode",
    "make_decoder",
]

NEG_INF = float("-inf")


class CTCHead(nn.Module):
    """``ctc_head``: Linear(d_model -> num_classes). forward(features (B, T, d)) -> logits
    (B, T, C); :meth:`log_probs` gives their log-softmax."""

    def __init__(self, d_model: int, num_classes: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features)  # (B, T, C)

    @staticmethod
    def log_probs(logits: torch.Tensor) -> torch.Tensor:
        """(B, T, C) logits -> (B, T, C) float32 log-probabilities."""
        return logits.float().log_softmax(-1)  # (B, T, C)


# -- loss -----------------------------------------------------------------------------------


def _concat_targets(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """Padded (B, S) targets -> concatenated (sum L,); concatenated ones pass through."""
    if targets.dim() == 1:
        return targets
    keep = torch.arange(targets.shape[1], device=targets.device) < target_lengths[:, None]
    return targets[keep]  # (sum L,)


def ctc_feasible(
    input_lengths: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor
) -> torch.Tensor:
    """(B,) bool: can ``input_lengths[b]`` frames emit target ``b`` at all?

    A CTC path needs one frame per character plus one blank between each pair of equal
    neighbours ("aa" needs 3 frames), so line b is feasible iff L_b + repeats_b <= T_b.
    ``targets``: concatenated (sum L,) or padded (B, S), as for :func:`ctc_loss`.
    """
    flat = _concat_targets(targets, target_lengths)  # (sum L,)
    B = target_lengths.shape[0]
    line = torch.repeat_interleave(
        torch.arange(B, device=flat.device), target_lengths.to(flat.device)
    )  # (sum L,) line index of each target character
    repeat = (flat[1:] == flat[:-1]) & (line[1:] == line[:-1])  # (sum L - 1,)
    repeats = torch.zeros(B, dtype=torch.long, device=flat.device)
    repeats.index_add_(0, line[1:], repeat.long())  # (B,)
    need = target_lengths.to(flat.device) + repeats  # (B,)
    return need <= input_lengths.to(flat.device)  # (B,)


def ctc_loss(
    log_probs: torch.Tensor,
    input_lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """CTC loss (blank = 0, ``zero_infinity=True``).

    Args:
        log_probs: (B, T, C) log-softmax outputs (computed in float32 whatever their dtype).
        input_lengths: (B,) real frames per line.
        targets: (sum L,) concatenated class ids (or padded (B, S)).
        target_lengths: (B,).
        reduction: "mean" (each line's loss divided by its target length, then averaged over
            the batch: PyTorch's mean), "sum" or "none" ((B,)).

    Infeasible lines (see :func:`ctc_feasible`) have infinite loss, which ``zero_infinity``
    turns into 0 with zero gradient; training should still drop and count them with
    :func:`ctc_feasible` so that the mean is not diluted.
    """
    B, T, _ = log_probs.shape
    if input_lengths.shape != (B,) or target_lengths.shape != (B,):
        raise OcrlabError(
            f"ctc_loss: log_probs has batch {B} but input_lengths {tuple(input_lengths.shape)} "
            f"and target_lengths {tuple(target_lengths.shape)}"
        )
    if int(input_lengths.max()) > T:
        raise OcrlabError(f"ctc_loss: input_lengths up to {int(input_lengths.max())} > T={T}")
    return F.ctc_loss(
        log_probs.float().transpose(0, 1),  # (T, B, C)
        targets,
        input_lengths,
        target_lengths,
        blank=0,
        reduction=reduction,
        zero_infinity=True,
    )


# -- decoded lines --------------------------------------------------------------------------


@dataclass
class Decoded:
    """One decoded line.

    Attributes:
        text: the transcription.
        confidence: product of ``char_confidences`` (1.0 for an empty text): the chance that
            every character is right if the characters were independent. Comparable between
            decoders and between lines of different length only in that sense.
        char_confidences: per character, the highest probability of that class over the
            frames the character spans.
        spans: per character, the (first, last) frame it occupies, inclusive. For greedy
            decoding that is its run in the best path; for beam search the run in the best
            (Viterbi) alignment of the chosen text. Pixels: ``Encoder.positions_to_pixels``.
        ids: the class ids of the characters (no blanks).
        score: log-score of the result: greedy: the best path's log-probability; beam: the
            prefix's log-probability summed over alignments plus the LM and word-bonus terms.
    """

    text: str
    confidence: float
    char_confidences: list[float] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    score: float = 0.0


def _check_log_probs(log_probs: torch.Tensor, lengths: torch.Tensor | None, charset: Charset):
    if log_probs.dim() == 2:
        log_probs = log_probs[None]  # (1, T, C)
    if log_probs.dim() != 3:
        raise OcrlabError(f"log_probs must be (B, T, C) or (T, C), got {tuple(log_probs.shape)}")
    B, T, C = log_probs.shape
    if len(charset) != C:
        raise OcrlabError(
            f"log_probs have {C} classes but charset {charset.name!r} has {len(charset)} "
            "(characters + blank): the model and charset do not match"
        )
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long)
    lengths = torch.as_tensor(lengths, device=log_probs.device).reshape(-1).clamp(0, T)
    if lengths.shape[0] != B:
        raise OcrlabError(f"lengths has {lengths.shape[0]} entries for a batch of {B}")
    return log_probs.detach().float(), lengths


def _decoded(charset: Charset, ids, probs, spans, score: float) -> Decoded:
    return Decoded(
        text=charset.decode(ids),
        confidence=math.prod(probs),
        char_confidences=probs,
        spans=spans,
        ids=ids,
        score=score,
    )


# -- greedy ---------------------------------------------------------------------------------


@torch.no_grad()
def greedy_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor | None, charset: Charset
) -> list[Decoded]:
    """Best-path decoding: argmax per frame, merge repeats, drop blanks.

    Args:
        log_probs: (B, T, C) or (T, C) log-probabilities.
        lengths: (B,) real frames per line (None: all T).
        charset: maps class ids to characters; ``len(charset)`` must be C.

    Vectorized over batch and frames; only building the strings loops over lines.
    """
    log_probs, lengths = _check_log_probs(log_probs, lengths, charset)
    B, T, _ = log_probs.shape
    best_lp, best = log_probs.max(-1)  # (B, T), (B, T)
    valid = torch.arange(T, device=best.device)[None] < lengths[:, None]  # (B, T)
    best = best.masked_fill(~valid, 0)  # padding reads as blank
    prev = F.pad(best, (1, 0), value=0)[:, :-1]  # (B, T) previous frame's class
    nxt = F.pad(best, (0, 1), value=0)[:, 1:]  # (B, T) next frame's class
    char = best != 0  # (B, T) frames that belong to a character
    start = char & (best != prev)  # (B, T) first frame of a character's run
    end = char & (best != nxt)  # (B, T) last frame of a run

    # Give every run a global index (row-major order = line by line, left to right) and take
    # the max probability over each run's frames.
    run = torch.cumsum(start.flatten(), 0) - 1  # (B*T,) run index of each frame
    n_runs = int(start.sum())
    char_prob = torch.zeros(n_runs, device=best.device)
    char_prob.scatter_reduce_(
        0, run[char.flatten()], best_lp.flatten()[char.flatten()].exp(), "amax", include_self=False
    )  # (n_runs,)

    ids = best[start].tolist()  # run ids, line by line
    probs = char_prob.tolist()
    firsts = start.nonzero()[:, 1].tolist()  # frame of each run's start
    lasts = end.nonzero()[:, 1].tolist()
    counts = start.sum(1).tolist()  # (B,) characters per line
    scores = best_lp.masked_fill(~valid, 0.0).sum(1).tolist()  # (B,) best path log-probability

    out, i = [], 0
    for b in range(B):
        j = i + counts[b]
        out.append(
            _decoded(
                charset,
                ids[i:j],
                probs[i:j],
                list(zip(firsts[i:j], lasts[i:j], strict=True)),
                scores[b],
            )
        )
        i = j
    return out


# -- forced alignment -----------------------------------------------------------------------


@torch.no_grad()
def forced_align(log_probs: torch.Tensor, ids: Sequence[int]) -> list[tuple[int, int]]:
    """Viterbi alignment of a label sequence to frames: the (first, last) frame of each char.

    ``log_probs``: (T, C) for one line (real frames only). The best single CTC path that emits
    exactly ``ids`` (blank = 0); each character's span is its run of frames in that path.
    Raises OcrlabError if the frames cannot hold the label (see :func:`ctc_feasible`).
    """
    T = log_probs.shape[0]
    L = len(ids)
    if L == 0:
        return []
    labels = torch.tensor(ids, dtype=torch.long)
    ext = torch.zeros(2 * L + 1, dtype=torch.long)  # (S,) blank, c1, blank, c2, ..., blank
    ext[1::2] = labels
    S = ext.shape[0]
    # A state may skip the blank before it when it is a character unlike the one two back.
    skip = torch.zeros(S, dtype=torch.bool)  # (S,)
    skip[3::2] = labels[1:] != labels[:-1]
    emit = log_probs[:, ext]  # (T, S)

    alpha = torch.full((S,), NEG_INF)  # (S,)
    alpha[:2] = emit[0, :2]
    back = torch.zeros(T, S, dtype=torch.long)  # (T, S) how many states back we came from
    for t in range(1, T):
        stay = alpha  # (S,)
        step = F.pad(alpha, (1, 0), value=NEG_INF)[:-1]  # (S,) from s - 1
        jump = F.pad(alpha, (2, 0), value=NEG_INF)[:-2].masked_fill(~skip, NEG_INF)  # from s - 2
        cand = torch.stack([stay, step, jump])  # (3, S)
        best, back[t] = cand.max(0)  # (S,), (S,)
        alpha = best + emit[t]  # (S,)

    end = S - 1 if alpha[S - 1] >= alpha[S - 2] else S - 2
    if alpha[end] == NEG_INF:
        raise OcrlabError(f"forced_align: {T} frames cannot hold {L} characters")
    state = torch.empty(T, dtype=torch.long)  # (T,) state of each frame on the best path
    s = end
    for t in range(T - 1, -1, -1):
        state[t] = s
        s -= int(back[t, s])
    spans: list[list[int]] = [[-1, -1] for _ in range(L)]
    for t, s in enumerate(state.tolist()):
        if s % 2:  # a character state
            k = s // 2
            if spans[k][0] < 0:
                spans[k][0] = t
            spans[k][1] = t
    return [(a, b) for a, b in spans]


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


def _logaddexp(a: float, b: float) -> float:
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
        return _logaddexp(self.blank, self.char)


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
    log_probs, lengths = _check_log_probs(log_probs, lengths, charset)
    k = min(top_k, log_probs.shape[-1] - 1)
    out = []
    for b in range(log_probs.shape[0]):
        lp = log_probs[b, : int(lengths[b])].cpu()  # (T_b, C)
        ids, score = _prefix_search(
            lp, charset, beam_width, lm, lm_weight, word_bonus, k, min_char_log_prob
        )
        spans = forced_align(lp, ids)
        probs = [float(lp[a : e + 1, c].max().exp()) for c, (a, e) in zip(ids, spans, strict=True)]
        out.append(_decoded(charset, list(ids), probs, spans, score))
    return out


def _prefix_search(
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
            same.blank = _logaddexp(same.blank, total + row[0])
            if prefix:
                # The last character again without a blank: merges into the same prefix.
                last = prefix[-1]
                same.char = _logaddexp(same.char, beam.char + row[last])
            for c in cand_ids[t]:
                new = nxt[extend(prefix, c)]
                if prefix and c == prefix[-1]:
                    # A repeated character is a new one only after a blank.
                    new.char = _logaddexp(new.char, beam.blank + row[c])
                else:
                    new.char = _logaddexp(new.char, total + row[c])
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
