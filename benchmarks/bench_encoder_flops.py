"""Encoder cost per preset: parameters, GFLOP per 32x128 and 32x512 line, CPU lines/s.

    .venv/bin/python benchmarks/bench_encoder_flops.py [--threads 2] [--out PATH]

GFLOP: ``ocrlab.models.encoder.count_flops`` (FlopCounterMode, a multiply-add = 2 FLOPs, batch 1).
Speed: eager PyTorch, ``torch.inference_mode``, eval mode, batch 32, random images, lines/s from
the median and the fastest timed batch after one warm-up. Writes
``benchmarks/results/encoder.json``. Under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from ocrlab.machine import machine_info
from ocrlab.models.encoder import PRESETS, Encoder, count_flops, encoder_preset

BATCH = 32


@torch.inference_mode()
def lines_per_second(encoder: Encoder, width: int, min_seconds: float = 2.0) -> dict[str, float]:
    """Lines/s from the median batch time, and from the fastest batch (less sensitive to
    other jobs on a shared machine)."""
    x = torch.rand(BATCH, 1, encoder.config.height, width)
    widths = torch.full((BATCH,), width)
    encoder(x, widths)  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < min_seconds and len(times) < 30):
        t0 = time.perf_counter()
        encoder(x, widths)
        times.append(time.perf_counter() - t0)
    return {
        "median": round(BATCH / statistics.median(times), 1),
        "best": round(BATCH / min(times), 1),
        "batches": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/encoder.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    results = {}
    for name in PRESETS:
        cfg = encoder_preset(name)
        encoder = Encoder(cfg).eval()
        row = {
            "config": cfg.__dict__,
            "params": sum(p.numel() for p in encoder.parameters()),
            "gflop_32x128": round(count_flops(encoder, 128), 4),
            "gflop_32x512": round(count_flops(encoder, 512), 4),
            "lines_per_s_32x128_batch32": lines_per_second(encoder, 128),
        }
        if name != "base":  # base at 512 px takes most of the minute on 2 cores
            row["lines_per_s_32x512_batch32"] = lines_per_second(encoder, 512)
        results[name] = row
        print(name, {k: v for k, v in row.items() if k != "config"}, flush=True)

    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info("torch"),
        "flops": "torch.utils.flop_counter.FlopCounterMode, multiply-add = 2 FLOPs, batch 1, "
        "+ the CPU LSTM kernel's matmuls (ocrlab.models.encoder.count_flops)",
        "speed": f"eager, inference_mode, eval, batch {BATCH} of equal widths; lines/s from the "
        "median and from the fastest batch",
        "presets": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
