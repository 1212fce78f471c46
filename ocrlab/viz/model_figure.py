"""The architecture figure, drawn from a config instead of by hand.

:func:`model_figure` lays out the model that a config builds, with the shapes it computes for a
line of a given width: the CTC path (input -> stem -> encoder stages -> collapse/projection ->
context -> CTC head) on the left, and the training-only branch (the Q-Former over its source
stage -> language projection -> frozen LM -> LM loss) on the right. Shapes come from the real
modules (built on PyTorch's ``meta`` device: no memory, no weights, instant) and so do the
parameter counts; the LM's size is read from its local folder when there is one.

Matplotlib only, so SVG, PDF and PNG are written without a browser. The figure is sized for
one column of a two-column paper (3.5 in wide, 6.5 pt text).
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from safetensors import safe_open

from ..charset import Charset
from ..errors import OcrlabError
from ..models import checkpoint
from ..models.config import LMConfig, OCRConfig
from ..models.ctc import CTCHead
from ..models.encoder import Encoder
from ..run_config import load_run_config

__all__ = ["ArchitectureShapes", "LMInfo", "architecture_shapes", "model_figure"]

X = "\u00d7"  # the multiplication sign of the shapes, as a paper typesets them

# fill, edge colour per kind of block
_STYLE = {
    "trained": ("#dbe9f6", "#2b6cb0"),
    "frozen": ("#ececec", "#6b6b6b"),
    "loss": ("#fdf0dc", "#c05621"),
    "data": ("#ffffff", "#4a4a4a"),
    "disabled": ("#f4f4f4", "#a0a0a0"),
}
_SUFFIXES = (".svg", ".pdf", ".png")


# -- shapes and sizes -------------------------------------------------------------------------


@dataclass
class LMInfo:
    """What the figure says about the frozen LM; sizes are None when the LM is not local."""

    name: str
    model_type: str | None = None
    hidden: int | None = None
    layers: int | None = None
    params: int | None = None


@dataclass
class ArchitectureShapes:
    """Every number the figure prints, for a (1, 32, ``width``) input line.

    maps: encoder feature maps before the height collapse, name -> (C, H, W).
    sequences: encoder stages as sequences, name -> (T, C) (what the Q-Former or CTC head read).
    params: trainable parameters per block name (and the frozen LM's, when known).
    """

    width: int
    height: int
    maps: dict[str, tuple[int, int, int]]
    sequences: dict[str, tuple[int, int]]
    classes: int
    params: dict[str, int]
    lm: LMInfo | None = None


def _lm_info(lm: LMConfig, base: Path | None) -> LMInfo:
    """Read the LM's ``config.json`` and safetensors headers when its folder is local."""
    path = Path(lm.name_or_path).expanduser()
    if not path.is_absolute() and base is not None and (base / path).is_dir():
        path = base / path
    if not path.is_dir():
        name = lm.name_or_path
    elif base is not None and path.parent == base:  # a checkpoint's own copy, e.g. "lm"
        name = f"{base.name}/{path.name}"
    else:
        name = path.name
    info = LMInfo(name=name)
    if not path.is_dir():
        return info
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return info
    text = cfg.get("text_config", cfg)  # multimodal configs keep the LM's sizes there
    info.model_type = cfg.get("model_type")
    info.hidden = next((text[k] for k in ("hidden_size", "n_embd", "d_model") if k in text), None)
    info.layers = next((text[k] for k in ("num_hidden_layers", "n_layer") if k in text), None)
    files = sorted(path.glob("*.safetensors"))
    if files:
        total = 0
        for file in files:  # headers only; tied weights are stored once
            with safe_open(str(file), framework="pt") as f:
                total += sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
        info.params = total
    return info


def architecture_shapes(
    config: OCRConfig,
    width: int = 128,
    *,
    lm_base: Path | None = None,
    num_classes: int | None = None,
) -> ArchitectureShapes:
    """The shapes and parameter counts of the model ``config`` builds, for a line ``width``
    pixels wide (a positive multiple of 4): the real modules, built on the ``meta`` device (no
    memory, no initialization) for the parameter counts, and the encoder's own forward run once
    for the shapes. ``num_classes``: the CTC classes incl. blank (default: the preset charset named by
    ``config.charset``; a checkpoint passes its own charset's size). ``lm_base``: the folder a
    relative LM path is relative to (default: the working directory)."""
    if width < 4 or width % 4:
        raise OcrlabError(f"model_figure: width must be a positive multiple of 4, got {width}")
    ec = config.encoder
    classes = num_classes if num_classes is not None else len(Charset.preset(config.charset))
    with torch.device("meta"):  # the real modules, built without allocating or initializing
        encoder = Encoder(ec)
        ctc_head = CTCHead(ec.d_model, classes)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    params = {
        "stem": count(encoder.stem),
        "stage1": count(encoder.stage1),
        "stage2": count(encoder.stage2),
        "stage3": count(encoder.stage3),
        "cnn": count(encoder.collapse) + count(encoder.projection),
    }
    if encoder.context is not None:
        params["context"] = count(encoder.context)
    params["ctc_head"] = count(ctc_head)
    # The encoder's own forward gives the shapes. It cannot run on the meta device (it checks
    # the widths and packs the BiLSTM's sequences by their lengths), so the meta modules get
    # uninitialized CPU storage and run once on a blank line; hooks record each block's output.
    encoder.to_empty(device="cpu").eval()
    maps: dict[str, tuple[int, ...]] = {"input": (ec.in_channels, ec.height, width)}
    hooks = [
        getattr(encoder, name).register_forward_hook(
            lambda _m, _i, out, name=name: maps.__setitem__(name, tuple(out.shape[1:]))
        )
        for name in ("stem", "stage1", "stage2", "stage3", "collapse")
    ]
    try:
        with torch.no_grad():
            out = encoder(torch.zeros(1, ec.in_channels, ec.height, width))
    finally:
        for hook in hooks:
            hook.remove()
    sequences = {name: tuple(x.shape[1:]) for name, x in out.stages.items()}
    shapes = ArchitectureShapes(
        width=width,
        height=ec.height,
        maps=maps,  # type: ignore[arg-type]
        sequences=sequences,
        classes=classes,
        params=params,
    )
    qc = config.qformer
    if qc.enabled:
        if qc.source_stage not in encoder.stages:
            raise OcrlabError(
                f"qformer.source_stage={qc.source_stage!r} is not an encoder stage; "
                f"stages: {', '.join(encoder.stages)}"
            )
        from ..models.qformer import QFormer  # the `model` extra (transformers), as in OCRModel

        with torch.device("meta"):
            qformer = QFormer(qc, encoder_width=encoder.stages[qc.source_stage].channels)
        params["qformer"] = count(qformer)
        shapes.lm = _lm_info(config.lm, lm_base)
        if shapes.lm.hidden is not None:
            params["projection"] = qc.hidden_size * shapes.lm.hidden + shapes.lm.hidden
    return shapes


# -- config input -----------------------------------------------------------------------------


def _resolve(config: Any) -> tuple[OCRConfig, Path | None, Charset | None]:
    """An OCRConfig from an OCRConfig, a RunConfig, a checkpoint folder or a YAML preset; the
    checkpoint folder it came from and that checkpoint's charset (None otherwise)."""
    if isinstance(config, OCRConfig):
        return config, None, None
    model = getattr(config, "model", None)
    if isinstance(model, OCRConfig):  # a RunConfig
        return model, None, None
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        if path.is_dir():
            try:
                ocr, charset = checkpoint.read_model_config(path)
            except OcrlabError as exc:  # CheckpointError included
                raise OcrlabError(
                    f"model_figure: {path} is not an ocrlab checkpoint ({exc})"
                ) from None
            return ocr, path, charset
        if path.suffix in (".yaml", ".yml") and path.is_file():
            return load_run_config(path).model, None, None
        raise OcrlabError(
            f"model_figure: {path} is neither a checkpoint folder nor a YAML preset file"
        )
    raise OcrlabError(
        "model_figure: expected an OCRConfig, a RunConfig, a checkpoint folder or a YAML "
        f"preset, got {type(config).__name__}"
    )


# -- drawing ----------------------------------------------------------------------------------


def _fmt_params(n: int | None) -> str:
    if n is None:
        return ""
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    if n >= 1e3:
        return f"{n / 1e3:.0f} k" if n >= 1e4 else f"{n / 1e3:.1f} k"
    return str(n)


def _shape(*dims: int) -> str:
    return f" {X} ".join(str(d) for d in dims)


@dataclass
class _Box:
    key: str
    title: str
    lines: list[str]
    kind: str
    params: str = ""
    height: float = 0.0
    x: float = 0.0
    y: float = 0.0  # top edge, inches from the top of the drawing
    width: float = 0.0


_LINE = 0.118  # inches per text line at 6.5 pt
_PAD = 0.06  # inner padding above and below the text
_GAP = 0.13  # vertical gap between boxes (room for an arrow)


def _box(key: str, title: str, lines: list[str], kind: str, params: int | None = None) -> _Box:
    b = _Box(key, title, lines, kind, _fmt_params(params))
    b.height = 2 * _PAD + _LINE * (1 + len(lines))
    return b


def _left_lane(config: OCRConfig, s: ArchitectureShapes) -> list[_Box]:
    ec = config.encoder
    blocks = lambda n: f"{n} block{'s' if n != 1 else ''}"  # noqa: E731
    p = s.params
    lane = [
        _box("input", "Input line (grayscale)", [_shape(*s.maps["input"])], "data"),
        _box(
            "stem", "Stem: conv 3\u00d73, stride 2", [_shape(*s.maps["stem"])], "trained", p["stem"]
        ),
        _box(
            "stage1",
            f"Stage 1: {blocks(ec.blocks[0])}",
            [_shape(*s.maps["stage1"])],
            "trained",
            p["stage1"],
        ),
        _box(
            "stage2",
            f"Stage 2: {blocks(ec.blocks[1])}",
            [_shape(*s.maps["stage2"])],
            "trained",
            p["stage2"],
        ),
        _box(
            "stage3",
            f"Stage 3: {blocks(ec.blocks[2])}",
            [_shape(*s.maps["stage3"])],
            "trained",
            p["stage3"],
        ),
        _box("cnn", "Collapse height + linear", [_shape(*s.sequences["cnn"])], "trained", p["cnn"]),
    ]
    if "context" in s.sequences:
        name = {"bilstm": "BiLSTM", "transformer": "Transformer"}.get(ec.context, ec.context)
        shape = _shape(*s.sequences["context"])
        if ec.context == "transformer":
            shape += f", {ec.context_heads} heads"
        lane.append(
            _box(
                "context",
                f"Context: {ec.context_layers}-layer {name}",
                [shape],
                "trained",
                p["context"],
            )
        )
    lane.append(
        _box(
            "ctc_head",
            f"CTC head: linear {ec.d_model} \u2192 {s.classes}",
            [_shape(s.sequences["cnn"][0], s.classes) + " (incl. blank)"],
            "trained",
            p["ctc_head"],
        )
    )
    lane.append(_box("ctc_loss", "CTC loss / greedy decoding", [], "loss"))
    return lane


def _right_lane(config: OCRConfig, s: ArchitectureShapes) -> list[_Box]:
    qc = config.qformer
    src = s.sequences[qc.source_stage]
    every = (
        "every layer"
        if qc.cross_attention_frequency == 1
        else f"every {qc.cross_attention_frequency} layers"
    )
    lm = s.lm or LMInfo(name=config.lm.name_or_path)
    hidden = str(lm.hidden) if lm.hidden is not None else "LM width"
    name = lm.name if len(lm.name) <= 30 else "\u2026" + lm.name[-29:]
    lm_lines = [name]
    about = [x for x in (lm.model_type, f"{lm.layers} layers" if lm.layers else None) if x]
    if lm.hidden is not None:
        about.append(f"width {lm.hidden}")
    if about:
        lm_lines.append(", ".join(about))
    lm_lines.append(
        f"{_fmt_params(lm.params)} params" if lm.params is not None else "size unknown (not local)"
    )
    return [
        _box(
            "qformer",
            f"Q-Former: {qc.num_layers} layer{'s' if qc.num_layers != 1 else ''}",
            [
                f"{qc.num_queries} learnable queries {X} {qc.hidden_size}",
                f"self-attention, {qc.num_heads} heads",
                f"cross-attention {every}",
                f"  to {qc.source_stage}: {_shape(*src)}",
                f"FFN {qc.hidden_size} \u2192 {qc.intermediate_size} \u2192 {qc.hidden_size}",
                f"out: {_shape(qc.num_queries, qc.hidden_size)}",
            ],
            "trained",
            s.params.get("qformer"),
        ),
        _box(
            "projection",
            "Language projection",
            [
                f"linear {qc.hidden_size} \u2192 {hidden}",
                _shape(qc.num_queries, lm.hidden) if lm.hidden else f"{qc.num_queries} soft tokens",
            ],
            "trained",
            s.params.get("projection"),
        ),
        _box("lm", "Frozen causal LM", lm_lines, "frozen"),
        _box("lm_loss", "LM loss (next token)", [], "loss"),
    ]


def _place(lane: list[_Box], x: float, width: float, top: float) -> float:
    """Stack ``lane`` from ``top`` down; returns the bottom edge."""
    y = top
    for b in lane:
        b.x, b.y, b.width = x, y, width
        y += b.height + _GAP
    return y - _GAP


def _shrink_to_fit(fig: Figure, items: list[tuple[Any, float, Any]]) -> None:
    """Shrink (down to 4.5 pt) each text that would cross its box's right edge or the
    parameter count on its line: long LM names or wide configs never overflow a box."""
    renderer = fig.canvas.get_renderer()
    for text, right, neighbour in items:
        if neighbour is not None:
            right = min(right, neighbour.get_window_extent(renderer).x0 / fig.dpi - 0.04)
        size = text.get_fontsize()
        while text.get_window_extent(renderer).x1 / fig.dpi > right and size > 4.5:
            size *= 0.94
            text.set_fontsize(size)


def _png_bytes(fig: Any) -> bytes:
    """``fig`` as PNG bytes (what a notebook displays)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def model_figure(
    config: Any,
    *,
    width: int = 128,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    dpi: int = 300,
) -> Figure:
    """Draw the architecture that ``config`` builds, with its shapes for a ``width``-pixel line.

    Args:
        config: an :class:`~ocrlab.models.OCRConfig`, a ``RunConfig`` (its ``.model``), a
            checkpoint folder (its ``config.json``; a relative LM path is the checkpoint's
            copy) or a YAML preset (``configs/small.yaml``).
        width: input width in pixels (a multiple of 4); every shape is computed for it.
        path: also save the figure there; the suffix picks the format (.svg, .pdf, .png).
        title: the figure's title (default: says the width; "" for none, e.g. for a caption).
        dpi: resolution of a PNG.

    Colours: blue = trained, grey hatched = frozen, orange = loss; the dashed frame holds what
    is dropped at inference (the Q-Former and LM branch). Maps are channels x height x width,
    sequences positions x features. Returns the matplotlib Figure.
    """
    ocr, folder, charset = _resolve(config)
    classes = len(charset) if charset is not None else None  # a checkpoint's may be no preset
    shapes = architecture_shapes(ocr, width, lm_base=folder, num_classes=classes)
    if path is not None and Path(path).suffix.lower() not in _SUFFIXES:
        raise OcrlabError(
            f"model_figure: cannot save {path}: the suffix picks the format, one of "
            f"{', '.join(_SUFFIXES)}"
        )

    fig_w, lane_w, margin, gap = 3.5, 1.56, 0.06, 0.26
    left_x, right_x = margin, margin + lane_w + gap
    head = 0.5 if title != "" else 0.3  # title + legend rows
    left = _left_lane(ocr, shapes)
    bottom = _place(left, left_x, lane_w, head)
    by_key = {b.key: b for b in left}
    right: list[_Box] = []
    right_bottom = bottom
    if ocr.qformer.enabled:
        right = _right_lane(ocr, shapes)
        source = by_key[ocr.qformer.source_stage]
        # the Q-Former starts level with its source stage; the frame's label sits above it
        right_bottom = _place(right, right_x, lane_w, max(source.y, head + 0.18))
        bottom = max(bottom, right_bottom)
    else:
        off = _box(
            "disabled",
            "Q-Former + LM: disabled",
            ["qformer.enabled = false", "(a CTC-only model)"],
            "disabled",
        )
        _place([off], right_x, lane_w, by_key["stage3"].y)
        right = [off]
    foot = 0.28
    fig_h = bottom + foot + 0.05

    with mpl.rc_context(
        # text stays text in SVG/PDF (editable, searchable); fixed SVG ids for clean diffs
        {
            "font.family": "DejaVu Sans",
            "font.size": 6.5,
            "hatch.linewidth": 0.4,
            "svg.fonttype": "none",
            "svg.hashsalt": "ocrlab",
            "pdf.fonttype": 42,
        }
    ):
        # no pyplot: nothing global is opened (loops over configs leak no figures); the Agg
        # canvas measures text for the fitting below. Without pyplot IPython has no formatter
        # for a bare Figure (a fresh kernel printed "<Figure size 1050x1770 with 1 Axes>"),
        # so the figure draws itself as PNG
        fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
        FigureCanvasAgg(fig)
        fig._repr_png_ = lambda: _png_bytes(fig)  # type: ignore[attr-defined]
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, fig_w)
        ax.set_ylim(fig_h, 0)  # y grows downwards, in inches
        ax.axis("off")

        if ocr.qformer.enabled:
            x0 = right_x - 0.04
            y0 = right[0].y - 0.17
            frame = FancyBboxPatch(
                (x0, y0),
                lane_w + 0.08,
                right_bottom - y0 + 0.05,
                boxstyle="round,pad=0,rounding_size=0.05",
                fill=False,
                linestyle=(0, (3, 2)),
                linewidth=0.8,
                edgecolor="#555555",
                gid="frame",
            )
            ax.add_patch(frame)
            ax.text(
                x0 + 0.05,
                y0 + 0.085,
                "training only: dropped at inference",
                fontsize=6,
                style="italic",
                color="#444444",
                va="center",
            )

        fits: list[tuple[Any, float, Any]] = []  # (text, right limit in inches, neighbour)
        for b in [*left, *right]:
            fill, edge = _STYLE[b.kind]
            style = "round,pad=0,rounding_size=0.04"
            ax.add_patch(
                FancyBboxPatch(
                    (b.x, b.y),
                    b.width,
                    b.height,
                    boxstyle=style,
                    facecolor=fill,
                    edgecolor=edge,
                    linewidth=0.8,
                    linestyle="--" if b.kind == "disabled" else "-",
                    gid=f"box:{b.key}",
                )
            )
            if b.kind == "frozen":  # light hatching (a patch hatches in its edge colour)
                ax.add_patch(
                    FancyBboxPatch(
                        (b.x, b.y),
                        b.width,
                        b.height,
                        boxstyle=style,
                        fill=False,
                        edgecolor="#c4c4c4",
                        linewidth=0,
                        hatch="/////",
                    )
                )
            colour = "#8a8a8a" if b.kind == "disabled" else "#1a1a1a"
            backing = (
                {"facecolor": fill, "edgecolor": "none", "pad": 0.4} if b.kind == "frozen" else None
            )
            ty = b.y + _PAD + _LINE / 2
            limit = b.x + b.width - 0.04
            title_text = ax.text(
                b.x + 0.05,
                ty,
                b.title,
                fontweight="bold",
                va="center",
                color=colour,
                bbox=backing,
                gid=f"text:{b.key}",
            )
            fits.append((title_text, limit, None))
            params = None
            if b.params:
                params = ax.text(
                    b.x + b.width - 0.05,
                    ty + _LINE * len(b.lines),
                    b.params,
                    ha="right",
                    va="center",
                    fontsize=5.5,
                    color="#555555",
                    bbox=backing,
                    gid=f"text:{b.key}",
                )
            for i, line in enumerate(b.lines):
                t = ax.text(
                    b.x + 0.05,
                    ty + _LINE * (i + 1),
                    line,
                    va="center",
                    color=colour,
                    bbox=backing,
                    gid=f"text:{b.key}",
                )
                fits.append((t, limit, params if i == len(b.lines) - 1 else None))
        _shrink_to_fit(fig, fits)

        def arrow(a: tuple[float, float], z: tuple[float, float], **kw) -> None:
            ax.add_patch(
                FancyArrowPatch(
                    a,
                    z,
                    arrowstyle="-|>",
                    mutation_scale=6,
                    linewidth=0.8,
                    color="#333333",
                    shrinkA=0,
                    shrinkB=0,
                    **kw,
                )
            )

        for lane in (left, right if ocr.qformer.enabled else []):
            for a, z in itertools.pairwise(lane):
                arrow((a.x + a.width / 2, a.y + a.height), (z.x + z.width / 2, z.y))
        if ocr.qformer.enabled:
            src, q = by_key[ocr.qformer.source_stage], right[0]
            y = src.y + src.height / 2
            arrow((src.x + src.width, y), (q.x, max(y, q.y + 0.1)))
            lm_box = right[2]  # the LM also reads the text's tokens (teacher forcing)
            tx = lm_box.x + 0.82 * lm_box.width
            arrow((tx, lm_box.y - _GAP), (tx, lm_box.y), linestyle="-")
            ax.text(
                tx + 0.03,
                lm_box.y - _GAP / 2,
                "text",
                fontsize=5.5,
                color="#444444",
                va="center",
                gid="text:tokens",
            )

        handles = [
            Patch(facecolor=_STYLE["trained"][0], edgecolor=_STYLE["trained"][1], label="trained"),
            Patch(facecolor=_STYLE["loss"][0], edgecolor=_STYLE["loss"][1], label="loss"),
        ]
        if ocr.qformer.enabled:
            handles[1:1] = [
                Patch(
                    facecolor=_STYLE["frozen"][0],
                    edgecolor=_STYLE["frozen"][1],
                    hatch="/////",
                    label="frozen",
                )
            ]
            handles.append(
                Line2D(
                    [],
                    [],
                    color="#555555",
                    linestyle=(0, (3, 2)),
                    linewidth=0.8,
                    label="dropped at inference",
                )
            )
        legend_y = 1 - (head - 0.14) / fig_h
        ax.legend(
            handles=handles,
            loc="center",
            bbox_to_anchor=(0.5, legend_y),
            ncol=4,
            frameon=False,
            fontsize=6,
            handlelength=1.4,
            handleheight=0.8,
            columnspacing=1.0,
            handletextpad=0.4,
        )
        if title != "":
            text = title or f"OCRModel for a 1 {X} {shapes.height} {X} {width} line"
            ax.text(fig_w / 2, 0.1, text, ha="center", va="center", fontsize=7.5, fontweight="bold")
        ax.text(
            margin,
            fig_h - foot / 2 - 0.02,
            f"Maps: channels {X} height {X} width; sequences: positions {X} features.\n"
            "Grey numbers: parameters.",
            fontsize=5.5,
            color="#555555",
            va="center",
            linespacing=1.3,
        )
        if path is not None:
            out = Path(path)
            out.parent.mkdir(parents=True, exist_ok=True)
            # no creation date in SVG/PDF: the same config gives the same file
            meta = {} if out.suffix.lower() == ".png" else {"Date": None}
            fig.savefig(out, dpi=dpi, metadata=meta)
    return fig
