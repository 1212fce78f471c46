"""How the bench measures: the machine's matmul peak, an engine's peak memory, its latency,
throughput and CER (:func:`measure_engine`), and the real-time view of those numbers."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import psutil
import torch
from tqdm.auto import tqdm

from ..metrics import score
from .settings import BATCH_SIZES, FRAME_LINES, BenchSettings

# -- machine ---------------------------------------------------------------------------------


def sync_device(device: torch.device | str) -> None:
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
                sync_device(device)
                best = math.inf
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    torch.mm(a, b, out=out)
                    sync_device(device)
                    best = min(best, time.perf_counter() - t0)
                # three significant digits: a tiny or starved sgemm must not round to zero
                by_size[str(n)] = float(f"{2 * n**3 / best / 1e9:.3g}")
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return {"gflops": max(by_size.values()), "by_size": by_size}


class PeakRSS:
    """Peak resident set size (``psutil``, sampled every 5 ms by a thread) above the level when
    it started. ``getrusage``'s maxrss would not do: it is the whole process's monotonic peak,
    so every engine after the first would inherit the largest one before it."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self.start_bytes = self._rss()
        self.peak_bytes = self.start_bytes

    def _rss(self) -> int:
        return self._process.memory_info().rss

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_bytes = max(self.peak_bytes, self._rss())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._rss())

    @property
    def peak_mb(self) -> float:
        return round((self.peak_bytes - self.start_bytes) / 2**20, 1)


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc), so that the next engine's
    RSS baseline does not hide reused memory of the one before."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# -- one engine ------------------------------------------------------------------------------


# Plain perf_counter, not torch.utils.benchmark.Timer: most engines are not torch statements
# (onnxruntime sessions, Tesseract worker processes, other projects' readers), each pass must
# return its texts for the CER, and Timer would set torch's thread count per measurement.
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


class Engine:
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


def measure_engine(
    engine: Engine,
    images: Sequence[Any],
    texts: Sequence[str],
    settings: BenchSettings,
    progress: bool,
) -> dict[str, Any]:
    """Latency (b1), throughput per batch size, forward-only rate and CER of one engine."""
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
        dt, _ = timed(lambda img=img: engine.read([img], 1))
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
            dt, preds = timed(lambda bs=bs: engine.read(images, bs))
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
        times = [timed(lambda: engine.forward(batches))[0] for _ in range(settings.repeats)]
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
