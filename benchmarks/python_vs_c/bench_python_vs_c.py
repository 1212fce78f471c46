"""How much slower is Python than C for the parts of reading a line that are written in Python?

    .venv/bin/python benchmarks/python_vs_c/bench_python_vs_c.py [--out PATH] [--quick]
        [--checkpoint models/ocrlab-small-v6] [--threads 2] [--repeats 5]

1. CTC decoding on the same logits (B=32 lines, C=96 classes, T=128 and T=512 frames,
   model-like log-probabilities from ``decoders.model_like_log_probs``): greedy (best path)
   and prefix beam search (width 10, no LM), each as a pure Python loop, NumPy, torch (the
   library's: ``ocrlab.models.ctc``) and C (``ctc_decode.c``, ctypes). Every variant returns
   the same Python objects (``Decoded`` for greedy, (ids, score) for beam); "C kernel" is the
   compiled loop alone, without building those. All variants are first checked to agree.
2. The whole pipeline for the small model on real-size lines (synthetic document lines,
   PNG-encoded in memory), split by stage: PNG decode, preprocessing (LineTransform + padding),
   the encoder + CTC head forward (PyTorch eager), and decoding (greedy and beam, library vs
   C), as ms per line and share of the total.

Writes the JSON (default ``benchmarks/results/python_vs_c.json``) and a markdown table of
ratios next to it (``.md``), and prints the table. A full run takes a few minutes on 2 cores
(the pure-Python beam search at T=512 dominates); ``--quick`` is a smoke test (seconds).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import decoders as dec  # this folder is not a package

from ocrlab.charset import Charset
from ocrlab.machine import machine_info

ROOT = Path(__file__).resolve().parents[2]


def timeit(fn, repeats: int, max_seconds: float) -> dict[str, float]:
    """Median and best of up to ``repeats`` calls (at least one; stop early after
    ``max_seconds``), after one untimed warm-up call when a call is short."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = [first] if first > max_seconds / 4 else []
    while len(times) < repeats and sum(times) < max_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {
        "ms": round(1000 * statistics.median(times), 3),
        "ms_best": round(1000 * min(times), 3),
        "runs": len(times),
    }


def _agree(greedy: dict, beam: dict) -> dict[str, bool]:
    """Do the variants give the same texts (and spans, for greedy) as the library?"""
    ref_g = greedy["torch"]
    ok_g = {
        k: all(a.ids == b.ids and a.spans == b.spans for a, b in zip(v, ref_g, strict=True))
        for k, v in greedy.items()
    }
    ref_b = beam["python"]
    ok_b = {k: all(a[0] == b[0] for a, b in zip(v, ref_b, strict=True)) for k, v in beam.items()}
    return {
        "greedy": all(ok_g.values()),
        "beam": all(ok_b.values()),
        **{f"greedy_{k}": v for k, v in ok_g.items()},
        **{f"beam_{k}": v for k, v in ok_b.items()},
    }


def decode_timings(c: dec.CDecoder, B: int, T: int, C: int, args) -> dict:
    """Greedy and beam, every variant, on one (B, T, C) batch of model-like log-probs."""
    charset = (
        Charset.preset("latin") if C == 96 else Charset([chr(0x100 + i) for i in range(C - 1)])
    )
    lp = dec.model_like_log_probs(B, T, C, seed=T)
    lengths = np.full(B, T, dtype=np.int64)
    w = args.beam_width
    greedy_fns = {
        "python": lambda: dec.greedy_python(lp, lengths, charset),
        "numpy": lambda: dec.greedy_numpy(lp, lengths, charset),
        "torch": lambda: dec.greedy_torch(lp, lengths, charset),
        "c": lambda: c.greedy(lp, lengths, charset),
    }
    beam_fns = {
        "python": lambda: dec.beam_python(lp, lengths, w),
        "numpy": lambda: dec.beam_numpy(lp, lengths, w),
        "torch": lambda: dec.beam_torch(lp, lengths, w),
        "c": lambda: c.beam(lp, lengths, w),
    }
    agree = _agree({k: f() for k, f in greedy_fns.items()}, {k: f() for k, f in beam_fns.items()})
    greedy = {k: timeit(f, args.repeats, args.max_seconds) for k, f in greedy_fns.items()}
    greedy["c_kernel"] = timeit(lambda: c.greedy_arrays(lp, lengths), args.repeats, 5)
    greedy["numpy_kernel"] = timeit(lambda: dec.greedy_numpy_arrays(lp, lengths), args.repeats, 5)
    beam = {k: timeit(f, args.repeats, args.max_seconds) for k, f in beam_fns.items()}
    beam["c_kernel"] = timeit(lambda: c.beam_arrays(lp, lengths, w), args.repeats, 5)
    for table in (greedy, beam):
        ref = table["c"]["ms"]
        for row in table.values():
            row["us_per_line"] = round(1000 * row["ms"] / B, 2)
            row["x_vs_c"] = round(row["ms"] / ref, 2) if ref > 0 else None
    above = (lp[..., 1:] >= dec.MIN_LP).sum(-1)
    second = np.sort(lp, -1)[..., -2]
    return {
        "shape": [B, T, C],
        "logits": {
            "non_blank_classes_above_min_lp": round(float(above.mean()), 1),
            "median_runner_up_log_prob": round(float(np.median(second)), 2),
            "blank_argmax_share": round(float((lp.argmax(-1) == 0).mean()), 3),
        },
        "agree": agree,
        "greedy": greedy,
        "beam": beam,
    }


def pipeline_split(c: dec.CDecoder, args) -> dict:
    """ms per line of each stage for the small model on synthetic document lines."""
    from ocrlab.data.datasets import Sample
    from ocrlab.data.image import load_image
    from ocrlab.data.specs import open_dataset
    from ocrlab.data.synth_io import encode_png
    from ocrlab.data.transforms import Collate, LineTransform
    from ocrlab.models import OCRModel
    from ocrlab.models.ctc import CTCHead, beam_search

    model = OCRModel.from_pretrained(args.checkpoint).eval()
    dataset = open_dataset(args.data)
    pngs = [encode_png(dataset[i].image) for i in range(len(dataset))]
    n = len(pngs)
    height = model.config.encoder.height
    transform = LineTransform(height=height, max_width=2048)
    collate = Collate(transform=transform)
    bs = 32

    def load():
        return [load_image(p, name=f"line {i}") for i, p in enumerate(pngs)]

    images = load()

    def preprocess():
        tensors = [transform(im) for im in images]
        order = sorted(range(n), key=lambda i: tensors[i].shape[-1])
        return [
            collate([Sample(tensors[i], "", str(i)) for i in order[s : s + bs]])
            for s in range(0, n, bs)
        ]

    batches = preprocess()

    @torch.inference_mode()
    def forward():
        return [model(b.images, b.widths) for b in batches]

    outs = forward()
    log_probs = [(CTCHead.log_probs(o.ctc_logits), o.lengths) for o in outs]

    @torch.inference_mode()
    def greedy_library():
        return [model.decode(o.ctc_logits, o.lengths) for o in outs]

    @torch.inference_mode()
    def greedy_c():
        return [
            c.greedy(CTCHead.log_probs(o.ctc_logits).numpy(), o.lengths.numpy(), model.charset)
            for o in outs
        ]

    def beam_library():
        return [
            beam_search(lp, ln, model.charset, beam_width=args.beam_width) for lp, ln in log_probs
        ]

    def beam_c():
        return [c.beam(lp.numpy(), ln.numpy(), args.beam_width) for lp, ln in log_probs]

    stages = {
        "load (PNG decode)": timeit(load, args.repeats, args.max_seconds),
        "preprocess (LineTransform + padding)": timeit(preprocess, args.repeats, args.max_seconds),
        "forward (encoder + CTC head, torch)": timeit(forward, args.repeats, args.max_seconds),
        "greedy decode (library, torch)": timeit(greedy_library, args.repeats, args.max_seconds),
        "greedy decode (C)": timeit(greedy_c, args.repeats, args.max_seconds),
        "beam decode w10 (library, Python)": timeit(beam_library, 1, args.max_seconds),
        "beam decode w10 (C, search only)": timeit(beam_c, args.repeats, args.max_seconds),
    }
    same = [a.text for batch in greedy_library() for a in batch] == [
        a.text for batch in greedy_c() for a in batch
    ]
    base = ("load (PNG decode)", "preprocess (LineTransform + padding)")
    total = sum(stages[k]["ms"] for k in (*base, "forward (encoder + CTC head, torch)"))
    total += stages["greedy decode (library, torch)"]["ms"]
    for row in stages.values():
        row["ms_per_line"] = round(row["ms"] / n, 4)
        row["share_of_greedy_pipeline"] = round(row["ms"] / total, 4)
    widths = [int(w) for b in batches for w in b.widths]
    return {
        "checkpoint": str(args.checkpoint),
        "data": args.data,
        "lines": n,
        "batch_size": bs,
        "median_width_px": int(statistics.median(widths)),
        "greedy_texts_agree": same,
        "total_greedy_pipeline_ms_per_line": round(total / n, 4),
        "stages": stages,
    }


def markdown(report: dict) -> str:
    rows = [
        "| decoder | logits (B, T, C) | Python | NumPy | torch (library) | C | C kernel | "
        "Python / C | NumPy / C | torch / C |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for item in report["decode"]:
        shape = "×".join(str(x) for x in item["shape"])
        for kind in ("greedy", "beam"):
            t = item[kind]
            cells = [f"{t[k]['ms']:.2f} ms" for k in ("python", "numpy", "torch", "c", "c_kernel")]
            ratios = [f"{t[k]['x_vs_c']:.1f}×" for k in ("python", "numpy", "torch")]
            name = "greedy" if kind == "greedy" else f"beam (w={report['settings']['beam_width']})"
            rows.append(f"| {name} | {shape} | " + " | ".join(cells + ratios) + " |")
    out = ["Per batch, median; every variant returns the same Python objects.", "", *rows]
    p = report.get("pipeline")
    if p:
        out += [
            "",
            f"Pipeline, {p['checkpoint']} on {p['lines']} lines ({p['data']}, median width "
            f"{p['median_width_px']} px), batch {p['batch_size']}:",
            "",
            "| stage | ms per line | share of the greedy pipeline |",
            "|---|---|---|",
        ]
        for name, row in p["stages"].items():
            out.append(
                f"| {name} | {row['ms_per_line']:.3f} | {100 * row['share_of_greedy_pipeline']:.1f}% |"
            )
    return "\n".join(out) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/python_vs_c.json"))
    parser.add_argument("--md", default=None, help="markdown table (default: OUT with .md)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run: a smoke test")
    parser.add_argument("--checkpoint", default=str(ROOT / "models/ocrlab-small-v6"))
    parser.add_argument("--data", default=None, help="default synth:n=256,seed=11")
    parser.add_argument("--no-pipeline", action="store_true", help="decoders only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="per variant")
    parser.add_argument("--beam-width", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    shapes = [(32, 128, 96), (32, 512, 96)]
    if args.quick:
        shapes, args.repeats, args.max_seconds = [(4, 32, 96), (4, 64, 96)], 1, 2.0
    args.data = args.data or ("synth:n=16,seed=11" if args.quick else "synth:n=256,seed=11")

    c = dec.CDecoder()
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info("torch", "numpy"),
        "compiler": {"cc": cc, "flags": list(c.flags)},
        "settings": {
            "threads": args.threads,
            "repeats": args.repeats,
            "beam_width": args.beam_width,
            "top_k": dec.TOP_K,
            "min_char_log_prob": dec.MIN_LP,
            "quick": args.quick,
        },
        "decode": [],
    }
    for B, T, C in shapes:
        print(f"decoding B={B} T={T} C={C} ...", file=sys.stderr, flush=True)
        report["decode"].append(decode_timings(c, B, T, C, args))
    if not args.no_pipeline:
        print(f"pipeline on {args.data} ...", file=sys.stderr, flush=True)
        report["pipeline"] = pipeline_split(c, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    md = Path(args.md) if args.md else out.with_suffix(".md")
    table = markdown(report)
    md.write_text(table)
    print(table)
    print(f"wrote {out} and {md}")


if __name__ == "__main__":
    main()
