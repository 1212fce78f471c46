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

from .beam import (
    DECODERS,
    EOS,
    CharNgramLM,
    LanguageModel,
    WordFreqLM,
    beam_search,
    make_decoder,
    prefix_search,
)
from .greedy import Decoded, forced_align, greedy_decode
from .head import CTCHead, ctc_feasible, ctc_loss

__all__ = [
    "DECODERS",
    "EOS",
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
    "prefix_search",
]
