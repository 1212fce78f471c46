"""Where the CTC and LM losses become the one loss a training step back-propagates.

The model returns the two losses apart (:class:`~ocrlab.models.model.OCROutput`); a balancer
combines them, and nothing else does. ``loss.balance.kind`` selects it:

- ``none`` (:class:`Balancer`): ``w_ctc * ctc_loss + w_lm * lm_loss`` with the fixed or scheduled
  weights of :mod:`ocrlab.schedules`.

Two automatic methods choose the weights themselves; their weights multiply the scheduled ones,
so a schedule that is 0 still switches a loss off:

- ``uncertainty`` (Kendall, Gal & Cipolla, CVPR 2018): one learned log-variance ``s_i`` per loss,
  ``total = sum_i exp(-s_i) * L_i + s_i``. A loss that stays large gets a small weight
  ``exp(-s_i)``; the ``+ s_i`` term stops the weights from collapsing to zero. The ``s_i`` have
  their own Adam optimizer (``lr``).
- ``gradnorm`` (Chen et al., ICML 2018): weights ``w_i`` (summing to the number of losses) are
  moved so that each weighted loss's gradient norm on a shared layer ``W`` approaches the mean
  norm times ``r_i ** alpha``, where ``r_i`` is the loss's training rate (``L_i(t) / L_i(0)``
  relative to the mean rate). Because ``w_i`` is a scalar factor, ``G_i = w_i * |dL_i/dW|`` and
  the GradNorm loss's gradient in ``w_i`` needs no second-order terms. ``every``: update the
  weights every this many steps (the norms cost one extra backward pass per loss).

Usage in a training step::

    total = balancer.combine(ctc_loss, lm_loss, ctc_scale, lm_scale, step)  # may update weights
    total.backward(); optimizer.step(); balancer.step()
    balancer.weights  # {"ctc": ..., "lm": ...} effective weights of this step, for the log
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .config import ConfigError

KINDS = ("none", "uncertainty", "gradnorm")
NAMES = ("ctc", "lm")


@dataclass
class BalanceConfig:
    """``kind``: none | uncertainty | gradnorm. ``lr``: the learning rate of the balancer's
    own parameters (log-variances or GradNorm weights). ``alpha``: GradNorm's asymmetry
    (0: equal gradient norms; the paper uses 0.5-3). ``every``: GradNorm update interval."""

    kind: str = "none"
    lr: float = 0.025
    alpha: float = 1.5
    every: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"loss.balance.kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.lr <= 0 or self.every < 1:
            raise ConfigError(
                f"loss.balance needs lr > 0 and every >= 1, got lr={self.lr}, every={self.every}"
            )


class Balancer:
    """The scheduled weights as they are (``kind: none``), and the base class of the automatic
    balancers: ``combine`` the two losses into the total to back-propagate."""

    kind = "none"

    def __init__(self) -> None:
        self.weights: dict[str, float] = {"ctc": 1.0, "lm": 1.0}
        self.extra: dict[str, float] = {}

    def combine(
        self,
        ctc_loss: torch.Tensor,
        lm_loss: torch.Tensor | None,
        ctc_scale: float,
        lm_scale: float,
        step: int,
    ) -> torch.Tensor:
        """``ctc_scale * ctc_loss + lm_scale * lm_loss``; without an LM loss (not computed this
        step) the CTC term alone. ``self.weights`` holds the weights used, for the log."""
        self.weights = {"ctc": ctc_scale, "lm": lm_scale}
        terms = [ctc_scale * ctc_loss]
        if lm_loss is not None:
            terms.append(lm_scale * lm_loss)
        return torch.stack(terms).sum()

    def step(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        """Apply the balancer's own update after the model's backward pass. ``reduce``
        averages a gradient over processes (data-parallel runs)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def log_values(self) -> dict[str, float]:
        """The effective weights and the balancer's internals, for the metrics log."""
        return {"w_ctc": self.weights["ctc"], "w_lm": self.weights["lm"], **self.extra}


class UncertaintyWeighting(Balancer):
    """Kendall et al. 2018: learned log-variances, ``exp(-s_i) * L_i + s_i``."""

    kind = "uncertainty"

    def __init__(self, lr: float = 0.025) -> None:
        super().__init__()
        self.log_vars = torch.nn.Parameter(torch.zeros(len(NAMES)))  # (2,) s_ctc, s_lm
        self.optimizer = torch.optim.Adam([self.log_vars], lr=lr)

    def combine(self, ctc_loss, lm_loss, ctc_scale, lm_scale, step):
        s = self.log_vars
        terms = [ctc_scale * (torch.exp(-s[0]) * ctc_loss + s[0])]
        if lm_loss is not None and lm_scale > 0:
            terms.append(lm_scale * (torch.exp(-s[1]) * lm_loss + s[1]))
        w = torch.exp(-s.detach())
        self.weights = {"ctc": ctc_scale * float(w[0]), "lm": lm_scale * float(w[1])}
        self.extra = {"log_var_ctc": float(s[0].detach()), "log_var_lm": float(s[1].detach())}
        return torch.stack(terms).sum()

    def step(self, reduce=None):
        if self.log_vars.grad is not None:
            if reduce is not None:
                self.log_vars.grad = reduce(self.log_vars.grad)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def state_dict(self):
        return {
            "log_vars": self.log_vars.detach().clone(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state):
        with torch.no_grad():
            self.log_vars.copy_(state["log_vars"])
        self.optimizer.load_state_dict(state["optimizer"])


class GradNorm(Balancer):
    """Chen et al. 2018: weights that equalize (rate-adjusted) gradient norms on ``shared``."""

    kind = "gradnorm"

    def __init__(
        self,
        shared: Sequence[torch.nn.Parameter],
        lr: float = 0.025,
        alpha: float = 1.5,
        every: int = 1,
    ) -> None:
        super().__init__()
        self.shared = [p for p in shared if p.requires_grad]
        if not self.shared:
            raise ConfigError("GradNorm needs at least one trainable shared parameter")
        self.alpha, self.every = alpha, every
        self.w = torch.nn.Parameter(torch.ones(len(NAMES)))  # (2,) w_ctc, w_lm; sum 2
        self.optimizer = torch.optim.Adam([self.w], lr=lr)
        self.initial: torch.Tensor | None = None  # (2,) L_i(0), set at the first joint step
        self._pending = False

    def _norm(self, loss: torch.Tensor) -> torch.Tensor:
        grads = torch.autograd.grad(loss, self.shared, retain_graph=True, allow_unused=True)
        sq = [g.pow(2).sum() for g in grads if g is not None]
        return torch.stack(sq).sum().sqrt() if sq else torch.zeros(())

    def combine(self, ctc_loss, lm_loss, ctc_scale, lm_scale, step):
        w = self.w.detach()
        joint = lm_loss is not None and lm_scale > 0
        self._pending = False
        if joint and step % self.every == 0:
            losses = torch.stack([ctc_loss.detach(), lm_loss.detach()])  # (2,)
            if self.initial is None:
                self.initial = losses.clone()
            g = torch.stack([self._norm(ctc_loss), self._norm(lm_loss)]).detach()  # (2,) |dL_i/dW|
            G = self.w * g  # (2,) weighted norms
            rate = losses / self.initial.clamp_min(1e-8)  # (2,)
            target = (G.mean() * (rate / rate.mean()) ** self.alpha).detach()  # (2,)
            (G - target).abs().sum().backward()  # fills self.w.grad only
            self._pending = True
            self.extra = {"gn_norm_ctc": float(g[0]), "gn_norm_lm": float(g[1])}
        total = ctc_scale * w[0] * ctc_loss
        if joint:
            total = total + lm_scale * w[1] * lm_loss
        self.weights = {"ctc": ctc_scale * float(w[0]), "lm": lm_scale * float(w[1])}
        return total

    def step(self, reduce=None):
        if self._pending and self.w.grad is not None:
            if reduce is not None:
                self.w.grad = reduce(self.w.grad)
            self.optimizer.step()
            with torch.no_grad():  # renormalize: positive weights summing to the number of losses
                self.w.clamp_(min=1e-3)
                self.w.mul_(len(NAMES) / self.w.sum())
        self.optimizer.zero_grad(set_to_none=True)
        self._pending = False

    def state_dict(self):
        return {
            "w": self.w.detach().clone(),
            "initial": self.initial,
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state):
        with torch.no_grad():
            self.w.copy_(state["w"])
        self.initial = state["initial"]
        self.optimizer.load_state_dict(state["optimizer"])


def make_balancer(config: BalanceConfig, shared: Sequence[torch.nn.Parameter] = ()) -> Balancer:
    """The balancer for ``config``. ``shared``: GradNorm's layer."""
    if config.kind == "uncertainty":
        return UncertaintyWeighting(lr=config.lr)
    if config.kind == "gradnorm":
        return GradNorm(shared, lr=config.lr, alpha=config.alpha, every=config.every)
    return Balancer()
