"""The recognizer's parts, one module each: encoder, CTC head + decoders, Q-Former, LM bridge,
and :class:`OCRModel` that joins them."""

from .config import EncoderConfig, LMConfig, OCRConfig, QFormerConfig
from .model import CheckpointError, OCRModel, OCROutput, Recognition

__all__ = [
    "CheckpointError",
    "EncoderConfig",
    "LMConfig",
    "OCRConfig",
    "OCRModel",
    "OCROutput",
    "QFormerConfig",
    "Recognition",
]
