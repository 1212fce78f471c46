"""What the optimizer trains and how fast: the LR schedule, parameter groups with per-module
learning rates, and frozen modules."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import torch

from ..config import ConfigError
from ..run_config import OptimConfig


def lr_lambda(optim: OptimConfig, max_steps: int):
    """Linear warmup, then cosine decay to ``min_lr_ratio`` at ``max_steps``.

    Not transformers' ``get_cosine_with_min_lr_schedule_with_warmup``: its warm-up starts at
    LR 0 on step 0 (a step that changes nothing), ours at ``lr / warmup_steps``; switching would
    shift every warm-up by one step and no committed training run (models, the LM-loss study)
    would be reproduced by its own command any more."""

    def f(step: int) -> float:
        if step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        t = min(1.0, (step - optim.warmup_steps) / max(1, max_steps - optim.warmup_steps))
        return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def param_groups(model: torch.nn.Module, optim: OptimConfig) -> list[dict[str, Any]]:
    """Optimizer groups: weight decay on matrices and convolution kernels only (not on norms,
    biases, queries or position tables), each at its module's LR (``optim.module_lr``, the
    longest matching name prefix; ``optim.lr`` otherwise). Frozen parameters are left out."""
    names = [n for n, _ in model.named_parameters()]
    for prefix in optim.module_lr:
        if not any(n.startswith(prefix) for n in names):
            raise ConfigError(
                f"optim.module_lr: no parameter name starts with {prefix!r} "
                f"(top-level modules: {', '.join(sorted({n.split('.')[0] for n in names}))})"
            )
    groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        matches = [k for k in optim.module_lr if name.startswith(k)]
        lr = float(optim.module_lr[max(matches, key=len)]) if matches else optim.lr
        no_decay = p.dim() < 2 or "query_tokens" in name or "positions." in name
        groups.setdefault((lr, not no_decay), []).append(p)
    return [
        {"params": ps, "lr": lr, "weight_decay": optim.weight_decay if decay else 0.0}
        for (lr, decay), ps in sorted(groups.items(), key=lambda kv: (not kv[0][1], kv[0][0]))
    ]


def freeze_modules(model: torch.nn.Module, prefixes: Sequence[str]) -> list[torch.nn.Module]:
    """Turn off the gradient of every parameter whose name starts with one of ``prefixes``;
    return the modules under those prefixes (kept in eval mode by :func:`set_train_mode`).
    A prefix that matches nothing is a :class:`ConfigError` (a typo would silently train)."""
    modules = []
    for prefix in prefixes:
        hit = [p for n, p in model.named_parameters() if n.startswith(prefix)]
        if not hit:
            raise ConfigError(f"train.freeze: no parameter name starts with {prefix!r}")
        for p in hit:
            p.requires_grad_(False)
        # a module prefix ("encoder.") names a module; a parameter prefix
        # ("qformer.query_tokens") does not, and has no mode to keep
        with contextlib.suppress(AttributeError):
            modules.append(model.get_submodule(prefix.rstrip(".")))
    return modules


def set_train_mode(model: torch.nn.Module, frozen: Sequence[torch.nn.Module]) -> None:
    """``model.train()``, except frozen modules, which stay in eval mode."""
    model.train()
    for m in frozen:
        m.eval()
