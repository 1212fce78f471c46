"""Plotly figures of one line's query attention (from :func:`~ocrlab.viz.query_attention`).

Every figure is a ``plotly.graph_objects.Figure`` with a title, labelled axes and a colour
scale that starts at 0; :func:`~ocrlab.viz.plotting.save_figure` writes it as standalone HTML
or, through kaleido and a Chromium, as PNG/SVG/PDF. Pixel axes are in the ORIGINAL image's pixels; a source
position ``t`` is drawn over the columns ``[t, t + 1) * stride * scale`` (see
:mod:`ocrlab.viz.attention` for the geometry).

- :func:`attention_overlay`: one query's map over the image, with a slider over the queries and
  (``menu=True``) a menu over layers x heads (mean, max, each head) and the rollout;
- :func:`attention_grid`: every query at once, one row each, under the image;
- :func:`attention_matrix`: queries x positions, with the CTC characters' spans below;
- :func:`correspondence_figure`: queries x recognized characters, with the summary lines;
- :func:`query_stats_figure`: entropy, pairwise similarity and coverage (specialize/collapse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .attention import SPECIALIZED_ENTROPY, AttentionError, HeadSpec, QueryAttention
from .plotting import (
    FONT,
    WIDTH,
    escape_html,
    image_background,
    make_subplots,
    make_title,
    plotly_go,
    quoted,
    round_weights,
    title_margin,
)

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
_MARGIN = {"b": 40, "l": 70, "r": 30}


# -- shared pieces ------------------------------------------------------------------------------


def _glyph(ch: str) -> str:
    """A character as a label: a visible mark for the space, HTML-escaped."""
    return "␣" if ch == " " else escape_html(ch)


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


def _char_labels(qa: QueryAttention) -> list[tuple[str, float, float]]:
    """(label, x0, x1) in original pixels for every recognized character: its CTC span."""
    return [
        (_glyph(ch), x0, x1)
        for ch, (x0, x1) in zip(qa.text, qa.recognition.pixel_spans, strict=True)
    ]


def _ink_runs(image: Image.Image) -> list[tuple[int, int]]:
    """Runs ``[x0, x1)`` of pixel columns that hold ink: pixels far from the median (the
    background) in either direction, so dark-on-light and light-on-dark both work."""
    g = np.asarray(image.convert("L"), dtype=np.float32)  # (H, W)
    contrast = np.abs(g - np.median(g))
    threshold = max(40.0, 0.4 * float(np.percentile(contrast, 99.5)))
    ink = (contrast > threshold).any(axis=0)  # (W,)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ink.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 2]


def _glyph_centres(qa: QueryAttention) -> list[float]:
    """Where each recognized character's glyph is, in original pixels (x centre).

    A CTC spike marks WHEN the model emits a character, not its glyph: it fires near the
    glyph's right edge, and a line's first character often fires at frame 0. So each non-space
    character is moved onto the nearest ink run (a run of columns holding ink) that starts no
    earlier than the previous character's, and ends at most one CTC frame before its spike;
    characters that share a run (touching glyphs) split it evenly. Where the ink does not
    separate into glyphs (textured scenes, no contrast) or no run is near, the spike's centre
    stays; a space sits halfway between its neighbours.
    """
    spans = qa.recognition.pixel_spans
    text = qa.text
    centres = [(a + b) / 2 for a, b in spans]
    runs = _ink_runs(qa.original)
    letters = [i for i, ch in enumerate(text) if not ch.isspace()]
    if not letters or len(runs) < 0.5 * len(letters):
        return centres
    slack = qa.ctc_stride * qa.scale  # one CTC frame, in original pixels
    reach = 1.5 * qa.original.width / len(text)  # a char pitch and a half
    owner: dict[int, list[int]] = {}
    first = 0
    for i in letters:
        c = centres[i]
        best: tuple[float, int] | None = None
        for k in range(first, len(runs)):
            r0, r1 = runs[k]
            d = max(r0 - c, c - (r1 + slack), 0.0)
            if best is None or d < best[0]:
                best = (d, k)
            if r0 > c + reach:
                break
        if best is not None and best[0] <= reach:
            owner.setdefault(best[1], []).append(i)
            first = best[1]
    for k, chars in owner.items():
        r0, r1 = runs[k]
        step = (r1 - r0) / len(chars)
        for n, i in enumerate(chars):
            centres[i] = r0 + (n + 0.5) * step
    for i, ch in enumerate(text):
        if ch.isspace() and 0 < i < len(text) - 1:
            centres[i] = (centres[i - 1] + centres[i + 1]) / 2
    return centres


def _letters(qa: QueryAttention, plot_px: float) -> tuple[list[dict], int, bool]:
    """The recognized characters as annotations on the letters row (``xref x``, ``yref y``)
    at their glyphs, with a font sized to the glyph pitch on screen (``plot_px`` wide plot):
    (annotations, font size, staggered onto two lines)."""
    centres = _glyph_centres(qa)
    px_per_unit = plot_px / max(qa.original.width, 1)
    gaps = np.diff(sorted(centres)) * px_per_unit
    pitch = float(np.median(gaps)) if len(gaps) else 40.0
    size = int(np.clip(0.9 * pitch, 13, 22))
    stagger = pitch < 0.8 * size
    notes = [
        {
            "x": x,
            "y": (0.28 if n % 2 else 0.72) if stagger else 0.5,
            "xref": "x",
            "yref": "y",
            "text": _glyph(ch),
            "showarrow": False,
            "font": {"size": size, "color": "rgb(20, 50, 140)"},
        }
        for n, (ch, x) in enumerate(zip(qa.text, centres, strict=True))
    ]
    return notes, size, stagger


def _line_rows(qa: QueryAttention, width: int, rows_below_px: float) -> dict:
    """Row heights for a figure whose top two rows are the letters and the line image (its
    aspect ratio kept) and whose remaining rows take ``rows_below_px`` pixels.

    Returns ``letters`` (annotations), ``font``, ``row_px`` (letters, image) and ``plot_px``
    (the plot width the sizes assume: ``width`` less the margins and the colour bar)."""
    W, H = qa.original.size
    plot_px = width - _MARGIN["l"] - _MARGIN["r"] - 90
    letters, size, stagger = _letters(qa, plot_px)
    # the row is sized for the widest plot the app's page gives (1600 px): narrower, the image
    # leaves a gap under it; a row sized for less would make plotly narrow every x axis
    image_px = float(np.clip(max(plot_px, 1400) * H / max(W, 1), 36, 300))
    letters_px = size * (2.6 if stagger else 1.6)
    return {"letters": letters, "font": size, "row_px": (letters_px, image_px)}


def _keep_aspect(
    fig: go.Figure, qa: QueryAttention, letters_axis: int, image_axis: int, *, tall: bool
) -> None:
    """The letters row (axis ``letters_axis``) and the image row (``image_axis``): the image
    keeps its aspect ratio whatever width the browser gives the figure (one y pixel = one x
    pixel); the axes shrink the row (image too tall) or widen the x range to the right (image
    too wide for the row), so every row sharing the x axis stays aligned with the glyphs."""
    W, H = qa.original.size
    ly, iy = f"yaxis{letters_axis if letters_axis > 1 else ''}", f"yaxis{image_axis}"
    fig.update_layout(
        {
            ly: {"range": [0, 1], "visible": False, "fixedrange": True},
            iy: {
                "range": [H, 0],
                "scaleanchor": f"x{image_axis}",
                "scaleratio": 1,
                "constrain": "domain",
                "constraintoward": "top",
                "showgrid": False,
                "zeroline": False,
                # a thin row (a long line) has no room for y ticks
                "showticklabels": tall,
                "title": {"text": "y (px)" if tall else ""},
            },
        }
    )
    fig.update_xaxes(range=[0, W], constrain="range", constraintoward="left", showgrid=False)


# -- overlay -----------------------------------------------------------------------------------


def attention_overlay(
    qa: QueryAttention,
    query: int = 0,
    layer: int = -1,
    head: HeadSpec = "mean",
    *,
    menu: bool = True,
    width: int = WIDTH,
) -> go.Figure:
    """One query's cross-attention over the line image, and as a profile along the line.

    Top: the recognized characters, each over its glyph (:func:`_glyph_centres`). Middle: the
    original image at its own aspect ratio with the map as a semi-transparent band (each
    source position over its pixel columns). Bottom: the same map as bars per position, with
    the CTC character spans shaded. A slider picks the query; with ``menu`` a menu picks layer
    and head (mean / max over heads, each head) or the rollout over layers, else the figure
    holds ``layer`` and ``head`` only (an app that has its own controls). The colour scale
    runs from 0 to the largest weight of the chosen aggregation over all queries, so queries
    compare at a glance.
    """
    go = plotly_go()
    query = _check_query(qa, query)
    layer = qa._layer(layer)
    want = (-1, "rollout") if head == "rollout" else (layer, head)
    combos = _combos(qa)
    if want not in combos:
        qa.aggregate(layer, head)  # raises the precise error
    if not menu:
        combos = [want]
    active = combos.index(want)
    maps = [qa.aggregate(lay, h).numpy() for lay, h in combos]  # each (Q, P)
    H = qa.original.height
    edges = qa.edges_px.numpy()
    centers = qa.centers_px.numpy()
    bar_width = qa.stride * qa.scale
    positions = np.arange(qa.num_positions)

    profile_px = 190.0
    line = _line_rows(qa, width, profile_px)
    letters_px, image_px = line["row_px"]
    gap = 12.0
    plot_h = letters_px + image_px + profile_px + 3 * gap
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=gap / plot_h,
        row_heights=[letters_px / plot_h, (image_px + gap) / plot_h, profile_px / plot_h],
    )
    for c, ((lay, h), a) in enumerate(zip(combos, maps, strict=True)):
        visible = c == active
        top = float(a.max()) or 1.0
        fig.add_trace(
            go.Heatmap(
                x=edges,
                y=[0, H],
                z=[round_weights(a[query])],
                zmin=0.0,
                zmax=top,
                colorscale=OVERLAY_COLORSCALE,
                colorbar={"title": {"text": "attention"}, "len": 0.4, "y": 1.0, "yanchor": "top"},
                hovertemplate="x %{x:.0f} px<br>attention %{z:.4f}<extra></extra>",
                visible=visible,
                name=qa.label(lay, h),
            ),
            row=2,
            col=1,
        )
        fig.add_trace(
            go.Bar(
                x=centers,
                y=round_weights(a[query]),
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
            row=3,
            col=1,
        )

    # the query slider rewrites every aggregation's data, so it composes with the menu
    steps = []
    for q in range(qa.num_queries):
        z, y = [], []
        for a in maps:
            z += [[round_weights(a[q])], None]  # heatmap z; the bar has no z
            y += [[0, H], round_weights(a[q])]  # heatmap keeps its y; the bar's heights
        steps.append({"label": str(q), "method": "restyle", "args": [{"z": z, "y": y}]})
    buttons = []
    for c, (lay, h) in enumerate(combos):
        visible = [v for i in range(len(combos)) for v in (i == c, i == c)]
        top = float(maps[c].max()) or 1.0
        buttons.append(
            {
                "label": qa.label(lay, h),
                "method": "update",
                "args": [{"visible": visible}, {"yaxis3.range": [0, top * 1.05]}],
            }
        )

    shapes = [
        {
            "type": "rect",
            "xref": "x3",
            "yref": "y3 domain",
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
    top = float(maps[active].max()) or 1.0
    controls = "slider: query; menu: layer and head" if menu else "slider: query"
    title = make_title(
        f"What query {query} reads ({controls})",
        f"recognized {quoted(qa.text)} · {qa.label(*want)} · stage {qa.stage!r}, stride "
        f"{qa.stride} px · letters: the CTC characters over their glyphs · shaded: CTC spans",
        width=int(width * 0.62) if menu else width,  # the menu sits to the right
    )
    fig.update_layout(
        title=title,
        images=[image_background(qa.original, xref="x2", yref="y2")],
        annotations=line["letters"],
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
        ]
        if menu
        else [],
        width=width,
        height=int(plot_h + title_margin(title) + _MARGIN["b"] + 130),  # 130: axis title + slider
        margin={"t": title_margin(title), **_MARGIN},
        font=FONT,
        plot_bgcolor="white",
        bargap=0,
    )
    _keep_aspect(fig, qa, letters_axis=1, image_axis=2, tall=image_px >= 80)
    fig.update_xaxes(title_text="x in the original image (pixels)", row=3, col=1)
    fig.update_yaxes(
        range=[0, top * 1.05], title_text="attention", gridcolor="#e5e5e5", row=3, col=1
    )
    return fig


# -- all queries ---------------------------------------------------------------------------------


def attention_grid(
    qa: QueryAttention, layer: int = -1, head: HeadSpec = "mean", *, width: int = WIDTH
) -> go.Figure:
    """Every query's map at once, compactly: one heatmap row per query under the line image
    (at its aspect ratio, the letters over their glyphs), on the image's pixel axis, so a
    column of the heatmap sits under the glyph it reads. Hover gives each query's peak and
    entropy; one colour scale for all queries."""
    go = plotly_go()
    a = qa.aggregate(layer, head).numpy()  # (Q, P)
    stats = qa.stats(layer, head)
    Q = qa.num_queries
    row = float(np.clip(440 / Q, 11, 26))  # px per query: 32 queries fit in ~440 px
    heat_px = Q * row
    line = _line_rows(qa, width, heat_px)
    letters_px, image_px = line["row_px"]
    gap = 12.0
    plot_h = letters_px + image_px + heat_px + 3 * gap
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=gap / plot_h,
        row_heights=[letters_px / plot_h, (image_px + gap) / plot_h, heat_px / plot_h],
    )
    peak, ent = stats.peak_px.numpy(), stats.entropy_norm.numpy()  # each (Q,)
    custom = np.stack(
        [np.broadcast_to(peak[:, None], a.shape), np.broadcast_to(ent[:, None], a.shape)], -1
    )  # (Q, P, 2)
    fig.add_trace(
        go.Heatmap(
            x=qa.edges_px.numpy(),
            y=np.arange(Q),
            z=round_weights(a),
            zmin=0.0,
            zmax=float(a.max()) or 1.0,
            colorscale=MATRIX_COLORSCALE,
            colorbar={"title": {"text": "attention"}, "len": 0.7, "y": 0.0, "yanchor": "bottom"},
            customdata=np.round(custom, 2),
            hovertemplate=(
                "query %{y}<br>x %{x:.0f} px<br>attention %{z:.4f}<br>"
                "peak at x=%{customdata[0]:.0f} px, entropy %{customdata[1]:.2f}<extra></extra>"
            ),
        ),
        row=3,
        col=1,
    )
    title = make_title(
        f"All {Q} queries · {qa.label(layer, head)}",
        f"recognized {quoted(qa.text)} · one row per query, under the pixels it reads · "
        "colour: attention weight, one scale for all queries · hover: peak and entropy",
        width=width,
    )
    tick = max(1, int(np.ceil(18 / row)))  # a label every 18 px or more
    fig.update_layout(
        title=title,
        images=[image_background(qa.original, xref="x2", yref="y2")],
        annotations=line["letters"],
        width=width,
        height=int(plot_h + title_margin(title) + _MARGIN["b"] + 40),
        margin={"t": title_margin(title), **_MARGIN},
        font=FONT,
        plot_bgcolor="white",
    )
    _keep_aspect(fig, qa, letters_axis=1, image_axis=2, tall=image_px >= 80)
    fig.update_xaxes(title_text="x in the original image (pixels)", row=3, col=1)
    fig.update_yaxes(
        title_text="query",
        range=[Q - 0.5, -0.5],
        tickmode="linear",
        tick0=0,
        dtick=tick,
        tickfont={"size": 13},
        row=3,
        col=1,
    )
    return fig


# -- queries x positions ------------------------------------------------------------------------


def attention_matrix(
    qa: QueryAttention, layer: int = -1, head: HeadSpec = "mean", *, width: int = WIDTH
) -> go.Figure:
    """The queries x positions matrix, with a track below that marks each recognized
    character's CTC span on the same position axis (the source stage's positions)."""
    go = plotly_go()
    a = qa.aggregate(layer, head).numpy()  # (Q, P)
    Q, P = a.shape
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.84, 0.16]
    )
    px = np.broadcast_to(qa.centers_px.numpy()[None, :], a.shape)
    fig.add_trace(
        go.Heatmap(
            z=round_weights(a),
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
    title = make_title(
        f"Queries x positions · {qa.label(layer, head)}",
        f"recognized {quoted(qa.text)} · stage {qa.stage!r}: position t covers pixels "
        f"[{qa.stride}t, {qa.stride}(t+1)) of the model input ({qa.scale:.2f} original px "
        "per input px) · bottom: CTC character spans",
        width=width,
    )
    fig.update_layout(
        title=title,
        shapes=shapes,
        width=width,
        height=int(min(900, max(380, 26 * Q + 230))),
        margin={"t": title_margin(title), "b": 60, "l": 70, "r": 30},
        font=FONT,
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
    go = plotly_go()
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
                z=round_weights(corr),
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
        text="<br>".join(escape_html(s) for s in shown) or "(no characters)",
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
    title = make_title(
        f"Which queries read each character · {qa.label(layer, agg)}",
        f"recognized {quoted(qa.text)} · cell: attention mass of the query on the "
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
        margin={"t": title_margin(title), "b": 80, "l": 70, "r": 20},
        font=FONT,
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
    go = plotly_go()
    s = qa.stats(layer, head)
    Q, P = qa.num_queries, qa.num_positions
    a = qa.aggregate(layer, head)
    a = (a / a.sum(1, keepdim=True).clamp_min(1e-12)).numpy()  # (Q, P) distributions
    strongest = a.max(0)  # (P,)
    fig = make_subplots(
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
            y=round_weights(s.entropy_norm.numpy()),
            customdata=round_weights(s.entropy.numpy()),
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
            z=round_weights(s.similarity.numpy()),
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
            y=round_weights(strongest),
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
    title = make_title(
        f"Do the queries specialize? {s.verdict.upper()} · {s.label}",
        s.reason.replace("; ", " · "),
        width=max(width, 1000),
    )
    fig.update_layout(
        title=title,
        width=max(width, 1000),
        height=430,
        margin={"t": title_margin(title, extra=25), "b": 60, "l": 70, "r": 30},
        font=FONT,
        plot_bgcolor="white",
        bargap=0,
    )
    return fig
