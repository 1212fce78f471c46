"""The ``ocrlab`` command line. Each subcommand is a thin caller of library functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import OcrlabError

# Each subcommand imports what it runs inside its handler: building the parser (`--help`, an
# argument error) loads neither torch nor transformers, and one command does not pay for
# another's dependencies (the optional extras among them).

DESCRIPTION = (
    "ocrlab: train, evaluate, benchmark and probe a text-line recognizer that reads with a fast\n"
    "CTC head and learns language in training through a BLIP-2 Q-Former and a frozen causal LM.\n"
    "Run `ocrlab COMMAND --help` for a command's options."
)

EPILOG = """examples:
  ocrlab data show synth:n=24,seed=3,preset=scene --out sheet.png
  ocrlab train --config configs/small-v3.yaml --out runs/mine        (--resume continues it)
  ocrlab eval models/ocrlab-small-v6 --data synth:n=500,seed=7 --reading
  ocrlab predict models/ocrlab-small-v6 line.png other.jpg --json
  ocrlab bench models/ocrlab-small-v6 --quick
the seminar demo is the Gradio app: `make demo` (or `python app.py`)"""


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="make, pack and look at datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)

    synth = dsub.add_parser(
        "synth",
        help="render a synthetic dataset to a folder (labels.tsv) or an LMDB (*.lmdb)",
        description="Sample i of seed s is always the same image, so a dataset is reproducible "
        "from (n, seed, preset, text) alone; writing is atomic.",
    )
    synth.add_argument("--n", type=int, required=True, help="number of samples")
    synth.add_argument("--out", required=True, help="DIR (folder + labels.tsv) or FILE.lmdb")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--preset", default="default", help="clean | default | degraded | scene")
    synth.add_argument("--text", default="wordfreq:en", help="wordfreq:LANG or corpus:PATH")
    synth.add_argument("--crop", choices=["line", "word", "mixed"], default=None)
    synth.add_argument("--min-chars", type=int, default=None)
    synth.add_argument("--max-chars", type=int, default=None)
    synth.add_argument("--font-dir", action="append", default=[], help="extra font folder")
    synth.add_argument("--workers", type=int, default=1, help="rendering processes")
    synth.add_argument("--overwrite", action="store_true", help="replace an existing output")
    synth.set_defaults(func=_cmd_data_synth)

    pack = dsub.add_parser("pack", help="pack a folder with labels.tsv into an LMDB")
    pack.add_argument("src", help="folder holding labels.tsv and the images")
    pack.add_argument("--out", required=True, help="FILE.lmdb")
    pack.add_argument("--labels", default="labels.tsv", help="labels file inside SRC")
    pack.add_argument("--skip-bad", action="store_true", help="skip (and count) bad samples")
    pack.add_argument("--overwrite", action="store_true")
    pack.set_defaults(func=_cmd_data_pack)

    show = dsub.add_parser("show", help="write a contact sheet PNG of a dataset's samples")
    show.add_argument("path", help="folder, labels.tsv, *.lmdb or synth:n=..,seed=..")
    show.add_argument("--n", type=int, default=24, help="how many samples")
    show.add_argument("--start", type=int, default=0, help="first sample index")
    show.add_argument("--cols", type=int, default=3)
    show.add_argument(
        "--out", default=None, help="image file or folder (default: contact_sheet.png)"
    )
    show.set_defaults(func=_cmd_data_show)

    showcase = dsub.add_parser(
        "showcase",
        help="a contact sheet of what the synthetic renderer draws (looks, crops, degradations)",
    )
    showcase.add_argument(
        "--out", default="out/synth_showcase.png", help="image file or folder to write"
    )
    showcase.set_defaults(func=_cmd_data_showcase)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _image_out(out: str | None, default_name: str) -> Path:
    """Where to write an image: ``out`` itself, or ``out/default_name`` for a folder (one
    that exists or is written with a trailing slash); a name without an image suffix is an
    error that says which suffixes work."""
    if out is None:
        return Path(default_name)
    path = Path(out)
    if path.is_dir() or out.endswith(("/", "\\")):
        return path / default_name
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise OcrlabError(
            f"--out {out}: not an image file name; end it in {', '.join(IMAGE_SUFFIXES)} "
            "(or name a folder)"
        )
    return path


def _synth_dataset(args: argparse.Namespace):
    from .data.specs import synth_dataset

    return synth_dataset(
        n=args.n,
        seed=args.seed,
        preset=args.preset,
        text=args.text,
        crop=args.crop,
        min_chars=args.min_chars,
        max_chars=args.max_chars,
        font_dirs=args.font_dir,
    )


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from .data.lmdb_io import write_folder, write_lmdb
    from .data.synth_io import rendered_samples

    dataset = _synth_dataset(args)
    samples = rendered_samples(dataset, workers=args.workers)
    out = Path(args.out)
    writer = write_lmdb if out.suffix == ".lmdb" else write_folder
    n = writer(samples, out, total=len(dataset), overwrite=args.overwrite, progress=True)
    print(f"wrote {n} samples to {out}")
    return 0


def _cmd_data_pack(args: argparse.Namespace) -> int:
    from .data.lmdb_io import pack_folder

    report = pack_folder(
        args.src, args.out, labels=args.labels, skip_bad=args.skip_bad, overwrite=args.overwrite
    )
    print(report)
    return 0


def _cmd_data_show(args: argparse.Namespace) -> int:
    from .data.sheet import contact_sheet
    from .data.specs import open_dataset

    dataset = open_dataset(args.path)
    stop = min(len(dataset), args.start + args.n)
    items = []
    for i in range(args.start, stop):
        sample = dataset[i]
        items.append((sample.image, sample.text))
    if not items:
        raise OcrlabError(f"{args.path} has no samples from index {args.start}")
    out = _image_out(args.out, "contact_sheet.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    title = f"{args.path} — samples {args.start}..{stop - 1} of {len(dataset)}"
    contact_sheet(items, cols=args.cols, title=title).save(out)
    print(f"wrote {out}")
    return 0


def _cmd_data_showcase(args: argparse.Namespace) -> int:
    from .data.demo import synth_showcase

    out = _image_out(args.out, "synth_showcase.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    synth_showcase(out)
    print(f"wrote {out} — synthetic document lines, scene-text words and degradations")
    return 0


def _add_model_commands(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("train", help="train a model (CTC + Q-Former/LM loss) into a run folder")
    tr.add_argument("--config", default=None, help="YAML preset, e.g. configs/small.yaml")
    tr.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override, repeatable"
    )
    tr.add_argument("--out", required=True, help="run folder")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out")
    tr.set_defaults(func=_cmd_train)

    ev = sub.add_parser("eval", help="score a checkpoint on a dataset with the CTC path")
    ev.add_argument("checkpoint")
    ev.add_argument("--data", required=True, help="folder, *.lmdb, labels .tsv or synth:n=..")
    ev.add_argument("--labels", default=None, help="labels file inside the --data folder")
    ev.add_argument("--protocol", choices=["exact", "alnum36"], default="exact")
    ev.add_argument("--max-width", type=int, default=2048, help="squeeze only wider lines")
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument("--limit", type=int, default=None, help="score only the first N lines")
    ev.add_argument("--errors", type=int, default=0, help="print the first N misread lines")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument(
        "--decoder",
        default="greedy",
        help="CTC decoding: greedy (fast), beam (for word crops: prefix beam search with a "
        "word-frequency LM; it merges the words of lines), "
        "or beam:width=W,lm=none|words,lm_weight=X,word_bonus=Y",
    )
    ev.add_argument(
        "--reading",
        action="store_true",
        help="also measure the Q-Former branch (LM-decoding CER, nats/char the queries carry, "
        "query collapse, character coverage; see ocrlab.reading)",
    )
    ev.set_defaults(func=_cmd_eval)

    pr = sub.add_parser("predict", help="read line images with a checkpoint")
    pr.add_argument("checkpoint")
    pr.add_argument("images", nargs="+")
    pr.add_argument("--max-width", type=int, default=2048)
    pr.add_argument("--json", action="store_true", help="one JSON object per image")
    pr.add_argument(
        "--decoder",
        default="greedy",
        help="CTC decoding: greedy (fast), beam (for word crops: prefix beam search with a "
        "word-frequency LM; it merges the words of lines), "
        "or beam:width=W,lm=none|words,lm_weight=X,word_bonus=Y",
    )
    pr.set_defaults(func=_cmd_predict)


def _cmd_train(args: argparse.Namespace) -> int:
    from .run_config import load_run_config
    from .train import train

    config = load_run_config(args.config, args.set)
    try:
        result = train(config, args.out, resume=args.resume)
    except KeyboardInterrupt:
        from .train import resume_point

        held, logged = resume_point(args.out)
        if held is None:
            print(
                f"\nocrlab: interrupted before the first checkpoint; start {args.out} again "
                "without --resume",
                file=sys.stderr,
            )
        else:
            redo = f"; it redoes {logged + 1 - held} step(s)" if logged is not None else ""
            print(
                f"\nocrlab: interrupted; {args.out}/checkpoints/last holds step {held}: add "
                f"--resume to the same command to continue from there{redo}",
                file=sys.stderr,
            )
        return 130
    val = result.last_val or {}
    cer = f", last val CER {val['cer']:.4f}" if "cer" in val else ""
    print(f"trained to step {result.step} in {result.seconds / 60:.1f} min{cer}; run: {args.out}")
    return 0


def _open_eval_data(spec: str, labels: str | None):
    """A dataset to score; samples with an empty label are skipped and counted (the
    scene-text benchmarks' convention), everything else that is wrong is an error."""
    from .data.datasets import FolderDataset
    from .data.specs import open_dataset

    if labels is not None:
        return FolderDataset(spec, labels, skip_empty=True)
    return open_dataset(spec, skip_empty=True)


def _cmd_eval(args: argparse.Namespace) -> int:
    import json
    import time

    from .evaluation import evaluate
    from .models import OCRModel
    from .models.ctc import make_decoder

    make_decoder(args.decoder)  # a bad spec fails before the model loads
    model = OCRModel.from_pretrained(args.checkpoint)
    dataset = _open_eval_data(args.data, args.labels)
    t0 = time.perf_counter()
    result = evaluate(
        model,
        dataset,
        protocol=args.protocol,
        batch_size=args.batch_size,
        max_width=args.max_width,
        progress=not args.json,
        limit=args.limit,
        decoder=args.decoder,
    )
    report = {
        "checkpoint": args.checkpoint,
        "data": args.data,
        "labels": args.labels,
        "protocol": args.protocol,
        "decoder": args.decoder,
        **result.as_dict(),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    reading = None
    if args.reading:
        from .reading import reading_diagnostics

        n = len(dataset) if args.limit is None else min(args.limit, len(dataset))
        reading = reading_diagnostics(
            model, [dataset[i] for i in range(n)], max_width=args.max_width
        )
        report["reading"] = {k: v for k, v in reading.as_dict().items() if k != "examples"}
        report["reading"]["examples"] = [list(e) for e in reading.examples[:5]]
    if args.json:
        print(json.dumps(report))
    else:
        s = result.scores
        print(
            f"{s.n} lines: CER {100 * s.cer:.2f}%, accuracy {100 * s.accuracy:.2f}%, "
            f"1-NED {s.ned:.4f}, WER {100 * s.wer:.2f}% ({args.protocol} protocol)"
        )
        if result.empty_labels:
            print(
                f"left out {result.empty_labels} sample(s) whose label is empty under the "
                f"{args.protocol} protocol (the benchmark convention)"
            )
        if reading is not None:
            print(f"Q-Former branch: {reading.summary()}")
    shown = 0
    for key, p, r in zip(result.keys, result.predictions, result.references, strict=True):
        if shown >= args.errors:
            break
        if p != r:
            print(f"{key}\tread {p!r}\texpected {r!r}", file=sys.stderr)
            shown += 1
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    import torch

    from .models import OCRModel

    model = OCRModel.from_pretrained(args.checkpoint)
    out = model.save_pretrained(args.out, dtype=getattr(torch, args.dtype), keep=args.keep)
    size = (out / "model.safetensors").stat().st_size / 1e6
    print(f"wrote {out} (model.safetensors {size:.1f} MB, {args.dtype})")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import json

    from .data.image import load_image
    from .models import OCRModel
    from .models.ctc import make_decoder

    make_decoder(args.decoder)  # a bad spec fails before the model loads
    model = OCRModel.from_pretrained(args.checkpoint)
    # read every file first: a bad one is reported by name and the others are still read
    loaded: list[tuple[str, object]] = []
    failed = 0
    for path in args.images:
        try:
            loaded.append((path, load_image(path, name=path)))
        except OcrlabError as exc:
            print(f"ocrlab: error: {exc}", file=sys.stderr)
            failed += 1
    results = model.recognize(
        [image for _, image in loaded], max_width=args.max_width, decoder=args.decoder
    )
    for (path, _), r in zip(loaded, results, strict=True):
        if args.json:
            record = {
                "image": path,
                "text": r.text,
                "confidence": round(r.confidence, 4),
                "char_confidences": [round(c, 4) for c in r.char_confidences],
                "pixel_spans": [[round(a, 1), round(b, 1)] for a, b in r.pixel_spans],
            }
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(f"{path}\t{r.text}\t{r.confidence:.3f}")
    if failed:
        print(f"ocrlab: {failed} of {len(args.images)} image(s) could not be read", file=sys.stderr)
        return 1
    return 0


def _add_speed_commands(sub: argparse._SubParsersAction) -> None:
    cv = sub.add_parser(
        "convert",
        help="copy a checkpoint with its weights in another dtype (float16 halves a shipped model)",
        description="Writes CHECKPOINT's model (without any trainer state) to --out; the "
        "floating-point weights are stored in --dtype and cast back to float32 on loading. "
        "Check the copy with `ocrlab eval` before shipping it.",
    )
    cv.add_argument("checkpoint")
    cv.add_argument("--out", required=True, help="the checkpoint folder to write")
    cv.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16")
    cv.add_argument(
        "--keep",
        nargs="+",
        default=[],
        metavar="PREFIX",
        help="weight-name prefixes kept in their dtype, e.g. encoder. ctc_head. (the CTC path "
        "exactly as trained)",
    )
    cv.set_defaults(func=_cmd_convert)

    ex = sub.add_parser(
        "export",
        help="export a checkpoint's CTC path (encoder + CTC head) to ONNX",
        description="Dynamic batch and width axes; the charset and config are stored in the "
        "file. The logits are checked against PyTorch on random batches after export.",
    )
    ex.add_argument("checkpoint")
    ex.add_argument("--out", required=True, help="the .onnx file to write")
    ex.add_argument("--int8", action="store_true", help="also write OUT's .int8.onnx twin")
    ex.add_argument("--opset", type=int, default=None, help="ONNX opset (default: exporter's)")
    ex.add_argument("--torchscript", action="store_true", help="legacy TorchScript exporter")
    ex.add_argument("--no-check", action="store_true", help="skip the PyTorch comparison")
    ex.set_defaults(func=_cmd_export)

    from .bench import ENGINES, EXTRA_ENGINES

    be = sub.add_parser(
        "bench",
        help="speed, memory and accuracy of the CTC, ONNX, LM and Tesseract paths, real time",
        description="Every engine reads the same images in one run: latency at batch 1, "
        "lines/s at batch 8/32/128, peak memory, CER, the fp32 matmul peak, and the real-time "
        "table. Default data: synth:n=1000,seed=11 (--quick: 200 lines, < 1 minute). "
        "PP-OCRv4 (ppocr_v4) and EasyOCR (easyocr), the recognizers users pick instead, run "
        "when named in --engines.",
    )
    be.add_argument("checkpoint")
    be.add_argument("--data", default=None, help="folder, *.lmdb, labels .tsv or synth:n=..")
    be.add_argument("--quick", action="store_true", help="fewer lines and repeats")
    be.add_argument(
        "--engines",
        nargs="+",
        choices=[*ENGINES, *EXTRA_ENGINES],
        default=None,
        help="default: all but the extras (lm_generate_gpt2 only in full runs; "
        "torch_ctc_bf16, ppocr_v4 and easyocr by name)",
    )
    be.add_argument("--threads", type=int, default=None, help="default: torch's thread count")
    be.add_argument(
        "--device",
        default=None,
        help="where the PyTorch engines run: cpu (default) or cuda; on cuda the default "
        "engines are torch_ctc, torch_ctc_bf16, lm_generate (+ lm_generate_gpt2)",
    )
    be.add_argument("--budget-ms", type=float, default=None, help="frame budget (33.3 = 30 fps)")
    be.add_argument("--lines", type=int, default=None, help="read only the first N lines")
    be.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=None,
        help="throughput batch sizes (default 8 32 128; keep 32, the headline rate)",
    )
    be.add_argument("--repeats", type=int, default=None)
    be.add_argument("--protocol", choices=["exact", "alnum36"], default=None)
    be.add_argument("--psm", type=int, choices=[7, 8], default=None, help="Tesseract psm")
    be.add_argument("--onnx", default=None, help="an exported .onnx of this checkpoint to use")
    be.add_argument("--no-cache", action="store_true", help="export ONNX afresh, keep nothing")
    be.add_argument("--json", action="store_true", help="print one JSON object")
    be.add_argument("--out", default=None, help="also write the JSON report here")
    be.set_defaults(func=_cmd_bench)


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx, max_logit_difference, quantize_int8
    from .models import OCRModel

    model = OCRModel.from_pretrained(args.checkpoint)
    out = export_onnx(model, args.out, opset=args.opset, dynamo=not args.torchscript)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    if not args.no_check:
        diff = max_logit_difference(model, out)
        verdict = "ok" if diff <= 1e-4 else "LARGER THAN 1e-4"
        print(f"  max |logit difference| vs PyTorch: {diff:.2e} ({verdict})")
    if args.int8:
        int8 = quantize_int8(out, out.with_name(f"{out.stem}.int8.onnx"))
        print(f"wrote {int8} ({int8.stat().st_size / 1e6:.1f} MB, dynamic int8 MatMul + LSTM)")
        if not args.no_check:
            diff = max_logit_difference(model, int8)
            print(f"  max |logit difference| vs PyTorch: {diff:.2e} (int8: compare CERs)")
    return 0


def _bench_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (recorded in the report)."""
    parts = ["ocrlab", "bench", args.checkpoint]
    for flag in (
        "data",
        "device",
        "threads",
        "budget_ms",
        "lines",
        "repeats",
        "protocol",
        "psm",
        "onnx",
    ):
        value = getattr(args, flag)
        if value is not None:
            parts += [f"--{flag.replace('_', '-')}", str(value)]
    if args.batch_sizes:
        parts += ["--batch-sizes", *map(str, args.batch_sizes)]
    if args.engines:
        parts += ["--engines", *args.engines]
    parts += [
        f"--{flag.replace('_', '-')}" for flag in ("quick", "no_cache") if getattr(args, flag)
    ]
    return " ".join(parts)


def _cmd_bench(args: argparse.Namespace) -> int:
    import json

    from .bench import BenchSettings, format_report, run_bench, write_json

    settings = BenchSettings.preset(
        args.quick,
        threads=args.threads,
        budget_ms=args.budget_ms,
        lines=args.lines,
        batch_sizes=None if args.batch_sizes is None else tuple(args.batch_sizes),
        repeats=args.repeats,
        protocol=args.protocol,
        tesseract_psm=args.psm,
        cache_dir="" if args.no_cache else None,
        device=args.device,
    )
    report = run_bench(
        args.checkpoint,
        data=args.data,
        quick=args.quick,
        engines=args.engines,
        settings=settings,
        onnx_path=args.onnx,
        command=_bench_command(args),
        progress=True,
    )
    if args.out:
        write_json(report, args.out)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_report(report))
        if args.out:
            print(f"wrote {args.out}")
    return 0


def _add_study_command(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser(
        "study",
        help="train every configuration of a grid for every seed, compare them with statistics",
        description="Runs each (configuration, seed) of GRID on its step budget, scores the "
        "final weights on the grid's evaluation sets (CTC path; LM decoding on one set), and "
        "writes DIR/results.json, DIR/report.md and DIR/figures/. Resumable: run the same "
        "command again after a kill; finished runs are not redone.",
    )
    st.add_argument("--grid", required=True, help="a study grid YAML (configs/study/*.yaml)")
    st.add_argument("--out", required=True, help="the study folder")
    st.add_argument("--seeds", type=int, default=None, help="the first N seeds (default: grid's)")
    st.add_argument("--jobs", type=int, default=1, help="runs trained at once (processes)")
    st.add_argument("--configs", nargs="+", default=(), help="only these (and the baseline)")
    st.add_argument("--report-only", action="store_true", help="rewrite the report, train none")
    st.set_defaults(func=_cmd_study)


def _cmd_study(args: argparse.Namespace) -> int:
    import sys

    from .study import expand_grid, load_grid, run_study, write_report

    if args.report_only:
        grid = load_grid(args.grid)
        results = write_report(
            args.out, grid=grid, specs=expand_grid(grid, args.seeds, args.configs)
        )
    else:
        results = run_study(
            args.grid,
            args.out,
            seeds=args.seeds,
            jobs=args.jobs,
            only=args.configs,
            command="ocrlab " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["study"] else None,
        )
    print(f"{results['runs_finished']}/{results['runs_planned']} runs; wrote {args.out}/report.md")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocrlab",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    from .lm.cli import add_lm_commands

    add_lm_commands(sub)
    _add_model_commands(sub)
    _add_speed_commands(sub)
    _add_study_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OcrlabError as exc:
        print(f"ocrlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ocrlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
