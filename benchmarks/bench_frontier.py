"""The speed/accuracy frontier: CER (and word accuracy) against lines/s and latency, for every
model given, with Tesseract and the LM-decoding path on the same chart — all measured in this
one run, on the same images, by ``ocrlab.bench.run_bench``.

    .venv/bin/python benchmarks/bench_frontier.py \\
        --model small-v5=models/ocrlab-small-v5 \\
        --speed-only tiny=configs/tiny.yaml --speed-only base=configs/base.yaml \\
        --data ../shared/data/iiit5k_test_cs/labels_alnum_lower.tsv --lines 1000

``--model NAME=CHECKPOINT``: a trained checkpoint, measured with the CTC engines (PyTorch,
ONNX Runtime fp32 and int8); the first one also brings the references: Tesseract, the
LM-decoding path, and the recognizers users would pick instead, PP-OCRv4 (RapidOCR) and EasyOCR
(``ocrlab.peers``; a peer that cannot run here is listed under ``reports.<model>.engines`` with
the reason it was skipped).
``--speed-only NAME=PRESET``: a preset built with random weights. Its speed is what the trained
model's would be (same graph, same shapes) but its accuracy would mean nothing, so it is drawn
on the figure's "speed only" strip, never at an accuracy it does not have.

Writes ``OUT/frontier.json`` (the points, the command, the machine, each bench report's
summary) and ``OUT/frontier_cer.html``, ``frontier_accuracy.html``, ``frontier_latency.html``
(+ ``.png`` where kaleido and Chromium are present).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CTC_ENGINES = ["torch_ctc", "onnx_ctc", "onnx_ctc_int8"]
REFERENCE_ENGINES = ["tesseract", "lm_generate", "ppocr_v4", "easyocr"]


def _pair(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    from ocrlab.bench import BenchSettings, run_bench
    from ocrlab.machine import machine_info
    from ocrlab.models import OCRModel
    from ocrlab.run_config import load_run_config
    from ocrlab.viz.plotting import save_figure
    from ocrlab.viz.speed import frontier_figure, frontier_points_from_bench

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=_pair, action="append", default=[], metavar="NAME=CKPT")
    parser.add_argument("--speed-only", type=_pair, action="append", default=[],
                        metavar="NAME=PRESET")  # fmt: skip
    parser.add_argument("--data", default="../shared/data/iiit5k_test_cs/labels_alnum_lower.tsv")
    parser.add_argument("--protocol", default="alnum36", choices=["exact", "alnum36"])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-reference", action="store_true",
                        help="skip Tesseract, the LM-decoding path and the peers")  # fmt: skip
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "frontier"))
    args = parser.parse_args(argv)
    if not args.model and not args.speed_only:
        parser.error("give at least one --model or --speed-only")

    settings = BenchSettings.preset(
        False, lines=args.lines, repeats=args.repeats, threads=args.threads,
        protocol=args.protocol,
    )  # fmt: skip
    command = "python benchmarks/bench_frontier.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    points, reports = [], {}
    t0 = time.time()
    for i, (name, ckpt) in enumerate(args.model):
        engines = list(CTC_ENGINES)
        if i == 0 and not args.no_reference:
            engines += REFERENCE_ENGINES
        print(f"== {name}: {ckpt} ({', '.join(engines)})", flush=True)
        report = run_bench(ckpt, data=args.data, engines=engines, settings=settings,
                           command=command, progress=True)  # fmt: skip
        reports[name] = report
        for p in frontier_points_from_bench(report, group=f"ocrlab {name}", name_prefix=f"{name} "):
            if p["group"] != f"ocrlab {name}":  # the references are not this model's
                p["name"] = p["name"].removeprefix(f"{name} ")
            points.append(p)
    for name, preset in args.speed_only:
        print(f"== {name}: {preset}, random weights (speed only)", flush=True)
        config = load_run_config(preset, ["model.qformer.enabled=false"])
        model = OCRModel(config.model)
        report = run_bench(model, data=args.data, engines=["torch_ctc"], settings=settings,
                           command=command, progress=True)  # fmt: skip
        reports[name] = report
        for p in frontier_points_from_bench(report, group=f"ocrlab {name}", name_prefix=f"{name} "):
            p.update(cer=None, accuracy=None,
                     note=f"untrained {preset} (random weights): speed only")  # fmt: skip
            points.append(p)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        name: {
            "checkpoint": str(r.get("checkpoint")),
            "gflop_per_line": r.get("gflop_per_line"),
            "matmul_gflops": r.get("matmul_gflops"),
            "engines": {
                e: {
                    k: v.get(k)
                    for k in (
                        "cer",
                        "accuracy",
                        "lines_per_s_b32",
                        "latency_ms_b1_p50",
                        "latency_ms_b1_p95",
                        "lines",
                        "skipped",
                        "threads",
                        "batch",
                    )
                }
                for e, v in r["engines"].items()
            },
        }
        for name, r in reports.items()
    }
    skipped = {
        engine: row["skipped"]
        for r in reports.values()
        for engine, row in r["engines"].items()
        if row.get("skipped")
    }
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_info("torch", "onnxruntime", "rapidocr_onnxruntime", "easyocr"),
        "data": args.data,
        "lines": args.lines,
        "protocol": args.protocol,
        "seconds": round(time.time() - t0, 1),
        "points": points,
        "skipped": skipped,  # engine -> why it could not run here
        "reports": summary,
    }
    (out / "frontier.json").write_text(json.dumps(result, indent=1) + "\n")
    figures = {
        "frontier_cer": frontier_figure(points, "cer", skipped=skipped),
        "frontier_accuracy": frontier_figure(points, "accuracy", skipped=skipped),
        "frontier_latency": frontier_figure(points, "cer", x="latency_ms_b1_p50", skipped=skipped),
    }
    for stem, fig in figures.items():
        save_figure(fig, out / f"{stem}.html")
        try:
            save_figure(fig, out / f"{stem}.png")
        except Exception as exc:  # PNG needs kaleido + Chromium; the HTML is the figure
            print(f"{stem}.png skipped: {exc}")
    print(f"wrote {out / 'frontier.json'} and the figures ({result['seconds']} s)")
    for p in points:
        acc = "—" if p["accuracy"] is None else f"{100 * p['accuracy']:.1f}%"
        print(f"  {p['name']:<28} {p['lines_per_s_b32'] or 0:>8.1f} lines/s  accuracy {acc}")
    for engine, why in skipped.items():
        print(f"  {engine:<28} skipped: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
