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
# # 05 · Speed and real time: fast enough? is 2x faster enough? what does Python cost?
#
# Three questions, answered from measurements rather than impressions:
#
# 1. **Is the model fast enough for real time?** Real time means a frame budget: at 30 fps a
#    frame lasts 33.3 ms, and every line visible in that frame must be read within it. The
#    answer depends on how many lines a frame holds and whether they can be batched.
# 2. **Is "2x faster" meaningful?** A speedup only matters where it crosses the budget. An engine
#    that already reads the frame's lines in half the budget gains nothing visible from 2x; one
#    that needs 5x the budget is still too slow after 2x. "2x" decides the outcome only where the
#    speedup needed lies between 1 and 2.
# 3. **How much slower are the Python parts than C?** Reading a line is PNG decoding (C),
#    preprocessing (Pillow's C code and torch), the forward pass (PyTorch's C++ kernels) and CTC
#    decoding, the only part ocrlab writes in Python. `benchmarks/python_vs_c` times that part in
#    pure Python, NumPy, torch and C, and puts it next to the rest of the pipeline.
#
# All numbers come from `ocrlab bench` (`ocrlab.bench.run_bench`): every engine reads the same
# decoded images, and the timings include preprocessing, padding, the forward pass and decoding.
# The full run is `ocrlab bench CHECKPOINT --data IIIT5K --out benchmarks/results/...json`; with
# `OCRLAB_QUICK=1` this notebook measures a tiny model live instead (its numbers show how the
# figures read, not how fast the shipped model is).

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OCRLAB_QUICK", "0") == "1"  # CI: a tiny model, measured live
BENCH_JSON = "benchmarks/results/bench_iiit5k.json"  # the committed full run (not QUICK)
PYTHON_VS_C_JSON = "benchmarks/results/python_vs_c.json"
FRONTIER_JSON = "benchmarks/frontier/frontier.json"
BUDGET_MS = None  # None: the report's frame budget (33.3 ms = 30 fps); e.g. 16.7 for 60 fps

# %%
import json
from pathlib import Path

from IPython.display import display

from ocrlab.bench import BenchSettings, format_report, realtime_table, run_bench
from ocrlab.run_config import load_run_config
from ocrlab.train import train
from ocrlab.viz import (
    frontier_figure,
    frontier_points_from_bench,
    latency_figure,
    python_vs_c_figure,
    realtime_figure,
    throughput_figure,
)

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()


def load_json(relative):
    """The parsed JSON file under the repository root, or None when it is not there."""
    path = ROOT / relative
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


if QUICK:
    run_dir = ROOT / "runs" / "nb05-quick"
    config = load_run_config(ROOT / "configs" / "tiny.yaml", [
        "model.qformer.enabled=false", "train.max_steps=12", "train.eval_every=100"])
    if not (run_dir / "checkpoints" / "last").exists():
        train(config, run_dir, progress=False)
    # fewer lines and repeats than --quick: the figures need every number, not precise ones
    settings = BenchSettings.preset(
        quick=True, lines=48, latency_lines=12, repeats=1, matmul_sizes=(256,))
    report = run_bench(run_dir / "checkpoints" / "last", quick=True,
                       engines=["torch_ctc", "onnx_ctc"], settings=settings,
                       command="notebooks/05_speed_realtime.py (OCRLAB_QUICK=1)")
    group = "ocrlab tiny (QUICK, 12 steps)"
else:
    report = load_json(BENCH_JSON)
    if report is None:
        raise FileNotFoundError(
            f"{BENCH_JSON} is missing: run `ocrlab bench models/ocrlab-small-v6 --data ... "
            f"--out {BENCH_JSON}` first, or set OCRLAB_QUICK=1 to measure a tiny model live")
    group = "ocrlab " + Path(report["checkpoint"]).name.removeprefix("ocrlab-")
if BUDGET_MS is not None:  # the real-time table for another frame rate, from the same numbers
    report = {**report, "realtime": realtime_table(
        report["engines"], BUDGET_MS, batch_sizes=report["settings"]["batch_sizes"])}
print(format_report(report))
assert report["engines"] and "torch_ctc" in report["realtime"]["engines"]

# %% [markdown]
# ## Throughput: what batching buys
#
# Lines per second at batch 1 (one image per call, from the median latency) and at batches of 8,
# 32 and 128 lines sorted by width. The dotted line is one line per frame: below it an engine
# cannot even keep up with a single line at the frame rate.

# %%
throughput_figure(report)

# %% [markdown]
# ## Latency against the frame budget
#
# One image per call: what a line costs when it has to be read on its own, as soon as it
# appears. p95 shows the jitter a real-time loop has to absorb; a bar above the dashed line
# cannot fit even one line in a frame.

# %%
latency_figure(report)

# %% [markdown]
# ## Real time: lines per frame, and whether 2x faster is enough
#
# Left: how many lines each engine reads within one frame, one after another and at the batched
# rate. Right: the speedup each engine would need to read N lines per frame (the time for N
# lines divided by the budget, N lines read at the rate of the largest batch that fits in N; N
# below the smallest batch size are read one by one, so the N that fit need not be a range).
# Below 1 it fits now, and a faster engine only adds headroom; in the green band between 1 and 2
# a 2x speedup is exactly what makes it fit; above the dashed 2x line, 2x is not enough and the
# question becomes a different model, fewer lines per frame, or a lower frame rate.

# %%
realtime_figure(report)

# %%
for name, row in report["realtime"]["engines"].items():
    cells = row["speedup_needed"]
    now = [int(n) for n, c in cells.items() if c["fits"]]
    with_2x = [int(n) for n, c in cells.items() if c["fits_with_2x"] and not c["fits"]]
    print(f"{name:18s} fits now for N in {str(now or 'none'):<18}  "
          f"2x makes the difference for N in {with_2x or 'none'}")

# %% [markdown]
# ## One frame budget, every engine: ocrlab against what users would pick instead
#
# The seminar's question about "a little faster than an existing method" needs the existing
# methods next to ocrlab on the same crops and the same two cores: Tesseract 5 (one process
# per core, one OpenMP thread each, as its users run it for throughput), PP-OCRv4 (RapidOCR's
# ONNX recognizer with its own preprocessing and batching) and EasyOCR (when it can run here; an
# engine that cannot is listed with its reason). Per engine: word accuracy, and how many crops
# it reads within one frame, one at a time and at its batched rate.

# %%
rt = report["realtime"]
rows = []
for name, r in report["engines"].items():
    if r.get("skipped"):
        print(f"{name}: not measured: {r['skipped']}")
        continue
    frame = rt["engines"].get(name)
    if frame is None or r.get("accuracy") is None:
        continue
    rows.append((name, r["accuracy"], r["lines_per_s_b32"], frame["lines_per_frame_b1"],
                 frame["lines_per_frame_b32"], r.get("threads")))
rows.sort(key=lambda row: -row[1])
print(f"{'engine':18s} {'word acc.':>9s} {'crops/s':>8s} {'per frame, 1 by 1':>18s} "
      f"{'per frame, batched':>19s}  threads")
for name, acc, rate, b1, b32, threads in rows:
    print(f"{name:18s} {100 * acc:8.1f}% {rate:8.0f} {b1:18d} {b32:19d}  {threads}")
assert rows, "the report has no engine with both an accuracy and a speed"

# %% [markdown]
# Reading the table: the most accurate engine that still reads the frame's crops within the
# budget wins; a faster but less accurate engine wins only where the slower one does not fit.
# A speedup of 2x changes the answer only for an engine whose "speedup needed" lies between 1
# and 2 for the number of crops a frame holds (the real-time figure above).

# %% [markdown]
# ## How much slower is Python than C?
#
# CTC decoding on the same logits, in pure Python, NumPy, torch (the library's decoder) and C,
# as a multiple of the C variant's time (log scale), then the whole pipeline split by stage:
# the ratio only matters as much as the stage's share of the time to read a line.

# %%
python_vs_c = load_json(PYTHON_VS_C_JSON)
if python_vs_c is None:
    print(f"{PYTHON_VS_C_JSON} does not exist yet: run "
          "`python benchmarks/python_vs_c/bench_python_vs_c.py` to draw this figure")
else:
    display(python_vs_c_figure(python_vs_c))

# %% [markdown]
# ## Speed against accuracy
#
# Each point is a model read by one engine; the points of one model are joined. Engines
# measured without an accuracy (the GPT-2-sized LM with random weights is timing only) sit on
# the "speed only" strip instead of at zero error.

# %%
points = frontier_points_from_bench(report, group)
frontier = load_json(FRONTIER_JSON)
if frontier is None:
    print(f"{FRONTIER_JSON} does not exist yet: only this report's engines are drawn")
elif QUICK:
    points = frontier["points"] + points
else:
    points = frontier["points"]
frontier_figure(points)
