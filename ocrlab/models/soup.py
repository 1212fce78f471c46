"""Weight-space interpolation of two checkpoints of one architecture.

A model fine-tuned from another stays in its basin, so the straight line between the two
weight vectors is a family of models that trade what the fine-tuning gained for what it cost
(WiSE-FT: Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022). ocrlab uses
it for a scene-word fine-tune that learned to drop the spaces of printed lines: somewhere
between the two checkpoints both can hold.

:func:`interpolate` mixes the weights whose names start with ``prefixes`` (the CTC path by
default) and keeps ``base``'s for the rest (its Q-Former, which need not share a layout with
the other's). BatchNorm's running statistics are mixed like weights; its step counter is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .checkpoint import CheckpointError
from .model import OCRModel

CTC_PATH = ("encoder.", "ctc_head.")


def interpolate(
    base: OCRModel, other: OCRModel, alpha: float, *, prefixes: Sequence[str] = CTC_PATH
) -> OCRModel:
    """``base`` with its ``prefixes`` weights set to ``(1 - alpha) * base + alpha * other``
    (``alpha`` 0: ``base``; 1: ``other``'s CTC path). ``base`` is changed in place and returned.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if base.charset != other.charset:
        raise CheckpointError(
            f"cannot interpolate models with different charsets "
            f"({base.charset.name!r}, {len(base.charset)} classes vs "
            f"{other.charset.name!r}, {len(other.charset)})"
        )
    prefixes = tuple(prefixes)
    mine = base.state_dict()
    theirs = other.state_dict()
    mixed: dict[str, torch.Tensor] = {}
    for name, value in mine.items():
        if not name.startswith(prefixes):
            continue
        if name not in theirs or theirs[name].shape != value.shape:
            got = tuple(theirs[name].shape) if name in theirs else "missing"
            raise CheckpointError(
                f"cannot interpolate: {name} is {tuple(value.shape)} in one model and {got} "
                "in the other (different architectures)"
            )
        if value.is_floating_point():
            mixed[name] = torch.lerp(value, theirs[name].to(value.dtype), alpha)
    if not mixed:
        raise ValueError(f"no floating-point weights start with {prefixes}")
    base.load_state_dict(mixed, strict=False)
    return base
