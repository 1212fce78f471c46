"""CTC greedy decoding and CTC prefix beam search, four ways: a pure Python loop, NumPy,
torch (the library's, ``ocrlab.models.ctc``) and C (``ctc_decode.c`` through ctypes).

Every variant takes the same input, ``log_probs`` (B, T, C) float32 (blank = 0) and
``lengths`` (B,), and returns the same output, so that the benchmark compares like with like
and the tests can check that all of them agree:

- greedy: one :class:`~ocrlab.models.ctc.Decoded` per line (text, per-character max
  probability, frame spans, class ids, best-path log-probability), as ``greedy_decode``;
- beam: one ``(ids, score)`` per line, as the library's ``prefix_search`` (no LM): the best
  prefix's class ids and its log-probability summed over alignments.

Tie rules (shared with the C code): argmax ties go to the lowest class id; a frame's candidate
characters are its ``top_k`` best non-blank classes (ties: lower id first), those below
``min_lp`` dropped but the best kept; beams are ranked by total log-probability, ties by the
order a Python dict first saw the prefix. The library's beam search takes its candidates from
``torch.topk``, whose order among *equal* values is unspecified, so it can break exact ties
differently; with continuous log-probabilities (no exact ties) it returns the same results.

Why C and not numba: numba is not installed here (and may not be); C needs only the system
compiler that every Linux box with Python headers has, is loaded with ctypes from the standard
library, and shows the plain compiled-loop cost without a JIT's warm-up or its own runtime.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from ocrlab.charset import Charset
from ocrlab.models.ctc import Decoded, greedy_decode, prefix_search
from ocrlab.models.ctc.beam import logaddexp
from ocrlab.models.ctc.greedy import decoded_line

HERE = Path(__file__).resolve().parent
C_SOURCE = HERE / "ctc_decode.c"
CFLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC")
TOP_K = 32
MIN_LP = -12.0
NEG_INF = float("-inf")

GREEDY_VARIANTS = ("python", "numpy", "torch", "c")
BEAM_VARIANTS = ("python", "numpy", "torch", "c")


# -- greedy ----------------------------------------------------------------------------------


def greedy_python(log_probs: np.ndarray, lengths: np.ndarray, charset: Charset) -> list[Decoded]:
    """Pure Python: lists of floats, a loop over frames; ``max`` + ``index`` per frame (the
    idiomatic and fastest pure-Python argmax; ties go to the first, i.e. lowest, id)."""
    out = []
    B, T, _ = log_probs.shape
    for b in range(B):
        L = min(max(int(lengths[b]), 0), T)
        rows = log_probs[b, :L].tolist()
        ids: list[int] = []
        probs: list[float] = []
        spans: list[tuple[int, int]] = []
        score, prev = 0.0, 0
        for t, row in enumerate(rows):
            bv = max(row)
            best = row.index(bv)
            score += bv
            if best:
                p = math.exp(bv)
                if best != prev:
                    ids.append(best)
                    probs.append(p)
                    spans.append((t, t))
                else:
                    spans[-1] = (spans[-1][0], t)
                    if p > probs[-1]:
                        probs[-1] = p
            prev = best
        out.append(decoded_line(charset, ids, probs, spans, score))
    return out


def greedy_numpy_arrays(log_probs: np.ndarray, lengths: np.ndarray):
    """The vectorized part: (best id, its log-prob, run starts, run ends, valid) arrays."""
    T = log_probs.shape[1]
    best = log_probs.argmax(-1)  # (B, T) first maximum
    best_lp = np.take_along_axis(log_probs, best[..., None], -1)[..., 0]  # (B, T)
    valid = np.arange(T)[None, :] < np.asarray(lengths)[:, None]  # (B, T)
    best = np.where(valid, best, 0)  # padding reads as blank
    prev = np.pad(best, ((0, 0), (1, 0)))[:, :-1]  # (B, T)
    nxt = np.pad(best, ((0, 0), (0, 1)))[:, 1:]  # (B, T)
    char = best != 0
    return best, best_lp, char & (best != prev), char & (best != nxt), char, valid


def greedy_numpy(log_probs: np.ndarray, lengths: np.ndarray, charset: Charset) -> list[Decoded]:
    """NumPy: argmax and run boundaries over the whole batch at once; per-run max
    probability with ``np.maximum.reduceat``; only building the results loops over lines."""
    best, best_lp, start, end, char, valid = greedy_numpy_arrays(log_probs, lengths)
    flat_char = char.ravel()
    probs_all = np.exp(best_lp.ravel()[flat_char].astype(np.float64))  # (frames in runs,)
    run_starts = np.flatnonzero(start.ravel()[flat_char])  # each run's first frame among them
    run_prob = np.maximum.reduceat(probs_all, run_starts) if run_starts.size else probs_all[:0]
    ids = best[start].tolist()
    probs = run_prob.tolist()
    firsts = np.nonzero(start)[1].tolist()
    lasts = np.nonzero(end)[1].tolist()
    counts = start.sum(1).tolist()
    scores = np.where(valid, best_lp, 0.0).sum(1, dtype=np.float64).tolist()
    out, i = [], 0
    for b, n in enumerate(counts):
        j = i + n
        spans = list(zip(firsts[i:j], lasts[i:j], strict=True))
        out.append(decoded_line(charset, ids[i:j], probs[i:j], spans, scores[b]))
        i = j
    return out


def greedy_torch(log_probs: np.ndarray, lengths: np.ndarray, charset: Charset) -> list[Decoded]:
    """The library's ``ocrlab.models.ctc.greedy_decode`` (torch, vectorized over the batch)."""
    return greedy_decode(torch.from_numpy(log_probs), torch.from_numpy(lengths), charset)


# -- beam search -------------------------------------------------------------------------------


def _candidates(row: list[float], k: int, min_lp: float) -> list[int]:
    ranked = sorted(range(1, len(row)), key=lambda c: -row[c])[:k]  # stable: ties by id
    return [c for i, c in enumerate(ranked) if i == 0 or row[c] >= min_lp]


def _beam_line_python(rows: list[list[float]], beam_width: int, k: int, min_lp: float):
    if not rows:
        return (), 0.0
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, NEG_INF]}  # [blank, char]
    for row in rows:
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [NEG_INF, NEG_INF])
        cands = _candidates(row, k, min_lp)
        for prefix, (pb, pc) in beams.items():
            total = logaddexp(pb, pc)
            same = nxt[prefix]
            same[0] = logaddexp(same[0], total + row[0])
            if prefix:
                same[1] = logaddexp(same[1], pc + row[prefix[-1]])
            for c in cands:
                new = nxt[(*prefix, c)]
                if prefix and c == prefix[-1]:
                    new[1] = logaddexp(new[1], pb + row[c])
                else:
                    new[1] = logaddexp(new[1], total + row[c])
        scored = [(p, v, logaddexp(v[0], v[1])) for p, v in nxt.items()]
        alive = [x for x in scored if x[2] > NEG_INF]
        alive.sort(key=lambda x: x[2], reverse=True)  # stable: ties keep insertion order
        beams = {p: v for p, v, _ in alive[:beam_width]}
    prefix, (pb, pc) = next(iter(beams.items()))
    return prefix, logaddexp(pb, pc)


def beam_python(log_probs, lengths, beam_width=10, top_k=TOP_K, min_lp=MIN_LP):
    """Pure Python prefix beam search (Hannun et al. 2014) on lists of floats, dict of
    prefixes: the library's algorithm without torch."""
    B, T, C = log_probs.shape
    k = min(top_k, C - 1)
    out = []
    for b in range(B):
        L = min(max(int(lengths[b]), 0), T)
        ids, score = _beam_line_python(log_probs[b, :L].tolist(), beam_width, k, min_lp)
        out.append((list(ids), score))
    return out


def _beam_line_numpy(lp: np.ndarray, beam_width: int, k: int, min_lp: float):
    """One line, vectorized per frame over (beams x candidates); only the merge of an
    extension into an existing beam and the new prefixes' bookkeeping are Python."""
    T = lp.shape[0]
    if T == 0:
        return (), 0.0
    lp = lp.astype(np.float64)
    order = np.argsort(-lp[:, 1:], axis=1, kind="stable")[:, :k] + 1  # (T, k) ties by id
    top_v = np.take_along_axis(lp, order, 1)  # (T, k)
    n_keep = np.maximum((top_v >= min_lp).sum(1), 1)  # (T,) kept candidates (a prefix)

    prefixes: list[tuple[int, ...]] = [()]
    pb = np.array([0.0])
    pc = np.array([NEG_INF])
    for t in range(T):
        row = lp[t]
        cands = order[t, : n_keep[t]]  # (m,)
        m = cands.shape[0]
        K = len(prefixes)
        stride = 1 + m
        last = np.array([p[-1] if p else 0 for p in prefixes])  # (K,) 0 = empty prefix
        total = np.logaddexp(pb, pc)  # (K,)
        s_blank = total + row[0]  # (K,) stay, ending in blank
        s_char = np.where(last > 0, pc + row[last], NEG_INF)  # (K,) stay, repeating the last
        repeat = cands[None, :] == last[:, None]  # (K, m)
        e_char = np.where(repeat, pb[:, None], total[:, None]) + row[cands][None, :]  # (K, m)
        s_pos = np.arange(K) * stride  # (K,)
        e_pos = s_pos[:, None] + 1 + np.arange(m)[None, :]  # (K, m)
        e_alive = np.ones((K, m), dtype=bool)
        index = {p: i for i, p in enumerate(prefixes)}
        col = {int(c): j for j, c in enumerate(cands)}
        for j, p in enumerate(prefixes):  # extension (parent, c) that spells beam j
            if p and p[:-1] in index and p[-1] in col:
                i, jj = index[p[:-1]], col[p[-1]]
                s_char[j] = np.logaddexp(s_char[j], e_char[i, jj])
                s_pos[j] = min(s_pos[j], e_pos[i, jj])
                e_alive[i, jj] = False
        s_total = np.logaddexp(s_blank, s_char)
        e_total = e_char  # an extension never ends in blank
        totals = np.concatenate([s_total, e_total[e_alive]])
        pos = np.concatenate([s_pos, e_pos[e_alive]])
        keep = totals > NEG_INF
        idx = np.flatnonzero(keep)
        ranked = idx[np.lexsort((pos[idx], -totals[idx]))][:beam_width]
        ext_from, ext_c = np.nonzero(e_alive)
        blanks = np.concatenate([s_blank, np.full(ext_from.shape[0], NEG_INF)])
        chars = np.concatenate([s_char, e_char[e_alive]])
        new_prefixes = []
        for r in ranked.tolist():
            if r < K:
                new_prefixes.append(prefixes[r])
            else:
                e = r - K
                new_prefixes.append((*prefixes[ext_from[e]], int(cands[ext_c[e]])))
        prefixes, pb, pc = new_prefixes, blanks[ranked], chars[ranked]
    return prefixes[0], float(np.logaddexp(pb[0], pc[0]))


def beam_numpy(log_probs, lengths, beam_width=10, top_k=TOP_K, min_lp=MIN_LP):
    """NumPy prefix beam search: per frame, every (beam, candidate) extension is scored in
    one array expression; prefixes stay Python tuples."""
    B, T, C = log_probs.shape
    k = min(top_k, C - 1)
    out = []
    for b in range(B):
        L = min(max(int(lengths[b]), 0), T)
        ids, score = _beam_line_numpy(log_probs[b, :L], beam_width, k, min_lp)
        out.append((list(ids), score))
    return out


def beam_torch(log_probs, lengths, beam_width=10, top_k=TOP_K, min_lp=MIN_LP):
    """The library's prefix search (``ocrlab.models.ctc.prefix_search``, what
    ``beam_search`` runs per line before its forced alignment), without an LM."""
    B, T, C = log_probs.shape
    k = min(top_k, C - 1)
    lp = torch.from_numpy(log_probs)
    charset = SimpleNamespace(chars=["?"] * (C - 1))  # the search reads only .chars (no LM)
    out = []
    for b in range(B):
        L = min(max(int(lengths[b]), 0), T)
        ids, score = prefix_search(lp[b, :L], charset, beam_width, None, 1.0, 0.0, k, min_lp)
        out.append((list(ids), score))
    return out


# -- C through ctypes ------------------------------------------------------------------------------


def _compile(source: Path, out: Path, flags: tuple[str, ...]) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc/gcc) found: install gcc to build ctc_decode.c")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    cmd = [cc, *flags, str(source), "-o", str(tmp), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compiling {source.name} failed ({' '.join(cmd)}):\n{proc.stderr}")
    os.replace(tmp, out)


class CDecoder:
    """``ctc_decode.c`` compiled once (cached by source hash + flags) and loaded with ctypes.

    ``flags``: compiler flags; ``-march=native`` is dropped if the compiler rejects it."""

    def __init__(self, build_dir: str | os.PathLike | None = None, flags=CFLAGS) -> None:
        source = C_SOURCE.read_bytes()
        build = Path(build_dir or Path(tempfile.gettempdir()) / "ocrlab_python_vs_c")
        build.mkdir(parents=True, exist_ok=True)
        flags = tuple(flags)
        for attempt in (flags, tuple(f for f in flags if f != "-march=native")):
            key = hashlib.sha1(source + " ".join(attempt).encode()).hexdigest()[:12]
            path = build / f"libctc_decode_{key}.so"
            try:
                if not path.is_file():
                    _compile(C_SOURCE, path, attempt)
                break
            except RuntimeError:
                if attempt != flags or "-march=native" not in flags:
                    raise
        self.path, self.flags = path, attempt
        lib = ctypes.CDLL(str(path))
        f32, i64, i32, f64 = (
            np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS"),
            np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS"),
            np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS"),
            np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS"),
        )
        c_int = ctypes.c_int
        lib.ctc_greedy.argtypes = [f32, i64, c_int, c_int, c_int, i32, i32, i32, f64, i32, f64]
        lib.ctc_greedy.restype = None
        lib.ctc_prefix_beam.argtypes = [
            f32, i64, c_int, c_int, c_int, c_int, c_int, ctypes.c_double, i32, i32, f64,
        ]  # fmt: skip
        lib.ctc_prefix_beam.restype = None
        self.lib = lib

    @staticmethod
    def _inputs(log_probs, lengths):
        lp = np.ascontiguousarray(log_probs, dtype=np.float32)
        ln = np.ascontiguousarray(lengths, dtype=np.int64)
        return lp, ln, *lp.shape

    def greedy_arrays(self, log_probs, lengths):
        """The C kernel alone: (ids, first, last, prob, n, score) arrays."""
        lp, ln, B, T, C = self._inputs(log_probs, lengths)
        ids, first, last = (np.empty((B, T), np.int32) for _ in range(3))
        prob = np.empty((B, T), np.float64)
        n, score = np.empty(B, np.int32), np.empty(B, np.float64)
        self.lib.ctc_greedy(lp, ln, B, T, C, ids, first, last, prob, n, score)
        return ids, first, last, prob, n, score

    def greedy(self, log_probs, lengths, charset: Charset) -> list[Decoded]:
        """C kernel + the results as Python objects (gathered in one go, as NumPy's)."""
        ids, first, last, prob, n, score = self.greedy_arrays(log_probs, lengths)
        used = np.arange(ids.shape[1])[None, :] < n[:, None]  # (B, T)
        ids_, firsts, lasts = ids[used].tolist(), first[used].tolist(), last[used].tolist()
        probs, scores = prob[used].tolist(), score.tolist()
        out, i = [], 0
        for b, k in enumerate(n.tolist()):
            j = i + k
            spans = list(zip(firsts[i:j], lasts[i:j], strict=True))
            out.append(decoded_line(charset, ids_[i:j], probs[i:j], spans, scores[b]))
            i = j
        return out

    def beam_arrays(self, log_probs, lengths, beam_width=10, top_k=TOP_K, min_lp=MIN_LP):
        lp, ln, B, T, C = self._inputs(log_probs, lengths)
        ids = np.empty((B, T), np.int32)
        n, score = np.empty(B, np.int32), np.empty(B, np.float64)
        self.lib.ctc_prefix_beam(lp, ln, B, T, C, beam_width, top_k, min_lp, ids, n, score)
        return ids, n, score

    def beam(self, log_probs, lengths, beam_width=10, top_k=TOP_K, min_lp=MIN_LP):
        ids, n, score = self.beam_arrays(log_probs, lengths, beam_width, top_k, min_lp)
        return [(ids[b, :k].tolist(), float(score[b])) for b, k in enumerate(n.tolist())]


# -- test data -------------------------------------------------------------------------------------


def model_like_log_probs(
    B: int, T: int, C: int, seed: int = 0, *, noise: float = 3.0, margin: float = 15.0
) -> np.ndarray:
    """(B, T, C) float32 log-probabilities shaped like a trained CTC model's: each frame has a
    target (blank 60% of frames, else a character held for 1-3 frames), logits N(0, noise)
    plus ``margin`` on the target, and 1 frame in 10 torn between two classes. With the
    defaults about 15 non-blank classes per frame are above -12 and the runner-up sits near
    -7, as for ocrlab-small-v1 on synthetic lines (median runner-up -6.8, 14 classes > -12)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, noise, (B, T, C))
    target = np.zeros((B, T), dtype=np.int64)
    for b in range(B):
        t = 0
        while t < T:
            run = int(rng.integers(1, 4))
            target[b, t : t + run] = 0 if rng.random() < 0.6 else int(rng.integers(1, C))
            t += run
    np.put_along_axis(logits, target[..., None], margin, -1)
    torn = rng.random((B, T)) < 0.1
    other = rng.integers(0, C, (B, T))
    logits[torn, other[torn]] = margin - rng.random(int(torn.sum()))
    logits = logits - logits.max(-1, keepdims=True)
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return lp.astype(np.float32)
