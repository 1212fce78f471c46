"""How the CTC and LM losses pull on the shared encoder (logged as ``grad`` events)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def gradient_diagnostics(
    ctc_loss: torch.Tensor,
    lm_loss: torch.Tensor,
    params: Sequence[torch.nn.Parameter],
    w_ctc: float,
    w_lm: float,
) -> dict[str, float]:
    """How the two losses pull on the shared encoder.

    Returns the gradient norm of each (unweighted) loss w.r.t. ``params``, their ratio
    (LM / CTC), their cosine similarity, and ``lm_share``: the fraction of the weighted total
    gradient that lies along the LM's weighted gradient, ``<w_lm g_lm, g> / |g|^2`` with
    ``g = w_ctc g_ctc + w_lm g_lm`` — the LM's effective share of the encoder's update (0 when
    its signal vanishes, negative when it opposes CTC's).
    """
    g_ctc = torch.autograd.grad(ctc_loss, params, retain_graph=True, allow_unused=True)
    g_lm = torch.autograd.grad(lm_loss, params, retain_graph=True, allow_unused=True)
    flat = lambda gs: torch.cat(  # noqa: E731
        [
            (g if g is not None else torch.zeros_like(p)).flatten().float()
            for g, p in zip(gs, params, strict=True)
        ]
    )
    a, b = flat(g_ctc), flat(g_lm)  # (P,), (P,)
    na, nb = a.norm().item(), b.norm().item()
    total = w_ctc * a + w_lm * b  # (P,)
    nt2 = float(total.pow(2).sum())
    return {
        "grad_norm_ctc": na,
        "grad_norm_lm": nb,
        "grad_ratio_lm_ctc": nb / na if na > 0 else float("nan"),
        "grad_cosine": float(torch.dot(a, b)) / (na * nb) if na > 0 and nb > 0 else float("nan"),
        "lm_share": float(torch.dot(w_lm * b, total)) / nt2 if nt2 > 0 else float("nan"),
    }
