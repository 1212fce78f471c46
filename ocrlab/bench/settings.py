"""What ``ocrlab bench`` measures and on what: the engine names, :class:`BenchSettings` (how much
to measure) and :class:`BenchData` (the line images every engine reads, decoded once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from .. import peers
from ..data.specs import open_dataset
from ..errors import OcrlabError

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
LM_ENGINES = ("lm_generate", "lm_generate_gpt2")


class BenchError(OcrlabError):
    """Bench input that cannot be measured: an empty set, an unknown engine."""


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
