"""A study's statistics: every run's results collected, each configuration compared with the
baseline (paired bootstrap over seeds and lines, Holm's correction), the mechanism behind an
effect, and the report and figures written to the study folder."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import files
from ..stats import holm, mean_ci, paired_bootstrap
from .grid import (
    ALPHA,
    WARMUP,
    Grid,
    RunSpec,
    StudyError,
    expand_grid,
    load_grid,
    read_result,
    run_path,
)
from .report import format_report


def collect(out: Path, specs: Sequence[RunSpec]) -> dict[str, dict[int, dict[str, Any]]]:
    """{config: {seed: result}} for the finished runs among ``specs``."""
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for s in specs:
        res = read_result(run_path(out, s))
        if res is not None:
            runs.setdefault(s.config, {})[s.seed] = res
    return runs


def mechanism_summary(series: dict[str, list]) -> dict[str, Any] | None:
    """From one run's gradient diagnostics: the LM's share of the encoder update and the
    gradient ratio early (first quarter of the records) and late (last quarter), their cosine,
    and the step after which the LM share stays below ``max(0.01, 0.2 * early share)`` for at
    least the last ``max(2, records // 4)`` records — when the LM signal vanishes (None if it
    never does, or if it never rose above that threshold: ``never_above_threshold``)."""
    steps = [s for s, v in zip(series["step"], series["lm_share"], strict=True) if v is not None]
    share = [v for v in series["lm_share"] if v is not None]
    if len(share) < 2:
        return None
    ratio = [v for v in series["grad_ratio_lm_ctc"] if v is not None]
    cos = [v for v in series["grad_cosine"] if v is not None]
    q = max(1, len(share) // 4)
    early, late = float(np.mean(share[:q])), float(np.mean(share[-q:]))
    threshold = max(0.01, 0.2 * early)
    never = all(v < threshold for v in share)  # below 1% throughout: nothing to vanish
    vanish = None
    tail = max(2, q)  # one low last record is noise, not vanishing
    for i in range(len(share) - tail + 1):
        if not never and all(v < threshold for v in share[i:]):
            vanish = steps[i]
            break
    return {
        "never_above_threshold": never,
        "lm_share_early": early,
        "lm_share_late": late,
        "grad_ratio_early": float(np.mean(ratio[:q])) if ratio else None,
        "grad_ratio_late": float(np.mean(ratio[-q:])) if ratio else None,
        "cosine_mean": float(np.mean(cos)) if cos else None,
        "vanishes_at_step": vanish,
        "threshold": threshold,
        "records": len(share),
    }


def _metric_arrays(results: dict[int, dict[str, Any]], seeds: list[int], name: str, kind: str):
    """(S, N) errors and (N,) lengths of one set for ``seeds``: edit distances and reference
    lengths for CER, 1 - correct and ones for the line error rate."""
    rows, lengths = [], None
    for seed in seeds:
        s = results[seed]["sets"][name]
        if kind == "cer":
            rows.append(s["errors"])
            lengths = s["lengths"]
        else:
            rows.append([1 - c for c in s["correct"]])
            lengths = [1] * len(s["correct"])
    return np.asarray(rows, dtype=np.float64), np.asarray(lengths, dtype=np.float64)


def analyze(runs: dict[str, dict[int, dict[str, Any]]], grid: Grid) -> dict[str, Any]:
    """Means with CIs over seeds, paired comparisons against the baseline (Holm-corrected over
    the configurations, per set and metric), LM-decoding CER and the mechanism summaries."""
    set_names = sorted({n for r in runs.values() for res in r.values() for n in res["sets"]},
                       key=[s.name for s in grid.eval_sets].index)  # fmt: skip
    summary: dict[str, Any] = {}
    for config, by_seed in runs.items():
        seeds = sorted(by_seed)
        entry: dict[str, Any] = {"seeds": seeds, "sets": {}}
        for name in set_names:
            have = [s for s in seeds if name in by_seed[s]["sets"]]
            if not have:
                continue
            cer = [by_seed[s]["sets"][name]["cer"] for s in have]
            acc = [by_seed[s]["sets"][name]["accuracy"] for s in have]
            entry["sets"][name] = {
                "cer": {**mean_ci(cer).as_dict(), "values": cer},
                "accuracy": {**mean_ci(acc).as_dict(), "values": acc},
            }
        lm = [by_seed[s]["lm_decode"]["cer"] for s in seeds if by_seed[s].get("lm_decode")]
        entry["lm_decode_cer"] = {**mean_ci(lm).as_dict(), "values": lm} if lm else None
        mech = [mechanism_summary(by_seed[s]["series"]["grad"]) for s in seeds]
        mech = [m for m in mech if m is not None]
        if mech:
            keys = ("lm_share_early", "lm_share_late", "grad_ratio_early", "grad_ratio_late",
                    "cosine_mean")  # fmt: skip
            entry["mechanism"] = {
                k: mean_ci([m[k] for m in mech if m[k] is not None]).as_dict()
                for k in keys
                if any(m[k] is not None for m in mech)
            }
            entry["mechanism"]["vanishes_at_step"] = [m["vanishes_at_step"] for m in mech]
            entry["mechanism"]["never_above_threshold"] = [m["never_above_threshold"] for m in mech]
        else:
            entry["mechanism"] = None
        summary[config] = entry

    comparisons: dict[str, Any] = {}
    base = runs.get(grid.baseline, {})
    for name in set_names:
        for metric in ("cer", "accuracy"):
            rows = {}
            for config, by_seed in runs.items():
                if config == grid.baseline:
                    continue
                seeds = sorted(
                    s for s in by_seed if s in base and name in by_seed[s]["sets"]
                    and name in base[s]["sets"]
                )  # fmt: skip
                if not seeds:
                    continue
                a, lengths = _metric_arrays(by_seed, seeds, name, metric)
                b, _ = _metric_arrays(base, seeds, name, metric)
                d = paired_bootstrap(a, b, lengths, seed=len(rows))
                row = d.as_dict()
                if metric == "accuracy":  # errors were 1 - correct: flip to accuracy
                    row.update(diff=-d.diff, low=-d.high, high=-d.low,
                               per_seed=[-x for x in d.per_seed])  # fmt: skip
                row["seeds"] = seeds
                rows[config] = row
            adjusted = holm([r["p"] for r in rows.values()]) if rows else []
            for r, p_adj in zip(rows.values(), adjusted, strict=True):
                r["p_holm"] = p_adj
                r["verdict"] = _verdict(r, metric)
            comparisons.setdefault(name, {})[metric] = rows
    return {"summary": summary, "comparisons": comparisons, "sets": set_names}


def _verdict(row: dict[str, Any], metric: str) -> str:
    """better / worse (Holm-adjusted p < 0.05) or noise; lower CER and higher accuracy win."""
    if row["p_holm"] >= ALPHA:
        return "noise"
    good = row["diff"] < 0 if metric == "cer" else row["diff"] > 0
    return "better" if good else "worse"


def write_report(
    out: str | os.PathLike,
    *,
    grid: Grid | None = None,
    specs: Sequence[RunSpec] | None = None,
    figures: bool = True,
) -> dict[str, Any]:
    """Write ``results.json``, ``report.md`` and ``figures/`` from the finished runs in ``out``
    (reading ``out/grid.yaml`` when ``grid`` is not given). Returns the results."""
    out = Path(out)
    if grid is None:  # the grid file the study ran (its base path is relative to it)
        info = out / "study.json"
        if not info.is_file():
            raise StudyError(f"{out} holds no study.json: not a study folder")
        sessions = json.loads(info.read_text(encoding="utf-8")).get("sessions") or [{}]
        grid = load_grid(sessions[-1].get("grid") or out / "grid.yaml")
    if specs is None:
        specs = expand_grid(grid, seeds=_seeds_on_disk(out, grid))
    runs = collect(out, specs)
    if grid.baseline not in runs:
        raise StudyError(f"{out}: no finished run of the baseline {grid.baseline!r} yet")
    analysis = analyze(runs, grid)
    session = json.loads((out / "study.json").read_text()) if (out / "study.json").is_file() else {}
    first = next(iter(runs.values()))
    any_result = next(iter(first.values()))
    results = {
        "grid": grid.raw,
        "baseline": grid.baseline,
        "runs_finished": sum(len(v) for v in runs.values()),
        "runs_planned": len(specs),
        "skipped_sets": any_result.get("skipped_sets", {}),
        "steps": {c: sorted({r["steps"] for r in v.values()}) for c, v in runs.items()},
        "sessions": session.get("sessions", []),
        "warmup": read_result(run_path(out, WARMUP)) if grid.warmup is not None else None,
        **analysis,
    }
    files.write_json(out / "results.json", results, indent=1)
    (out / "report.md").write_text(format_report(results, runs), encoding="utf-8")
    if figures:
        write_figures(out, results, runs)
    return results


def _seeds_on_disk(out: Path, grid: Grid) -> int:
    found = {int(p.name[4:]) for p in (out / "runs").glob("*/seed*") if p.name[4:].isdigit()}
    return max(1, len(found | set(grid.seeds[:1])))


def write_figures(out: Path, results: dict[str, Any], runs) -> list[Path]:
    """The study's plotly figures as HTML (and PNG where kaleido and Chromium are present)."""
    # the viz extra (plotly)
    from ..viz.plotting import save_figure
    from ..viz.study import study_figures

    folder = out / "figures"
    folder.mkdir(exist_ok=True)
    written, png_error = [], None
    for name, fig in study_figures(results, runs).items():
        written.append(save_figure(fig, folder / f"{name}.html"))
        if png_error is None:
            try:
                written.append(save_figure(fig, folder / f"{name}.png"))
            except Exception as exc:  # PNG needs kaleido + Chromium
                png_error = f"PNG export skipped ({type(exc).__name__}: {exc}); the HTML is written"
                print(f"ocrlab study: {png_error}")
    return written
