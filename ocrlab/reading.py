"""Does the Q-Former read? Diagnostics of the branch, measured the same way in training, in the
notebooks and on a model card.

A branch whose queries have collapsed still lowers the LM loss a little (the LM learns the
language of the labels through the soft prompt's bias), so the loss alone cannot tell. These can:

- ``lm_cer`` / ``lm_accuracy``: the LM-decoding path (queries -> frozen LM, greedy) against the
  labels, with the one metric implementation of ``ocrlab.metrics``.
- ``query_info``: the frozen LM's loss on the labels with a zero soft prompt (the LM alone)
  minus its loss with the projected queries, in nats per character (label characters + the
  end-of-text token, summed over the lines; for a character LM one token is one character).
  0 = the queries tell the LM nothing about this line.
- ``query_cosine``: mean pairwise cosine between the queries' cross-attention maps of the last
  cross-attention layer (mean over heads), averaged over lines: 1 = every query reads the same
  positions (collapsed). ``QueryAttention.stats`` computes it, as the notebooks and app show it.
- ``char_coverage``: the share of characters (CTC spans) holding some query's attention peak
  (``QueryAttention.char_coverage``), pooled over the lines' characters.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .data.transforms import Collate, LineTransform
from .errors import OcrlabError
from .metrics import score
from .viz.attention import COLLAPSED_SIMILARITY, query_attention_batch

__all__ = [
    "FirstCharacterSurvey",
    "ReadingDiagnostics",
    "first_character_survey",
    "reading_diagnostics",
]


@dataclass
class ReadingDiagnostics:
    """What :func:`reading_diagnostics` measured on ``lines`` lines (see the module docstring)."""

    lines: int
    lm_cer: float
    lm_accuracy: float
    lm_loss: float  # nats per character with the queries
    lm_loss_zero_prompt: float  # nats per character with a zero prompt
    query_info: float  # lm_loss_zero_prompt - lm_loss
    query_cosine: float
    char_coverage: float
    examples: list[tuple[str, str]] = field(default_factory=list)  # (label, LM reading)

    @property
    def collapsed(self) -> bool:
        """The last layer's queries read the same positions (``query_cosine`` at or above
        ``ocrlab.viz.attention.COLLAPSED_SIMILARITY``)."""
        return self.query_cosine >= COLLAPSED_SIMILARITY

    def as_dict(self) -> dict[str, Any]:
        """Flat numbers for ``metrics.jsonl`` (examples: the first three pairs)."""
        d = asdict(self)
        d["examples"] = [list(e) for e in self.examples[:3]]
        d["collapsed"] = self.collapsed
        return d

    def summary(self) -> str:
        return (
            f"LM decoding CER {self.lm_cer:.1%} (accuracy {self.lm_accuracy:.1%}); the queries "
            f"carry {self.query_info:.2f} nats/char ({self.lm_loss_zero_prompt:.2f} -> "
            f"{self.lm_loss:.2f}); last-layer query cosine {self.query_cosine:.2f}; "
            f"character coverage {self.char_coverage:.0%}"
        )

    def collapse_warning(self) -> str:
        return (
            f"the Q-Former's queries have collapsed (last-layer mean pairwise cosine "
            f"{self.query_cosine:.2f} >= {COLLAPSED_SIMILARITY}): they read the same positions, "
            "and the LM-decoding path cannot read the line"
        )


@torch.no_grad()
def reading_diagnostics(
    model: Any,
    samples: Sequence[Any],
    *,
    batch_size: int = 32,
    max_width: int | None = 2048,
    max_new_tokens: int | None = None,
) -> ReadingDiagnostics:
    """Measure how well ``model``'s Q-Former reads ``samples`` (``Sample`` items with a PIL
    image and a label, as a dataset without a transform returns them).

    ``max_new_tokens``: LM-decoding length cap (default: ``config.lm.max_text_tokens``).
    Raises :class:`OcrlabError` for a model without a Q-Former/LM branch or no samples.
    """
    if not getattr(model, "has_lm", False):
        raise OcrlabError("reading diagnostics need a model with a Q-Former/LM branch")
    samples = [s for s in samples if s is not None]
    if not samples:
        raise OcrlabError("reading diagnostics need at least one readable line")
    max_new = max_new_tokens or model.config.lm.max_text_tokens
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    collate = Collate(
        transform=LineTransform(height=model.config.encoder.height, max_width=max_width)
    )
    source = model.config.qformer.source_stage
    preds: list[str] = []
    refs: list[str] = []
    nats = nats_zero = 0.0
    tokens = 0
    try:
        for start in range(0, len(samples), batch_size):
            batch = collate(samples[start : start + batch_size])
            enc = model.encoder(batch.images.to(device), batch.widths.to(device))
            q = model.qformer(enc.stages[source], enc.stage_masks[source], False).query_output
            with_q = model.lm_bridge(q, batch.texts)  # (B, Q, H) queries -> LM loss
            zero = model.lm_bridge.score_prompt(
                torch.zeros_like(model.lm_bridge.project(q)), batch.texts
            )  # the same LM and labels with nothing from the image
            n, t = with_q.nats()
            nz, _ = zero.nats()
            nats, nats_zero, tokens = nats + n, nats_zero + nz, tokens + t
            preds += model.lm_bridge.generate(q, max_new_tokens=max_new)
            refs += batch.texts
        maps = query_attention_batch(
            model, [s.image for s in samples], max_width=max_width, batch_size=batch_size
        )
    finally:
        model.train(was_training)
    cosines = [qa.stats(layer=-1).mean_similarity for qa in maps]
    chars = [len(qa.char_spans_in_source()) for qa in maps]
    covered = [qa.char_coverage(layer=-1) * n for qa, n in zip(maps, chars, strict=True) if n]
    scores = score(preds, refs)
    loss, loss_zero = nats / max(tokens, 1), nats_zero / max(tokens, 1)
    finite = [c for c in cosines if not math.isnan(c)]
    return ReadingDiagnostics(
        lines=len(refs),
        lm_cer=scores.cer,
        lm_accuracy=scores.accuracy,
        lm_loss=loss,
        lm_loss_zero_prompt=loss_zero,
        query_info=loss_zero - loss,
        query_cosine=sum(finite) / len(finite) if finite else float("nan"),
        char_coverage=sum(covered) / sum(chars) if sum(chars) else float("nan"),
        examples=list(zip(refs, preds, strict=True)),
    )


@dataclass
class FirstCharacterSurvey:
    """What reads the first character, over ``lines`` rendered lines (whose glyph boxes the
    renderer knows); see :meth:`ocrlab.viz.QueryAttention.character`.

    ``top_query`` / ``top_query_share``: the query most often strongest on character 0, and how
    often; ``layer_share``: per cross-attention layer, how often it holds the strongest read;
    ``mass``: the strongest query's mean attention mass on character 0; ``sharpness``: its
    mean peak over uniform; ``peak_in_glyph`` / ``peak_in_ctc_span``: how often its peak falls
    in the glyph box / the CTC span; ``ctc_frame0``: how often the CTC head fires character 0
    at frame 0 (the left-edge spike), wherever its glyph starts.
    """

    lines: int
    top_query: int
    top_query_share: float
    layer_share: list[float]
    mass: float
    sharpness: float
    peak_in_glyph: float
    peak_in_ctc_span: float
    ctc_frame0: float
    readings: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("readings")
        return d

    def summary(self) -> str:
        return (
            f"over {self.lines} lines, query {self.top_query} reads character 0 most often "
            f"({self.top_query_share:.0%}), with {self.mass:.2f} of its attention on it, "
            f"{self.sharpness:.1f}x uniform; its peak lies in the glyph box in "
            f"{self.peak_in_glyph:.0%} and in the CTC span in {self.peak_in_ctc_span:.0%} of "
            f"the lines; the CTC head fires character 0 at frame 0 in {self.ctc_frame0:.0%}"
        )


def first_character_survey(model: Any, rendered: Sequence[Any]) -> FirstCharacterSurvey:
    """Survey :meth:`QueryAttention.character` for character 0 over rendered lines
    (``RenderResult`` items, e.g. ``SyntheticLines.render(i)``), keeping the lines whose CTC
    reading starts with the label's first character (so the glyph box is that character's)."""
    maps = query_attention_batch(model, [r.image for r in rendered])
    readings = []
    for r, qa in zip(rendered, maps, strict=True):
        if qa.text and r.text and qa.text[0] == r.text[0]:
            readings.append(qa.character(0, glyph_box=r.char_boxes[0]))
    if not readings:
        raise OcrlabError("no line's CTC reading starts with its label's first character")
    n = len(readings)
    top, count = Counter(c.queries[0] for c in readings).most_common(1)[0]
    layers = Counter(c.layer for c in readings)
    n_layers = len(model.qformer.cross_layers)
    return FirstCharacterSurvey(
        lines=n,
        top_query=top,
        top_query_share=count / n,
        layer_share=[layers.get(i, 0) / n for i in range(max(n_layers, 1))],
        mass=sum(c.mass[0] for c in readings) / n,
        sharpness=sum(c.sharpness for c in readings) / n,
        peak_in_glyph=sum(bool(c.peak_in_glyph) for c in readings) / n,
        peak_in_ctc_span=sum(c.peak_in_ctc_span for c in readings) / n,
        ctc_frame0=sum(c.ctc_first_frame == 0 for c in readings) / n,
        readings=readings,
    )
