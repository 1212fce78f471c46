"""Which pixels a reading depends on: captum attributions of the CTC and LM objectives.

Three questions, one :class:`Attribution` each, drawn with :func:`attribution_figure`:

- :func:`attribute_character`: which pixels make the model read character ``i``? The target is
  that character's CTC log-probability summed over its frame span in the greedy (best) path.
- :func:`attribute_lm_loss`: which pixels make the frozen LM find a text likely, given the
  queries? The target is the LM's log-likelihood of the text (minus its mean token loss).
- :func:`gradient_x_attention`: which encoder positions, read by which query, lower the LM loss?
  Grad-CAM over the Q-Former's cross-attention maps, as LAVIS computes it for BLIP-2.

Methods (captum): ``"integrated_gradients"`` (Sundararajan et al. 2017; signed, complete: the
map sums to f(image) - f(baseline) up to ``delta``), ``"saliency"`` (|d f / d pixel|, Simonyan
et al. 2014) and ``"gradcam"`` (Selvaraju et al. 2017, on an encoder stage's feature map, ReLU'd
and upsampled bilinearly to the input).

Geometry: the model reads the line resized to height 32 (aspect kept, at most ``max_width``
pixels wide). ``Attribution.input_map`` is over those real input pixels (H_in, w), where the
sums of integrated gradients hold; ``Attribution.map`` is the same map resampled bilinearly to
the ORIGINAL image (H, W), for overlays; ``scale`` converts input pixels to original pixels.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.transforms import prepare_lines
from ..errors import OcrlabError
from ..models.ctc import CTCHead
from ..models.lm import IGNORE_INDEX
from .plotting import make_subplots, plotly_go

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..models import OCRModel

__all__ = [
    "METHODS",
    "Attribution",
    "AttributionError",
    "attribute_character",
    "attribute_lm_loss",
    "attribution_figure",
    "gradient_x_attention",
]

METHODS = ("integrated_gradients", "saliency", "gradcam")
GRADCAM_LAYERS = ("stem", "stage1", "stage2", "stage3")
GRADIENT_X_ATTENTION = "gradient_x_attention"


class AttributionError(OcrlabError):
    """An attribution that cannot be computed: no character to attribute, an index out of range,
    a model without the part the target needs, an unknown method or layer."""


@dataclass
class Attribution:
    """One attribution map and what it explains.

    Attributes:
        map: (H, W) float32 over the ORIGINAL image's pixels (bilinear resampling of
            ``input_map``; values are per model-input pixel, so sums hold on ``input_map`` only).
        method: "integrated_gradients", "saliency", "gradcam" or "gradient_x_attention".
        target: what was attributed, e.g. ``"char 2 'e' CTC log-prob, frames 5-7"``.
        text: the recognized text (greedy CTC).
        char_index: the attributed character's index in ``text`` (None for LM targets).
        image: the original image (PIL, RGB).
        input_map: (H_in, w) float32 over the model input's real pixels (H_in = 32).
        input_image: (H_in, w) float32, the normalized model input (white = +1, black = -1).
        scale: (sx, sy) original pixels per model-input pixel along x and y.
        value: the attributed quantity f(image) (log-prob or log-likelihood, in nats).
        delta: integrated gradients only: ``input_map.sum() - (f(image) - f(baseline))``,
            captum's convergence delta (small = the path integral is accurate).
        char_spans_px: per recognized character, its (x0, x1) columns in the original image
            (from its CTC frame span).
        per_query: gradient x attention only: (Q, P) float32, per query and source position.
        positions_px: gradient x attention only: (P,) x-centre of each source position in the
            original image's pixels.
        layer: Grad-CAM's encoder stage, or gradient x attention's cross-attention layer index.
    """

    map: np.ndarray
    method: str
    target: str
    text: str
    char_index: int | None
    image: Image.Image
    input_map: np.ndarray
    input_image: np.ndarray
    scale: tuple[float, float]
    value: float
    delta: float | None = None
    char_spans_px: list[tuple[float, float]] = field(default_factory=list)
    per_query: np.ndarray | None = None
    positions_px: np.ndarray | None = None
    layer: str | int | None = None

    @property
    def target_span_px(self) -> tuple[float, float] | None:
        """(x0, x1) of the attributed character in the original image (None for LM targets)."""
        if self.char_index is None:
            return None
        return self.char_spans_px[self.char_index]

    @property
    def per_position(self) -> np.ndarray | None:
        """(P,) gradient x attention summed over queries (None for the other methods)."""
        return None if self.per_query is None else self.per_query.sum(0)


# -- preprocessing and the objectives ----------------------------------------------------------


@dataclass
class _Line:
    """One image prepared for the model, and its greedy reading."""

    name: str
    original: Image.Image
    images: torch.Tensor  # (1, 1, H_in, W_pad) normalized, right-padded with white
    width: int  # w, the real input width in pixels
    pad_value: float
    scale: tuple[float, float]
    text: str
    ids: list[int]
    spans: list[tuple[int, int]]  # CTC frames per character, inclusive
    frame_stride: int

    def spans_px(self) -> list[tuple[float, float]]:
        s, sx = self.frame_stride, self.scale[0]
        return [(a * s * sx, (b + 1) * s * sx) for a, b in self.spans]


def _prepare(model: OCRModel, image: Any, max_width: int | None) -> _Line:
    """Load, resize, pad and read ``image`` exactly as ``OCRModel.recognize`` does."""
    path = str(image) if isinstance(image, (str, os.PathLike)) else None
    line = prepare_lines([image], height=model.config.encoder.height, max_width=max_width)
    ((_, batch),) = line.batches()
    device = next(model.parameters()).device
    images = batch.images.to(device)  # (1, 1, H_in, W_pad)
    w = int(batch.widths[0])
    with torch.no_grad():
        out = model(images, batch.widths.to(device), compute_lm=False)
    decoded = model.decode(out.ctc_logits, out.lengths)[0]
    original = line.originals[0]
    return _Line(
        name=path or "this image",
        original=original,
        images=images,
        width=w,
        pad_value=line.transform.pad_value,
        scale=(original.width / w, original.height / images.shape[2]),
        text=decoded.text,
        ids=list(decoded.ids),
        spans=list(decoded.spans),
        frame_stride=model.encoder.output_stride,
    )


def _widths(line: _Line, n: int) -> torch.Tensor:
    return torch.full((n,), line.width, dtype=torch.long, device=line.images.device)  # (n,)


def _ctc_objective(model: OCRModel, line: _Line, cls: int, first: int, last: int) -> Callable:
    """f(images (N, 1, H, W)) -> (N,): sum over frames first..last of log P(cls | frame)."""

    def f(images: torch.Tensor) -> torch.Tensor:
        enc = model.encoder(images, _widths(line, images.shape[0]))
        log_probs = CTCHead.log_probs(model.ctc_head(enc.features))  # (N, T, C)
        return log_probs[:, first : last + 1, cls].sum(1)  # (N,)

    return f


def _lm_log_likelihood(model: OCRModel, images: torch.Tensor, widths, text: str, **kw):
    """(N,) minus the LM's mean next-token loss of ``text`` per line, and the Q-Former output.

    The bridge's own ``loss`` averages over the whole batch; captum needs one value per line.
    """
    enc = model.encoder(images, widths)
    source = model.config.qformer.source_stage
    q = model.qformer(enc.stages[source], enc.stage_masks[source], **kw)
    lm = model.lm_bridge(q.query_output, [text] * images.shape[0])
    # the LM scores logits at t against labels at t + 1 (transformers' ForCausalLMLoss)
    logits = lm.logits[:, :-1].float()  # (N, Q + L - 1, V)
    labels = lm.labels[:, 1:]  # (N, Q + L - 1)
    nll = F.cross_entropy(
        logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none"
    )  # (N, Q + L - 1)
    counted = (labels != IGNORE_INDEX).sum(1).clamp(min=1)  # (N,)
    return -(nll.sum(1) / counted), q  # (N,)


@contextlib.contextmanager
def _attribution_mode(model: OCRModel) -> Iterator[None]:
    """Eval mode (BatchNorm statistics, no dropout) with gradients on, restored afterwards.

    cuDNN's LSTM has no backward pass in eval mode, so cuDNN is off here (CPU is unaffected).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            yield
    finally:
        model.train(was_training)


def _captum(
    model: OCRModel,
    line: _Line,
    f: Callable[[torch.Tensor], torch.Tensor],
    method: str,
    n_steps: int,
    layer: str,
    internal_batch_size: int | None,
) -> tuple[np.ndarray, float, float | None]:
    """Run ``method`` on objective ``f``; returns the (H_in, w) map, f(image), delta."""
    # captum is the viz extra: imported here, so the LM-loss targets and gradient x attention,
    # which need none of it, work without it
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    x = line.images.clone().requires_grad_(True)  # (1, 1, H_in, W_pad)
    value = float(f(x).detach()[0])
    delta = None
    if method == "integrated_gradients":
        # White, the pad value, is a line with nothing written on it: the only input that
        # carries no evidence for any character. Black (-1) or mid-grey (0) would be "ink
        # everywhere", so the background itself would get (negative) attribution.
        baseline = torch.full_like(x, line.pad_value)  # (1, 1, H_in, W_pad)
        attr, d = IntegratedGradients(f).attribute(
            x,
            baselines=baseline,
            n_steps=n_steps,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )
        delta = float(d.reshape(-1)[0])
    elif method == "saliency":
        attr = Saliency(f).attribute(x, abs=True)
    elif method == "gradcam":
        cam = LayerGradCam(f, getattr(model.encoder, layer)).attribute(
            x, relu_attributions=True
        )  # (1, 1, h, w') on the stage's grid
        attr = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), "bilinear")
    else:  # pragma: no cover - _check_method ran first
        raise AssertionError(method)
    input_map = attr.detach()[0, 0, :, : line.width].float().cpu().numpy()  # (H_in, w)
    return input_map, value, delta


def _to_original(input_map: np.ndarray, original: Image.Image) -> np.ndarray:
    """(H_in, w) -> (H, W) over the original image, bilinear (pixel centres aligned)."""
    t = torch.from_numpy(np.ascontiguousarray(input_map))[None, None]  # (1, 1, H_in, w)
    size = (original.height, original.width)
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def _result(line: _Line, input_map: np.ndarray, **kw) -> Attribution:
    return Attribution(
        map=_to_original(input_map, line.original),
        text=line.text,
        image=line.original,
        input_map=input_map,
        input_image=line.images[0, 0, :, : line.width].detach().cpu().numpy(),
        scale=line.scale,
        char_spans_px=line.spans_px(),
        **kw,
    )


def _check_method(method: str, layer: str) -> None:
    if method not in METHODS:
        raise AttributionError(
            f"unknown attribution method {method!r}; choose one of {', '.join(METHODS)}"
        )
    if method == "gradcam" and layer not in GRADCAM_LAYERS:
        raise AttributionError(
            f"gradcam layer {layer!r} is not a convolutional encoder stage; choose one of "
            f"{', '.join(GRADCAM_LAYERS)}"
        )


def _require_lm(model: OCRModel, what: str) -> None:
    if model.qformer is None or not model.has_lm:
        missing = "Q-Former" if model.qformer is None else "language model"
        raise AttributionError(
            f"{what} needs the Q-Former + LM branch, but this model has no {missing} "
            "(qformer.enabled=false, a CTC-only checkpoint); attribute_character works on "
            "the CTC path"
        )


def _lm_text(line: _Line, text: str | None) -> str:
    if text is not None:
        return text
    if not line.text:
        raise AttributionError(
            f"the model recognizes no text in {line.name}, so there is no default text for "
            "the LM loss; pass text=..."
        )
    return line.text


# -- public API -------------------------------------------------------------------------------


def attribute_character(
    model: OCRModel,
    image: Any,
    char_index: int,
    method: str = "integrated_gradients",
    *,
    n_steps: int = 32,
    max_width: int | None = 2048,
    layer: str = "stage3",
    internal_batch_size: int | None = 16,
) -> Attribution:
    """Attribute a recognized character's CTC log-probability to the input pixels.

    The image is read with greedy CTC decoding; character ``char_index`` of that text (negative
    counts from the end) occupies frames a..b of the best path, and the target is
    ``sum_{t=a..b} log P(class | frame t)``, computed for every pixel change (the frames stay
    fixed). Works on any model, CTC-only ones included.

    Args:
        model: an :class:`~ocrlab.models.OCRModel` (put in eval mode for the call, then restored).
        image: a path, bytes, PIL image or array (anything ``load_image`` reads).
        char_index: which recognized character.
        method: ``"integrated_gradients"`` (baseline: a white line, the pad value of
            ``LineTransform``, i.e. no ink), ``"saliency"`` or ``"gradcam"``.
        n_steps: integrated gradients' path steps.
        max_width: widest model input in pixels (as ``recognize``; longer lines are squeezed).
        layer: Grad-CAM's encoder stage: "stem", "stage1", "stage2" or "stage3" (the last
            convolutional one, 4 rows x W/4 columns, the default).
        internal_batch_size: images per forward pass inside integrated gradients.

    Raises:
        AttributionError: nothing recognized (no character to attribute), ``char_index`` out of
            range, an unknown method or layer.
    """
    _check_method(method, layer)
    with _attribution_mode(model):
        line = _prepare(model, image, max_width)
        n = len(line.text)
        if n == 0:
            raise AttributionError(
                f"the model recognizes no text in {line.name}, so there is no character to "
                "attribute"
            )
        if not -n <= char_index < n:
            raise AttributionError(
                f"char_index {char_index} is out of range: the recognized text {line.text!r} "
                f"has {n} character(s) (valid: 0..{n - 1}, or -{n}..-1 from the end)"
            )
        i = char_index % n
        first, last = line.spans[i]
        f = _ctc_objective(model, line, line.ids[i], first, last)
        input_map, value, delta = _captum(
            model, line, f, method, n_steps, layer, internal_batch_size
        )
    frames = f"frame {first}" if first == last else f"frames {first}-{last}"
    return _result(
        line,
        input_map,
        method=method,
        target=f"char {i} {line.text[i]!r} CTC log-prob, {frames}",
        char_index=i,
        value=value,
        delta=delta,
        layer=layer if method == "gradcam" else None,
    )


def attribute_lm_loss(
    model: OCRModel,
    image: Any,
    text: str | None = None,
    method: str = "integrated_gradients",
    *,
    n_steps: int = 32,
    max_width: int | None = 2048,
    layer: str = "stage3",
    internal_batch_size: int | None = 8,
) -> Attribution:
    """Attribute the frozen LM's log-likelihood of ``text`` (minus its mean token loss, as in
    training) to the input pixels, through encoder -> Q-Former -> projection -> LM.

    Args:
        text: the text the LM scores (default: the recognized text).
        Others as :func:`attribute_character`.

    Raises:
        AttributionError: a model without the Q-Former/LM branch; ``text=None`` and nothing
            recognized; an unknown method or layer.
    """
    _require_lm(model, "attribute_lm_loss")
    _check_method(method, layer)
    with _attribution_mode(model):
        line = _prepare(model, image, max_width)
        scored = _lm_text(line, text)

        def f(images: torch.Tensor) -> torch.Tensor:
            return _lm_log_likelihood(
                model, images, _widths(line, images.shape[0]), scored, output_attentions=False
            )[0]

        input_map, value, delta = _captum(
            model, line, f, method, n_steps, layer, internal_batch_size
        )
    return _result(
        line,
        input_map,
        method=method,
        target=f"LM log-likelihood (-loss) of {scored!r}",
        char_index=None,
        value=value,
        delta=delta,
        layer=layer if method == "gradcam" else None,
    )


def gradient_x_attention(
    model: OCRModel,
    image: Any,
    text: str | None = None,
    layer: int = -1,
    *,
    max_width: int | None = 2048,
) -> Attribution:
    """Grad-CAM over a Q-Former cross-attention map, as LAVIS does for BLIP-2.

    LAVIS (``compute_gradcam``) multiplies the attention probabilities by the gradient of the
    objective with respect to them, keeps the positive part and averages over heads. Here the
    objective is the LM's log-likelihood of ``text`` (minus its loss: positive = attending more
    there lowers the loss). The maps are the eager-attention probabilities the Q-Former returns,
    which are the tensors its attention multiplies the values by, so their gradient is exact.

    Args:
        text: the text the LM scores (default: the recognized text).
        layer: which cross-attention layer (index into ``OCROutput.cross_attentions``; -1 =
            the last).

    Returns:
        An :class:`Attribution` with ``per_query`` (Q, P) over the source stage's real
        positions, ``positions_px`` (P,), and ``map``: the sum over queries spread over each
        position's ``stride`` input columns, then resampled to the original image.
    """
    _require_lm(model, "gradient_x_attention")
    with _attribution_mode(model):
        line = _prepare(model, image, max_width)
        scored = _lm_text(line, text)
        images = line.images.clone().requires_grad_(True)  # a graph even if weights are frozen
        ll, q = _lm_log_likelihood(model, images, _widths(line, 1), scored, output_attentions=True)
        maps = q.cross_attentions  # each (1, heads, Q, T_s)
        n = len(maps)
        if not -n <= layer < n:
            raise AttributionError(
                f"cross-attention layer {layer} is out of range: the Q-Former has {n} "
                f"cross-attention layer(s) (valid: 0..{n - 1} or -{n}..-1)"
            )
        k = layer % n
        (grad,) = torch.autograd.grad(ll.sum(), maps[k])  # (1, heads, Q, T_s)
    source = model.config.qformer.source_stage
    stride = model.encoder.stages[source].stride
    P = math.ceil(line.width / stride)  # real positions of the source stage
    cam = (grad * maps[k]).clamp(min=0).mean(1)[0, :, :P]  # (Q, P)
    per_query = cam.detach().float().cpu().numpy()
    per_position = per_query.sum(0)  # (P,)
    column = np.minimum(np.arange(line.width) // stride, P - 1)  # (w,) position of each column
    input_map = np.broadcast_to(per_position[column], (line.images.shape[2], line.width))
    positions = model.encoder.positions_to_pixels(source, P).numpy() * line.scale[0]  # (P,)
    return _result(
        line,
        np.ascontiguousarray(input_map, dtype=np.float32),
        method=GRADIENT_X_ATTENTION,
        target=f"LM loss of {scored!r}, cross-attention layer {k} of {n}",
        char_index=None,
        value=float(ll.detach()[0]),
        per_query=per_query,
        positions_px=positions,
        layer=k,
    )


# -- figure -------------------------------------------------------------------------------------

# Transparent at "no attribution", so the line stays visible under the overlay; never fully
# opaque, so the strokes still show through the strongest values.
_DIVERGING = [
    [0.0, "rgba(5, 48, 97, 0.8)"],
    [0.25, "rgba(67, 147, 195, 0.55)"],
    [0.5, "rgba(255, 255, 255, 0.0)"],
    [0.75, "rgba(214, 96, 77, 0.55)"],
    [1.0, "rgba(103, 0, 31, 0.8)"],
]
_SEQUENTIAL = [
    [0.0, "rgba(255, 237, 160, 0.0)"],
    [0.15, "rgba(254, 217, 118, 0.3)"],
    [0.5, "rgba(253, 141, 60, 0.55)"],
    [1.0, "rgba(189, 0, 38, 0.8)"],
]
_METHOD_NAMES = {
    "integrated_gradients": "Integrated Gradients",
    "saliency": "Saliency |grad|",
    "gradcam": "Grad-CAM",
    GRADIENT_X_ATTENTION: "Gradient x attention",
}


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def attribution_figure(attr: Attribution, *, width: int | None = None) -> go.Figure:
    """The original image with the attribution overlaid, and a panel below it.

    Signed maps (integrated gradients) get a diverging scale centred at 0 (red raises the
    target, blue lowers it); non-negative ones (saliency, Grad-CAM, gradient x attention) a
    sequential one from 0. The colour range is the 99.5th percentile of |map|, so a few extreme
    pixels do not wash out the rest. The lower panel is the attribution summed over each
    column, or, for gradient x attention, the queries x positions map. Recognized characters
    label the top axis at their CTC spans; the attributed character's span is outlined.

    Returns a plotly figure (``fig.write_html(...)``, ``fig.write_image("x.png")``).
    """
    go = plotly_go()

    H, W = attr.map.shape
    signed = attr.method == "integrated_gradients"
    finite = np.nan_to_num(attr.map, nan=0.0, posinf=0.0, neginf=0.0)
    top = float(np.percentile(np.abs(finite), 99.5)) or float(np.abs(finite).max()) or 1.0
    has_queries = attr.per_query is not None
    lower = "queries x positions" if has_queries else "attribution per column (sum over rows)"

    width = width or int(np.clip(W * 2.5, 700, 1400))
    image_px = int(np.clip((width - 200) * H / max(W, 1), 90, 320))
    lower_px = 60 + 16 * attr.per_query.shape[0] if has_queries else 150
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        row_heights=[image_px, lower_px],
        subplot_titles=("", lower),
    )

    def colorbar(row: int, title: str) -> dict:
        lo, hi = fig.layout[f"yaxis{'' if row == 1 else row}"].domain
        return {
            "title": {"text": title, "side": "right"},
            "y": (lo + hi) / 2,
            "len": hi - lo,
            "thickness": 14,
            "exponentformat": "e",
        }

    fig.add_trace(go.Image(z=np.asarray(attr.image.convert("RGB")), hoverinfo="skip"), 1, 1)
    fig.add_trace(
        go.Heatmap(
            z=finite,
            colorscale=_DIVERGING if signed else _SEQUENTIAL,
            zmin=-top if signed else 0.0,
            zmax=top,
            colorbar=colorbar(1, "attribution"),
            hovertemplate="x %{x}, y %{y}: %{z:.3g}<extra></extra>",
        ),
        1,
        1,
    )
    if has_queries:
        step = float(np.diff(attr.positions_px[:2])[0]) if len(attr.positions_px) > 1 else 1.0
        fig.add_trace(
            go.Heatmap(
                z=attr.per_query,
                x=attr.positions_px,
                y=[f"q{i}" for i in range(attr.per_query.shape[0])],
                dx=step,
                colorscale="Viridis",
                zmin=0.0,
                colorbar=colorbar(2, "grad x attn"),
                hovertemplate="%{y}, x %{x:.0f} px: %{z:.3g}<extra></extra>",
            ),
            2,
            1,
        )
        fig.update_yaxes(title_text="query", autorange="reversed", row=2, col=1)
    else:
        fig.add_trace(
            go.Scatter(
                x=np.arange(W),
                y=finite.sum(0),
                mode="lines",
                line={"color": "#444", "width": 1.5},
                showlegend=False,
                hovertemplate="x %{x}: %{y:.3g}<extra></extra>",
            ),
            2,
            1,
        )
        fig.update_yaxes(title_text="sum", zeroline=True, exponentformat="e", row=2, col=1)
    span = attr.target_span_px
    if span is not None:
        for row in (1, 2):
            fig.add_vrect(
                x0=span[0],
                x1=span[1],
                line={"color": "#1a9850", "width": 2, "dash": "dash"},
                fillcolor="rgba(0,0,0,0)",
                row=row,
                col=1,
            )
    centres = [(a + b) / 2 for a, b in attr.char_spans_px]
    fig.update_xaxes(
        tickvals=centres,
        ticktext=[c if c != " " else "␣" for c in attr.text],
        side="top",
        showticklabels=bool(centres),
        ticks="",
        tickfont={"size": 13},
        row=1,
        col=1,
    )
    fig.update_xaxes(title_text="x (pixels of the original image)", range=[-0.5, W - 0.5], row=2)
    fig.update_yaxes(title_text="y (px)", row=1, col=1)
    method = _METHOD_NAMES.get(attr.method, attr.method)
    if attr.method == "gradcam":
        method += f" ({attr.layer})"
    sub = f"read by CTC: {_short(attr.text)!r} · value {attr.value:.3g}"
    if attr.delta is not None:
        sub += f" · IG convergence delta {attr.delta:.2g}"
    fig.update_layout(
        title={"text": f"{method}: {_short(attr.target, 90)}<br><sup>{sub}</sup>", "x": 0.01},
        width=width,
        height=image_px + lower_px + 200,
        margin={"l": 70, "r": 40, "t": 110, "b": 60},
        template="plotly_white",
    )
    return fig
