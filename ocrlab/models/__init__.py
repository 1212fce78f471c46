"""The recognizer's parts, one module each: encoder, CTC head + decoders, Q-Former, LM bridge,
and :class:`OCRModel` that joins them."""

import os
from collections.abc import Mapping
from pathlib import Path

from .checkpoint import CONFIG_NAME, CheckpointError
from .config import EncoderConfig, LMConfig, OCRConfig, QFormerConfig
from .model import OCRModel, OCROutput, Recognition

#: The repository's folder of shipped checkpoints (``models/``: the repository keeps its large
#: files there; this package, ``ocrlab.models``, holds the code).
WEIGHTS_DIR = "models"
#: The bundled model's folder in :data:`WEIGHTS_DIR`. Its README says how it was made.
DEFAULT_MODEL = "ocrlab-small-v6"
_PACKAGE_DIR = Path(__file__).resolve().parent


def find_default_checkpoint(
    environ: Mapping[str, str] = os.environ,
    package_dir: Path = _PACKAGE_DIR,
    cwd: Path | None = None,
) -> Path:
    """Where the bundled model is: ``$OCRLAB_CHECKPOINT`` when set; else ``models/<name>`` of
    the source checkout this package runs from (an editable install or the repository itself);
    else ``models/<name>`` under the working directory (a package installed into
    site-packages, run from a clone). When none exists, the checkout's path: loading it then
    fails naming that path (set ``OCRLAB_CHECKPOINT``)."""
    if environ.get("OCRLAB_CHECKPOINT"):
        return Path(environ["OCRLAB_CHECKPOINT"])
    in_checkout = package_dir.parents[1] / WEIGHTS_DIR / DEFAULT_MODEL
    in_cwd = (cwd or Path.cwd()) / WEIGHTS_DIR / DEFAULT_MODEL
    for candidate in (in_checkout, in_cwd):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    return in_checkout


#: The bundled default checkpoint (see :func:`find_default_checkpoint`).
DEFAULT_CHECKPOINT = find_default_checkpoint()

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_MODEL",
    "WEIGHTS_DIR",
    "CheckpointError",
    "EncoderConfig",
    "LMConfig",
    "OCRConfig",
    "OCRModel",
    "OCROutput",
    "QFormerConfig",
    "Recognition",
    "find_default_checkpoint",
]
