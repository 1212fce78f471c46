"""A study's ``report.md``: the tables and the plain-language answers, from ``results.json``."""

from __future__ import annotations

from typing import Any

import numpy as np


def _pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}"


def _ci(entry: dict[str, Any], digits: int = 2) -> str:
    if entry["n"] == 1:
        return f"{_pct(entry['mean'], digits)}"
    return f"{_pct(entry['mean'], digits)} [{_pct(entry['low'], digits)}, {_pct(entry['high'], digits)}]"


def format_report(results: dict[str, Any], runs) -> str:
    """The study as Markdown: the answers first, then every table they come from."""
    base = results["baseline"]
    summary, comps, sets = results["summary"], results["comparisons"], results["sets"]
    configs = list(summary)
    lines = ["# LM-loss study", ""]
    sess = results["sessions"][-1] if results["sessions"] else {}
    if sess.get("command"):
        lines += [f"Command: `{sess['command']}`", ""]
    m = sess.get("machine") or {}
    if m:
        lines += [
            f"Machine: {m.get('cpu')}, {m.get('cpu_count')} cores, torch {m.get('torch')}, "
            f"Python {m.get('python')}.",
            "",
        ]
    steps = sorted({s for v in results["steps"].values() for s in v})
    lines += [
        f"Runs: {results['runs_finished']} of {results['runs_planned']} finished; "
        f"{', '.join(map(str, steps))} optimizer steps each. Baseline: `{base}`. "
        "Inference is the CTC path in every row except *LM decoding*.",
        "",
    ]
    warm = results.get("warmup")
    if warm:
        cer = (warm.get("last_val") or {}).get("cer")
        lines += [
            f"Every run starts from one shared warm start (the grid's `warmup`: "
            f"{warm['steps']} steps, validation CER {_pct(cer)}%), so each configuration is "
            "the second stage of a two-stage run.",
            "",
        ]
    for name, why in results.get("skipped_sets", {}).items():
        lines.append(f"- Set `{name}` skipped: {why}")
    lines += ["", "## Answers", ""]
    lines += _answers(results)
    lines += [
        "",
        "## How to read the tables",
        "",
        "- CER and accuracy in %, mean over seeds with a 95% t-interval over seeds (with 3 seeds "
        "the t-interval is wide: 4.30 standard errors).",
        "- Δ: configuration minus baseline, pooled over seeds on the same test lines; its 95% CI "
        "and p-value come from a paired bootstrap over test lines (2000 resamples); p (Holm) is "
        "corrected over the configurations compared on that set. *better*/*worse*: Holm-adjusted "
        "p < 0.05; *noise*: the difference cannot be told from test-set sampling noise. "
        "'seeds agree': every seed's difference has the verdict's sign.",
        "",
    ]
    for name in sets:
        lines += [f"## Set `{name}`", ""]
        lines += [
            "| configuration | CER % | Δ CER (points) [95% CI] | p (Holm) | verdict | accuracy % "
            "| Δ accuracy [95% CI] | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in configs:
            e = summary[c]["sets"].get(name)
            if e is None:
                continue
            rc = comps.get(name, {}).get("cer", {}).get(c)
            ra = comps.get(name, {}).get("accuracy", {}).get(c)
            lines.append(
                f"| `{c}` | {_ci(e['cer'])} | {_delta(rc)} | {_p(rc)} | {_verd(rc)} "
                f"| {_ci(e['accuracy'], 1)} | {_delta(ra, 1)} | {_verd(ra)} |"
            )
        lines.append("")
    lines += ["## LM decoding (does the Q-Former carry the text?)", ""]
    lines += ["| configuration | LM-decoding CER % | CTC CER % on the same set |", "|---|---|---|"]
    for c in configs:
        lm = summary[c].get("lm_decode_cer")
        first = next(iter(runs[c].values())).get("lm_decode")
        ctc = summary[c]["sets"].get(first["set"]) if first else None
        lines.append(
            f"| `{c}` | {_ci(lm) if lm else 'no LM branch run'} "
            f"| {_ci(ctc['cer']) if ctc else '—'} |"
        )
    lines += ["", "## Mechanism: the LM gradient on the encoder", ""]
    lines += [
        "LM share = the LM's share of the encoder's update, `<w_lm g_lm, g> / |g|^2`; ratio = "
        "|g_lm| / |g_ctc| of the unweighted losses; early/late = first/last quarter of the "
        "diagnostics of a run; vanishes = the step after which the share stays below "
        "max(1%, 0.2 × early), per seed ('never': it stays above; '<1%': it never rose above "
        "1%).",
        "",
        "| configuration | LM share early % | LM share late % | ratio early | ratio late "
        "| cosine | vanishes at step |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in configs:
        mech = summary[c].get("mechanism")
        if not mech:
            lines.append(f"| `{c}` | — | — | — | — | — | no LM loss |")
            continue
        g = lambda k, f, m=mech: f(m[k]["mean"]) if k in m else "—"  # noqa: E731
        lines.append(
            f"| `{c}` | {g('lm_share_early', _pct)} | {g('lm_share_late', _pct)} "
            f"| {g('grad_ratio_early', lambda x: f'{x:.3f}')} "
            f"| {g('grad_ratio_late', lambda x: f'{x:.3f}')} "
            f"| {g('cosine_mean', lambda x: f'{x:+.3f}')} | {_vanish_cells(mech)} |"
        )
    lines += ["", "Figures: `figures/*.png`, and interactive `figures/*.html` where written.", ""]
    return "\n".join(lines)


def _vanish_cells(mech: dict[str, Any]) -> str:
    """Per seed: the step the LM share vanished at, 'never' (it stayed), or '<1%' (it never
    rose above 1% of the update)."""
    never = mech.get("never_above_threshold") or [False] * len(mech["vanishes_at_step"])
    cells = [
        "<1%" if n else ("never" if v is None else str(v))
        for v, n in zip(mech["vanishes_at_step"], never, strict=True)
    ]
    return ", ".join(cells)


def _delta(row: dict[str, Any] | None, digits: int = 2) -> str:
    if row is None:
        return "baseline"
    return f"{100 * row['diff']:+.{digits}f} [{100 * row['low']:+.{digits}f}, {100 * row['high']:+.{digits}f}]"


def _p(row: dict[str, Any] | None) -> str:
    return "—" if row is None else f"{row['p_holm']:.3f}"


def _verd(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    v = row["verdict"]
    if v == "noise":
        return "noise"
    agree = all((x < 0) == (row["diff"] < 0) and x != 0 for x in row["per_seed"])
    return f"**{v}**" + (", seeds agree" if agree else ", seeds disagree")


def _answers(results: dict[str, Any]) -> list[str]:
    """Plain sentences generated from the numbers: effect per set, best configuration, whether
    the LM gradient vanishes."""
    base = results["baseline"]
    summary, comps = results["summary"], results["comparisons"]
    out = ["**Does the LM loss help the CTC path?**", ""]
    for name in results["sets"]:
        rows = comps.get(name, {}).get("cer", {})
        better = [c for c, r in rows.items() if r["verdict"] == "better"]
        worse = [c for c, r in rows.items() if r["verdict"] == "worse"]
        base_cer = summary[base]["sets"][name]["cer"]["mean"]
        best = min(summary, key=lambda c: summary[c]["sets"].get(name, {}).get("cer", {}).get(
            "mean", float("inf")))  # fmt: skip
        best_cer = summary[best]["sets"][name]["cer"]["mean"]
        text = f"- `{name}` (baseline CER {_pct(base_cer)}%): "
        if better:
            text += "lower CER than the baseline beyond noise for " + ", ".join(
                f"`{c}` ({100 * rows[c]['diff']:+.2f} points, p={rows[c]['p_holm']:.3f})"
                for c in better
            )
            text += "; "
        if worse:
            text += "higher CER beyond noise for " + ", ".join(
                f"`{c}` ({100 * rows[c]['diff']:+.2f} points, p={rows[c]['p_holm']:.3f})"
                for c in worse
            )
            text += "; "
        if not better and not worse:
            text += "no configuration differs from the baseline beyond noise; "
        text += f"lowest mean CER: `{best}` ({_pct(best_cer)}%)."
        out.append(text)
    ranks: dict[str, list[int]] = {c: [] for c in summary}
    for name in results["sets"]:
        have = [c for c in summary if name in summary[c]["sets"]]
        order = sorted(have, key=lambda c: summary[c]["sets"][name]["cer"]["mean"])
        for r, c in enumerate(order, start=1):
            ranks[c].append(r)
    mean_rank = {c: float(np.mean(r)) for c, r in ranks.items() if r}
    if mean_rank:
        ordered = sorted(mean_rank, key=mean_rank.get)
        out += [
            "",
            "**Which weighting is best?** Mean rank of the mean CER over the sets (1 = lowest "
            "CER on every set): "
            + ", ".join(f"`{c}` {mean_rank[c]:.1f}" for c in ordered)
            + ". A rank is not a significance test: only the verdicts above are.",
        ]
    out += ["", "**Is the LM gradient vanishing relative to CTC's?**", ""]
    any_mech = False
    for c, e in summary.items():
        mech = e.get("mechanism")
        if not mech or "lm_share_early" not in mech:
            continue
        any_mech = True
        vanish = [v for v in mech["vanishes_at_step"] if v is not None]
        n = len(mech["vanishes_at_step"])
        never = sum(mech.get("never_above_threshold", []))
        if never == n:
            when = "it never reaches 1% of the update in any seed: negligible from the start"
        elif vanish:
            when = (
                f"vanishes (share below threshold for good) in {len(vanish)}/{n} seeds, "
                f"from step {int(np.median(vanish))} (median)"
            )
        else:
            when = "does not vanish in any seed"
            if never:
                when += f" (in {never}/{n} it never rose above 1%)"
        cos = mech.get("cosine_mean")
        if cos is not None:
            when += f"; cosine with CTC's gradient {cos['mean']:+.2f}"
        ratio = mech.get("grad_ratio_late")
        if ratio is not None:
            when += f"; |g_lm|/|g_ctc| late {ratio['mean']:.2f}"
        out.append(
            f"- `{c}`: LM share {_pct(mech['lm_share_early']['mean'], 1)}% early → "
            f"{_pct(mech['lm_share_late']['mean'], 1)}% late; {when}."
        )
    if not any_mech:
        out.append("- No run computed the LM loss with gradient diagnostics.")
    return out
