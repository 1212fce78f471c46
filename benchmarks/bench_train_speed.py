"""Training throughput of a preset on this machine: lines/s with the CTC loss alone and with
CTC + the Q-Former/frozen-LM loss, on the same batches.

    .venv/bin/python benchmarks/bench_train_speed.py [--config configs/small.yaml] [--batches 12]

Batches are drawn the way training draws them (length-bucketed synthetic lines of the preset's
training mix, pre-rendered so rendering is not timed); each timed step is forward + backward +
AdamW step. Writes benchmarks/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from ocrlab.balancing import BalanceConfig, make_balancer
from ocrlab.machine import machine_info
from ocrlab.models import OCRModel
from ocrlab.run_config import load_run_config
from ocrlab.train import LengthBucketSampler, build_datasets, label_lengths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/small.yaml")
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_speed.json"))
    args = ap.parse_args()

    config = load_run_config(args.config)
    torch.set_num_threads(config.train.threads or torch.get_num_threads())
    torch.manual_seed(0)
    model = OCRModel(config.model)
    balancer = make_balancer(BalanceConfig())  # fixed weights 1 and 1, as in a training run
    train_set, _ = build_datasets(config, model.charset)
    sampler = LengthBucketSampler(
        label_lengths(train_set), config.data.batch_size, seed=0, bucket=True
    )
    from ocrlab.data.transforms import Collate

    collate = Collate(model.charset, "skip", transform=train_set.datasets[0].transform)
    batches = [collate([train_set[i] for i in b]) for b in sampler.batches(0)[: args.batches]]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def step(batch, with_lm: bool) -> float:
        t0 = time.perf_counter()
        out = model(
            batch.images,
            batch.widths,
            batch.targets,
            batch.target_lengths,
            batch.texts,
            compute_lm=with_lm,
        )
        loss = balancer.combine(out.ctc_loss, out.lm_loss, 1.0, 1.0, step=0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    step(batches[0], True)  # warm-up
    results = {}
    for name, with_lm in (("ctc", False), ("ctc_lm", True)):
        times = [step(b, with_lm) for b in batches]
        lines = sum(len(b) for b in batches)
        results[name] = {
            "lines_per_s": round(lines / sum(times), 1),
            "s_per_step_median": round(statistics.median(times), 3),
        }
    mean_width = statistics.mean(float(b.widths.float().mean()) for b in batches)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine_info("torch", "transformers"),
        "config": args.config,
        "batch_size": config.data.batch_size,
        "batches": args.batches,
        "mean_line_width_px": round(mean_width, 1),
        "training": results,
        "lm_slowdown": round(results["ctc"]["lines_per_s"] / results["ctc_lm"]["lines_per_s"], 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
