"""Speed and real time, measured side by side on the same images: ``ocrlab bench``.

The package, one idea per module: :mod:`.settings` (engine names, what to measure, the
images), :mod:`.engines` (each engine as its users run it), :mod:`.measure` (timing, memory,
the machine's peak, real time), :mod:`.run` (one run, the JSON report), :mod:`.report` (the
tables people read).

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

from ..tesseract import tesseract_backend
from .measure import PeakRSS, matmul_peak, realtime_table
from .report import format_report
from .run import CROSS_CHECK_TOLERANCE, flag_int8, run_bench, write_json
from .settings import (
    ENGINES,
    EXTRA_ENGINES,
    FRAME_LINES,
    INT8_CER_TOLERANCE,
    PEER_ENGINES,
    BenchData,
    BenchError,
    BenchSettings,
    load_bench_data,
)

__all__ = [
    "CROSS_CHECK_TOLERANCE",
    "ENGINES",
    "EXTRA_ENGINES",
    "FRAME_LINES",
    "INT8_CER_TOLERANCE",
    "PEER_ENGINES",
    "BenchData",
    "BenchError",
    "BenchSettings",
    "PeakRSS",
    "flag_int8",
    "format_report",
    "load_bench_data",
    "matmul_peak",
    "realtime_table",
    "run_bench",
    "tesseract_backend",
    "write_json",
]
