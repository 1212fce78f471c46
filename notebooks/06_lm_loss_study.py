# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Does the LM loss help? The study, its statistics and its mechanism
#
# Users saw "accuracy barely changes" with the LM loss and asked: lower the CTC weight? Raise
# the LM weight? Raise it mid-training? `ocrlab study` answers with one command: every weighting
# of a grid (`configs/study/lm_loss.yaml`: CTC alone, constant LM weights, a lowered CTC weight,
# step and ramp schedules, a two-stage switch, uncertainty weighting and GradNorm), every seed,
# the same step budget; each run scored with the **CTC path** (inference is CTC) on clean,
# degraded, rare-word and made-up-word lines and the real sets.
#
# This notebook reads a finished study (by default the committed one in
# `benchmarks/lm_loss_study`, made with the command in its `report.md`). In CI (`OCRLAB_QUICK=1`)
# it runs the tiny grid instead — a few steps of the tiny preset, which checks the machinery, not
# the science.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OCRLAB_QUICK", "0") == "1"  # CI: run configs/study/tiny.yaml
STUDY = None  # a study folder; None: the committed benchmarks/lm_loss_study
METRIC_SET = None  # the set for the per-set tables; None: the first

# %%
import json
from pathlib import Path

from IPython.display import Markdown, display

from ocrlab.study import collect, expand_grid, load_grid, run_study
from ocrlab.viz import study_figures

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
if QUICK:
    study_dir = ROOT / "runs" / "nb06-quick"
    grid_path = ROOT / "configs" / "study" / "tiny.yaml"
    os.chdir(ROOT)  # the grid's data and LM paths are relative to the repository
    results = run_study(grid_path, study_dir, seeds=2, only=["lm_1.0"], progress=False)
else:
    study_dir = Path(STUDY) if STUDY else ROOT / "benchmarks" / "lm_loss_study"
    results = json.loads((study_dir / "results.json").read_text())
    grid_path = ROOT / json.loads((study_dir / "study.json").read_text())["sessions"][-1]["grid"]
    os.chdir(ROOT)
grid = load_grid(grid_path)
runs = collect(study_dir, expand_grid(grid, seeds=len(results["summary"][grid.baseline]["seeds"])))
print(f"{results['runs_finished']} runs of {len(results['summary'])} configurations; "
      f"sets: {', '.join(results['sets'])}")
assert runs and all(runs.values()), "every configuration has a finished run"

# %% [markdown]
# ## The answers
#
# Generated from the numbers below: a configuration counts as better or worse than the baseline
# only when the paired bootstrap over test lines (pooled over seeds, Holm-corrected over the
# configurations) puts the difference beyond test-set noise.

# %%
report = (study_dir / "report.md").read_text()
answers = report.split("## Answers", 1)[1].split("## How to read", 1)[0]
display(Markdown(answers))

# %% [markdown]
# ## Scores with confidence intervals
#
# Mean over seeds (dot), its 95% t-interval (bar), and each seed (tick). The last panel is the
# LM-decoding path: text read back from the queries through the frozen LM. If it stays far above
# the CTC path's CER, the queries do not carry the text.

# %%
figures = study_figures(results, runs)
figures["cer"]

# %% [markdown]
# ## Differences from CTC alone
#
# Each configuration minus the baseline, with the paired bootstrap's 95% interval; green: better
# beyond noise, red: worse, grey: noise.

# %%
figures["delta_cer"]

# %%
name = METRIC_SET or results["sets"][0]
rows = results["comparisons"][name]["cer"]
table = ["| configuration | Δ CER (points) | 95% CI | p (Holm) | verdict | per seed |",
         "|---|---|---|---|---|---|"]
for config, r in rows.items():
    table.append(
        f"| {config} | {100 * r['diff']:+.2f} | [{100 * r['low']:+.2f}, {100 * r['high']:+.2f}] "
        f"| {r['p_holm']:.3f} | {r['verdict']} | "
        + ", ".join(f"{100 * x:+.2f}" for x in r["per_seed"]) + " |"
    )
display(Markdown(f"**Set `{name}`**\n\n" + "\n".join(table)))

# %% [markdown]
# ## Mechanism: does the LM signal reach the encoder, and does it vanish?
#
# Every few steps each run measured, on the encoder's weights, the gradient norm of each loss,
# their ratio and cosine, and the LM's effective share of the update,
# `<w_lm g_lm, g> / |g|^2`. A share that falls towards 0 means the LM loss has stopped
# shaping the encoder, whatever its weight says.

# %%
figures["mechanism"]

# %% [markdown]
# ## The weights each configuration trained with
#
# Schedules as written, and what uncertainty weighting (learned log-variances) and GradNorm
# (equalized gradient norms on the encoder's projection) chose over training.

# %%
figures["weights"]

# %%
figures["curves"]

# %% [markdown]
# ## The full report
#
# `report.md` beside the results holds every table (per set: CER and accuracy with intervals,
# differences, p-values, verdicts; the LM-decoding CER; the mechanism summary per
# configuration). Rebuild it from the runs with `ocrlab study --grid GRID --out DIR
# --report-only`.

# %%
display(Markdown(report.split("## How to read", 1)[1].split("## Set", 1)[0]))
