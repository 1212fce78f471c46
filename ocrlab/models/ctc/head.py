"""The CTC head (``ctc_head``) and the CTC loss over the lines whose target fits their frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ocrlab.errors import OcrlabError


class CTCHead(nn.Module):
    """``ctc_head``: Linear(d_model -> num_classes). forward(features (B, T, d)) -> logits
    (B, T, C); :meth:`log_probs` gives their log-softmax."""

    def __init__(self, d_model: int, num_classes: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features)  # (B, T, C)

    @staticmethod
    def log_probs(logits: torch.Tensor) -> torch.Tensor:
        """(B, T, C) logits -> (B, T, C) float32 log-probabilities."""
        return logits.float().log_softmax(-1)  # (B, T, C)


# -- loss -----------------------------------------------------------------------------------


def _concat_targets(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """Padded (B, S) targets -> concatenated (sum L,); concatenated ones pass through."""
    if targets.dim() == 1:
        return targets
    keep = torch.arange(targets.shape[1], device=targets.device) < target_lengths[:, None]
    return targets[keep]  # (sum L,)


def ctc_feasible(
    input_lengths: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor
) -> torch.Tensor:
    """(B,) bool: can ``input_lengths[b]`` frames emit target ``b`` at all?

    A CTC path needs one frame per character plus one blank between each pair of equal
    neighbours ("aa" needs 3 frames), so line b is feasible iff L_b + repeats_b <= T_b.
    ``targets``: concatenated (sum L,) or padded (B, S), as for :func:`ctc_loss`.
    """
    flat = _concat_targets(targets, target_lengths)  # (sum L,)
    B = target_lengths.shape[0]
    line = torch.repeat_interleave(
        torch.arange(B, device=flat.device), target_lengths.to(flat.device)
    )  # (sum L,) line index of each target character
    repeat = (flat[1:] == flat[:-1]) & (line[1:] == line[:-1])  # (sum L - 1,)
    repeats = torch.zeros(B, dtype=torch.long, device=flat.device)
    repeats.index_add_(0, line[1:], repeat.long())  # (B,)
    need = target_lengths.to(flat.device) + repeats  # (B,)
    return need <= input_lengths.to(flat.device)  # (B,)


def ctc_loss(
    log_probs: torch.Tensor,
    input_lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    reduction: str = "mean",
) -> torch.Tensor:
    """CTC loss (blank = 0, ``zero_infinity=True``).

    Args:
        log_probs: (B, T, C) log-softmax outputs (computed in float32 whatever their dtype).
        input_lengths: (B,) real frames per line.
        targets: (sum L,) concatenated class ids (or padded (B, S)).
        target_lengths: (B,).
        reduction: "mean" (each line's loss divided by its target length, then averaged over
            the batch: PyTorch's mean), "sum" or "none" ((B,)).

    Infeasible lines (see :func:`ctc_feasible`) have infinite loss, which ``zero_infinity``
    turns into 0 with zero gradient; training should still drop and count them with
    :func:`ctc_feasible` so that the mean is not diluted.
    """
    B, T, _ = log_probs.shape
    if input_lengths.shape != (B,) or target_lengths.shape != (B,):
        raise OcrlabError(
            f"ctc_loss: log_probs has batch {B} but input_lengths {tuple(input_lengths.shape)} "
            f"and target_lengths {tuple(target_lengths.shape)}"
        )
    if int(input_lengths.max()) > T:
        raise OcrlabError(f"ctc_loss: input_lengths up to {int(input_lengths.max())} > T={T}")
    return F.ctc_loss(
        log_probs.float().transpose(0, 1),  # (T, B, C)
        targets,
        input_lengths,
        target_lengths,
        blank=0,
        reduction=reduction,
        zero_infinity=True,
    )
