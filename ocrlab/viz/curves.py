"""Figures over a training run: the curves of ``metrics.jsonl`` and one line's query attention
across the run's ``checkpoints/step-N`` snapshots.

``metrics.jsonl`` (written by :mod:`ocrlab.train`) holds one JSON object per event, with
``kind`` and ``step``:

- ``train``: ``loss``, ``ctc_loss``, ``lm_loss``, the loss weights ``w_ctc`` and ``w_lm``, ``lr``;
- ``grad``: the encoder-gradient diagnostics ``grad_ratio_lm_ctc`` (|g_lm| / |g_ctc|),
  ``grad_cosine`` (cosine of the two gradients) and ``lm_share`` (the LM's share of the
  weighted update);
- ``val``: ``cer`` (and accuracy, WER, ...).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import OcrlabError
from ..models import OCRModel
from .attention import AttentionError, HeadSpec, QueryAttention, query_attention
from .figures import MATRIX_COLORSCALE, OVERLAY_COLORSCALE
from .plotting import (
    FONT,
    WIDTH,
    image_background,
    log_ticks,
    make_subplots,
    make_title,
    plotly_go,
    quoted,
    round_weights,
    title_margin,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["attention_over_training", "read_metrics", "snapshots", "training_curves"]

METRICS_NAME = "metrics.jsonl"
_STEP_DIR = re.compile(r"^step-(\d+)$")


# -- metrics -----------------------------------------------------------------------------------


def _metrics_path(source: str | os.PathLike) -> Path:
    path = Path(source)
    if path.is_dir():
        path = path / METRICS_NAME
    if not path.is_file():
        raise OcrlabError(f"{path}: no metrics file (expected a run folder or its {METRICS_NAME})")
    return path


def read_metrics(source: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """The events of a run's ``metrics.jsonl`` (or of the run folder that holds it), grouped by
    kind and sorted by step; for a step logged twice the later line wins. A last line cut off
    by a running or killed trainer is ignored; any other malformed line is an error naming the
    file and line."""
    path = _metrics_path(source)
    lines = path.read_text(encoding="utf-8").splitlines()
    events: dict[str, dict[int, dict[str, Any]]] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            kind, step = event["kind"], int(event["step"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if n == len(lines):
                break  # the trainer was writing this line
            raise OcrlabError(
                f"{path}:{n}: not a metrics event ({type(exc).__name__}: {exc})"
            ) from None
        events.setdefault(str(kind), {})[step] = event
    return {k: [v[s] for s in sorted(v)] for k, v in events.items()}


def _series(events: list[dict[str, Any]], key: str) -> tuple[list[int], list[float | None]]:
    """(steps, values) of ``key``; NaN and infinities become gaps (None)."""
    steps, values = [], []
    for e in events:
        if key not in e:
            continue
        v = e[key]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        steps.append(int(e["step"]))
        values.append(float(v) if ok else None)
    return steps, values


# (subplot title, y-axis title, kind, [(key, legend name, colour)])
_PANELS = [
    (
        "Losses",
        "loss",
        "train",
        [
            ("loss", "total loss", "#222222"),
            ("ctc_loss", "CTC loss", "#1f77b4"),
            ("lm_loss", "LM loss", "#d62728"),
        ],
    ),
    (
        "Loss weights",
        "weight",
        "train",
        [("w_ctc", "w_ctc", "#1f77b4"), ("w_lm", "w_lm", "#d62728")],
    ),
    ("Learning rate", "lr", "train", [("lr", "learning rate", "#2ca02c")]),
    ("Validation CER", "CER", "val", [("cer", "validation CER", "#9467bd")]),
    (
        "LM vs CTC gradient on the encoder",
        "ratio / cosine",
        "grad",
        [
            ("grad_ratio_lm_ctc", "|g_lm| / |g_ctc|", "#ff7f0e"),
            ("grad_cosine", "cos(g_lm, g_ctc)", "#17becf"),
        ],
    ),
    ("LM share of the update", "share", "grad", [("lm_share", "LM share", "#8c564b")]),
    (
        "Does the Q-Former read? (ocrlab.reading)",
        "share",
        "read",
        [
            ("lm_cer", "LM-decoding CER", "#d62728"),
            ("query_cosine", "query cosine (1 = collapsed)", "#7f7f7f"),
            ("char_coverage", "character coverage", "#2ca02c"),
        ],
    ),
    (
        "What the queries carry",
        "nats / char",
        "read",
        [
            ("query_info", "information from the queries", "#1f77b4"),
            ("lm_loss", "LM loss with the queries", "#ff7f0e"),
            ("lm_loss_zero_prompt", "LM loss, zero prompt", "#bcbd22"),
        ],
    ),
]


def training_curves(
    source: str | os.PathLike, *, log_loss: bool = True, width: int = WIDTH
) -> go.Figure:
    """Eight panels from a run folder or its ``metrics.jsonl``: the losses (total, CTC, LM),
    the loss weights ``w_ctc`` and ``w_lm``, the learning rate, the validation CER, the
    LM/CTC gradient-norm ratio and cosine on the encoder, the LM's share of the update, and
    the Q-Former's reading diagnostics (LM-decoding CER, query collapse, character coverage;
    the nats per character the queries carry). A panel whose values were never logged says so.
    ``log_loss``: losses on a log axis."""
    go = plotly_go()
    path = _metrics_path(source)
    events = read_metrics(path)
    fig = make_subplots(
        rows=4,
        cols=2,
        subplot_titles=[p[0] for p in _PANELS],
        vertical_spacing=0.09,
        horizontal_spacing=0.1,
    )
    for i, (_, ytitle, kind, keys) in enumerate(_PANELS):
        row, col = i // 2 + 1, i % 2 + 1
        drawn = False
        for key, name, colour in keys:
            steps, values = _series(events.get(kind, []), key)
            if not steps:
                continue
            drawn = True
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=values,
                    name=name,
                    mode="lines+markers" if len(steps) <= 30 else "lines",
                    line={"color": colour, "width": 1.6},
                    marker={"size": 5},
                    hovertemplate=f"{name}<br>step %{{x}}<br>%{{y:.4g}}<extra></extra>",
                ),
                row=row,
                col=col,
            )
        if not drawn:
            # an empty subplot's axes autorange oddly (and pull shared shapes with them): give
            # them a fixed range and put the note in its data coordinates
            fig.update_xaxes(range=[0, 1], showticklabels=False, row=row, col=col)
            fig.update_yaxes(range=[0, 1], showticklabels=False, row=row, col=col)
            fig.add_annotation(
                text=f"not logged ({kind} events without {', '.join(k for k, _, _ in keys)})",
                xref="x" if i == 0 else f"x{i + 1}",
                yref="y" if i == 0 else f"y{i + 1}",
                x=0.5,
                y=0.5,
                showarrow=False,
                font={"color": "gray"},
            )
        fig.update_yaxes(title_text=ytitle, gridcolor="#e5e5e5", row=row, col=col)
        fig.update_xaxes(title_text="step", gridcolor="#e5e5e5", row=row, col=col)
    losses = [v for k, _, _ in _PANELS[0][3] for v in _series(events.get("train", []), k)[1]]
    positive = [v for v in losses if v is not None]
    if log_loss and positive and all(v > 0 for v in positive):
        ticks = log_ticks(min(positive), max(positive))
        fig.update_yaxes(
            type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], row=1, col=1
        )
    fig.add_hline(y=0, line={"color": "#bbbbbb", "width": 1}, row=3, col=1)
    fig.update_yaxes(tickformat=".1e", row=2, col=1)

    val = [v for v in _series(events.get("val", []), "cer")[1] if v is not None]
    run = "/".join(path.parent.parts[-2:])  # e.g. "runs/small-v2"
    sub = (
        f"last validation CER {val[-1]:.4f} · best {min(val):.4f} ({len(val)} evaluations)"
        if val
        else "no validation yet"
    )
    steps = [e["step"] for e in events.get("train", [])]
    if steps:
        sub += f" · {len(steps)} logged steps up to step {max(steps)}"
    title = make_title(f"Training curves · {run}", sub + f" · {path}", width=width)
    fig.update_layout(
        title=title,
        width=width,
        height=1180,
        margin={"t": title_margin(title, extra=20), "b": 60, "l": 70, "r": 30},
        font=FONT,
        plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.08, "x": 0.0, "yanchor": "top"},
    )
    return fig


# -- attention over training ---------------------------------------------------------------------


def snapshots(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, folder) of every ``checkpoints/step-N`` snapshot of a run, by step."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        raise OcrlabError(f"{run_dir}: no checkpoints folder (is it a run folder?)")
    found = []
    for p in root.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found)


def _evenly(items: list, n: int) -> list:
    """At most ``n`` items, evenly spaced, always keeping the first and the last."""
    if len(items) <= n:
        return items
    idx = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in idx]


def attention_over_training(
    run_dir: str | os.PathLike,
    image: Any,
    query: int | None = None,
    *,
    layer: int = -1,
    head: HeadSpec = "mean",
    max_checkpoints: int = 20,
    max_width: int | None = 2048,
    load: Callable[[Path], Any] | None = None,
    width: int = WIDTH,
) -> go.Figure:
    """The same line's attention at each ``checkpoints/step-N`` snapshot of a run, with a slider
    over the steps: with ``query=None`` the queries x positions matrix, else that query's map
    over the image and its profile. Positions are drawn over their pixel columns (original
    image), under the line itself; the colour scale is shared by all steps so they compare.

    ``max_checkpoints`` snapshots at most, evenly spaced (first and last always kept); each is
    loaded with ``OCRModel.from_pretrained`` (or ``load(folder)``), read once, and released.
    """
    go = plotly_go()
    if max_checkpoints < 2:
        raise OcrlabError(f"max_checkpoints must be >= 2, got {max_checkpoints}")
    found = snapshots(run_dir)
    if not found:
        raise OcrlabError(
            f"{run_dir}: no checkpoints/step-N snapshots to compare (train with "
            "train.keep_snapshots=true and a train.save_every below train.max_steps)"
        )
    if load is None:
        load = OCRModel.from_pretrained
    chosen = _evenly(found, max_checkpoints)
    readings: list[tuple[int, QueryAttention]] = []
    for step, folder in chosen:
        model = load(folder)
        try:
            qa = query_attention(model, image, max_width=max_width)
        except AttentionError as exc:
            raise AttentionError(f"{folder}: {exc}") from None
        finally:
            del model
        if readings and qa.maps.shape[2:] != readings[0][1].maps.shape[2:]:
            raise AttentionError(
                f"{folder}: queries x positions {tuple(qa.maps.shape[2:])} differ from "
                f"{tuple(readings[0][1].maps.shape[2:])} at step {readings[0][0]}: the "
                "snapshots are not of one model"
            )
        readings.append((step, qa))

    first = readings[0][1]
    if query is not None and not -first.num_queries <= query < first.num_queries:
        raise AttentionError(
            f"query {query} is out of range: the Q-Former has {first.num_queries} queries"
        )
    maps = [qa.aggregate(layer, head).numpy() for _, qa in readings]  # each (Q, P)
    if query is not None:
        maps = [a[query : query + 1] for a in maps]  # each (1, P)
    top = max(float(a.max()) for a in maps) or 1.0
    W, H = first.original.size
    edges = first.edges_px.numpy()
    Q = maps[0].shape[0]

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        row_heights=[0.25, 0.75] if query is None else [0.4, 0.6],
    )
    per_step = 1 if query is None else 2
    for k, ((step, qa), a) in enumerate(zip(readings, maps, strict=True)):
        visible = k == len(readings) - 1
        if query is None:
            fig.add_trace(
                go.Heatmap(
                    x=edges,
                    y=np.arange(Q),
                    z=round_weights(a),
                    zmin=0.0,
                    zmax=top,
                    colorscale=MATRIX_COLORSCALE,
                    colorbar={
                        "title": {"text": "attention"},
                        "len": 0.75,
                        "y": 0,
                        "yanchor": "bottom",
                    },
                    hovertemplate="query %{y}<br>x %{x:.0f} px<br>attention %{z:.4f}<extra></extra>",
                    visible=visible,
                    name=f"step {step}",
                ),
                row=2,
                col=1,
            )
        else:
            fig.add_trace(
                go.Heatmap(
                    x=edges,
                    y=[0, H],
                    z=round_weights(a),
                    zmin=0.0,
                    zmax=top,
                    colorscale=OVERLAY_COLORSCALE,
                    colorbar={
                        "title": {"text": "attention"},
                        "len": 0.4,
                        "y": 1,
                        "yanchor": "top",
                    },
                    hovertemplate="x %{x:.0f} px<br>attention %{z:.4f}<extra></extra>",
                    visible=visible,
                    name=f"step {step}",
                ),
                row=1,
                col=1,
            )
            fig.add_trace(
                go.Bar(
                    x=qa.centers_px.numpy(),
                    y=round_weights(a[0]),
                    width=qa.stride * qa.scale,
                    marker={"color": "rgb(200, 30, 0)"},
                    hovertemplate="x %{x:.0f} px<br>attention %{y:.4f}<extra></extra>",
                    visible=visible,
                    showlegend=False,
                    name=f"step {step}",
                ),
                row=2,
                col=1,
            )
    what = "all queries" if query is None else f"query {query}"
    label = first.label(layer, head)
    steps = []
    for k, (step, qa) in enumerate(readings):
        visible = [i // per_step == k for i in range(len(readings) * per_step)]
        steps.append(
            {
                "label": str(step),
                "method": "update",
                "args": [
                    {"visible": visible},
                    {"title.subtitle.text": f"step {step}: recognized {quoted(qa.text, 60)}"},
                ],
            }
        )
    last_step, last = readings[-1]
    title = make_title(
        f"{what.capitalize()} over training · {label} · {Path(run_dir).name}",
        f"step {last_step}: recognized {quoted(last.text, 60)}",
        width=width,
    )
    fig.update_layout(
        title=title,
        images=[image_background(first.original)],
        sliders=[
            {
                "active": len(readings) - 1,
                "steps": steps,
                "currentvalue": {"prefix": "step "},
                "pad": {"t": 50},
            }
        ],
        width=width,
        height=int(min(950, max(480, 22 * Q + 380))),
        margin={"t": title_margin(title), "b": 40, "l": 70, "r": 30},
        font=FONT,
        plot_bgcolor="white",
        bargap=0,
    )
    fig.update_xaxes(range=[0, W], showgrid=False, row=1, col=1)
    fig.update_xaxes(range=[0, W], title_text="x in the original image (pixels)", row=2, col=1)
    fig.update_yaxes(range=[H, 0], title_text="y (px)", showgrid=False, row=1, col=1)
    if query is None:
        fig.update_yaxes(title_text="query", autorange="reversed", row=2, col=1)
    else:
        fig.update_yaxes(title_text="attention", range=[0, top * 1.05], row=2, col=1)
    return fig
