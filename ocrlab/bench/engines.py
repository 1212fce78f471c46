"""The bench's engines: each reads PIL line images and returns texts, as its own users run it
(PyTorch, onnxruntime, the LM path, Tesseract's worker pool, other projects' recognizers), and
the ONNX files the ONNX engines read."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .. import peers
from ..data.transforms import prepare_lines
from ..export import (
    ExportError,
    OnnxRecognizer,
    export_onnx,
    quantize_int8,
    read_metadata,
    weights_fingerprint,
)
from ..tesseract import TesseractPool
from .measure import Engine, sync_device
from .settings import BenchSettings


def _collated(images: Sequence[Any], height: int, max_width: int | None, batch_size: int):
    """``(indices, images, widths)`` of the width-sorted padded batches every reader uses
    (:func:`~ocrlab.data.transforms.prepare_lines`)."""
    lines = prepare_lines(images, height=height, max_width=max_width, batch_size=batch_size)
    return [(idx, batch.images, batch.widths) for idx, batch in lines.batches()]


class TorchCTC(Engine):
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
        sync_device(self.device)


class OnnxCTC(Engine):
    description = "onnxruntime: the exported encoder + CTC head, same preprocessing and decoder"

    def __init__(self, name: str, path: Path, charset: Any, threads: int, max_width) -> None:
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


class LMGenerate(Engine):
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


def gpt2_engine(
    model: Any, max_width: int | None, tokens: int, dims: dict[str, int] = GPT2_SMALL
) -> LMGenerate:
    """The LM path with a randomly initialized GPT-2 of ``dims`` (default GPT-2 small)."""
    # transformers is the optional "model" extra: a CTC-only install can bench without it
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
    engine = LMGenerate("lm_generate_gpt2", model, max_width, lm, projection, tokens)
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


class TesseractEngine(Engine):
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


class PeerEngine(Engine):
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


# -- ONNX files ------------------------------------------------------------------------------


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ocrlab" / "onnx"


def onnx_files(
    model: Any, settings: BenchSettings, workdir: Path, onnx_path: str | None
) -> tuple[Path, Path]:
    """The fp32 and int8 ONNX files of ``model``: ``onnx_path`` if given (it must come from
    this model), else from the cache, else exported now (from the CPU: the model is moved
    there for the export and back)."""
    device = next(model.parameters()).device
    if device.type != "cpu":
        model.cpu()
        try:
            return onnx_files(model, settings, workdir, onnx_path)
        finally:
            model.to(device)
    fp = weights_fingerprint(model)
    if onnx_path is not None:
        path = Path(onnx_path)
        theirs = read_metadata(path).get("fingerprint")
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
        if not path.is_file() or read_metadata(path).get("fingerprint") != fp:
            export_onnx(model, path)
    int8 = folder / f"{path.stem}.int8.onnx"
    if not int8.is_file() or read_metadata(int8).get("fingerprint") != fp:
        quantize_int8(path, int8)
    return path, int8
