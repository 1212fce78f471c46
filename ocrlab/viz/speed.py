"""Speed figures: what ``ocrlab bench`` measured, drawn against a real-time frame budget, the
Python-vs-C decoding benchmark, and a speed/accuracy frontier across models and engines.

Every function takes the parsed JSON (a dict), not a path, and returns a plotly figure:

- :func:`throughput_figure`: lines/s against batch size (1, 8, 32, 128) per engine;
- :func:`latency_figure`: batch-1 latency p50/p95 per engine against the frame budget;
- :func:`realtime_figure`: lines per frame within the budget, and the speedup each engine
  would need for N lines per frame ("is 2x faster enough?");
- :func:`python_vs_c_figure`: ``benchmarks/python_vs_c``'s decoders as ratios to C, and the
  pipeline split by stage;
- :func:`frontier_figure`: error (or accuracy) against speed, one line per group of points;
  :func:`frontier_points_from_bench` turns a bench report into such points.

A bench report (:func:`ocrlab.bench.run_bench`) holds ``engines.<name>`` with
``latency_ms_b1_p50``/``_p95``, ``lines_per_s_b<N>``, ``cer``, ``accuracy`` (or ``skipped``:
the reason an engine did not run, with null numbers), ``settings.batch_sizes``,
``settings.budget_ms`` and ``realtime`` (:func:`ocrlab.bench.realtime_table`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import OcrlabError
from ..peers import PEERS
from .plotting import (
    FONT,
    WIDTH,
    escape_html,
    log_ticks,
    make_subplots,
    make_title,
    plotly_go,
    title_margin,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "frontier_figure",
    "frontier_points_from_bench",
    "latency_figure",
    "python_vs_c_figure",
    "realtime_figure",
    "throughput_figure",
]

#: One colour per engine, the same in every figure.
ENGINE_COLOURS = {
    "torch_ctc": "#1f77b4",
    "onnx_ctc": "#ff7f0e",
    "onnx_ctc_int8": "#2ca02c",
    "lm_generate": "#d62728",
    "tesseract": "#9467bd",
    "lm_generate_gpt2": "#8c564b",
    "ppocr_v4": "#393b79",
    "easyocr": "#637939",
}
_CYCLE = ("#17becf", "#bcbd22", "#e377c2", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a")
_DEFAULT_BATCH_SIZES = (8, 32, 128)
_LM_ENGINES = ("lm_generate", "lm_generate_gpt2")
_CTC_ENGINES = ("torch_ctc", "onnx_ctc", "onnx_ctc_int8")
_GRID = "#e5e5e5"


def _colour(name: str, i: int) -> str:
    return ENGINE_COLOURS.get(name, _CYCLE[i % len(_CYCLE)])


# -- reading a report ---------------------------------------------------------------------------


def _engines(report: dict[str, Any]) -> tuple[dict[str, dict], dict[str, str]]:
    """(measured engines, {skipped engine: reason}) of a bench report, in report order."""
    if not isinstance(report, dict) or not isinstance(report.get("engines"), dict):
        raise OcrlabError(
            "not an `ocrlab bench` report: expected a dict with an 'engines' table "
            "(pass the parsed JSON, e.g. json.loads(Path(...).read_text()))"
        )
    measured, skipped = {}, {}
    for name, row in report["engines"].items():
        if row.get("skipped"):
            skipped[name] = str(row["skipped"])
        else:
            measured[name] = row
    return measured, skipped


def _batch_sizes(report: dict[str, Any]) -> list[int]:
    sizes = report.get("settings", {}).get("batch_sizes") or _DEFAULT_BATCH_SIZES
    return sorted(int(b) for b in sizes)


def _budget(report: dict[str, Any]) -> float:
    rt = report.get("realtime") or {}
    return float(rt.get("budget_ms") or report.get("settings", {}).get("budget_ms") or 33.3)


def _skipped_text(skipped: dict[str, str]) -> str:
    """' · '-separated "skipped: name (reason)" parts for a subtitle ("" when none)."""
    return " · ".join(f"skipped: {name} ({escape_html(why)})" for name, why in skipped.items())


def _context(report: dict[str, Any]) -> str:
    """Data, machine and threads of a report, for a subtitle."""
    d, m, s = report.get("data", {}), report.get("machine", {}), report.get("settings", {})
    parts = []
    if d:
        parts.append(f"{escape_html(str(d.get('spec')))}, {d.get('lines')} lines")
    if m.get("cpu"):
        parts.append(f"{escape_html(str(m['cpu']))}, {_threads(s.get('threads'))}")
    if s.get("quick"):
        parts.append("quick run (not numbers to quote)")
    return " · ".join(parts)


def _subtitle(*parts: str) -> str | None:
    return " · ".join(p for p in parts if p) or None


def _layout(
    fig: go.Figure,
    title: dict,
    width: int,
    height: int,
    *,
    extra: int = 10,
    r: int = 40,
    b: int = 60,
    **kw: Any,
) -> go.Figure:
    fig.update_layout(
        title=title,
        width=width,
        height=height,
        margin={"t": title_margin(title, extra=extra), "b": b, "l": 80, "r": r},
        font=FONT,
        template="plotly_white",
        **kw,
    )
    return fig


def _no_data(fig: go.Figure, text: str, xref: str = "x domain", yref: str = "y domain") -> None:
    fig.add_annotation(
        text=text, xref=xref, yref=yref, x=0.5, y=0.5, showarrow=False, font={"color": "gray"}
    )


def _hline(
    fig: go.Figure,
    y: float,
    text: str,
    *,
    log: bool,
    colour: str,
    dash: str | None = None,
    left: bool = True,
    above: bool = True,
    axis: str = "",
) -> None:
    """A horizontal line at ``y`` across a panel (``axis``: "" for the first, "2" for the
    second) with its label. The label is placed by hand: plotly's ``add_hline`` annotation
    takes a log axis's value as an exponent (its line at 2 gets a label at 100)."""
    fig.add_shape(
        type="line",
        xref=f"x{axis} domain",
        yref=f"y{axis}",
        x0=0,
        x1=1,
        y0=y,
        y1=y,
        line={"color": colour, "dash": dash, "width": 1.5},
    )
    fig.add_annotation(
        text=text,
        xref=f"x{axis} domain",
        yref=f"y{axis}",
        x=0.01 if left else 0.99,
        xanchor="left" if left else "right",
        y=math.log10(y) if log else y,
        yanchor="bottom" if above else "top",
        showarrow=False,
        font={"color": colour, "size": 11},
    )


def _num(v: float | None) -> str | None:
    """A bar label: whole numbers from 100 up (1,100, not 1.1e+03), 3 digits below."""
    if v is None:
        return None
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _threads(n: Any) -> str:
    return f"{n} thread" + ("" if n == 1 else "s")


def _log_ticks(values: Sequence[float]) -> list[float]:
    """1-2-5 ticks covering the positive ``values``, within a decade of them."""
    positive = [v for v in values if v is not None and v > 0]
    return log_ticks(min(positive), max(positive), pad=10) if positive else []


def _tick_text(t: float) -> str:
    return f"{t:,.0f}" if t >= 1 else f"{t:g}"


def _log_axis(values: Sequence[float], fmt: Callable[[float], str] = _tick_text) -> dict:
    """A log axis with 1-2-5 ticks over ``values`` (labelled by ``fmt``) and the light grid."""
    ticks = _log_ticks(values)
    return {
        "type": "log",
        "tickvals": ticks or None,
        "ticktext": [fmt(t) for t in ticks] or None,
        "gridcolor": _GRID,
    }


# -- throughput ---------------------------------------------------------------------------------


def throughput_figure(report: dict[str, Any], *, width: int = WIDTH) -> go.Figure:
    """Lines per second against batch size, one line per measured engine (log y, log x).

    Batch 1 is ``1000 / latency_ms_b1_p50`` (images read one by one); 8, 32 and 128 are the
    measured full-pass throughputs. Tesseract reads one image per call, so its rate is the same
    at every batch size (parallel workers; dashed). The dotted line is the rate that reads one
    line per frame of the report's budget; engines that were skipped are named, with their
    reason, under the title.
    """
    go = plotly_go()
    measured, skipped = _engines(report)
    sizes = [1, *_batch_sizes(report)]
    budget = _budget(report)
    fig = go.Figure()
    rates_all = []
    for i, (name, r) in enumerate(measured.items()):
        p50 = r.get("latency_ms_b1_p50")
        rates = [1000 / p50 if p50 else None] + [r.get(f"lines_per_s_b{b}") for b in sizes[1:]]
        rates_all += [v for v in rates if v]
        ms = [None if not v else 1000 / v for v in rates]
        dashed = name == "tesseract"
        fig.add_trace(
            go.Scatter(
                x=sizes,
                y=rates,
                name=name,
                mode="lines+markers",
                line={"color": _colour(name, i), "width": 2, "dash": "dash" if dashed else None},
                marker={"size": 8},
                customdata=ms,
                hovertemplate=(
                    f"<b>{name}</b><br>batch %{{x}}<br>%{{y:,.1f}} lines/s"
                    "<br>%{customdata:.3g} ms per line<extra></extra>"
                ),
            )
        )
    if not measured:
        _no_data(fig, "no engine was measured")
    one_per_frame = 1000 / budget
    _hline(
        fig,
        one_per_frame,
        f"1 line per {budget:g} ms frame ({one_per_frame:.0f} lines/s)",
        log=True,
        colour="gray",
        dash="dot",
        left=False,
        above=False,
    )
    fig.update_yaxes(
        **_log_axis([*rates_all, one_per_frame]), title_text="lines per second (higher is faster)"
    )
    fig.update_xaxes(
        type="log",
        title_text="batch size (1: one image per call, from the p50 latency)",
        tickvals=sizes,
        ticktext=[str(b) for b in sizes],
        gridcolor=_GRID,
    )
    title = make_title(
        "Throughput: lines per second by batch size",
        _subtitle(_context(report), _skipped_text(skipped)),
        width=width,
    )
    return _layout(fig, title, width, 520, legend={"title": {"text": "engine"}})


# -- latency ------------------------------------------------------------------------------------


def latency_figure(
    report: dict[str, Any],
    budget_ms: float | None = None,
    *,
    log_y: bool | None = None,
    width: int = WIDTH,
) -> go.Figure:
    """Batch-1 latency (one image per call) per engine: p50 and p95 as grouped bars, and the
    frame budget (default: the report's, 33.3 ms = 30 fps) as a horizontal line. A bar above the
    line is an engine that cannot read even one line per frame. ``log_y``: None picks a log axis
    when the latencies span more than 50x. Skipped engines are named under the title."""
    go = plotly_go()
    measured, skipped = _engines(report)
    budget = float(budget_ms) if budget_ms is not None else _budget(report)
    names = list(measured)
    p50 = [measured[n].get("latency_ms_b1_p50") for n in names]
    p95 = [measured[n].get("latency_ms_b1_p95") for n in names]
    per_frame = [math.floor(budget / v) if v else None for v in p50]
    fig = go.Figure()
    for label, values, colour in (("p50", p50, "#1f77b4"), ("p95", p95, "#aec7e8")):
        fig.add_trace(
            go.Bar(
                x=names,
                y=values,
                name=f"{label} latency",
                marker={"color": colour},
                text=[_num(v) for v in values],
                textposition="outside",
                customdata=per_frame,
                hovertemplate=(
                    f"<b>%{{x}}</b><br>{label}: %{{y:.3g}} ms per line"
                    f"<br>%{{customdata}} lines one by one in {budget:g} ms<extra></extra>"
                ),
            )
        )
    if not measured:
        _no_data(fig, "no engine was measured")
    values = [v for v in (*p50, *p95) if v]
    if log_y is None:
        log_y = bool(values) and max(*values, budget) / min(*values, budget) > 50
    _hline(
        fig,
        budget,
        f"frame budget {budget:g} ms ({1000 / budget:.0f} fps)",
        log=log_y,
        colour="#d62728",
        dash="dash",
    )
    if log_y:
        fig.update_yaxes(**_log_axis([*values, budget]))
    fig.update_yaxes(title_text="ms per line at batch 1 (lower is faster)", gridcolor=_GRID)
    fig.update_xaxes(title_text="engine")
    n_lines = {n: r.get("latency_lines") for n, r in measured.items()}
    how = (
        f"p50/p95 over {max(v for v in n_lines.values() if v)} single images"
        if any(n_lines.values())
        else ""
    )
    title = make_title(
        "Latency at batch 1 against the frame budget",
        _subtitle(how, _context(report), _skipped_text(skipped)),
        width=width,
    )
    return _layout(
        fig,
        title,
        width,
        500,
        barmode="group",
        legend={"orientation": "h", "y": 1.0, "x": 1.0, "xanchor": "right", "yanchor": "bottom"},
    )


# -- real time ----------------------------------------------------------------------------------


def _verdict(cell: dict[str, Any]) -> str:
    if cell.get("fits"):
        return "fits now"
    if cell.get("fits_with_2x"):
        return "fits with a 2x speedup"
    return "even 2x is not enough"


_SYMBOLS = {"fits now": "circle", "fits with a 2x speedup": "diamond"}


def realtime_figure(report: dict[str, Any], *, width: int = WIDTH) -> go.Figure:
    """The report's real-time table (:func:`ocrlab.bench.realtime_table`) in two panels.

    Left: lines per frame each engine reads within the budget, one by one (``floor(budget /
    p50)``) and batched at the batch-32 rate. Right: the speedup each engine would need to read
    N lines per frame (frame time / budget, log y): below 1 it fits now; between 1 and 2 (the
    shaded band) a 2x faster engine would fit; above the 2x line, even 2x is not enough.
    Markers: circle fits, diamond fits with 2x, cross does not. The subtitle says, per engine,
    the N it fits now and the N a 2x speedup would add (not always a range: N below the
    smallest batch size are read one by one, larger N at a batched rate).
    """
    go = plotly_go()
    _, skipped = _engines(report)
    rt = report.get("realtime") or {}
    rows: dict[str, dict] = rt.get("engines") or {}
    budget = _budget(report)
    fps = rt.get("fps") or round(1000 / budget, 1)
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.4, 0.6],
        horizontal_spacing=0.12,
        subplot_titles=[
            f"Lines per {budget:g} ms frame",
            "Speedup needed for N lines per frame",
        ],
    )
    names = list(rows)
    for label, key, colour in (
        ("one by one (b1 latency)", "lines_per_frame_b1", "#1f77b4"),
        ("batched (b32 rate)", "lines_per_frame_b32", "#ff7f0e"),
    ):
        values = [rows[n].get(key) for n in names]
        fig.add_trace(
            go.Bar(
                x=names,
                y=values,
                name=label,
                marker={"color": colour},
                text=[None if v is None else str(v) for v in values],
                textposition="outside",
                legendgroup="per frame",
                legendgrouptitle={"text": "lines per frame"},
                hovertemplate=f"<b>%{{x}}</b><br>{label}: %{{y}} lines per frame<extra></extra>",
            ),
            row=1,
            col=1,
        )
    summary, all_speedups, all_n = [], [], set()
    for i, name in enumerate(names):
        cells = rows[name].get("speedup_needed") or {}
        ns = sorted(cells, key=int)
        xs = [int(n) for n in ns]
        ys = [cells[n]["speedup"] for n in ns]
        verdicts = [_verdict(cells[n]) for n in ns]
        all_speedups += ys
        all_n.update(xs)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                mode="lines+markers",
                line={"color": _colour(name, i), "width": 2},
                marker={
                    "size": 10,
                    "symbol": [_SYMBOLS.get(v, "x") for v in verdicts],
                    "line": {"width": 1, "color": "white"},
                },
                legendgroup="speedup",
                legendgrouptitle={"text": "speedup needed"},
                customdata=[[cells[n]["frame_ms"], v] for n, v in zip(ns, verdicts, strict=True)],
                hovertemplate=(
                    f"<b>{name}</b><br>%{{x}} lines per frame: %{{customdata[0]:.3g}} ms"
                    "<br>needs %{y:.2f}x → %{customdata[1]}<extra></extra>"
                ),
            ),
            row=1,
            col=2,
        )
        now = [str(x) for x, n in zip(xs, ns, strict=True) if cells[n].get("fits")]
        with2 = [
            str(x)
            for x, n in zip(xs, ns, strict=True)
            if cells[n].get("fits_with_2x") and not cells[n].get("fits")
        ]
        summary.append(
            f"{name}: fits N = {', '.join(now)} now" if now else f"{name}: fits no N now"
        )
        summary[-1] += f"; 2x adds N = {', '.join(with2)}" if with2 else "; 2x adds nothing"
    if not names:
        _no_data(fig, "no engine was measured", "x domain", "y domain")
        _no_data(fig, "no engine was measured", "x2 domain", "y2 domain")
    # the band where "2x faster" turns a miss into a fit
    fig.add_hrect(
        y0=1,
        y1=2,
        fillcolor="#2ca02c",
        opacity=0.12,
        line_width=0,
        row=1,
        col=2,
    )
    _hline(fig, 1, "fits now below 1x", log=True, colour="#2ca02c", above=False, axis="2")
    _hline(
        fig,
        2,
        "a 2x faster engine fits below this line",
        log=True,
        colour="#d62728",
        dash="dash",
        axis="2",
    )
    fig.update_yaxes(title_text="lines per frame", gridcolor=_GRID, row=1, col=1)
    fig.update_xaxes(title_text="engine", row=1, col=1)
    fig.update_yaxes(
        **_log_axis([*all_speedups, 0.5, 2], lambda t: f"{t:g}x"),
        title_text="speedup needed (frame time / budget, log)",
        row=1,
        col=2,
    )
    fig.update_xaxes(
        type="log",
        title_text="N lines per frame",
        tickvals=sorted(all_n) or None,
        gridcolor=_GRID,
        row=1,
        col=2,
    )
    title = make_title(
        f"Real time at {budget:g} ms per frame ({fps:g} fps): is 2x faster enough?",
        _subtitle(*summary, _context(report), _skipped_text(skipped)),
        width=width,
    )
    return _layout(fig, title, width, 640, extra=70)


# -- Python vs C --------------------------------------------------------------------------------

_VARIANTS = {
    "python": "pure Python",
    "numpy": "NumPy",
    "torch": "torch (library)",
    "c": "C (via ctypes)",
    "c_kernel": "C kernel alone",
    "numpy_kernel": "NumPy kernel alone",
}
_SHAPE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
_GROUP_COLOURS = (*_SHAPE_COLOURS, *_CYCLE)


def python_vs_c_figure(result: dict[str, Any], *, width: int = WIDTH) -> go.Figure:
    """``benchmarks/python_vs_c``'s result: how much slower each decoder variant is than C.

    One panel per algorithm (greedy, prefix beam search): time per batch of every variant
    (pure Python, NumPy, torch = the library, C through ctypes, the C kernel alone) as a ratio
    to the C variant (log x; 1 = as fast as C), one bar colour per logits shape (B x T x C).
    When the result has the pipeline split, a last panel shows ms per line of each stage (log
    x), with its share of the greedy pipeline: where the time of reading a line really goes.
    """
    go = plotly_go()
    decode = result.get("decode") if isinstance(result, dict) else None
    if not decode:
        raise OcrlabError(
            "not a python_vs_c result: expected a dict with a 'decode' list "
            "(benchmarks/python_vs_c/bench_python_vs_c.py writes it)"
        )
    pipeline = result.get("pipeline")
    settings = result.get("settings", {})
    kinds = [("greedy", "Greedy (best path) decoding"), ("beam", "Prefix beam search")]
    if settings.get("beam_width"):
        kinds[1] = ("beam", f"Prefix beam search (width {settings['beam_width']}, no LM)")
    titles = [f"{t}: time relative to C" for _, t in kinds]
    if pipeline:
        titles.append(
            f"Pipeline by stage, {escape_html(str(pipeline.get('checkpoint', '')).split('/')[-1])} "
            f"on {pipeline.get('lines')} lines (batch {pipeline.get('batch_size')})"
        )
    n_rows = len(titles)
    fig = make_subplots(
        rows=n_rows,
        cols=1,
        subplot_titles=titles,
        vertical_spacing=0.1 if n_rows == 3 else 0.14,
    )
    ratios_all = []
    for row, (kind, _) in enumerate(kinds, 1):
        for j, item in enumerate(decode):
            table = item.get(kind) or {}
            variants = [v for v in _VARIANTS if v in table] + [
                v for v in table if v not in _VARIANTS
            ]
            shape = "×".join(str(s) for s in item.get("shape", []))
            ratios = [table[v].get("x_vs_c") for v in variants]
            ratios_all += [r for r in ratios if r]
            fig.add_trace(
                go.Bar(
                    y=[_VARIANTS.get(v, v) for v in variants],
                    x=ratios,
                    orientation="h",
                    name=f"logits {shape} (B×T×C)",
                    legendgroup=shape,
                    showlegend=row == 1,
                    marker={"color": _SHAPE_COLOURS[j % len(_SHAPE_COLOURS)]},
                    text=[None if r is None else f"{_num(r)}×" for r in ratios],
                    textposition="outside",
                    cliponaxis=False,
                    customdata=[
                        [table[v].get("ms"), table[v].get("us_per_line")] for v in variants
                    ],
                    hovertemplate=(
                        f"<b>%{{y}}</b>, {kind}, logits {shape}<br>%{{x:.3g}}× the C time"
                        "<br>%{customdata[0]:.3g} ms per batch, %{customdata[1]:.3g} µs per line"
                        "<extra></extra>"
                    ),
                ),
                row=row,
                col=1,
            )
        fig.add_vline(x=1, line={"color": "gray", "dash": "dot", "width": 1}, row=row, col=1)
    for row in (1, 2):
        fig.update_xaxes(
            **_log_axis([*ratios_all, 1], lambda t: f"{t:g}×"),
            title_text="× the C variant's time (log; 1 = C)",
            row=row,
            col=1,
        )
        fig.update_yaxes(autorange="reversed", row=row, col=1)
    if pipeline:
        stages = pipeline.get("stages") or {}
        names = list(stages)
        ms = [stages[s].get("ms_per_line") for s in names]
        share = [stages[s].get("share_of_greedy_pipeline") for s in names]
        fig.add_trace(
            go.Bar(
                y=names,
                x=ms,
                orientation="h",
                name="pipeline stage",
                showlegend=False,
                marker={"color": ["#2ca02c" if "(C" in s else "#7f7f7f" for s in names]},
                text=[
                    None if m is None else f"{_num(m)} ms · {100 * (sh or 0):.1f}%"
                    for m, sh in zip(ms, share, strict=True)
                ],
                textposition="outside",
                cliponaxis=False,
                customdata=share,
                hovertemplate=(
                    "<b>%{y}</b><br>%{x:.3g} ms per line<br>%{customdata:.1%} of the greedy "
                    "pipeline<extra></extra>"
                ),
            ),
            row=3,
            col=1,
        )
        fig.update_xaxes(
            **_log_axis(ms, lambda t: f"{t:g}"),
            title_text="ms per line (log; green: the C decoders)",
            row=3,
            col=1,
        )
        fig.update_yaxes(autorange="reversed", row=3, col=1)
    agree = [item.get("agree", {}) for item in decode]
    same = all(a.get("greedy", True) and a.get("beam", True) for a in agree)
    m, cc = result.get("machine", {}), result.get("compiler", {})
    sub = _subtitle(
        "every variant returns the same Python objects"
        + ("; all agree on the texts" if same else "; VARIANTS DISAGREE (see 'agree')"),
        escape_html(str(m.get("cpu"))) + f", {_threads(settings.get('threads'))}" if m else "",
        escape_html(str(cc.get("cc"))) if cc.get("cc") else "",
        "quick run (not numbers to quote)" if settings.get("quick") else "",
    )
    title = make_title(
        "How much slower than C? CTC decoding in Python, NumPy, torch", sub, width=width
    )
    return _layout(
        fig,
        title,
        width,
        330 * n_rows + 120,
        extra=20,
        r=130,
        b=110,
        barmode="group",
        legend={"orientation": "h", "y": -0.06, "x": 0.0, "yanchor": "top"},
    )


# -- speed / accuracy frontier ------------------------------------------------------------------

_AXIS_LABELS = {
    "cer": "CER, % (lower is better)",
    "accuracy": "line accuracy, % (higher is better)",
    "lines_per_s_b32": "lines per second at batch 32 (log; right is faster)",
    "latency_ms_b1_p50": "latency at batch 1, ms p50 (log; left is faster)",
}
_PERCENT = ("cer", "accuracy")


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def frontier_figure(
    points: Sequence[dict[str, Any]],
    metric: str = "cer",
    x: str = "lines_per_s_b32",
    *,
    skipped: dict[str, str] | None = None,
    width: int = WIDTH,
) -> go.Figure:
    """Speed against error: each point a (model, engine) with ``x`` (default lines/s at batch
    32, log axis) and ``metric`` (default CER; ``cer``/``accuracy`` fractions drawn as %),
    labelled with its ``name``; the points of one ``group`` are joined by a line (sorted by
    speed) in one colour. A point without the metric (a timing-only engine) is NOT drawn at 0:
    it goes on a separate "speed only" strip under the plot, at its speed. Points without a
    positive ``x`` cannot be placed on the log axis and are named under the title.

    ``points``: dicts with ``name``, ``group``, ``cer``, ``accuracy``, ``lines_per_s_b32``,
    ``latency_ms_b1_p50`` and an optional ``note`` (shown on hover). ``skipped``: engines that
    could not run, with the reason, named under the title.
    """
    go = plotly_go()
    scale = 100.0 if metric in _PERCENT else 1.0
    groups: dict[str, list[dict]] = {}
    unplaced = []
    for p in points:
        if _number(p.get(x)) is None or p[x] <= 0:
            unplaced.append(str(p.get("name", "?")))
            continue
        groups.setdefault(str(p.get("group", "")), []).append(p)
    has_metric = any(_number(p.get(metric)) is not None for ps in groups.values() for p in ps)
    speed_only = any(_number(p.get(metric)) is None for ps in groups.values() for p in ps)
    if speed_only:
        fig = make_subplots(
            rows=2, cols=1, shared_xaxes=True, row_heights=[0.84, 0.16], vertical_spacing=0.04
        )
    else:
        fig = make_subplots(rows=1, cols=1)
    xs_all = []
    for i, (group, ps) in enumerate(groups.items()):
        colour = _GROUP_COLOURS[i % len(_GROUP_COLOURS)]
        ps = sorted(ps, key=lambda p: p[x])
        xs_all += [p[x] for p in ps]
        for rug, chosen in (
            (False, [p for p in ps if _number(p.get(metric)) is not None]),
            (True, [p for p in ps if _number(p.get(metric)) is None]),
        ):
            if not chosen:
                continue
            custom = [
                [
                    escape_html(str(p.get("name", ""))),
                    _number(p.get("lines_per_s_b32")),
                    _number(p.get("latency_ms_b1_p50")),
                    "—" if _number(p.get("cer")) is None else f"{100 * p['cer']:.2f}%",
                    "—" if _number(p.get("accuracy")) is None else f"{100 * p['accuracy']:.1f}%",
                    escape_html(str(p.get("note") or "")),
                ]
                for p in chosen
            ]
            fig.add_trace(
                go.Scatter(
                    x=[p[x] for p in chosen],
                    y=[0.0] * len(chosen) if rug else [scale * p[metric] for p in chosen],
                    name=escape_html(group) + (" (speed only)" if rug else ""),
                    legendgroup=group,
                    showlegend=not rug or not any(_number(p.get(metric)) is not None for p in ps),
                    mode="markers+text" if rug else "lines+markers+text",
                    line={"color": colour, "width": 1.5},
                    marker={
                        "color": colour,
                        "size": 10,
                        "symbol": "line-ns-open" if rug else "circle",
                        "line": {"width": 2, "color": colour},
                    },
                    text=[escape_html(str(p.get("name", ""))) for p in chosen],
                    # neighbours alternate above/below, so close points keep readable labels
                    textposition=[
                        "top right" if rug else ("top center", "bottom center")[k % 2]
                        for k in range(len(chosen))
                    ],
                    cliponaxis=False,
                    textfont={"size": 11},
                    customdata=custom,
                    hovertemplate=(
                        f"<b>%{{customdata[0]}}</b> ({escape_html(group)})"
                        "<br>%{customdata[1]:,.1f} lines/s at b32 · %{customdata[2]:.3g} ms at b1"
                        "<br>CER %{customdata[3]} · accuracy %{customdata[4]}"
                        "<br>%{customdata[5]}<extra></extra>"
                    ),
                ),
                row=2 if rug else 1,
                col=1,
            )
    if not groups:
        _no_data(fig, "no point has a speed to place")
    elif not has_metric:
        _no_data(fig, f"no point has a {metric}: every point is on the speed-only strip")
    fig.update_xaxes(**_log_axis(xs_all))
    fig.update_xaxes(title_text=_AXIS_LABELS.get(x, x), row=2 if speed_only else 1, col=1)
    fig.update_yaxes(
        title_text=_AXIS_LABELS.get(metric, metric), gridcolor=_GRID, rangemode="tozero", row=1
    )
    if speed_only:
        fig.update_yaxes(
            title_text="speed<br>only",
            showticklabels=False,
            showgrid=False,
            zeroline=False,
            range=[-1, 1.6],
            row=2,
            col=1,
        )
    better = "down" if metric == "cer" else "up"
    faster = "left" if x.startswith("latency") else "right"
    sub = _subtitle(
        f"better: {faster} and {better}",
        "points of one group are joined by a line",
        "speed only: measured without an accuracy (e.g. random-weight LMs)" if speed_only else "",
        f"not placed (no {x}): {', '.join(escape_html(n) for n in unplaced)}" if unplaced else "",
        _skipped_text(skipped or {}),
    )
    title = make_title(
        f"Speed vs {metric.upper() if metric == 'cer' else metric}", sub, width=width
    )
    return _layout(fig, title, width, 600, legend={"title": {"text": "group"}})


def frontier_points_from_bench(
    report: dict[str, Any],
    group: str,
    name_prefix: str = "",
    *,
    groups: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The measured (not skipped) engines of a bench report as :func:`frontier_figure` points:
    ``name`` is ``name_prefix + engine``; ``group`` is ``group`` for the model's CTC engines
    (torch, ONNX, int8), "LM decoding" for the LM engines, "Tesseract <major>" for Tesseract and
    the peer's own name for the peers (:data:`ocrlab.peers.PEERS`), unless ``groups`` maps the
    engine to another. ``note`` says when an engine read fewer lines than the others, its int8
    flag, and a quick run."""
    measured, _ = _engines(report)
    groups = groups or {}
    total = report.get("data", {}).get("lines")
    quick = report.get("settings", {}).get("quick")
    out = []
    for engine, r in measured.items():
        if engine in groups:
            g = groups[engine]
        elif engine in _CTC_ENGINES:
            g = group
        elif engine in _LM_ENGINES:
            g = "LM decoding"
        elif engine == "tesseract":
            m = re.search(r"Tesseract (\d+)", str(r.get("description", "")))
            g = f"Tesseract {m.group(1)}" if m else "Tesseract"
        elif engine in PEERS:
            g = PEERS[engine]
        else:
            g = group
        notes = []
        if total and r.get("lines") and r["lines"] != total:
            notes.append(f"measured on the first {r['lines']} of {total} lines")
        if r.get("flag"):
            notes.append(str(r["flag"]))
        if r.get("cer") is None:
            notes.append("timing only (no accuracy)")
        if quick:
            notes.append("quick run")
        out.append(
            {
                "name": f"{name_prefix}{engine}",
                "group": g,
                "cer": r.get("cer"),
                "accuracy": r.get("accuracy"),
                "lines_per_s_b32": r.get("lines_per_s_b32"),
                "latency_ms_b1_p50": r.get("latency_ms_b1_p50"),
                "note": "; ".join(notes) or None,
            }
        )
    return out
