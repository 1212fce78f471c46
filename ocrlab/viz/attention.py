"""What the Q-Former's queries read: cross-attention maps of one line, placed on its pixels.

:func:`query_attention` runs the model once with attention maps on and returns a
:class:`QueryAttention`: the maps over the REAL positions of the Q-Former's source stage (the
batch's right padding is cut off; the Q-Former gives it exactly zero weight), the CTC reading of
the same forward pass, and the geometry that puts both on the original image.

Geometry. The model reads the line resized to height 32 with its aspect kept (at most
``max_width`` input pixels wide, wider lines are squeezed), so one input pixel is
``scale = original width / input width`` original pixels along x. Position ``t`` of a stage with
stride ``s`` covers input columns ``[t s, (t + 1) s)`` and is drawn at its centre
``(t + 0.5) s`` (``Encoder.positions_to_pixels``), i.e. ``(t + 0.5) s scale`` original pixels.
The CTC head reads the encoder's last stage; :meth:`QueryAttention.char_spans_in_source` maps a
character's CTC frame span to the source stage's positions through the same input columns, so
the two agree even when the source stage has another stride (``stage1``: 2 pixels).

Aggregations (each a (Q, P) tensor): one head, the mean or max over heads, the mean over layers,
and a rollout through the layers (:meth:`QueryAttention.rollout`). :meth:`QueryAttention.stats`
answers "do the queries specialize or collapse?" with entropy, pairwise similarity and coverage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from ..data.transforms import prepare_lines
from ..errors import OcrlabError
from ..models import Recognition

if TYPE_CHECKING:
    from ..models import OCRModel, Recognition

__all__ = [
    "COLLAPSED_SIMILARITY",
    "NEGLIGIBLE_MASS",
    "SPECIALIZED_ENTROPY",
    "SPECIALIZED_SIMILARITY",
    "AttentionError",
    "CharacterReading",
    "QueryAttention",
    "QueryStats",
    "query_attention",
    "query_attention_batch",
]

HeadSpec = int | str  # a head index, "mean", "max" (or "rollout" where a rollout is allowed)

# Verdict thresholds of QueryStats (see its docstring). Cosine similarity of two queries' maps:
# 1 = the same distribution. Normalized entropy: 0 = all mass on one position, 1 = uniform.
COLLAPSED_SIMILARITY = 0.9
SPECIALIZED_SIMILARITY = 0.5
SPECIALIZED_ENTROPY = 0.8
# Below this attention mass on a character's span, summary() names no query for it.
NEGLIGIBLE_MASS = 0.005


class AttentionError(OcrlabError):
    """Attention that cannot be shown: a checkpoint without a Q-Former, a layer, head or query
    index out of range, an unknown aggregation."""


@dataclass
class QueryStats:
    """Do the queries specialize or collapse? Computed on one (Q, P) map (rows = queries).

    Attributes:
        entropy: (Q,) entropy of each query's distribution over positions, in nats.
        entropy_norm: (Q,) ``entropy / log P`` in [0, 1] (0 = one position, 1 = uniform;
            0 when P = 1).
        similarity: (Q, Q) cosine similarity between the queries' maps (1 on the diagonal).
        mean_similarity: mean of the off-diagonal similarities (nan with a single query).
        coverage: fraction of the line's positions that some query attends to more than
            uniformly, i.e. with ``max_q A[q, p] > 1 / P``.
        covered: (P,) bool, the positions counted in ``coverage``.
        peak_px: (Q,) x-centre, in original pixels, of each query's most attended position.
        centroid_px: (Q,) attention-weighted mean x of each query, in original pixels.
        verdict: "collapsed" if ``mean_similarity >= COLLAPSED_SIMILARITY`` (the queries read
            the same thing); "specialized" if ``mean_similarity <= SPECIALIZED_SIMILARITY`` and
            the mean of ``entropy_norm`` is ``<= SPECIALIZED_ENTROPY`` (each query reads its own,
            focused region); "mixed" otherwise (and with a single query).
        reason: the verdict with the numbers and thresholds behind it.
        label: which map this is, e.g. "layer 1 of 2, mean over heads".
    """

    entropy: torch.Tensor
    entropy_norm: torch.Tensor
    similarity: torch.Tensor
    mean_similarity: float
    coverage: float
    covered: torch.Tensor
    peak_px: torch.Tensor
    centroid_px: torch.Tensor
    verdict: str
    reason: str
    label: str = ""

    def __str__(self) -> str:
        return self.reason


@dataclass
class CharacterReading:
    """Which queries read one character, how sharply, and where, against the CTC span and the
    glyph box (the seminar's "what is the feature of the first character?").

    Attributes:
        index, char: the character (of the CTC reading).
        layer: the cross-attention layer of ``queries`` / ``mass`` (the strongest one).
        queries, mass: the top queries by attention mass on the character's span (mean over
            heads), strongest first, and that mass (1.0 = the whole map on this character).
        by_layer: per cross-attention layer, (best query, its mass on the character).
        peak_px, centroid_px: the top query's most attended position and its attention-weighted
            mean x, in original pixels.
        sharpness: the top query's peak weight over the uniform weight ``1 / P`` (1 = flat).
        ctc_span_px: the character's CTC frame span in original pixels; ``ctc_first_frame``
            its first frame (0: the spike at the left edge that BiLSTM CTC models often put
            there, whatever the glyph).
        glyph_px: the glyph's box in original pixels when given (e.g. the renderer's
            ``char_boxes``); ``peak_in_glyph`` / ``peak_in_ctc_span``: where the peak falls.
    """

    index: int
    char: str
    layer: int
    queries: list[int]
    mass: list[float]
    by_layer: list[tuple[int, float]]
    peak_px: float
    centroid_px: float
    sharpness: float
    ctc_span_px: tuple[float, float]
    ctc_first_frame: int
    glyph_px: tuple[float, float] | None
    peak_in_glyph: bool | None
    peak_in_ctc_span: bool

    def __str__(self) -> str:
        qs = ", ".join(f"{q} ({m:.2f})" for q, m in zip(self.queries, self.mass, strict=True))
        glyph = (
            f"glyph {self.glyph_px[0]:.0f}-{self.glyph_px[1]:.0f} px (peak "
            f"{'inside' if self.peak_in_glyph else 'outside'})"
            if self.glyph_px is not None
            else "no glyph box given"
        )
        return (
            f"char {self.index} {self.char!r}: queries {qs} in cross-attention layer "
            f"{self.layer}; peak at {self.peak_px:.0f} px, {self.sharpness:.1f}x uniform; "
            f"CTC span {self.ctc_span_px[0]:.0f}-{self.ctc_span_px[1]:.0f} px (first frame "
            f"{self.ctc_first_frame}); {glyph}"
        )


@dataclass
class QueryAttention:
    """The Q-Former's attention for one line, with the geometry to draw it on the image.

    Attributes:
        maps: (L_cross, H, Q, P) cross-attention per cross-attention layer and head, over the P
            real positions of the source stage; every row sums to 1.
        self_maps: (L, H, Q, Q) the queries' self-attention per Q-Former layer.
        recognition: the CTC reading (greedy) of the same forward pass; its ``spans`` are CTC
            frames, its ``pixel_spans`` original-image pixel columns (as ``OCRModel.recognize``).
        stage: the source stage's name (``config.qformer.source_stage``).
        stride: the source stage's width stride, in input pixels per position.
        ctc_stride: input pixels per CTC frame (the encoder's last stage).
        centers_px: (P,) x-centre of each source position in ORIGINAL image pixels.
        scale: original pixels per input pixel along x (original width / input width).
        image: (1, 32, w) the preprocessed line as the model saw it (no padding).
        original: the original image (PIL, RGB).
        cross_layers: the Q-Former layer index of each cross-attention layer in ``maps``.
    """

    maps: torch.Tensor
    self_maps: torch.Tensor
    recognition: Recognition
    stage: str
    stride: int
    ctc_stride: int
    centers_px: torch.Tensor
    scale: float
    image: torch.Tensor
    original: Image.Image
    cross_layers: tuple[int, ...]

    def __repr__(self) -> str:  # the tensors would flood a notebook cell
        return (
            f"QueryAttention(text={self.text!r}, stage={self.stage!r}, stride={self.stride}, "
            f"layers={self.num_layers}, heads={self.num_heads}, queries={self.num_queries}, "
            f"positions={self.num_positions})"
        )

    # -- sizes ----------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The recognized text (CTC greedy)."""
        return self.recognition.text

    @property
    def num_layers(self) -> int:
        """Cross-attention layers (L_cross)."""
        return int(self.maps.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.maps.shape[1])

    @property
    def num_queries(self) -> int:
        return int(self.maps.shape[2])

    @property
    def num_positions(self) -> int:
        """Real positions P of the source stage."""
        return int(self.maps.shape[3])

    @property
    def edges_px(self) -> torch.Tensor:
        """(P + 1,) the pixel columns (original image) where the source positions begin/end."""
        return torch.arange(self.num_positions + 1, dtype=torch.float32) * self.stride * self.scale

    # -- geometry -------------------------------------------------------------------------------

    def char_spans_in_source(self) -> list[tuple[int, int]]:
        """Per recognized character, the (first, last) source position (inclusive) covering the
        input columns of its CTC frame span ``[a * ctc_stride, (b + 1) * ctc_stride)``."""
        last = self.num_positions - 1
        out = []
        for a, b in self.recognition.spans:
            first = (a * self.ctc_stride) // self.stride
            end = -(-((b + 1) * self.ctc_stride) // self.stride) - 1  # ceil division, inclusive
            out.append((min(max(first, 0), last), min(max(end, first), last)))
        return out

    # -- aggregations (each (Q, P)) -------------------------------------------------------------

    def _layer(self, layer: int) -> int:
        n = self.num_layers
        if not -n <= layer < n:
            raise AttentionError(
                f"cross-attention layer {layer} is out of range: the Q-Former has {n} "
                f"cross-attention layer(s) (valid: 0..{n - 1} or -{n}..-1)"
            )
        return layer % n

    def head(self, layer: int, head: int) -> torch.Tensor:
        """(Q, P) one head's map of one cross-attention layer."""
        n = self.num_heads
        if not -n <= head < n:
            raise AttentionError(f"head {head} is out of range: the Q-Former has {n} heads")
        return self.maps[self._layer(layer), head]

    def mean_heads(self, layer: int = -1) -> torch.Tensor:
        """(Q, P) mean over heads of one layer (rows sum to 1)."""
        return self.maps[self._layer(layer)].mean(0)

    def max_heads(self, layer: int = -1) -> torch.Tensor:
        """(Q, P) max over heads of one layer (rows do NOT sum to 1: the strongest head at
        each position)."""
        return self.maps[self._layer(layer)].amax(0)

    def layer_mean(self, layer: int | None = None) -> torch.Tensor:
        """(Q, P) the head mean of cross-attention layer ``layer``; ``None``: the mean over every
        layer and head (rows sum to 1 either way)."""
        if layer is None:
            return self.maps.mean((0, 1))
        return self.mean_heads(layer)

    def aggregate(self, layer: int = -1, head: HeadSpec = "mean") -> torch.Tensor:
        """(Q, P) the map the figures draw: ``head`` an index, ``"mean"``, ``"max"`` or
        ``"rollout"`` (which ignores ``layer``)."""
        if head == "rollout":
            return self.rollout()
        if head == "mean":
            return self.mean_heads(layer)
        if head == "max":
            return self.max_heads(layer)
        if isinstance(head, int) and not isinstance(head, bool):
            return self.head(layer, head)
        raise AttentionError(
            f"unknown head aggregation {head!r}: use a head index, 'mean', 'max' or 'rollout'"
        )

    def rollout(self, agg: str = "mean") -> torch.Tensor:
        """(Q, P) attention rollout through every Q-Former layer; rows sum to 1.

        Abnar & Zuidema (2020) roll self-attention out by multiplying, layer by layer, the
        head-aggregated map plus the identity for the residual path, rows renormalized. A
        Q-Former layer has self-attention among the queries and then cross-attention to the
        image, so here each query's state is a mixture over Q + P sources: the learned query
        tokens and the image positions. It starts as the query tokens alone; self-attention
        mixes the queries (``M <- norm(S + I) M``), cross-attention adds the image with equal
        weight to the residual (``M <- (M + [0 | C]) / 2``). The result is the image part of
        the final mixture, renormalized over positions.

        Carrying rollout through cross-attention this way is ocrlab's own construction,
        not the BLIP-2 paper's (which shows no rollout), and goes beyond the original rollout
        (self-attention only): read it as a summary of where information can flow, not as
        ground truth.

        ``agg``: how heads are combined, "mean" (as Abnar & Zuidema) or "max".
        """
        if agg not in ("mean", "max"):
            raise AttentionError(f"rollout agg must be 'mean' or 'max', got {agg!r}")
        reduce = (lambda m: m.mean(0)) if agg == "mean" else (lambda m: m.amax(0))
        Q, P = self.num_queries, self.num_positions
        eye = torch.eye(Q)
        mix = torch.cat([eye, torch.zeros(Q, P)], 1)  # (Q, Q + P) sources: queries, positions
        k = 0
        for i in range(self.self_maps.shape[0]):
            s = reduce(self.self_maps[i]) + eye  # (Q, Q) attention + residual
            mix = (s / s.sum(1, keepdim=True)) @ mix  # (Q, Q + P)
            if i in self.cross_layers:
                c = reduce(self.maps[k])  # (Q, P)
                c = c / c.sum(1, keepdim=True).clamp_min(1e-12)
                mix = 0.5 * mix + 0.5 * torch.cat([torch.zeros(Q, Q), c], 1)  # (Q, Q + P)
                k += 1
        image = mix[:, Q:]  # (Q, P)
        return image / image.sum(1, keepdim=True).clamp_min(1e-12)

    # -- queries and characters -----------------------------------------------------------------

    def correspondence(self, layer: int = -1, agg: HeadSpec = "mean") -> torch.Tensor:
        """(Q, n_chars) the attention mass each query puts on each recognized character's span
        (its CTC frames' source positions, :meth:`char_spans_in_source`). ``agg`` as ``head``
        of :meth:`aggregate`. (Q, 0) when nothing was recognized."""
        a = self.aggregate(layer, agg)  # (Q, P)
        spans = self.char_spans_in_source()
        if not spans:
            return torch.zeros(self.num_queries, 0)
        return torch.stack([a[:, f : e + 1].sum(1) for f, e in spans], 1)  # (Q, n_chars)

    def summary(self, top: int = 2, layer: int = -1, agg: HeadSpec = "mean") -> list[str]:
        """One line per recognized character: the ``top`` queries with the most attention mass
        on its span, e.g. ``"char 0 'H' <- queries 3, 11 (0.41, 0.22)"`` (0-based indices, as
        in the tensors), or ``"char 0 'H' <- no query (max mass 0.000)"`` when no query puts
        ``NEGLIGIBLE_MASS`` on it."""
        corr = self.correspondence(layer, agg)  # (Q, n)
        k = max(1, min(top, self.num_queries))
        lines = []
        for i, ch in enumerate(self.text):
            mass, idx = corr[:, i].topk(k)
            if float(mass[0]) < NEGLIGIBLE_MASS:  # a ranking of zeros would name random queries
                lines.append(f"char {i} {ch!r} <- no query (max mass {float(mass[0]):.3f})")
                continue
            queries = ", ".join(str(int(q)) for q in idx)
            values = ", ".join(f"{float(m):.2f}" for m in mass)
            word = "query" if k == 1 else "queries"
            lines.append(f"char {i} {ch!r} <- {word} {queries} ({values})")
        return lines

    def char_coverage(self, layer: int = -1, agg: HeadSpec = "mean", peak: float = 2.0) -> float:
        """The share of recognized characters whose span (:meth:`char_spans_in_source`)
        holds some query's attention peak: its most attended position in ``aggregate(layer,
        agg)``, counted only when it gets at least ``peak`` times the uniform weight ``1 / P``
        (the argmax of a flat map is noise, not a focus). nan when nothing was recognized.
        1.0: every character is some query's focus; at most ``Q / n_chars`` (16 queries cannot
        peak on all 40 characters of a line)."""
        spans = self.char_spans_in_source()
        if not spans:
            return float("nan")
        a = self.aggregate(layer, agg)  # (Q, P)
        a = a / a.sum(1, keepdim=True).clamp_min(1e-12)
        weight, where = a.max(1)  # (Q,), (Q,)
        peaks = where[weight >= peak / a.shape[1]]  # positions of the queries that focus
        hit = [bool(((peaks >= f) & (peaks <= e)).any()) for f, e in spans]
        return sum(hit) / len(hit)

    def character(
        self, index: int = 0, *, glyph_box: tuple[float, float] | None = None, top: int = 3
    ) -> CharacterReading:
        """Which queries read recognized character ``index`` (see :class:`CharacterReading`),
        in every cross-attention layer; ``glyph_box``: its (x0, x1) in original pixels, e.g.
        ``RenderResult.char_boxes[index]`` of a rendered line."""
        n = len(self.text)
        if not -n <= index < n:
            raise AttentionError(
                f"character {index} is out of range: the CTC reading {self.text!r} has {n}"
            )
        index %= n
        by_layer, best = [], None
        for layer in range(self.num_layers):
            corr = self.correspondence(layer)[:, index]  # (Q,) mass on the character
            mass, q = corr.max(0)
            by_layer.append((int(q), float(mass)))
            if best is None or float(mass) > best[1]:
                best = (layer, float(mass))
        layer = best[0]
        corr = self.correspondence(layer)[:, index]  # (Q,)
        k = max(1, min(top, self.num_queries))
        mass, queries = corr.topk(k)
        a = self.mean_heads(layer)[int(queries[0])]  # (P,) the top query's map
        P = a.shape[0]
        peak = int(a.argmax())
        peak_px = float(self.centers_px[peak])
        f, e = self.char_spans_in_source()[index]
        ctc = self.recognition.pixel_spans[index]
        glyph = None if glyph_box is None else (float(glyph_box[0]), float(glyph_box[1]))
        return CharacterReading(
            index=index,
            char=self.text[index],
            layer=layer,
            queries=[int(q) for q in queries],
            mass=[float(m) for m in mass],
            by_layer=by_layer,
            peak_px=peak_px,
            centroid_px=float(a @ self.centers_px / a.sum().clamp_min(1e-12)),
            sharpness=float(a.max() * P / a.sum().clamp_min(1e-12)),
            ctc_span_px=(float(ctc[0]), float(ctc[1])),
            ctc_first_frame=int(self.recognition.spans[index][0]),
            glyph_px=glyph,
            peak_in_glyph=None if glyph is None else glyph[0] <= peak_px < glyph[1],
            peak_in_ctc_span=f <= peak <= e,
        )

    # -- specialize or collapse? ----------------------------------------------------------------

    def stats(self, layer: int = -1, head: HeadSpec = "mean") -> QueryStats:
        """Entropy, pairwise similarity and coverage of the queries' maps (see
        :class:`QueryStats` for the definitions and the verdict's thresholds). Rows that do not
        sum to 1 (``head="max"``) are renormalized for entropy, coverage and the centroid."""
        a = self.aggregate(layer, head)  # (Q, P)
        p = a / a.sum(1, keepdim=True).clamp_min(1e-12)  # (Q, P) distributions
        Q, P = p.shape
        entropy = -(p * p.clamp_min(1e-12).log()).sum(1)  # (Q,) nats
        entropy_norm = entropy / math.log(P) if P > 1 else torch.zeros(Q)
        unit = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
        similarity = unit @ unit.T  # (Q, Q)
        if Q > 1:
            off = ~torch.eye(Q, dtype=torch.bool)
            mean_sim = float(similarity[off].mean())
        else:
            mean_sim = float("nan")
        covered = p.amax(0) > 1.0 / P  # (P,)
        coverage = float(covered.float().mean())
        centers = self.centers_px
        peak_px = centers[p.argmax(1)]  # (Q,)
        centroid_px = p @ centers  # (Q,)
        mean_h = float(entropy_norm.mean())
        verdict, reason = _verdict(Q, mean_sim, mean_h, coverage)
        return QueryStats(
            entropy=entropy,
            entropy_norm=entropy_norm,
            similarity=similarity,
            mean_similarity=mean_sim,
            coverage=coverage,
            covered=covered,
            peak_px=peak_px,
            centroid_px=centroid_px,
            verdict=verdict,
            reason=reason,
            label=self.label(layer, head),
        )

    def label(self, layer: int = -1, head: HeadSpec = "mean") -> str:
        """Words for an aggregation, e.g. ``"layer 1 of 2, mean over heads"``."""
        if head == "rollout":
            return "rollout over all layers"
        which = {"mean": "mean over heads", "max": "max over heads"}.get(str(head), f"head {head}")
        return f"layer {self._layer(layer)} of {self.num_layers}, {which}"


def _verdict(q: int, mean_sim: float, mean_h: float, coverage: float) -> tuple[str, str]:
    numbers = (
        f"mean pairwise cosine {mean_sim:.2f}, mean normalized entropy {mean_h:.2f}, "
        f"coverage {coverage:.0%}"
    )
    if q < 2:
        return "mixed", f"mixed: a single query cannot specialize or collapse ({numbers})"
    if mean_sim >= COLLAPSED_SIMILARITY:
        return "collapsed", (
            f"collapsed: the queries read the same positions (mean pairwise cosine "
            f"{mean_sim:.2f} >= {COLLAPSED_SIMILARITY}); {numbers}"
        )
    if mean_sim <= SPECIALIZED_SIMILARITY and mean_h <= SPECIALIZED_ENTROPY:
        return "specialized", (
            f"specialized: distinct (mean pairwise cosine {mean_sim:.2f} <= "
            f"{SPECIALIZED_SIMILARITY}) and focused (mean normalized entropy {mean_h:.2f} <= "
            f"{SPECIALIZED_ENTROPY}) maps; coverage {coverage:.0%}"
        )
    return "mixed", (
        f"mixed: neither collapsed (cosine >= {COLLAPSED_SIMILARITY}) nor specialized "
        f"(cosine <= {SPECIALIZED_SIMILARITY} and entropy <= {SPECIALIZED_ENTROPY}); {numbers}"
    )


# -- extraction ---------------------------------------------------------------------------------


def query_attention(model: OCRModel, image: Any, *, max_width: int | None = 2048) -> QueryAttention:
    """The Q-Former's attention and the CTC reading of one line.

    Args:
        model: an :class:`~ocrlab.models.OCRModel` with a Q-Former.
        image: a path, encoded bytes, a PIL image or an array (anything ``load_image`` reads).
        max_width: as ``OCRModel.recognize``: input pixels (after scaling to height 32) above
            which a line is squeezed horizontally; ``None`` keeps every width.

    Raises:
        AttentionError: the checkpoint has no Q-Former (a CTC-only model); there is nothing
            to show (attribution still works, see ``ocrlab.viz.attribute_character``).
        DataError: the image cannot be read.
    """
    return query_attention_batch(model, [image], max_width=max_width)[0]


@torch.no_grad()  # not inference_mode: callers may do in-place math on the maps
def query_attention_batch(
    model: OCRModel,
    images: Sequence[Any],
    *,
    max_width: int | None = 2048,
    batch_size: int = 16,
) -> list[QueryAttention]:
    """:func:`query_attention` for many lines, ``batch_size`` at a time (right-padded batches;
    the padding changes nothing in the maps of the real positions). One result per image, in
    order."""
    if model.qformer is None:
        raise AttentionError(
            "this checkpoint has no Q-Former (a CTC-only model), so it has no query attention "
            "to show; attribution (ocrlab.viz.attribute_character) still works"
        )
    if batch_size < 1:
        raise AttentionError(f"batch_size must be >= 1, got {batch_size}")
    stage = model.config.qformer.source_stage
    stride = model.encoder.stages[stage].stride
    ctc_stride = model.encoder.output_stride
    cross_layers = tuple(model.qformer.cross_layers)
    device = next(model.parameters()).device
    lines = prepare_lines(
        images, height=model.config.encoder.height, max_width=max_width, batch_size=batch_size
    )

    was_training = model.training
    model.eval()
    results: list[QueryAttention | None] = [None] * len(lines)
    try:
        for idx, batch in lines.batches():
            out = model(
                batch.images.to(device),  # (B, 1, 32, W)
                batch.widths.to(device),  # (B,)
                output_attentions=True,
                compute_lm=False,
            )
            decoded = model.decode(out.ctc_logits, out.lengths)
            real = out.encoder.stage_masks[stage].sum(1).tolist()  # (B,) real source positions
            cross = torch.stack(out.cross_attentions, 1).float().cpu()  # (B, Lc, H, Q, T_s)
            selfs = torch.stack(out.self_attentions, 1).float().cpu()  # (B, L, H, Q, Q)
            for j, (i, dec) in enumerate(zip(idx, decoded, strict=True)):
                scale = lines.scale(i)
                P = int(real[j])
                recognition = Recognition.from_decoded(dec, ctc_stride, scale)
                results[i] = QueryAttention(
                    maps=cross[j, ..., :P].contiguous(),  # (Lc, H, Q, P)
                    self_maps=selfs[j].contiguous(),  # (L, H, Q, Q)
                    recognition=recognition,
                    stage=stage,
                    stride=stride,
                    ctc_stride=ctc_stride,
                    centers_px=model.encoder.positions_to_pixels(stage, P) * scale,  # (P,)
                    scale=scale,
                    image=lines.tensors[i],
                    original=lines.originals[i],
                    cross_layers=cross_layers,
                )
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]
