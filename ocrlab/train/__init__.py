"""Training: data, the loop (Accelerate: CPU, one GPU, or ``accelerate launch`` over several),
weighted and scheduled CTC + LM losses, gradient diagnostics, validation, atomic checkpoints and
exact resumption. One module each: :mod:`.data` (the mix and the batch order), :mod:`.optim`
(schedule, parameter groups, freezing), :mod:`.diagnostics`, :mod:`.log` (``metrics.jsonl``,
``run.json``) and :mod:`.loop` (:func:`train`, :func:`resume_point`).

A run folder holds::

    config.yaml            the resolved RunConfig
    metrics.jsonl          one JSON object per event: {"kind": "train" | "grad" | "val", "step", ...}
    checkpoints/last/      model checkpoint + trainer_state.pt (optimizer, scheduler, step, RNG,
                           data position): what --resume reads
    checkpoints/best/      the checkpoint with the lowest validation CER
    checkpoints/step-N/    snapshots every ``save_every`` steps (for attention-over-training views)

The model knows nothing of this package; this package knows nothing of the model's layers
beyond "the encoder's parameters" (for the gradient diagnostics).
"""

from __future__ import annotations

from .data import LengthBucketSampler, build_datasets, label_lengths, train_set_transform
from .diagnostics import gradient_diagnostics
from .log import MetricsLog
from .loop import TrainResult, resume_point, train
from .optim import freeze_modules, lr_lambda, param_groups, set_train_mode

__all__ = [
    "LengthBucketSampler",
    "MetricsLog",
    "TrainResult",
    "build_datasets",
    "freeze_modules",
    "gradient_diagnostics",
    "label_lengths",
    "lr_lambda",
    "param_groups",
    "resume_point",
    "set_train_mode",
    "train",
    "train_set_transform",
]
