"""Figures of a study (:mod:`ocrlab.study`): scores with confidence intervals, differences from
the baseline, the LM gradient's share over training, the loss weights each configuration used,
and validation curves. Each function takes ``results`` (``results.json``) and ``runs``
(``{config: {seed: result}}``, :func:`ocrlab.study.collect`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .plotting import make_subplots, plotly_go

_VERDICT_COLORS = {"better": "#2a9d55", "worse": "#d1495b", "noise": "#8d99ae"}


def _mean_series(runs_of_config: dict[int, dict[str, Any]], part: str, key: str):
    """Steps and the mean over seeds of ``series[part][key]`` (None values dropped)."""
    curves = []
    for res in runs_of_config.values():
        s = res["series"][part]
        pairs = [(st, v) for st, v in zip(s["step"], s[key], strict=True) if v is not None]
        if pairs:
            curves.append(dict(pairs))
    if not curves:
        return [], []
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    return steps, [float(np.mean([c[st] for c in curves])) for st in steps]


def study_scores_figure(results: dict[str, Any], metric: str = "cer"):
    """One panel per evaluation set: each configuration's mean (dot) and 95% CI over seeds
    (bar), with the seeds' own values as small marks; LM-decoding CER as a last panel."""
    go = plotly_go()

    summary, sets = results["summary"], list(results["sets"])
    panels = sets + (["LM decoding"] if metric == "cer" else [])
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, shared_yaxes=True)
    configs = list(summary)
    for j, name in enumerate(panels, start=1):
        xs, ys, lo, hi, vals = [], [], [], [], []
        for c in configs:
            e = summary[c].get("lm_decode_cer") if name == "LM decoding" else (
                summary[c]["sets"].get(name, {}).get(metric)
            )  # fmt: skip
            if not e:
                continue
            xs.append(100 * e["mean"])
            ys.append(c)
            lo.append(100 * (e["mean"] - e["low"]))
            hi.append(100 * (e["high"] - e["mean"]))
            vals.append(e["values"])
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="markers", marker=dict(size=9, color="#1d3557"),
                error_x=dict(type="data", array=hi, arrayminus=lo, thickness=1.5),
                name="mean, 95% CI", showlegend=j == 1,
                hovertemplate="%{y}: %{x:.2f}%<extra></extra>",
            ),
            row=1, col=j,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[100 * v for vs in vals for v in vs],
                y=[c for c, vs in zip(ys, vals, strict=True) for _ in vs],
                mode="markers", marker=dict(size=5, color="#e76f51", symbol="line-ns-open"),
                name="seeds", showlegend=j == 1, hovertemplate="%{y}: %{x:.2f}%<extra>seed</extra>",
            ),
            row=1, col=j,
        )  # fmt: skip
        fig.update_xaxes(title_text=f"{'CER' if metric == 'cer' else 'accuracy'} %", row=1, col=j)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=f"{metric.upper() if metric == 'cer' else 'Accuracy'} by configuration "
        "(CTC path; mean and 95% CI over seeds)",
        height=120 + 32 * len(configs), width=max(700, 260 * len(panels)),
        template="plotly_white", legend=dict(orientation="h", y=-0.15),
    )  # fmt: skip
    return fig


def study_delta_figure(results: dict[str, Any], metric: str = "cer"):
    """Forest plot: each configuration's difference from the baseline per set, with the paired
    bootstrap 95% CI, colored by verdict (better / worse / noise after Holm's correction)."""
    go = plotly_go()

    sets = list(results["sets"])
    fig = make_subplots(rows=1, cols=len(sets), subplot_titles=sets, shared_yaxes=True)
    for j, name in enumerate(sets, start=1):
        rows = results["comparisons"].get(name, {}).get(metric, {})
        for verdict, color in _VERDICT_COLORS.items():
            sel = [(c, r) for c, r in rows.items() if r["verdict"] == verdict]
            fig.add_trace(
                go.Scatter(
                    x=[100 * r["diff"] for _, r in sel], y=[c for c, _ in sel], mode="markers",
                    marker=dict(size=9, color=color), name=verdict, legendgroup=verdict,
                    showlegend=j == 1,
                    error_x=dict(type="data", array=[100 * (r["high"] - r["diff"]) for _, r in sel],
                                 arrayminus=[100 * (r["diff"] - r["low"]) for _, r in sel]),
                    customdata=[[r["p_holm"]] for _, r in sel],
                    hovertemplate="%{y}: %{x:+.2f} points, p (Holm) %{customdata[0]:.3f}"
                    "<extra></extra>",
                ),
                row=1, col=j,
            )  # fmt: skip
        fig.add_vline(x=0, line=dict(color="black", width=1, dash="dot"), row=1, col=j)
        fig.update_xaxes(title_text=f"Δ {metric} (points)", row=1, col=j)
    fig.update_yaxes(autorange="reversed")
    n = len(results["summary"])
    fig.update_layout(
        title=f"Difference from `{results['baseline']}` "
        f"({'lower is better' if metric == 'cer' else 'higher is better'}; paired bootstrap 95% CI)",
        height=140 + 32 * n, width=max(700, 260 * len(sets)), template="plotly_white",
        legend=dict(orientation="h", y=-0.2),
    )  # fmt: skip
    return fig


def study_mechanism_figure(runs: dict[str, dict[int, dict[str, Any]]]):
    """Over training, per configuration (mean over seeds): the LM's share of the encoder's
    update, the gradient-norm ratio |g_lm|/|g_ctc| and their cosine."""
    go = plotly_go()

    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
        subplot_titles=("LM share of the encoder update", "|g_lm| / |g_ctc| (unweighted)",
                        "cosine(g_lm, g_ctc)"),
    )  # fmt: skip
    for i, (config, by_seed) in enumerate(runs.items()):
        color = _palette(i)
        for row, key in enumerate(("lm_share", "grad_ratio_lm_ctc", "grad_cosine"), start=1):
            steps, values = _mean_series(by_seed, "grad", key)
            if steps:
                fig.add_trace(
                    go.Scatter(x=steps, y=values, mode="lines+markers", name=config,
                               legendgroup=config, showlegend=row == 1,
                               line=dict(color=color), marker=dict(size=4)),
                    row=row, col=1,
                )  # fmt: skip
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_yaxes(type="log", row=2, col=1)
    fig.update_xaxes(title_text="step", row=3, col=1)
    fig.update_layout(
        title="Does the LM signal vanish? (gradient diagnostics, mean over seeds)",
        height=750,
        width=900,
        template="plotly_white",
    )
    return fig


def study_weights_figure(runs: dict[str, dict[int, dict[str, Any]]]):
    """The effective CTC and LM weights each configuration trained with (schedules, and what
    uncertainty weighting and GradNorm chose), mean over seeds."""
    go = plotly_go()

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=("w_ctc", "w_lm"))
    for i, (config, by_seed) in enumerate(runs.items()):
        color = _palette(i)
        for row, key in enumerate(("w_ctc", "w_lm"), start=1):
            steps, values = _mean_series(by_seed, "weights", key)
            if steps:
                fig.add_trace(
                    go.Scatter(x=steps, y=values, mode="lines", name=config, legendgroup=config,
                               showlegend=row == 1, line=dict(color=color)),
                    row=row, col=1,
                )  # fmt: skip
    fig.update_xaxes(title_text="step", row=2, col=1)
    fig.update_layout(title="Loss weights over training", height=600, width=900,
                      template="plotly_white")  # fmt: skip
    return fig


def study_curves_figure(runs: dict[str, dict[int, dict[str, Any]]]):
    """Validation CER over training per configuration (mean over seeds) and the CTC loss."""
    go = plotly_go()

    fig = make_subplots(rows=1, cols=2, subplot_titles=("validation CER", "training CTC loss"))
    for i, (config, by_seed) in enumerate(runs.items()):
        color = _palette(i)
        for col, (part, key) in enumerate((("val", "cer"), ("weights", "ctc_loss")), start=1):
            steps, values = _mean_series(by_seed, part, key)
            if steps:
                fig.add_trace(
                    go.Scatter(x=steps, y=values, mode="lines", name=config, legendgroup=config,
                               showlegend=col == 1, line=dict(color=color)),
                    row=1, col=col,
                )  # fmt: skip
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_xaxes(title_text="step")
    fig.update_layout(title="Training curves (mean over seeds)", height=450, width=1000,
                      template="plotly_white")  # fmt: skip
    return fig


def study_figures(results: dict[str, Any], runs) -> dict[str, Any]:
    """Every figure of a study by file name (what :func:`ocrlab.study.write_report` saves)."""
    return {
        "cer": study_scores_figure(results, "cer"),
        "accuracy": study_scores_figure(results, "accuracy"),
        "delta_cer": study_delta_figure(results, "cer"),
        "mechanism": study_mechanism_figure(runs),
        "weights": study_weights_figure(runs),
        "curves": study_curves_figure(runs),
    }


def _palette(i: int) -> str:
    import plotly.express as px  # the viz extra, imported when drawn (as plotting.plotly_go)

    colors = px.colors.qualitative.Dark24
    return colors[i % len(colors)]
