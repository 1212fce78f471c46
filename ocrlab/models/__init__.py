"""The recognizer's parts, one module each: encoder, CTC head + decoders, Q-Former, LM bridge,
and :class:`OCRModel` that joins them."""

from pathlib import Path

from .config import EncoderConfig, LMConfig, OCRConfig, QFormerConfig
from .model import CheckpointError, OCRModel, OCROutput, Recognition

#: The bundled default checkpoint (a folder in the repository; see its README for how it was made).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "ocrlab-small-v5"

__all__ = [
    "DEFAULT_CHECKPOINT",
    "CheckpointError",
    "EncoderConfig",
    "LMConfig",
    "OCRConfig",
    "OCRModel",
    "OCROutput",
    "QFormerConfig",
    "Recognition",
]
