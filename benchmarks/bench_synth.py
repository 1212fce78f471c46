"""Synthetic renderer throughput on one process.

    .venv/bin/python benchmarks/bench_synth.py [--n 2000] [--preset default] [--seed 0]

Renders samples 0..n-1 of the synthetic dataset a user gets from ``ocrlab data synth`` (the
wordfreq text source — lines and single words — and ``SynthConfig.preset(preset)``); prints / writes
benchmarks/results/synth.json. Font discovery and texture banks are built before the clock
starts (a one-off cost per process, reported separately); the glyph cache starts cold, so the
number includes its warm-up. Target: >= 500 lines/s per process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ocrlab.data.specs import synth_dataset
from ocrlab.data.textures import BANKS
from ocrlab.machine import machine_info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "synth.json"))
    args = ap.parse_args()

    t0 = time.perf_counter()
    dataset = synth_dataset(n=args.n, seed=args.seed, preset=args.preset)
    dataset.render(0)  # builds the text sources and the renderer
    renderer = dataset.renderer
    cfg = renderer.config
    for bank in BANKS:
        bank(cfg.texture_seed)
    setup_s = time.perf_counter() - t0

    times = np.empty(args.n)
    pixels = 0
    t_start = time.perf_counter()
    for i in range(args.n):
        t = time.perf_counter()
        r = dataset.render(i)
        times[i] = time.perf_counter() - t
        pixels += r.image.width * r.image.height
    total = time.perf_counter() - t_start
    half = args.n // 2
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info("pillow", "numpy"),
        "preset": args.preset,
        "n_lines": args.n,
        "n_fonts": len(renderer.fonts),
        "setup_s": round(setup_s, 2),
        "lines_per_s": round(args.n / total, 1),
        "lines_per_s_warm_second_half": round(half / times[half:].sum(), 1),
        "ms_per_line_p50": round(float(np.percentile(times, 50)) * 1e3, 3),
        "ms_per_line_p95": round(float(np.percentile(times, 95)) * 1e3, 3),
        "mean_image_pixels": round(pixels / args.n),
        "target_lines_per_s": 500,
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
