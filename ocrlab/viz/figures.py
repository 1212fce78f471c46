"""Plotly figures of one line's query attention (from :func:`~ocrlab.viz.query_attention`).

Every figure is a ``plotly.graph_objects.Figure`` with a title, labelled axes and a colour
scale that starts at 0; :func:`save_figure` writes it as standalone HTML or, through kaleido
and a Chromium, as PNG/SVG/PDF. Pixel axes are in the ORIGINAL image's pixels; a source
position ``t`` is drawn over the columns ``[t, t + 1) * stride * scale`` (see
:mod:`ocrlab.viz.attention` for the geometry).

- :func:`attention_overlay`: one query's map over the image, with a slider over the queries and
  a menu over layers x heads (mean, max, each head) and the rollout;
- :func:`attention_grid`: every query at once, one strip each;
- :func:`attention_matrix`: queries x positions, with the CTC characters' spans below;
- :func:`correspondence_figure`: queries x recognized characters, with the summary lines;
- :func:`query_stats_figure`: entropy, pairwise similarity and coverage (specialize/collapse).
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import OcrlabError
from .attention import SPECIALIZED_ENTROPY, AttentionError, HeadSpec, QueryAttention

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from PIL import Image

__all__ = [
    "OVERLAY_COLORSCALE",
    "attention_grid",
    "attention_matrix",
    "attention_overlay",
    "correspondence_figure",
    "query_stats_figure",
    "save_figure",
]

#: Transparent at 0 so the text stays readable where a query does not look; opaque red at the
#: maximum. Used for every map drawn over the image.
OVERLAY_COLORSCALE = [
    [0.0, "rgba(255, 255, 255, 0.0)"],
    [0.15, "rgba(255, 215, 0, 0.30)"],
    [0.5, "rgba(255, 120, 0, 0.55)"],
    [1.0, "rgba(200, 0, 0, 0.80)"],
]
MATRIX_COLORSCALE = "Viridis"
WIDTH = 1100  # px, every figure's default width
_FONT = {"family": "DejaVu Sans, Arial, sans-serif", "size": 13}
_IMAGE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "webp")
_CHROMIUM = "/usr/bin/chromium"


def _go():
    try:
        import plotly.graph_objects as go
    except ImportError:  # pragma: no cover - plotly is in ocrlab[viz]
        raise OcrlabError("the figures need plotly: pip install 'ocrlab[viz]'") from None
    return go


def _make_subplots(**kw):
    from plotly.subplots import make_subplots

    return make_subplots(**kw)


# -- shared pieces ------------------------------------------------------------------------------


def _image_uri(image: Image.Image, max_width: int = 1600) -> str:
    """The image as a PNG data URI, shrunk to at most ``max_width`` pixels wide (it is only a
    background: the axes keep the original pixel coordinates)."""
    from PIL import Image as PILImage

    if image.width > max_width:
        h = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, h), PILImage.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _background(uri: str, qa: QueryAttention, xref: str = "x", yref: str = "y") -> dict:
    w, h = qa.original.size
    return {
        "source": uri,
        "xref": xref,
        "yref": yref,
        "x": 0,
        "y": 0,
        "sizex": w,
        "sizey": h,
        "sizing": "stretch",
        "layer": "below",
        "xanchor": "left",
        "yanchor": "top",
    }


def _title(text: str, subtitle: str | None = None, *, width: int = WIDTH) -> dict:
    """A left-aligned title; the subtitle's " · "-separated parts are wrapped onto lines that
    fit ``width`` pixels (plotly does not wrap text itself)."""
    title: dict = {"text": text, "x": 0.01, "xanchor": "left"}
    if subtitle:
        title["subtitle"] = {"text": _wrap(subtitle, max(40, int(width / 7.2)))}
    return title


def _top(title: dict, extra: int = 0) -> int:
    """The top margin that holds ``title`` (and its wrapped subtitle) above the plots."""
    sub = title.get("subtitle", {}).get("text", "")
    return 70 + 17 * (sub.count("<br>") + 1 if sub else 0) + extra


def _wrap(text: str, chars: int) -> str:
    lines: list[str] = []
    for part in text.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= chars:
            lines[-1] += " · " + part
        else:  # a part wider than a line (a skip's reason) breaks at its spaces
            wrapped = textwrap.wrap(part, chars, break_long_words=False, break_on_hyphens=False)
            lines.extend(wrapped or [part])
    return "<br>".join(lines)


def _escape(text: str) -> str:
    """Recognized text as plotly shows it: its labels are a subset of HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _glyph(ch: str) -> str:
    """A character as a label: a visible mark for the space, HTML-escaped."""
    return "␣" if ch == " " else _escape(ch)


def _quoted(text: str, limit: int = 80) -> str:
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return _escape(repr(shown)) if shown else "nothing"


def _check_query(qa: QueryAttention, query: int) -> int:
    n = qa.num_queries
    if not -n <= query < n:
        raise AttentionError(f"query {query} is out of range: the Q-Former has {n} queries")
    return query % n


def _combos(qa: QueryAttention) -> list[tuple[int, HeadSpec]]:
    """Every (layer, head) the overlay's menu offers: per layer mean, max and each head, then
    the rollout (layer -1 as a placeholder)."""
    out: list[tuple[int, HeadSpec]] = []
    for layer in range(qa.num_layers):
        out += [(layer, "mean"), (layer, "max"), *((layer, h) for h in range(qa.num_heads))]
    return [*out, (-1, "rollout")]


def _round(a: np.ndarray) -> list:
    """Fewer digits in the HTML: 4 significant decimals are plenty for an attention weight."""
    return np.round(a.astype(np.float64), 5).tolist()


def _char_labels(qa: QueryAttention) -> list[tuple[str, float, float]]:
    """(label, x0, x1) in original pixels for every recognized character."""
    return [
        (_glyph(ch), x0, x1)
        for ch, (x0, x1) in zip(qa.text, qa.recognition.pixel_spans, strict=True)
    ]


# -- overlay -----------------------------------------------------------------------------------


def attention_overlay(
    qa: QueryAttention,
    query: int = 0,
    layer: int = -1,
    head: HeadSpec = "mean",
    *,
    width: int = WIDTH,
) -> go.Figure:
    """One query's cross-attention over the line image, and as a profile along the line.

    Top: the original image with the map as a semi-transparent band (each source position
    over its pixel columns) and the recognized characters above it, each at its CTC span.
    Bottom: the same map as bars per position, with the CTC character spans shaded. A slider
    picks the query; a menu picks layer and head (mean / max over heads, each head) or the
    rollout over layers. The colour scale runs from 0 to the largest weight of the chosen
    aggregation over all queries, so queries compare at a glance.
    """
    go = _go()
    query = _check_query(qa, query)
    combos = _combos(qa)
    layer = qa._layer(layer)
    want = (-1, "rollout") if head == "rollout" else (layer, head)
    if want not in combos:
        qa.aggregate(layer, head)  # raises the precise error
    active = combos.index(want)
    maps = [qa.aggregate(lay, h).numpy() for lay, h in combos]  # each (Q, P)
    W, H = qa.original.size
    edges = qa.edges_px.numpy()
    centers = qa.centers_px.numpy()
    bar_width = qa.stride * qa.scale
    positions = np.arange(qa.num_positions)

    fig = _make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.55, 0.45]
    )
    for c, ((lay, h), a) in enumerate(zip(combos, maps, strict=True)):
        visible = c == active
        top = float(a.max()) or 1.0
        fig.add_trace(
            go.Heatmap(
                x=edges,
                y=[0, H],
                z=[_round(a[query])],
                zmin=0.0,
                zmax=top,
                colorscale=OVERLAY_COLORSCALE,
                colorbar={"title": {"text": "attention"}, "len": 0.5, "y": 1.0, "yanchor": "top"},
                hovertemplate="x %{x:.0f} px<br>attention %{z:.4f}<extra></extra>",
                visible=visible,
                name=qa.label(lay, h),
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Bar(
                x=centers,
                y=_round(a[query]),
                width=bar_width,
                customdata=positions,
                marker={"color": "rgb(200, 30, 0)"},
                hovertemplate=(
                    "position %{customdata}<br>x %{x:.0f} px<br>attention %{y:.4f}<extra></extra>"
                ),
                visible=visible,
                showlegend=False,
                name=qa.label(lay, h),
            ),
            row=2,
            col=1,
        )

    # the query slider rewrites every aggregation's data, so it composes with the menu
    steps = []
    for q in range(qa.num_queries):
        z, y = [], []
        for a in maps:
            z += [[_round(a[q])], None]  # heatmap z; the bar has no z
            y += [[0, H], _round(a[q])]  # heatmap keeps its y; the bar's heights
        steps.append({"label": str(q), "method": "restyle", "args": [{"z": z, "y": y}]})
    buttons = []
    for c, (lay, h) in enumerate(combos):
        visible = [v for i in range(len(combos)) for v in (i == c, i == c)]
        top = float(maps[c].max()) or 1.0
        buttons.append(
            {
                "label": qa.label(lay, h),
                "method": "update",
                "args": [{"visible": visible}, {"yaxis2.range": [0, top * 1.05]}],
            }
        )

    shapes = [
        {
            "type": "rect",
            "xref": "x2",
            "yref": "y2 domain",
            "x0": x0,
            "x1": x1,
            "y0": 0,
            "y1": 1,
            "fillcolor": "rgba(70, 130, 180, 0.18)",
            "line": {"width": 0},
            "layer": "below",
        }
        for _, x0, x1 in _char_labels(qa)
    ]
    annotations = [
        {
            "x": (x0 + x1) / 2,
            "y": 0,
            "xref": "x",
            "yref": "y",
            "text": label,
            "showarrow": False,
            "yanchor": "bottom",
            "font": {"size": 13, "color": "rgb(30, 60, 140)"},
        }
        for label, x0, x1 in _char_labels(qa)
    ]
    image_px = min(260, max(90, width * H / max(W, 1)))
    top = float(maps[active].max()) or 1.0
    title = _title(
        f"What query {query} reads (slider: query; menu: layer and head)",
        f"recognized {_quoted(qa.text)} · stage {qa.stage!r}, stride {qa.stride} px · "
        f"letters above the image: CTC character spans",
        width=int(width * 0.62),  # the menu sits to the right
    )
    fig.update_layout(
        title=title,
        images=[_background(_image_uri(qa.original), qa)],
        annotations=annotations,
        shapes=shapes,
        sliders=[
            {
                "active": query,
                "steps": steps,
                "currentvalue": {"prefix": "query "},
                "pad": {"t": 50},
                "x": 0.0,
                "len": 1.0,
            }
        ],
        updatemenus=[
            {
                "buttons": buttons,
                "active": active,
                "direction": "down",
                "x": 1.0,
                "xanchor": "right",
                "y": 1.13,
                "yanchor": "bottom",
                "showactive": True,
            }
        ],
        width=width,
        height=int(image_px / 0.55) + 330,  # the image row is 55% of the plot area
        margin={"t": _top(title), "b": 40, "l": 70, "r": 30},
        font=_FONT,
        plot_bgcolor="white",
        bargap=0,
    )
    fig.update_xaxes(range=[0, W], showgrid=False, row=1, col=1)
    fig.update_xaxes(range=[0, W], title_text="x in the original image (pixels)", row=2, col=1)
    fig.update_yaxes(
        range=[H, -0.22 * H], title_text="y (px)", showgrid=False, zeroline=False, row=1, col=1
    )
    fig.update_yaxes(
        range=[0, top * 1.05], title_text="attention", gridcolor="#e5e5e5", row=2, col=1
    )
    return fig


# -- all queries ---------------------------------------------------------------------------------


def attention_grid(
    qa: QueryAttention, layer: int = -1, head: HeadSpec = "mean", *, width: int = WIDTH
) -> go.Figure:
    """Every query's map over the image at once: one strip per query (two columns beyond 16
    queries), one shared colour scale, each titled with the query's peak and entropy."""
    go = _go()
    a = qa.aggregate(layer, head).numpy()  # (Q, P)
    stats = qa.stats(layer, head)
    Q = qa.num_queries
    cols = 1 if Q <= 16 else 2
    rows = -(-Q // cols)
    W, H = qa.original.size
    titles = [
        f"query {q}: peak at x={float(stats.peak_px[q]):.0f} px, "
        f"entropy {float(stats.entropy_norm[q]):.2f}"
        for q in range(Q)
    ]
    strip = min(110, max(48, (width / cols) * H / max(W, 1)))
    spacing = min(0.5 / rows, 28 / (rows * (strip + 28)))
    fig = _make_subplots(
        rows=rows,
        cols=cols,
        shared_xaxes=True,
        subplot_titles=titles,
        vertical_spacing=spacing,
        horizontal_spacing=0.04,
    )
    uri = _image_uri(qa.original, max_width=1000)
    edges = qa.edges_px.numpy()
    images = []
    for q in range(Q):
        r, c = q // cols + 1, q % cols + 1
        fig.add_trace(
            go.Heatmap(
                x=edges,
                y=[0, H],
                z=[_round(a[q])],
                coloraxis="coloraxis",
                hovertemplate=f"query {q}<br>x %{{x:.0f}} px<br>attention %{{z:.4f}}<extra></extra>",
            ),
            row=r,
            col=c,
        )
        n = "" if q == 0 else str(q + 1)
        images.append(_background(uri, qa, xref=f"x{n}", yref=f"y{n}"))
        fig.update_yaxes(range=[H, 0], showticklabels=False, showgrid=False, row=r, col=c)
        fig.update_xaxes(range=[0, W], showgrid=False, row=r, col=c)
    for c in range(1, cols + 1):
        fig.update_xaxes(title_text="x in the original image (pixels)", row=rows, col=c)
    fig.update_annotations(font_size=11)
    title = _title(
        f"All {Q} queries · {qa.label(layer, head)}",
        f"recognized {_quoted(qa.text)} · band colour: attention weight, from transparent "
        f"(0) to red (the largest weight of any query)",
        width=width,
    )
    fig.update_layout(
        title=title,
        images=images,
        coloraxis={
            "colorscale": OVERLAY_COLORSCALE,
            "cmin": 0.0,
            "cmax": float(a.max()) or 1.0,
            "colorbar": {"title": {"text": "attention"}, "len": 0.4, "y": 1.0, "yanchor": "top"},
        },
        width=width,
        height=int(rows * (strip + 28) + 170),
        margin={"t": _top(title, extra=28), "b": 60, "l": 30, "r": 30},
        font=_FONT,
        plot_bgcolor="white",
    )
    return fig


# -- queries x positions ------------------------------------------------------------------------


def attention_matrix(
    qa: QueryAttention, layer: int = -1, head: HeadSpec = "mean", *, width: int = WIDTH
) -> go.Figure:
    """The queries x positions matrix, with a track below that marks each recognized
    character's CTC span on the same position axis (the source stage's positions)."""
    go = _go()
    a = qa.aggregate(layer, head).numpy()  # (Q, P)
    Q, P = a.shape
    fig = _make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.84, 0.16]
    )
    px = np.broadcast_to(qa.centers_px.numpy()[None, :], a.shape)
    fig.add_trace(
        go.Heatmap(
            z=_round(a),
            x=np.arange(P),
            y=np.arange(Q),
            customdata=np.round(px, 1),
            zmin=0.0,
            colorscale=MATRIX_COLORSCALE,
            colorbar={"title": {"text": "attention"}, "len": 0.8, "y": 1.0, "yanchor": "top"},
            hovertemplate=(
                "query %{y}<br>position %{x} (x ≈ %{customdata} px)<br>attention %{z:.4f}"
                "<extra></extra>"
            ),
        ),
        row=1,
        col=1,
    )
    spans = qa.char_spans_in_source()
    shapes, xs, ys, labels = [], [], [], []
    for i, ((f, e), ch) in enumerate(zip(spans, qa.text, strict=True)):
        shapes.append(
            {
                "type": "rect",
                "xref": "x2",
                "yref": "y2",
                "x0": f - 0.5,
                "x1": e + 0.5,
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(70, 130, 180, 0.35)",
                "line": {"width": 1, "color": "rgb(70, 130, 180)"},
            }
        )
        xs.append((f + e) / 2)
        ys.append(0.5 if len(spans) <= P / 3 else (0.3 if i % 2 else 0.7))
        labels.append(_glyph(ch))
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            text=labels,
            mode="text",
            textfont={"size": 13, "color": "rgb(20, 40, 110)"},
            customdata=[[i, s[0], s[1]] for i, s in enumerate(spans)],
            hovertemplate="char %{customdata[0]} %{text}: positions %{customdata[1]}-"
            "%{customdata[2]}<extra></extra>",
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    title = _title(
        f"Queries x positions · {qa.label(layer, head)}",
        f"recognized {_quoted(qa.text)} · stage {qa.stage!r}: position t covers pixels "
        f"[{qa.stride}t, {qa.stride}(t+1)) of the model input ({qa.scale:.2f} original px "
        "per input px) · bottom: CTC character spans",
        width=width,
    )
    fig.update_layout(
        title=title,
        shapes=shapes,
        width=width,
        height=int(min(900, max(380, 26 * Q + 230))),
        margin={"t": _top(title), "b": 60, "l": 70, "r": 30},
        font=_FONT,
        plot_bgcolor="white",
    )
    fig.update_yaxes(
        title_text="query", autorange="reversed", dtick=1 if Q <= 32 else None, row=1, col=1
    )
    fig.update_yaxes(
        range=[0, 1], showticklabels=False, showgrid=False, title_text="CTC", row=2, col=1
    )
    fig.update_xaxes(range=[-0.5, P - 0.5], row=1, col=1)
    fig.update_xaxes(
        range=[-0.5, P - 0.5], title_text=f"source position ({qa.stage!r})", row=2, col=1
    )
    return fig


# -- queries x characters ----------------------------------------------------------------------


def correspondence_figure(
    qa: QueryAttention,
    layer: int = -1,
    agg: HeadSpec = "mean",
    *,
    top: int = 2,
    width: int = WIDTH,
) -> go.Figure:
    """Queries x recognized characters: the attention mass each query puts on each
    character's CTC span (:meth:`QueryAttention.correspondence`), with the summary lines
    ("char 0 'H' <- queries 3, 11 (0.41, 0.22)") beside the matrix."""
    go = _go()
    corr = qa.correspondence(layer, agg).numpy()  # (Q, n)
    Q, n = corr.shape
    lines = qa.summary(top=top, layer=layer, agg=agg)
    fig = go.Figure()
    if n:
        glyphs = [_glyph(ch) for ch in qa.text]
        # index and glyph while they fit; a long line gets its glyphs only
        labels = [f"{i}<br>{g}" for i, g in enumerate(glyphs)] if n <= 30 else glyphs
        fig.add_trace(
            go.Heatmap(
                z=_round(corr),
                x=list(range(n)),
                y=list(range(Q)),
                zmin=0.0,
                zmax=max(float(corr.max()), 1e-6),
                colorscale=MATRIX_COLORSCALE,
                colorbar={"title": {"text": "mass"}, "x": 0.615, "len": 0.9, "thickness": 14},
                texttemplate="%{z:.2f}" if Q * n <= 300 else None,
                textfont={"size": 9},
                hovertemplate="query %{y}<br>char %{x}<br>mass %{z:.4f}<extra></extra>",
            )
        )
        fig.update_xaxes(
            tickmode="array",
            tickvals=list(range(n)),
            ticktext=labels,
            tickangle=0,
            tickfont={"size": 12 if n <= 60 else 9},
            title_text="recognized character"
            + (" (index, glyph" if n <= 30 else " (glyph")
            + "; ␣ = space)",
        )
    else:
        fig.add_annotation(
            text="nothing was recognized: no characters to compare the queries with",
            x=0.3,
            y=0.5,
            xref="paper",
            yref="paper",
            showarrow=False,
            font={"size": 15},
        )
        fig.update_xaxes(title_text="recognized character", showticklabels=False)
    shown = lines[:24]
    if len(lines) > len(shown):
        shown.append(f"… {len(lines) - len(shown)} more (qa.summary())")
    fig.add_annotation(
        text="<br>".join(_escape(s) for s in shown) or "(no characters)",
        x=0.69,
        y=1.0,
        xref="paper",
        yref="paper",
        xanchor="left",
        yanchor="top",
        align="left",
        showarrow=False,
        font={"family": "DejaVu Sans Mono, monospace", "size": 11},
    )
    title = _title(
        f"Which queries read each character · {qa.label(layer, agg)}",
        f"recognized {_quoted(qa.text)} · cell: attention mass of the query on the "
        f"character's CTC span · right: the top {top} queries per character",
        width=max(width, 900),
    )
    fig.update_layout(
        title=title,
        xaxis={"domain": [0.0, 0.6]},
        yaxis={
            "title": {"text": "query"},
            "autorange": "reversed",
            "dtick": 1 if Q <= 32 else None,
        },
        width=max(width, 900),
        height=int(min(900, max(420, 24 * Q + 220, 15 * len(shown) + 200))),
        margin={"t": _top(title), "b": 80, "l": 70, "r": 20},
        font=_FONT,
        plot_bgcolor="white",
    )
    return fig


# -- specialize or collapse ---------------------------------------------------------------------


def query_stats_figure(
    qa: QueryAttention, layer: int = -1, head: HeadSpec = "mean", *, width: int = WIDTH
) -> go.Figure:
    """Do the queries specialize or collapse? Left: each query's normalized entropy (with the
    "specialized" threshold); middle: pairwise cosine similarity of the queries' maps; right:
    the strongest query's weight at each position against the uniform level 1/P (the positions
    above it make up the coverage). The verdict and its numbers are in the title."""
    go = _go()
    s = qa.stats(layer, head)
    Q, P = qa.num_queries, qa.num_positions
    a = qa.aggregate(layer, head)
    a = (a / a.sum(1, keepdim=True).clamp_min(1e-12)).numpy()  # (Q, P) distributions
    strongest = a.max(0)  # (P,)
    fig = _make_subplots(
        rows=1,
        cols=3,
        column_widths=[0.3, 0.3, 0.4],
        horizontal_spacing=0.13,  # room for the similarity colour bar and the next axis title
        subplot_titles=[
            "Entropy per query (normalized)",
            f"Pairwise cosine (mean {s.mean_similarity:.2f})",
            f"Coverage: {s.coverage:.0%} of positions (red) above 1/P",
        ],
    )
    fig.add_trace(
        go.Bar(
            x=list(range(Q)),
            y=_round(s.entropy_norm.numpy()),
            customdata=_round(s.entropy.numpy()),
            marker={"color": "rgb(70, 130, 180)"},
            hovertemplate="query %{x}<br>entropy %{y:.3f} (%{customdata:.3f} nats)<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    fig.add_hline(
        y=SPECIALIZED_ENTROPY,
        line={"dash": "dash", "color": "gray"},
        annotation_text=f"specialized ≤ {SPECIALIZED_ENTROPY}",
        annotation_position="top left",
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Heatmap(
            z=_round(s.similarity.numpy()),
            x=list(range(Q)),
            y=list(range(Q)),
            zmin=0.0,
            zmax=1.0,
            colorscale=MATRIX_COLORSCALE,
            colorbar={"title": {"text": "cosine"}, "len": 0.9, "thickness": 14},
            hovertemplate="queries %{y} and %{x}<br>cosine %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    centers = qa.centers_px.numpy()
    covered = s.covered.numpy()
    fig.add_trace(
        go.Bar(
            x=centers,
            y=_round(strongest),
            width=qa.stride * qa.scale,
            marker={"color": np.where(covered, "rgb(200, 30, 0)", "rgb(180, 180, 180)").tolist()},
            hovertemplate="x %{x:.0f} px<br>strongest query's weight %{y:.4f}<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=3,
    )
    fig.add_hline(
        y=1.0 / P,
        line={"dash": "dash", "color": "gray"},
        annotation_text="uniform 1/P",
        annotation_position="top right",
        row=1,
        col=3,
    )
    # the similarity colour bar sits just right of its own plot, not over the coverage axis
    fig.update_traces(colorbar_x=fig.layout.xaxis2.domain[1] + 0.008, selector={"type": "heatmap"})
    dtick = 1 if Q <= 12 else 5 if Q <= 60 else None
    fig.update_xaxes(title_text="query", dtick=dtick, tickangle=0, row=1, col=1)
    fig.update_yaxes(title_text="entropy / log P", range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(title_text="query", dtick=dtick, row=1, col=2)
    fig.update_yaxes(title_text="query", autorange="reversed", dtick=dtick, row=1, col=2)
    fig.update_xaxes(title_text="x in the original image (pixels)", row=1, col=3)
    fig.update_yaxes(title_text="strongest query's weight", row=1, col=3)
    fig.update_annotations(font_size=13)
    title = _title(
        f"Do the queries specialize? {s.verdict.upper()} · {s.label}",
        s.reason.replace("; ", " · "),
        width=max(width, 1000),
    )
    fig.update_layout(
        title=title,
        width=max(width, 1000),
        height=430,
        margin={"t": _top(title, extra=25), "b": 60, "l": 70, "r": 30},
        font=_FONT,
        plot_bgcolor="white",
        bargap=0,
    )
    return fig


# -- export ----------------------------------------------------------------------------------------


def _ensure_browser() -> None:
    """kaleido >= 1 renders through a Chrome/Chromium found by choreographer, which honours
    the ``BROWSER_PATH`` environment variable before searching ``PATH`` for chrome, chromium
    and the like. Point it at Debian's Chromium when nothing else was chosen."""
    if not os.environ.get("BROWSER_PATH") and os.path.exists(_CHROMIUM):
        os.environ["BROWSER_PATH"] = _CHROMIUM


def save_figure(
    fig: go.Figure,
    path: str | os.PathLike,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float = 2.0,
) -> Path:
    """Write ``fig`` to ``path``, format from the suffix: ``.html`` is standalone (plotly.js
    inlined, works offline); ``.png``/``.svg``/``.pdf``/``.jpg``/``.webp`` go through kaleido
    (needs a Chrome/Chromium; Debian's ``/usr/bin/chromium`` is used when ``BROWSER_PATH`` is
    unset). ``width``/``height`` default to the figure's own, ``scale`` multiplies raster
    resolution. The file is written atomically (temp file + rename). Returns the path."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt in ("html", "htm"):
        data = fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")
    elif fmt in _IMAGE_FORMATS:
        _ensure_browser()
        try:
            data = fig.to_image(
                format="jpeg" if fmt == "jpg" else fmt, width=width, height=height, scale=scale
            )
        except Exception as exc:  # kaleido / choreographer raise many kinds
            raise OcrlabError(
                f"cannot export {path.name}: {type(exc).__name__}: {exc}. Static export needs "
                "kaleido>=1 and a Chrome/Chromium (Debian: apt install chromium; or set "
                "BROWSER_PATH); .html export needs neither."
            ) from exc
    else:
        raise OcrlabError(
            f"cannot save a figure as {path.name!r}: use .html, "
            + ", ".join(f".{f}" for f in _IMAGE_FORMATS)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
