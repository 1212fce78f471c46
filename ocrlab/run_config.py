"""The run config: everything ``ocrlab train`` needs besides the model (data, optimizer, loss
weights and their schedules, the loop's budget and bookkeeping), as nested dataclasses read from
a YAML preset with dotted overrides. It lives apart from the training loop, so that reading a
run's ``config.yaml`` (viz, study, notebooks, the CLI) does not import the loop.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from .balancing import BalanceConfig
from .config import load_config
from .models.config import OCRConfig
from .schedules import ScheduleConfig

__all__ = [
    "DataConfig",
    "LossConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "load_run_config",
]


@dataclass
class DataConfig:
    """``train``: dataset specs (``synth:n=..,seed=..``, a folder, an ``.lmdb``), concatenated.
    ``val``: one spec, read with the inference path (aspect kept up to ``val_max_width``)."""

    train: list[str] = field(default_factory=lambda: ["synth:n=100000,seed=1"])
    val: str | None = "synth:n=500,seed=900001"
    batch_size: int = 32
    max_width: int = 512
    val_max_width: int = 2048
    num_workers: int = 0
    policy: str = "skip"  # labels outside the charset: skip (counted) | error | replace
    skip_bad: bool = False  # skip (and count) unreadable images instead of stopping
    bucket_by_length: bool = True


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0
    # per-module learning rates: parameter-name prefix -> LR (the longest matching prefix wins;
    # others use ``lr``), e.g. {qformer: 1.0e-4} for BLIP-2's Q-Former scale
    module_lr: dict[str, float] = field(default_factory=dict)


@dataclass
class LossConfig:
    ctc_weight: ScheduleConfig = field(default_factory=ScheduleConfig)
    lm_weight: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(value=0.5, end=0.5))
    # automatic balancing (uncertainty | gradnorm): learned weights that multiply the schedules
    balance: BalanceConfig = field(default_factory=BalanceConfig)


@dataclass
class TrainConfig:
    max_steps: int = 10000
    max_minutes: float | None = None  # wall-clock budget; the run ends cleanly when it is spent
    log_every: int = 20
    eval_every: int = 500
    save_every: int = 500
    grad_diag_every: int = 100
    keep_snapshots: bool = True
    seed: int = 0
    mixed_precision: str = "auto"  # auto: bf16 on a GPU, none on the CPU
    threads: int | None = None
    # start from this checkpoint's weights (a new optimizer and LR schedule): continue or
    # fine-tune a trained model; ignored on --resume, which restores everything from the run
    init_from: str | None = None
    # weight-name prefixes NOT taken from init_from (they keep a fresh initialization), e.g.
    # [qformer., lm_bridge.language_projection.] for a new Q-Former over a trained encoder
    init_skip: list[str] = field(default_factory=list)
    # parameter-name prefixes to freeze (no gradient, and their modules stay in eval mode so
    # BatchNorm statistics and dropout do not move either), e.g. [encoder., ctc_head.]: BLIP-2's
    # first stage, the Q-Former learning over a fixed image encoder
    freeze: list[str] = field(default_factory=list)
    # reading diagnostics of the Q-Former branch at every evaluation, on the first
    # ``reading_lines`` validation lines (0: off); see ocrlab.reading
    reading_lines: int = 64


@dataclass
class RunConfig:
    model: OCRConfig = field(default_factory=OCRConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_run_config(path: str | os.PathLike | None, overrides: Sequence[str] = ()) -> RunConfig:
    """A YAML preset (``configs/small.yaml``) with ``key.path=value`` overrides applied."""
    return load_config(RunConfig, path, overrides)
