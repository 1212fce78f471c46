"""Speed and real time, measured side by side on the same images: ``ocrlab bench``.

Every engine reads the same line images, already decoded in memory (PIL), and returns text;
what is timed is everything from there: grayscale + resize + normalize (``LineTransform``),
padding (``Collate``, width-sorted batches), the forward pass, and decoding.

Engines (:data:`ENGINES`):

- ``torch_ctc``: PyTorch eager, ``OCRModel.recognize`` (encoder + CTC head + greedy decode).
- ``onnx_ctc``: the same path exported with :func:`ocrlab.export.export_onnx`, run by
  onnxruntime (:class:`ocrlab.export.OnnxRecognizer`).
- ``onnx_ctc_int8``: that file after :func:`ocrlab.export.quantize_int8`; flagged when its
  CER is more than :data:`INT8_CER_TOLERANCE` (0.5 points) worse than ``onnx_ctc``'s.
- ``lm_generate``: the LM-decoding path, ``OCRModel.generate_text`` (encoder, Q-Former,
  projection, greedy ``generate`` of the frozen LM), on a subset (it is slow).
- ``tesseract``: Tesseract 5 through its C API (libtesseract, via ctypes) or, without the
  library, ``pytesseract``; one worker process per thread, each with ONE OpenMP thread
  (``ocrlab.tesseract``: Debian's libtesseract is built with OpenMP, and instances whose
  OpenMP teams span every core spin against each other); page segmentation 7 (a line) or 8
  (a word; chosen when the labels are single words). Its throughput is cross-checked on the
  same images by a second harness, the ``tesseract`` command reading a list of files in one
  process per core (``cross_check`` in the report: the two must agree within 15%).
- ``lm_generate_gpt2`` (extra, full runs): the LM path with a GPT-2-small-sized LM (124M
  parameters, random weights): the cost a "real LLM" would add at inference. Timing only.
- ``torch_ctc_bf16`` (extra, default on a GPU): ``torch_ctc`` under bf16 autocast.
- ``ppocr_v4``, ``easyocr`` (extra, by name): the recognizers users would pick instead,
  PP-OCRv4 through RapidOCR's ``TextRecognizer`` and EasyOCR's English recognizer, each with its
  own preprocessing and batching (:mod:`ocrlab.peers`); skipped with the reason when the
  package is not installed (``pip install 'ocrlab[peers]'``).

On a GPU (``device="cuda"``, ``ocrlab bench --device cuda``) the PyTorch engines run there,
timings synchronize with the device, the peak is the GPU's fp32 (no TF32) and bf16 matmul rate
and memory is the GPU's allocated peak; ONNX, Tesseract and the peers, asked for by name, stay
on the host CPU.

Per engine: latency at batch 1 (p50/p95 over single images), throughput in lines/s at batch 8,
32 and 128 (median over repeats of a full pass), peak memory, CER (``ocrlab.metrics``), how it
used the cores (``threads``) and how it batched (``batch``).
Machine: the fp32 matmul peak (GFLOP/s, best of several sgemm sizes) and the model's GFLOP per
line at the data's median width, giving the achieved fraction of peak. Real time: for a frame
budget, how many lines per frame each engine reads, and the speedup it would need for N lines.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import gc
import hashlib
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import peers
from .errors import OcrlabError
from .tesseract import TesseractPool, cli_rate, tesseract_backend

__all__ = [
    "ENGINES",
    "EXTRA_ENGINES",
    "FRAME_LINES",
    "INT8_CER_TOLERANCE",
    "PEER_ENGINES",
    "BenchData",
    "BenchSettings",
    "format_report",
    "load_bench_data",
    "matmul_peak",
    "realtime_table",
    "run_bench",
    "tesseract_backend",
    "write_json",
]

ENGINES = ("torch_ctc", "onnx_ctc", "onnx_ctc_int8", "lm_generate", "tesseract")
PEER_ENGINES = tuple(peers.PEERS)  # other projects' recognizers: ppocr_v4, easyocr
EXTRA_ENGINES = ("lm_generate_gpt2", "torch_ctc_bf16", *PEER_ENGINES)
GPU_ENGINES = ("torch_ctc", "torch_ctc_bf16", "lm_generate")  # the default on a GPU
GPU_MATMUL_SIZES = (2048, 4096, 8192)
BATCH_SIZES = (8, 32, 128)
FRAME_LINES = (1, 5, 10, 20, 50)
INT8_CER_TOLERANCE = 0.005  # 0.5 CER points
DEFAULT_DATA = "synth:n=1000,seed=11"
QUICK_DATA = "synth:n=200,seed=11"
_LM_ENGINES = ("lm_generate", "lm_generate_gpt2")


class BenchError(OcrlabError):
    """Bench input that cannot be measured: an empty set, an unknown engine."""


# -- settings and data ---------------------------------------------------------------------


@dataclass
class BenchSettings:
    """How much to measure. :meth:`preset` gives the full and the ``--quick`` settings.

    lines: read at most this many lines of the data (None: all).
    repeats: timed full passes per batch size (the median is reported).
    latency_lines: images timed one by one for the batch-1 latency.
    lm_lines: the LM engines read only this many lines (latency, throughput and CER).
    matmul_sizes: square sgemm sizes tried for the fp32 peak (the best one is reported).
    threads: intra-op threads of every engine, and Tesseract's parallel API instances
        (None: ``torch.get_num_threads()``).
    budget_ms: the real-time frame budget (33.3 ms = 30 fps).
    max_width: lines wider than this after scaling to the model's height are squeezed.
    protocol: ``ocrlab.metrics`` protocol for CER ("exact" or "alnum36").
    tesseract_psm: 7 (line), 8 (word) or None (8 when >= 90% of the labels are one word).
    cache_dir: where exported ONNX files are kept between runs, keyed by the model's weights
        fingerprint (None: ``$XDG_CACHE_HOME/ocrlab/onnx``; "" turns caching off).
    device: where the PyTorch engines run ("cpu", "cuda", "cuda:1").
    """

    lines: int | None = None
    repeats: int = 5
    latency_lines: int = 200
    lm_lines: int = 128
    matmul_sizes: tuple[int, ...] = (1024, 2048, 4096)
    threads: int | None = None
    budget_ms: float = 33.3
    max_width: int | None = 2048
    protocol: str = "exact"
    tesseract_psm: int | None = None
    cache_dir: str | None = None
    batch_sizes: tuple[int, ...] = BATCH_SIZES
    device: str = "cpu"

    @classmethod
    def preset(cls, quick: bool = False, **overrides: Any) -> BenchSettings:
        """Full: 5 repeats, 200 latency images, 128 LM lines. Quick (< 1 minute for the small
        model on 2 cores): 200 lines, 2 repeats, 30 latency images, 16 LM lines, smaller
        sgemms."""
        base = (
            cls(
                lines=200,
                repeats=2,
                latency_lines=30,
                lm_lines=16,
                matmul_sizes=(512, 1024),
            )
            if quick
            else cls()
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(base, k, v)
        return base


@dataclass
class BenchData:
    """The line images every engine reads (decoded once, kept in memory) and their labels."""

    spec: str
    images: list[Any]
    texts: list[str]
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.images)


def load_bench_data(spec: str, *, limit: int | None = None, progress: bool = False) -> BenchData:
    """Open ``spec`` (``open_dataset``'s forms: synth:..., folder, labels .tsv, LMDB), read up to
    ``limit`` lines into memory; unreadable images are skipped and counted. Raises
    :class:`BenchError` when no line is left."""
    from tqdm.auto import tqdm

    from .data.datasets import open_dataset

    dataset = open_dataset(spec, skip_bad=True)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    images, texts, skipped = [], [], 0
    for i in tqdm(range(n), desc="loading lines", unit=" lines", disable=not progress, leave=False):
        sample = dataset[i]
        if sample is None:
            skipped += 1
            continue
        images.append(sample.image)
        texts.append(sample.text)
    if not images:
        raise BenchError(
            f"bench data {spec!r} has no readable lines ({len(dataset)} in the set, "
            f"{skipped} unreadable): nothing to measure"
        )
    return BenchData(spec=str(spec), images=images, texts=texts, skipped=skipped)


# -- machine ---------------------------------------------------------------------------------


def _sync(device: torch.device | str) -> None:
    """Wait for queued GPU work (a no-op on the CPU), so that host timers see it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(
    sizes: Sequence[int] = (1024, 2048, 4096),
    repeats: int = 3,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> dict[str, Any]:
    """The machine's measured matmul rate: for each size n, the fastest of ``repeats``
    ``torch.mm`` of two n x n matrices of ``dtype`` (after one warm-up), 2 n^3 FLOPs each,
    with torch's current thread count on the CPU. On a GPU, fp32 is measured as true fp32
    (TF32 off, as the fp32 engines run). Returns ``{"gflops": best, "by_size": {n: GFLOP/s}}``."""
    by_size = {}
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.inference_mode():
            for n in sizes:
                a = torch.randn(n, n, device=device).to(dtype)
                b = torch.randn(n, n, device=device).to(dtype)
                out = torch.empty(n, n, device=device, dtype=dtype)
                torch.mm(a, b, out=out)  # warm-up: allocations, thread pool, caches, kernels
                _sync(device)
                best = math.inf
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    torch.mm(a, b, out=out)
                    _sync(device)
                    best = min(best, time.perf_counter() - t0)
                # three significant digits: a tiny or starved sgemm must not round to zero
                by_size[str(n)] = float(f"{2 * n**3 / best / 1e9:.3g}")
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return {"gflops": max(by_size.values()), "by_size": by_size}


class _PeakRSS:
    """Peak resident set size (/proc/self/statm, sampled every 5 ms by a thread) above the
    level when it started. ``getrusage``'s maxrss would not do: it is the whole process's
    monotonic peak, so every engine after the first would inherit the largest one before it.
    Linux only (elsewhere ``peak_mb`` is None)."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self.start_bytes = self._rss()
        self.peak_bytes = self.start_bytes

    def _rss(self) -> int | None:
        try:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return None

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            rss = self._rss()
            if rss is not None and rss > self.peak_bytes:
                self.peak_bytes = rss

    def __enter__(self) -> _PeakRSS:
        if self.start_bytes is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        rss = self._rss()
        if rss is not None and self.peak_bytes is not None:
            self.peak_bytes = max(self.peak_bytes, rss)

    @property
    def peak_mb(self) -> float | None:
        if self.start_bytes is None:
            return None
        return round((self.peak_bytes - self.start_bytes) / 2**20, 1)


def _release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc), so that the next engine's
    RSS baseline does not hide reused memory of the one before."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# -- engines ---------------------------------------------------------------------------------


class _Engine:
    """What the bench needs of an engine. ``read`` takes PIL images and returns texts."""

    name = ""
    batched = True  # False: one image per call, batch size does not apply
    batching = "width-sorted batches of N lines, right-padded to the batch's widest"
    description = ""
    notes = ""
    # how it uses the cores: instances (processes or pool workers) x threads per instance;
    # None: one instance of torch's intra-op threads (set by run_bench)
    threads: dict[str, Any] | None = None

    def read(self, images: Sequence[Any], batch_size: int) -> list[str]:
        raise NotImplementedError

    def batches(self, images: Sequence[Any], batch_size: int) -> list[tuple[Any, Any]] | None:
        """Pre-collated (images, widths) batches for :meth:`forward`; None if not supported."""
        return None

    def forward(self, batches: list[tuple[Any, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Free what the engine holds outside Python (Tesseract's API instances)."""


def _collated(images: Sequence[Any], height: int, max_width: int | None, batch_size: int):
    """``(indices, images, widths)`` of the width-sorted padded batches every reader uses
    (:func:`~ocrlab.data.transforms.prepare_lines`)."""
    from .data.transforms import prepare_lines

    lines = prepare_lines(images, height=height, max_width=max_width, batch_size=batch_size)
    return [(idx, batch.images, batch.widths) for idx, batch in lines.batches()]


class _TorchCTC(_Engine):
    """``OCRModel.recognize`` on the model's device; with ``bf16`` under bf16 autocast."""

    def __init__(self, model: Any, max_width: int | None, bf16: bool = False) -> None:
        self.model, self.max_width, self.bf16 = model, max_width, bf16
        self.device = next(model.parameters()).device
        self.name = "torch_ctc_bf16" if bf16 else "torch_ctc"
        self.description = (
            f"PyTorch eager{' under bf16 autocast' if bf16 else ''} on {self.device}: "
            "encoder + CTC head + greedy decode (OCRModel.recognize)"
        )

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def read(self, images, batch_size):
        with self._autocast():
            rs = self.model.recognize(images, batch_size=batch_size, max_width=self.max_width)
        return [r.text for r in rs]

    def batches(self, images, batch_size):
        h = self.model.config.encoder.height
        return [
            (x.to(self.device), w.to(self.device))
            for _, x, w in _collated(images, h, self.max_width, batch_size)
        ]

    @torch.inference_mode()
    def forward(self, batches):
        with self._autocast():
            for x, w in batches:
                self.model(x, w)
        _sync(self.device)


class _OnnxCTC(_Engine):
    description = "onnxruntime: the exported encoder + CTC head, same preprocessing and decoder"

    def __init__(self, name: str, path: Path, charset: Any, threads: int, max_width) -> None:
        from .export import OnnxRecognizer

        self.name = name
        self.recognizer = OnnxRecognizer(path, charset, threads=threads)
        self.threads = {"instances": 1, "threads_per_instance": threads}
        self.max_width = max_width
        self.notes = f"{path.name}; quantization: {self.recognizer.quantization}"

    def read(self, images, batch_size):
        rs = self.recognizer.recognize(images, batch_size=batch_size, max_width=self.max_width)
        return [r.text for r in rs]

    def batches(self, images, batch_size):
        h = self.recognizer.height
        return [
            (x.numpy(), w.numpy()) for _, x, w in _collated(images, h, self.max_width, batch_size)
        ]

    def forward(self, batches):
        for x, w in batches:
            self.recognizer.run(x, w)


class _LMGenerate(_Engine):
    """The LM-decoding path: encoder, Q-Former, projection, the LM's greedy ``generate``.

    With ``lm``/``projection`` given (the GPT-2-sized engine) those replace the model's own
    and exactly ``tokens`` tokens are generated per line (random weights never stop by
    themselves at a meaningful place)."""

    def __init__(
        self,
        name: str,
        model: Any,
        max_width: int | None,
        lm: Any = None,
        projection: Any = None,
        tokens: int | None = None,
    ) -> None:
        self.name, self.model, self.max_width = name, model, max_width
        self.lm, self.projection, self.tokens = lm, projection, tokens
        self.max_new_tokens = model.config.lm.max_text_tokens

    @torch.inference_mode()
    def read(self, images, batch_size):
        h = self.model.config.encoder.height
        device = next(self.model.parameters()).device
        texts: list[str] = [""] * len(images)
        for idx, x, w in _collated(images, h, self.max_width, batch_size):
            x, w = x.to(device), w.to(device)
            if self.lm is None:
                out = self.model.generate_text(x, w, max_new_tokens=self.max_new_tokens)
            else:
                out = self._generate_fixed(x, w)
            for i, t in zip(idx, out, strict=True):
                texts[i] = t
        return texts

    def _generate_fixed(self, x: torch.Tensor, w: torch.Tensor) -> list[str]:
        model = self.model
        enc = model.encoder(x, w)
        source = model.config.qformer.source_stage
        q = model.qformer(enc.stages[source], enc.stage_masks[source], False)
        prompt = self.projection(q.query_output)  # (B, Q, D)
        B, Q, _ = prompt.shape
        ids = self.lm.generate(
            inputs_embeds=prompt,
            attention_mask=torch.ones(B, Q, dtype=torch.long, device=prompt.device),
            max_new_tokens=self.tokens,
            min_new_tokens=self.tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=0,
        )  # (B, tokens)
        self.generated_shape = tuple(ids.shape)
        return ["" for _ in range(ids.shape[0])]  # random weights: no text to score


GPT2_SMALL = {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257}


def _gpt2_engine(
    model: Any, max_width: int | None, tokens: int, dims: dict[str, int] = GPT2_SMALL
) -> _LMGenerate:
    """The LM path with a randomly initialized GPT-2 of ``dims`` (default GPT-2 small)."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    torch.manual_seed(0)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        config = GPT2Config(**dims)
        lm = GPT2LMHeadModel(config).eval()
    finally:
        hf_logging.set_verbosity(verbosity)
    device = next(model.parameters()).device
    lm = lm.to(device)
    projection = torch.nn.Linear(model.config.qformer.hidden_size, config.n_embd).eval()
    projection = projection.to(device)
    engine = _LMGenerate("lm_generate_gpt2", model, max_width, lm, projection, tokens)
    engine.description = (
        f"LM path with a GPT-2-sized LM ({config.n_layer} layers, {config.n_embd} wide, "
        f"{config.vocab_size}-token head, random weights): timing only"
    )
    n_params = sum(p.numel() for p in lm.parameters()) / 1e6
    engine.notes = (
        f"{n_params:.0f}M-parameter LM, {tokens} tokens generated per line (the longest label "
        "+ EOS, one token per character; a BPE tokenizer would need about 1/4 as many steps)"
    )
    return engine


class _Tesseract(_Engine):
    """Tesseract as its users run it for throughput: ``instances`` worker processes with one
    OpenMP thread each (:class:`ocrlab.tesseract.TesseractPool`)."""

    name = "tesseract"
    batched = False
    batching = "one image per call; the worker pool reads in parallel at every batch size"

    def __init__(self, backend: str, version: str, psm: int, instances: int) -> None:
        self.pool = TesseractPool(backend, version, psm, instances)
        how = "libtesseract C API via ctypes" if backend == "capi" else "pytesseract"
        self.description = (
            f"Tesseract {version} ({how}), psm {psm}, lang eng; {instances} worker processes, "
            "one OpenMP thread each (OMP_THREAD_LIMIT=1 before the library loads)"
        )
        self.notes = (
            f"one image per call; throughput uses the {instances} workers at every batch size"
        )
        self.threads = {
            "instances": instances,
            "threads_per_instance": self.pool.threads_per_instance,
            "workers": self.pool.workers,
        }

    def read(self, images, batch_size):
        return self.pool.read(images)

    def close(self) -> None:
        self.pool.close()


class _Peer(_Engine):
    """Another project's recognizer (:mod:`ocrlab.peers`), run as its own users run it."""

    def __init__(self, name: str, threads: int) -> None:
        self.peer = peers.open_peer(name, threads)
        self.name, self.batched, self.threads = name, self.peer.batched, self.peer.threads
        self.description, self.batching = self.peer.description, self.peer.batching
        self.notes = self.peer.notes

    def read(self, images, batch_size):
        return self.peer.read(images, batch_size)

    def close(self) -> None:
        self.peer.close()


# -- measuring ---------------------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _measure(
    engine: _Engine,
    images: Sequence[Any],
    texts: Sequence[str],
    settings: BenchSettings,
    progress: bool,
) -> dict[str, Any]:
    """Latency (b1), throughput per batch size, forward-only rate and CER of one engine."""
    from tqdm.auto import tqdm

    from .metrics import score

    result: dict[str, Any] = {"lines": len(images)}
    engine.read(images[:2], 1)  # warm-up: first-call allocations, lazy inits

    latencies = []
    for img in tqdm(
        images[: settings.latency_lines],
        desc=f"{engine.name} latency",
        unit=" lines",
        disable=not progress,
        leave=False,
    ):
        dt, _ = _timed(lambda img=img: engine.read([img], 1))
        latencies.append(dt * 1000)
    result["latency_ms_b1_p50"] = round(_percentile(latencies, 50), 3)
    result["latency_ms_b1_p95"] = round(_percentile(latencies, 95), 3)
    result["latency_lines"] = len(latencies)

    predictions = None
    sizes = settings.batch_sizes if engine.batched else settings.batch_sizes[:1]
    bar = tqdm(
        total=len(sizes) * settings.repeats,
        desc=f"{engine.name} throughput",
        unit=" passes",
        disable=not progress,
        leave=False,
    )
    rates = {}
    for bs in sizes:
        engine.read(images[:bs], bs)  # warm-up at this batch size
        times = []
        for _ in range(settings.repeats):
            dt, preds = _timed(lambda bs=bs: engine.read(images, bs))
            times.append(dt)
            if predictions is None and (bs == 32 or not engine.batched):
                predictions = preds
            bar.update()
        rates[bs] = round(len(images) / statistics.median(times), 2)
    bar.close()
    for bs in settings.batch_sizes:
        result[f"lines_per_s_b{bs}"] = rates.get(bs, rates[sizes[0]])
    result["batch"] = {"batched": engine.batched, "sizes": list(sizes), "how": engine.batching}
    if predictions is None:  # no b32 in the settings
        predictions = engine.read(images, settings.batch_sizes[0])

    batches = engine.batches(images, 32)
    if batches is not None:
        engine.forward(batches[:1])  # warm-up
        times = [_timed(lambda: engine.forward(batches))[0] for _ in range(settings.repeats)]
        result["forward_lines_per_s_b32"] = round(len(images) / statistics.median(times), 2)

    result["cer"] = result["accuracy"] = None
    if engine.name != "lm_generate_gpt2":  # random weights: its text means nothing
        s = score(predictions, list(texts), protocol=settings.protocol)
        result["cer"] = round(s.cer, 5)
        result["accuracy"] = round(s.accuracy, 5)
    result["_predictions"] = predictions  # for a cross-check; popped by _run_engine
    return result


# -- real time ----------------------------------------------------------------------------------


def realtime_table(
    engines: dict[str, dict[str, Any]],
    budget_ms: float = 33.3,
    lines: Sequence[int] = FRAME_LINES,
    batch_sizes: Sequence[int] = BATCH_SIZES,
) -> dict[str, Any]:
    """Real-time view of measured engines.

    lines_per_frame_b1: lines read one after another in one frame, ``floor(budget / p50)``.
    lines_per_frame_b32: ``floor(lines_per_s_b32 * budget)``, the sustained rate when lines
        are batched (a batch of 32 may itself take longer than one frame).
    speedup_needed[N]: time to read N lines divided by the budget, with N lines read at the
        throughput of the largest measured batch size <= N (the b1 latency for N below the
        smallest batch size): > 1 means the engine cannot read N lines per frame now;
        ``fits_with_2x`` says whether a 2x faster engine would.
    """
    out: dict[str, Any] = {"budget_ms": budget_ms, "fps": round(1000 / budget_ms, 1)}
    rows = {}
    for name, r in engines.items():
        p50 = r.get("latency_ms_b1_p50")
        b32 = r.get("lines_per_s_b32")
        if p50 is None or b32 is None:
            continue
        row: dict[str, Any] = {
            "lines_per_frame_b1": math.floor(budget_ms / p50) if p50 > 0 else None,
            "lines_per_frame_b32": math.floor(b32 * budget_ms / 1000),
            "speedup_needed": {},
        }
        for n in lines:
            usable = [bs for bs in batch_sizes if bs <= n and r.get(f"lines_per_s_b{bs}")]
            frame_ms = n * 1000 / r[f"lines_per_s_b{max(usable)}"] if usable else n * p50
            speedup = frame_ms / budget_ms
            row["speedup_needed"][str(n)] = {
                "frame_ms": round(frame_ms, 2),
                "speedup": round(speedup, 3),
                "fits": speedup <= 1.0,
                "fits_with_2x": speedup <= 2.0,
            }
        rows[name] = row
    out["engines"] = rows
    return out


# -- the run ------------------------------------------------------------------------------------


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ocrlab" / "onnx"


def _onnx_files(
    model: Any, settings: BenchSettings, workdir: Path, onnx_path: str | None
) -> tuple[Path, Path]:
    """The fp32 and int8 ONNX files of ``model``: ``onnx_path`` if given (it must come from
    this model), else from the cache, else exported now (from the CPU: the model is moved
    there for the export and back)."""
    device = next(model.parameters()).device
    if device.type != "cpu":
        model.cpu()
        try:
            return _onnx_files(model, settings, workdir, onnx_path)
        finally:
            model.to(device)
    from .export import (
        ExportError,
        _read_metadata,
        export_onnx,
        quantize_int8,
        weights_fingerprint,
    )

    fp = weights_fingerprint(model)
    if onnx_path is not None:
        path = Path(onnx_path)
        theirs = _read_metadata(path).get("fingerprint")
        if theirs != fp:
            raise ExportError(
                f"{path} was not exported from this checkpoint (its weights fingerprint is "
                f"{theirs or 'missing'}, the checkpoint's is {fp}); export it with "
                "`ocrlab export CHECKPOINT --out FILE.onnx`"
            )
        folder = workdir
    else:
        folder = (
            workdir
            if settings.cache_dir == ""
            else Path(settings.cache_dir or _default_cache_dir())
        )
        key = hashlib.sha1(f"{fp}|{torch.__version__}|export-1".encode()).hexdigest()[:16]
        folder = folder / key
        path = folder / "model.onnx"
        if not path.is_file() or _read_metadata(path).get("fingerprint") != fp:
            export_onnx(model, path)
    int8 = folder / f"{path.stem}.int8.onnx"
    if not int8.is_file() or _read_metadata(int8).get("fingerprint") != fp:
        quantize_int8(path, int8)
    return path, int8


def _model_gflop(model: Any, width: int) -> dict[str, float]:
    """GFLOP per line at ``width`` pixels: the encoder (``count_flops``) + the CTC head."""
    from .models.encoder import count_flops

    encoder = count_flops(model.encoder, width)
    T = width // 4
    head = 2 * T * model.config.encoder.d_model * len(model.charset) / 1e9
    return {"encoder": round(encoder, 4), "ctc_head": round(head, 4), "width_px": width}


def _median_width(data: BenchData, height: int, max_width: int | None) -> int:
    from .data.transforms import LineTransform

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
    from .machine import machine_info
    from .models import OCRModel

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
                export_s, (onnx["onnx_ctc"], onnx["onnx_ctc_int8"]) = _timed(
                    lambda: _onnx_files(model, settings, Path(tmp), onnx_path)
                )
            for name in engines:
                results[name] = _run_engine(
                    name, model, bench_data, settings, threads, onnx.get(name), progress
                )
    finally:
        torch.set_num_threads(old_threads)

    gflop_per_line = round(gflop["encoder"] + gflop["ctc_head"], 4)
    for name, r in results.items():
        if name in (*_LM_ENGINES, "tesseract", *PEER_ENGINES) or r.get("skipped"):
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
    _flag_int8(results)

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
            "(/proc/self/statm sampled every 5 ms), incl. weights, sessions and activations",
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
    if name in _LM_ENGINES and not model.has_lm:
        return _skipped("the model has no Q-Former/LM branch (a CTC-only checkpoint)", settings)
    images, texts = data.images, data.texts
    if name in _LM_ENGINES:
        images, texts = images[: settings.lm_lines], texts[: settings.lm_lines]
    psm = None
    if name in PEER_ENGINES:
        why = peers.unavailable(name)
        if why is not None:
            return _skipped(why, settings)
    if name == "tesseract":
        backend, version = tesseract_backend()
        if backend is None:
            return _skipped(version, settings)
        psm = settings.tesseract_psm or (
            8 if sum(" " not in t.strip() for t in texts) >= 0.9 * len(texts) else 7
        )

    _release_memory()
    gpu = next(model.parameters()).device
    gpu = gpu if gpu.type == "cuda" else None
    if gpu is not None:
        torch.cuda.reset_peak_memory_stats(gpu)
        gpu_start = torch.cuda.memory_allocated(gpu)
    t0 = time.perf_counter()
    engine: _Engine
    with _PeakRSS() as rss:
        if name in ("torch_ctc", "torch_ctc_bf16"):
            engine = _TorchCTC(model, settings.max_width, bf16=name == "torch_ctc_bf16")
        elif name in ("onnx_ctc", "onnx_ctc_int8"):
            engine = _OnnxCTC(name, onnx_file, model.charset, threads, settings.max_width)
        elif name == "lm_generate":
            engine = _LMGenerate(name, model, settings.max_width)
            engine.description = "Q-Former + the checkpoint's frozen LM, greedy generate"
        elif name == "lm_generate_gpt2":
            tokens = max(len(t) for t in texts) + 1
            engine = _gpt2_engine(model, settings.max_width, tokens)
        elif name in PEER_ENGINES:
            engine = _Peer(name, threads)
        else:
            engine = _Tesseract(backend, version, psm, threads)
        setup_s = time.perf_counter() - t0
        try:
            result = _measure(engine, images, texts, settings, progress)
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
    _release_memory()
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
        cli = cli_rate(images, psm, processes, repeats=settings.repeats)
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


def _flag_int8(results: dict[str, dict[str, Any]]) -> None:
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


# -- human output ---------------------------------------------------------------------------------


def _fmt(value: Any, spec: str = ".1f", none: str = "—") -> str:
    return none if value is None else format(value, spec)


def format_report(report: dict[str, Any]) -> str:
    """The report as aligned text tables: engines, real time, and "is 2x enough"."""
    d, m, s = report["data"], report["machine"], report["settings"]
    skipped = f", {d['skipped']} unreadable skipped" if d["skipped"] else ""
    lines = [
        f"ocrlab bench — {report['checkpoint']} on {d['spec']} ({d['lines']} lines"
        f"{skipped}, median width "
        f"{d['median_width_px']} px, {d['mean_chars']} chars/line), threads: {s['threads']}"
        f"{', quick' if s['quick'] else ''}",
        f"machine: {m.get('cpu')}, {m.get('cpu_count')} cores, load {m.get('load_average_1m')}"
        + (f"; GPU {m.get('gpu')}" if report.get("device", "cpu").startswith("cuda") else "")
        + f"; device {report.get('device', 'cpu')}; "
        f"fp32 matmul peak {report['matmul_gflops']:.1f} GFLOP/s"
        + (
            f" (bf16 {report['matmul_bf16_gflops']:.0f})"
            if report.get("matmul_bf16_gflops")
            else ""
        )
        + "; model "
        f"{report['gflop_per_line']:.3f} GFLOP/line at {d['median_width_px']} px",
        "",
    ]
    bs = s["batch_sizes"]
    on_gpu = report.get("device", "cpu").startswith("cuda")
    mem_head, mem_key = ("GPU MB", "peak_gpu_mb") if on_gpu else ("RSS MB", "peak_rss_mb")
    head = (
        f"{'engine':<18}{'CER %':>7}{'b1 p50 ms':>11}{'b1 p95 ms':>11}"
        + "".join(f"{f'b{b} l/s':>10}" for b in bs)
        + f"{'fwd b32':>9}{'% peak':>8}{mem_head:>8}"
    )
    lines += [head, "-" * len(head)]
    notes = []
    for name, r in report["engines"].items():
        if r.get("skipped"):
            lines.append(f"{name:<18}skipped: {r['skipped']}")
            continue
        cer = None if r.get("cer") is None else 100 * r["cer"]
        frac = r.get("fraction_of_peak")
        row = (
            f"{name:<18}{_fmt(cer, '.2f'):>7}{_fmt(r['latency_ms_b1_p50'], '.2f'):>11}"
            f"{_fmt(r['latency_ms_b1_p95'], '.2f'):>11}"
            + "".join(f"{_fmt(r.get(f'lines_per_s_b{b}'), '.1f'):>10}" for b in bs)
            + f"{_fmt(r.get('forward_lines_per_s_b32'), '.0f'):>9}"
            + f"{_fmt(None if frac is None else 100 * frac, '.1f'):>8}"
            + f"{_fmt(r.get(mem_key, r.get('peak_rss_mb')), '.0f'):>8}"
        )
        lines.append(row)
        if r["lines"] != d["lines"]:
            notes.append(f"{name}: measured on the first {r['lines']} lines")
        if r.get("flag"):
            notes.append(f"{name}: {r['flag']}")
        if r.get("notes"):
            notes.append(f"{name}: {r['notes']}")
        t = r.get("threads")
        if t:
            over = " — OVERSUBSCRIBED" if t.get("oversubscribed") else ""
            notes.append(
                f"{name}: {t['instances']} instance(s) x {t['threads_per_instance']} thread(s) "
                f"on {t['cores']} cores{over}"
            )
        cross = r.get("cross_check")
        if cross and "error" not in cross:
            verdict = "agrees" if cross["agrees"] else "DISAGREES"
            notes.append(
                f"{name}: cross-check {cross['lines_per_s']:.1f} lines/s by the {cross['harness']}"
                f"; engine/harness {cross['engine_over_harness']:.2f} ({verdict}, tolerance "
                f"{100 * cross['tolerance']:.0f}%)"
            )
        elif cross:
            notes.append(f"{name}: cross-check failed: {cross['error']}")
    lines += [f"  note: {n}" for n in notes]

    rt = report["realtime"]
    lines += [
        "",
        f"real time, budget {rt['budget_ms']} ms ({rt['fps']} fps): lines per frame",
        f"{'engine':<18}{'one by one':>12}{'batched (b32 rate)':>20}",
    ]
    for name, row in rt["engines"].items():
        lines.append(
            f"{name:<18}{_fmt(row['lines_per_frame_b1'], 'd'):>12}{row['lines_per_frame_b32']:>20d}"
        )
    ns = list(next(iter(rt["engines"].values()))["speedup_needed"]) if rt["engines"] else []
    lines += [
        "",
        "is 2x enough? speedup needed to read N lines per frame "
        "(<= 1 fits now; * a 2x speedup makes it fit; ! even 2x is not enough)",
        f"{'engine':<18}" + "".join(f"{f'N={n}':>10}" for n in ns),
    ]
    for name, row in rt["engines"].items():
        cells = []
        for n in ns:
            c = row["speedup_needed"][n]
            mark = "" if c["fits"] else ("*" if c["fits_with_2x"] else "!")
            cells.append(f"{c['speedup']:>9.2f}{mark or ' '}")
        lines.append(f"{name:<18}" + "".join(cells))
    lines.append(f"\n({report['seconds']} s; {report['command']})")
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the report as indented JSON, atomically."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
