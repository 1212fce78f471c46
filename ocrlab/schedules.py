"""Loss-weight schedules: ``w(step)`` for the CTC and LM losses.

Kinds:
- ``constant``: ``value`` throughout.
- ``step``: ``value`` before ``start_step`` (or epoch ``at_epoch``), ``end`` from then on —
  "raise the LM weight mid-training", or a two-stage run (CTC alone, then both).
- ``linear``: ``value`` until ``start_step``, a straight ramp to ``end`` at ``end_step``, then
  ``end``.
- ``cosine``: like ``linear`` with a half-cosine ramp (smooth at both ends).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import ConfigError

KINDS = ("constant", "step", "linear", "cosine")


@dataclass
class ScheduleConfig:
    kind: str = "constant"
    value: float = 1.0
    end: float = 1.0
    start_step: int = 0
    end_step: int = 0
    at_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"schedule kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind in ("linear", "cosine") and self.end_step <= self.start_step:
            raise ConfigError(
                f"a {self.kind} schedule needs end_step > start_step, "
                f"got {self.start_step}..{self.end_step}"
            )


def schedule_value(config: ScheduleConfig, step: int, steps_per_epoch: int | None = None) -> float:
    """The weight at optimizer step ``step`` (0-based)."""
    if config.kind == "constant":
        return config.value
    if config.kind == "step":
        switch = config.start_step
        if config.at_epoch is not None:
            if not steps_per_epoch:
                raise ConfigError("a step schedule with at_epoch needs the epoch length")
            switch = config.at_epoch * steps_per_epoch
        return config.value if step < switch else config.end
    t = (step - config.start_step) / (config.end_step - config.start_step)
    t = min(1.0, max(0.0, t))
    if config.kind == "cosine":
        t = 0.5 - 0.5 * math.cos(math.pi * t)
    return config.value + (config.end - config.value) * t
