"""Decoded lines, the greedy (best-path) decoder and forced alignment of a known text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ocrlab.charset import Charset
from ocrlab.errors import OcrlabError

NEG_INF = float("-inf")


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


def check_log_probs(log_probs: torch.Tensor, lengths: torch.Tensor | None, charset: Charset):
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


def decoded_line(charset: Charset, ids, probs, spans, score: float) -> Decoded:
    """A :class:`Decoded` from class ids, their probabilities and frame spans; the line's
    confidence is the product of its characters'."""
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
    log_probs, lengths = check_log_probs(log_probs, lengths, charset)
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
            decoded_line(
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
