"""Tesseract, run the way its users run it for throughput: one OpenMP thread per instance and
one instance per core.

Debian's libtesseract is built with OpenMP. Each API call starts an OpenMP team as wide as the
machine, so two instances on two cores (one per thread of a pool) spin against each other and
run several times slower than one instance alone (measured here: 33 ms per word crop instead
of 6 ms). Tesseract's own advice for throughput is ``OMP_THREAD_LIMIT=1`` and parallel
processes; OpenMP reads the variable once, when the library loads, so it must be set before
that, in a fresh process. :class:`TesseractPool` does exactly that: ``instances`` worker
processes (spawned, so nothing of the parent's libraries is inherited), each setting
``OMP_THREAD_LIMIT=1`` before it loads libtesseract through its C API (``tesseract/capi.h``,
via ctypes) or, without the library, before ``pytesseract`` starts its ``tesseract`` processes.
Each worker reports the OpenMP thread limit it actually runs with (``omp_get_thread_limit``).

:func:`cli_rate` is a second harness of another kind, to cross-check a measured rate: the
``tesseract`` command itself, reading a list of image files in one process per core.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import multiprocessing
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OcrlabError

__all__ = ["TesseractPool", "cli_rate", "load_libtesseract", "tesseract_backend"]

# The C API functions used, with their ctypes signatures.
_TESS_FUNCS = {
    "TessVersion": ([], ctypes.c_char_p),
    "TessBaseAPICreate": ([], ctypes.c_void_p),
    "TessBaseAPIInit3": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p], ctypes.c_int),
    "TessBaseAPISetPageSegMode": ([ctypes.c_void_p, ctypes.c_int], None),
    "TessBaseAPISetImage": (
        [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int],
        None,
    ),
    "TessBaseAPIGetUTF8Text": ([ctypes.c_void_p], ctypes.c_void_p),
    "TessDeleteText": ([ctypes.c_void_p], None),
    "TessBaseAPIEnd": ([ctypes.c_void_p], None),
    "TessBaseAPIDelete": ([ctypes.c_void_p], None),
}
ONE_THREAD = {"OMP_THREAD_LIMIT": "1"}


def load_libtesseract() -> Any:
    """libtesseract through ctypes, or None when it is not installed."""
    name = ctypes.util.find_library("tesseract")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        for fn, (args, res) in _TESS_FUNCS.items():
            f = getattr(lib, fn)
            f.argtypes, f.restype = args, res
    except (OSError, AttributeError):
        return None
    return lib


def tesseract_backend() -> tuple[str | None, str]:
    """("capi" | "pytesseract", version) when Tesseract can run here, else (None, reason).
    Asks the ``tesseract`` command, so that this process never loads libtesseract (and its
    OpenMP runtime) itself."""
    try:
        out = subprocess.run(
            ["tesseract", "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        version = out.split()[1] if out.split()[:1] == ["tesseract"] else out.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"tesseract is not installed (Debian: apt-get install tesseract-ocr) ({exc})"
    if ctypes.util.find_library("tesseract") is not None:
        return "capi", version
    try:
        import pytesseract  # noqa: F401  (optional: only without libtesseract)
    except ImportError:
        return None, "tesseract is installed but neither libtesseract nor pytesseract is"
    return "pytesseract", version


def _omp_thread_limit() -> int | None:
    """The OpenMP thread limit of this process (None when no OpenMP runtime is found)."""
    for name in ("libgomp.so.1", ctypes.util.find_library("gomp")):
        if not name:
            continue
        try:
            return int(ctypes.CDLL(name).omp_get_thread_limit())
        except (OSError, AttributeError):
            continue
    return None


# -- one worker process -------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _worker_init(backend: str, psm: int) -> None:
    os.environ.update(ONE_THREAD)  # before libtesseract, and the OpenMP runtime, load
    _worker.update(backend=backend, psm=psm)
    if backend == "capi":
        lib = load_libtesseract()
        handle = lib.TessBaseAPICreate()
        if lib.TessBaseAPIInit3(handle, None, b"eng") != 0:
            raise OcrlabError("tesseract: cannot load the 'eng' language data (tessdata)")
        lib.TessBaseAPISetPageSegMode(handle, psm)
        _worker.update(lib=lib, handle=handle)
        atexit.register(_worker_end)


def _worker_end() -> None:
    """Free the worker's API instance when its process exits (Tesseract's object cache
    reports every language model still referenced then as a leak)."""
    lib, handle = _worker.pop("lib", None), _worker.pop("handle", None)
    if lib is not None and handle:
        lib.TessBaseAPIEnd(handle)
        lib.TessBaseAPIDelete(handle)


def _worker_read(gray: np.ndarray) -> str:
    """(H, W) uint8 -> the text, whitespace normalized."""
    if _worker["backend"] == "capi":
        lib, h = _worker["lib"], _worker["handle"]
        a = np.ascontiguousarray(gray, dtype=np.uint8)
        lib.TessBaseAPISetImage(h, a.ctypes.data, a.shape[1], a.shape[0], 1, a.shape[1])
        p = lib.TessBaseAPIGetUTF8Text(h)
        try:
            text = ctypes.string_at(p).decode("utf-8", "replace") if p else ""
        finally:
            if p:
                lib.TessDeleteText(p)
    else:
        import pytesseract
        from PIL import Image

        text = pytesseract.image_to_string(Image.fromarray(gray), config=f"--psm {_worker['psm']}")
    return " ".join(text.split())


def _worker_threads(_: int) -> tuple[int, int | None, str | None]:
    """(pid, OpenMP thread limit, OMP_THREAD_LIMIT) of this worker."""
    return os.getpid(), _omp_thread_limit(), os.environ.get("OMP_THREAD_LIMIT")


class TesseractPool:
    """``instances`` Tesseract worker processes, one OpenMP thread each (see the module
    docstring). ``read(images)`` spreads the images over the workers; one image reads in one
    worker, so batch-1 latency is one instance's.

    Args:
        backend, version: from :func:`tesseract_backend`.
        psm: page segmentation mode (7: a line, 8: a word).
        instances: worker processes (one per core for throughput).
    """

    def __init__(self, backend: str, version: str, psm: int, instances: int) -> None:
        if instances < 1:
            raise OcrlabError(f"tesseract needs at least one instance, got {instances}")
        self.backend, self.version, self.psm, self.instances = backend, version, psm, instances
        self._pool = ProcessPoolExecutor(
            max_workers=instances,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(backend, psm),
        )
        try:
            self.workers = self._probe()
        except BaseException:
            self.close()
            raise

    def _probe(self) -> list[dict[str, Any]]:
        """Start every worker (so that setup is not timed) and record its OpenMP threads."""
        seen: dict[int, dict[str, Any]] = {}
        for _ in range(20):  # a task may land on an already-seen worker; ask until all answer
            for pid, limit, env in self._pool.map(_worker_threads, range(4 * self.instances)):
                seen[pid] = {"pid": pid, "omp_thread_limit": limit, "OMP_THREAD_LIMIT": env}
            if len(seen) >= self.instances:
                break
            time.sleep(0.05)
        return list(seen.values())

    @property
    def threads_per_instance(self) -> int:
        """The largest OpenMP thread limit among the workers (1 when run as intended;
        1 also when the library has no OpenMP runtime)."""
        limits = [w["omp_thread_limit"] for w in self.workers if w["omp_thread_limit"]]
        return max(limits, default=1)

    def read(self, images: Sequence[Any]) -> list[str]:
        grays = [np.asarray(im.convert("L"), dtype=np.uint8) for im in images]
        if len(grays) == 1:
            return [self._pool.submit(_worker_read, grays[0]).result()]
        chunk = max(1, len(grays) // (4 * self.instances))
        return list(self._pool.map(_worker_read, grays, chunksize=chunk))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def cli_rate(
    images: Sequence[Any], psm: int, processes: int, *, repeats: int = 1
) -> dict[str, Any]:
    """The second harness: the ``tesseract`` command reading a list of PNG files, one process
    per core (``processes``), each with ``OMP_THREAD_LIMIT=1``; the images are written first
    (not timed). Returns lines/s (median over ``repeats``), the predictions in input order and
    how it ran. Raises :class:`OcrlabError` when the command fails."""
    if processes < 1:
        raise OcrlabError(f"cli_rate needs at least one process, got {processes}")
    with tempfile.TemporaryDirectory(prefix="ocrlab-tess-") as tmp:
        root = Path(tmp)
        paths = []
        for i, im in enumerate(images):
            path = root / f"{i:06d}.png"
            im.convert("L").save(path)
            paths.append(path)
        shards = [paths[k::processes] for k in range(processes)]
        lists = []
        for k, shard in enumerate(shards):
            lst = root / f"list{k}.txt"
            lst.write_text("".join(f"{p}\n" for p in shard), encoding="utf-8")
            lists.append(lst)
        env = {**os.environ, **ONE_THREAD}
        times, outputs = [], []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            procs = [
                subprocess.Popen(
                    ["tesseract", str(lst), str(root / f"out{k}"), "--psm", str(psm), "-l", "eng"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for k, lst in enumerate(lists)
            ]
            errors = [p.communicate()[1] for p in procs]
            times.append(time.perf_counter() - t0)
            if any(p.returncode for p in procs):
                raise OcrlabError(
                    "the tesseract command failed: "
                    + b" ".join(errors).decode("utf-8", "replace")[-500:]
                )
            outputs = [(root / f"out{k}.txt").read_text(encoding="utf-8") for k in range(processes)]
    predictions: list[str] = [""] * len(images)
    for k, text in enumerate(outputs):
        pages = text.split("\f")  # one page per listed image, form-feed separated
        for j, page in enumerate(pages[: len(shards[k])]):
            predictions[k + j * processes] = " ".join(page.split())
    seconds = sorted(times)[len(times) // 2]
    return {
        "harness": f"tesseract command, a list of PNG files per process, {processes} processes, "
        "OMP_THREAD_LIMIT=1",
        "lines_per_s": round(len(images) / seconds, 2),
        "predictions": predictions,
    }
