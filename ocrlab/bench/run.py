"""One bench run: every engine on the same images, one after another, each in its own memory
and thread budget; the model's arithmetic against the machine's peak; the report as JSON."""

from __future__ import annotations

import datetime
import math
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .. import files, peers, tesseract
from ..data.transforms import LineTransform
from ..errors import OcrlabError
from ..machine import machine_info
from ..models import OCRModel
from ..models.encoder import count_flops
from .engines import (
    LMGenerate,
    OnnxCTC,
    PeerEngine,
    TesseractEngine,
    TorchCTC,
    gpt2_engine,
    onnx_files,
)
from .measure import (
    Engine,
    PeakRSS,
    matmul_peak,
    measure_engine,
    realtime_table,
    release_memory,
    timed,
)
from .settings import (
    DEFAULT_DATA,
    ENGINES,
    EXTRA_ENGINES,
    GPU_ENGINES,
    GPU_MATMUL_SIZES,
    INT8_CER_TOLERANCE,
    LM_ENGINES,
    PEER_ENGINES,
    QUICK_DATA,
    BenchData,
    BenchError,
    BenchSettings,
    load_bench_data,
)


def _model_gflop(model: Any, width: int) -> dict[str, float]:
    """GFLOP per line at ``width`` pixels: the encoder (``count_flops``) + the CTC head."""
    encoder = count_flops(model.encoder, width)
    T = width // 4
    head = 2 * T * model.config.encoder.d_model * len(model.charset) / 1e9
    return {"encoder": round(encoder, 4), "ctc_head": round(head, 4), "width_px": width}


def _median_width(data: BenchData, height: int, max_width: int | None) -> int:
    t = LineTransform(height=height, max_width=max_width)
    widths = [t.output_width(*img.size) for img in data.images]
    return int(math.ceil(statistics.median(widths) / 4) * 4)


def run_bench(
    checkpoint: Any,
    *,
    data: str | None = None,
    quick: bool = False,
    engines: Sequence[str] | None = None,
    settings: BenchSettings | None = None,
    onnx_path: str | None = None,
    command: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Measure ``checkpoint`` (a checkpoint directory or an ``OCRModel``) and the other engines
    on the same images. Returns the report (see ``format_report`` for the human form); JSON
    keys: ``engines.<name>.{lines_per_s_b32, latency_ms_b1_p50, cer, ...}``,
    ``matmul_gflops``, ``gflop_per_line``, ``realtime``, ``machine``, ``command``.

    ``engines``: names from :data:`ENGINES` + :data:`EXTRA_ENGINES` (default: all of
    ENGINES, plus ``lm_generate_gpt2`` in a full run; on a GPU :data:`GPU_ENGINES`, plus
    ``lm_generate_gpt2`` in a full run; the peers ``ppocr_v4`` and ``easyocr`` only by name).
    An engine that cannot run here (no Q-Former/LM, no Tesseract, a peer's package missing) is
    reported with ``skipped``: the reason, and null numbers.
    """
    t_start = time.perf_counter()
    settings = settings or BenchSettings.preset(quick)
    device = _check_device(settings.device)
    if not settings.batch_sizes or min(settings.batch_sizes) < 1:
        raise BenchError(f"batch sizes must be positive integers, got {settings.batch_sizes}")
    gpu = device.type == "cuda"
    if engines is None:
        engines = list(GPU_ENGINES if gpu else ENGINES)
        if not quick:
            engines.append("lm_generate_gpt2")
    unknown = [e for e in engines if e not in (*ENGINES, *EXTRA_ENGINES)]
    if unknown:
        raise BenchError(
            f"unknown engine(s) {unknown}; choose from {', '.join((*ENGINES, *EXTRA_ENGINES))}"
        )
    old_threads = torch.get_num_threads()
    threads = settings.threads or old_threads
    torch.set_num_threads(threads)
    try:
        model = (
            checkpoint if isinstance(checkpoint, OCRModel) else OCRModel.from_pretrained(checkpoint)
        )
        model.eval().to(device)
        spec = data or (QUICK_DATA if quick else DEFAULT_DATA)
        bench_data = load_bench_data(spec, limit=settings.lines, progress=progress)
        height = model.config.encoder.height
        width = _median_width(bench_data, height, settings.max_width)
        gflop = _model_gflop(model, width)
        sizes = settings.matmul_sizes
        if gpu and tuple(sizes) == BenchSettings.matmul_sizes:
            sizes = GPU_MATMUL_SIZES  # a GPU needs larger products to reach its rate
        peak = matmul_peak(sizes, device=str(device))
        peak_bf16 = (
            matmul_peak(sizes, device=str(device), dtype=torch.bfloat16)
            if gpu or "torch_ctc_bf16" in engines
            else None
        )

        results: dict[str, dict[str, Any]] = {}
        onnx: dict[str, Path] = {}
        export_s = None
        with tempfile.TemporaryDirectory(prefix="ocrlab-bench-") as tmp:
            if any(e.startswith("onnx_") for e in engines):
                # outside every engine's memory and setup figures: exporting is a one-off
                export_s, (onnx["onnx_ctc"], onnx["onnx_ctc_int8"]) = timed(
                    lambda: onnx_files(model, settings, Path(tmp), onnx_path)
                )
            for name in engines:
                results[name] = _run_engine(
                    name, model, bench_data, settings, threads, onnx.get(name), progress
                )
    finally:
        torch.set_num_threads(old_threads)

    gflop_per_line = round(gflop["encoder"] + gflop["ctc_head"], 4)
    for name, r in results.items():
        if name in (*LM_ENGINES, "tesseract", *PEER_ENGINES) or r.get("skipped"):
            continue  # not this model's arithmetic
        if gpu and name.startswith("onnx_"):  # on the host CPU: the GPU's peak does not apply
            continue
        # an engine is held against the peak of the arithmetic it runs in
        engine_peak = peak_bf16 if name.endswith("_bf16") and peak_bf16 else peak
        for key, rate in (
            ("", r["lines_per_s_b32"]),
            ("forward_", r.get("forward_lines_per_s_b32")),
        ):
            if rate is not None:
                achieved = gflop_per_line * rate
                r[f"{key}achieved_gflops"] = round(achieved, 2)
                r[f"{key}fraction_of_peak"] = round(achieved / engine_peak["gflops"], 4)
    flag_int8(results)

    report = {
        "command": command or "ocrlab.bench.run_bench",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(
            "torch",
            "onnxruntime",
            "onnx",
            "transformers",
            "pytesseract",
            "rapidocr_onnxruntime",
            "easyocr",
        ),
        "checkpoint": str(checkpoint) if not isinstance(checkpoint, OCRModel) else "<in memory>",
        "data": {
            "spec": spec,
            "lines": len(bench_data),
            "skipped": bench_data.skipped,
            "median_width_px": width,
            "mean_chars": round(statistics.mean(len(t) for t in bench_data.texts), 1),
        },
        "settings": {**asdict(settings), "threads": threads, "quick": quick},
        "device": str(device),
        "matmul_gflops": peak["gflops"],
        "matmul": {
            **peak,
            "how": "best of 3 torch.mm of n x n float32 per size, 2n^3 FLOPs"
            + (" (TF32 off)" if gpu else ""),
        },
        "matmul_bf16_gflops": None if peak_bf16 is None else peak_bf16["gflops"],
        "gflop_per_line": gflop_per_line,
        "gflop": {
            **gflop,
            "how": "ocrlab.models.encoder.count_flops at the data's median width + the CTC head "
            "(multiply-add = 2 FLOPs; padding not counted)",
        },
        "onnx_export_s": None if export_s is None else round(export_s, 1),
        "engines": results,
        "realtime": realtime_table(results, settings.budget_ms, batch_sizes=settings.batch_sizes),
        "measured": {
            "input": "decoded PIL images in memory -> text: preprocessing, padding, forward, "
            "decoding (batches sorted by width)",
            "latency": "one image per call after warm-up; p50/p95 over latency_lines images",
            "throughput": "lines/s from the median of `repeats` full passes per batch size, "
            "after one warm-up batch",
            "forward_lines_per_s_b32": "the forward pass alone on pre-collated batches of 32",
            "threads": "instances (processes or sessions) x threads per instance; total against "
            "the machine's cores (oversubscribed when more)",
            "batch": "the batch sizes the engine was measured at and how it batches; an "
            "unbatched engine reads one image per call at every batch size",
            "peak_rss_mb": "peak resident memory above the level before the engine was built "
            "(psutil, sampled every 5 ms), incl. weights, sessions and activations",
            "peak_gpu_mb": "on a GPU: torch.cuda.max_memory_allocated above the level before "
            "the engine was built (the model's weights are already there)",
            "fraction_of_peak": "gflop_per_line x lines/s / matmul_gflops "
            "(matmul_bf16_gflops for a bf16 engine)",
        },
    }
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    return report


def _check_device(name: str) -> torch.device:
    """``name`` as a torch device, or a :class:`BenchError` that says why it cannot be used."""
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise BenchError(f"bench device {name!r} is not a torch device ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(
            f"bench device {name!r}: this torch ({torch.__version__}) sees no CUDA GPU; "
            "use --device cpu"
        )
    if device.type not in ("cpu", "cuda"):
        raise BenchError(f"bench device {name!r}: only cpu and cuda are supported")
    return device


def _skipped(reason: str, settings: BenchSettings) -> dict[str, Any]:
    r: dict[str, Any] = {"skipped": reason, "latency_ms_b1_p50": None, "cer": None}
    for bs in settings.batch_sizes:
        r[f"lines_per_s_b{bs}"] = None
    return r


def _run_engine(
    name: str,
    model: Any,
    data: BenchData,
    settings: BenchSettings,
    threads: int,
    onnx_file: Path | None,
    progress: bool,
) -> dict[str, Any]:
    if name in LM_ENGINES and not model.has_lm:
        return _skipped("the model has no Q-Former/LM branch (a CTC-only checkpoint)", settings)
    images, texts = data.images, data.texts
    if name in LM_ENGINES:
        images, texts = images[: settings.lm_lines], texts[: settings.lm_lines]
    psm = None
    if name in PEER_ENGINES:
        why = peers.unavailable(name)
        if why is not None:
            return _skipped(why, settings)
    if name == "tesseract":
        backend, version = tesseract.tesseract_backend()
        if backend is None:
            return _skipped(version, settings)
        psm = settings.tesseract_psm or (
            8 if sum(" " not in t.strip() for t in texts) >= 0.9 * len(texts) else 7
        )

    release_memory()
    gpu = next(model.parameters()).device
    gpu = gpu if gpu.type == "cuda" else None
    if gpu is not None:
        torch.cuda.reset_peak_memory_stats(gpu)
        gpu_start = torch.cuda.memory_allocated(gpu)
    t0 = time.perf_counter()
    engine: Engine
    with PeakRSS() as rss:
        if name in ("torch_ctc", "torch_ctc_bf16"):
            engine = TorchCTC(model, settings.max_width, bf16=name == "torch_ctc_bf16")
        elif name in ("onnx_ctc", "onnx_ctc_int8"):
            engine = OnnxCTC(name, onnx_file, model.charset, threads, settings.max_width)
        elif name == "lm_generate":
            engine = LMGenerate(name, model, settings.max_width)
            engine.description = "Q-Former + the checkpoint's frozen LM, greedy generate"
        elif name == "lm_generate_gpt2":
            tokens = max(len(t) for t in texts) + 1
            engine = gpt2_engine(model, settings.max_width, tokens)
        elif name in PEER_ENGINES:
            engine = PeerEngine(name, threads)
        else:
            engine = TesseractEngine(backend, version, psm, threads)
        setup_s = time.perf_counter() - t0
        try:
            result = measure_engine(engine, images, texts, settings, progress)
        finally:
            engine.close()
    predictions = result.pop("_predictions")
    result["setup_s"] = round(setup_s, 2)
    result["peak_rss_mb"] = rss.peak_mb
    if gpu is not None:
        used = torch.cuda.max_memory_allocated(gpu) - gpu_start
        result["peak_gpu_mb"] = round(used / 2**20, 1)
    result["description"] = engine.description
    if engine.notes:
        result["notes"] = engine.notes
    used = dict(engine.threads or {"instances": 1, "threads_per_instance": threads})
    used["total"] = used["instances"] * used["threads_per_instance"]
    used["cores"] = os.cpu_count()
    # no engine may oversubscribe the cores: threads fighting over a core measure the fight
    used["oversubscribed"] = gpu is None and used["total"] > (os.cpu_count() or 1)
    result["threads"] = used
    if psm is not None:
        result["psm"] = psm
        result["cross_check"] = _tesseract_cross_check(
            result, predictions, images, psm, threads, settings
        )
    del engine
    release_memory()
    if gpu is not None:
        torch.cuda.empty_cache()
    return result


CROSS_CHECK_TOLERANCE = 0.15
"""Two harnesses of Tesseract must agree on its throughput within this fraction."""


def _tesseract_cross_check(
    result: dict[str, Any],
    predictions: Sequence[str],
    images: Sequence[Any],
    psm: int,
    processes: int,
    settings: Any,
) -> dict[str, Any]:
    """Tesseract's rate measured a second way, on the same images: the ``tesseract`` command
    (:func:`ocrlab.tesseract.cli_rate`), as many processes as the engine's workers."""
    try:
        cli = tesseract.cli_rate(images, psm, processes, repeats=settings.repeats)
    except OcrlabError as exc:
        return {"error": str(exc)}
    engine_rate = result[f"lines_per_s_b{settings.batch_sizes[0]}"]
    ratio = engine_rate / cli["lines_per_s"] if cli["lines_per_s"] else float("nan")
    return {
        "harness": cli["harness"],
        "lines_per_s": cli["lines_per_s"],
        "engine_over_harness": round(ratio, 3),
        "agrees": abs(ratio - 1) <= CROSS_CHECK_TOLERANCE,
        "tolerance": CROSS_CHECK_TOLERANCE,
        # the command reads PNG files it decodes itself: its text can differ in a few crops
        "same_text_share": round(
            sum(a == b for a, b in zip(cli["predictions"], predictions, strict=True))
            / max(len(images), 1),
            4,
        ),
    }


def flag_int8(results: dict[str, dict[str, Any]]) -> None:
    """Mark whether int8 holds accuracy: CER at most INT8_CER_TOLERANCE worse than fp32's."""
    fp, q = results.get("onnx_ctc"), results.get("onnx_ctc_int8")
    if not fp or not q or fp.get("cer") is None or q.get("cer") is None:
        return
    delta = q["cer"] - fp["cer"]
    q["cer_delta_vs_fp32_points"] = round(100 * delta, 3)
    q["holds_accuracy"] = delta <= INT8_CER_TOLERANCE
    if not q["holds_accuracy"]:
        q["flag"] = (
            f"loses accuracy: CER {100 * delta:+.2f} points vs onnx_ctc "
            f"(tolerance {100 * INT8_CER_TOLERANCE:.1f})"
        )


def write_json(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the report as indented JSON, atomically."""
    return files.write_json(path, report)
