"""The BLIP-2 Q-Former: learnable queries that read one encoder stage through cross-attention.

A thin wrapper around ``transformers.Blip2QFormerModel`` used standalone: the module owns the
``query_tokens`` (as ``Blip2Model`` does) and passes them as ``query_embeds``, with the encoder stage
as ``encoder_hidden_states``. Facts of transformers 5.x this relies on (read from
``models/blip_2/modeling_blip_2.py``):

- ``Blip2QFormerModel.forward`` applies its ``layernorm`` and ``dropout`` to ``query_embeds``
  before the first layer, so ``query_tokens`` are not normalized here.
- ``encoder_attention_mask`` is a 2-D (B, T) mask, 1/True = attend; the model turns it into the
  additive 4-D mask itself (``create_bidirectional_mask``). With eager attention a padded key gets
  ``finfo.min``, so its attention weight is exactly 0 and padding does not change the output.
- Layer ``i`` has cross-attention when ``i % cross_attention_frequency == 0``.
- With ``output_attentions=True`` the output's ``cross_attentions`` holds one (B, heads, Q, T) map
  per cross-attention layer. Its ``attentions`` holds the self-attention AND the cross-attention
  maps interleaved in execution order (its recorder matches ".attention", which is also the name
  of the module inside ``.crossattention``), so :class:`QFormer` separates them by layer.
- Attention maps exist only with ``attn_implementation="eager"`` (SDPA returns none).
- No position information is added to ``encoder_hidden_states`` (BLIP-2's ViT features carry
  their own). Without ``config.positions`` the queries therefore read a *set*: permuting the
  source positions permutes nothing in their output. :class:`SourcePositions` adds them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel

from ocrlab.errors import OcrlabError

from .config import QFormerConfig
from .encoder import SinusoidalPositions, sinusoids

__all__ = ["POSITIONS", "RELATIVE_SPAN", "QFormer", "QFormerOutput", "SourcePositions"]

POSITIONS = ("none", "sinusoidal", "relative", "learned")
RELATIVE_SPAN = 64.0
"""``relative`` positions: a line's real width is mapped onto positions 0..RELATIVE_SPAN,
whatever its length (64 frames is a line of 20-25 characters at the context stage's stride 4:
``benchmarks/qformer_reading/peaks_v6.json``)."""


@dataclass
class QFormerOutput:
    """What the Q-Former returns.

    query_output: (B, Q, H) the queries after the last layer.
    cross_attentions: one (B, heads, Q, T) map per cross-attention layer, rows sum to 1 over the
        real positions of ``encoder_mask`` and are 0 on padding; empty unless
        ``output_attentions``.
    self_attentions: one (B, heads, Q, Q) map per layer; empty unless ``output_attentions``.
    """

    query_output: torch.Tensor
    cross_attentions: tuple[torch.Tensor, ...] = ()
    self_attentions: tuple[torch.Tensor, ...] = ()


class SourcePositions(nn.Module):
    """Position encodings added to the source stage before cross-attention (as a ViT's patch
    features carry theirs); padded positions stay exactly zero.

    ``kind``: ``"sinusoidal"`` (fixed codes of the frame index, any width), ``"relative"``
    (the same codes of the position as a fraction of the line's real width, scaled to
    :data:`RELATIVE_SPAN`, as DETR normalizes its sine encoding: the middle of a 3-letter word
    and of a 40-character line get the same code) or
    ``"learned"`` (``max_positions`` vectors, BLIP-2's ViT initializer std 0.02; positions past
    the last reuse it).
    """

    def __init__(self, kind: str, width: int, max_positions: int) -> None:
        super().__init__()
        if kind not in POSITIONS[1:]:
            raise OcrlabError(f"qformer.positions={kind!r}; choose one of {', '.join(POSITIONS)}")
        self.kind = kind
        self.width = width
        if kind == "sinusoidal":
            self.encode = SinusoidalPositions(width)
        elif kind == "learned":
            self.embedding = nn.Parameter(torch.zeros(max_positions, width))
            nn.init.normal_(self.embedding, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, T, C) + positions, zeroed where ``mask`` (B, T) is False."""
        if self.kind == "sinusoidal":
            x = self.encode(x)  # (B, T, C)
        elif self.kind == "relative":
            B, T = x.shape[:2]
            frames = torch.arange(T, device=x.device, dtype=torch.float32)[None]  # (1, T)
            real = (
                torch.full((B, 1), float(T), device=x.device)
                if mask is None
                else mask.sum(1, keepdim=True).clamp_min(1).float()
            )  # (B, 1) real frames per line
            x = x + sinusoids(frames * (RELATIVE_SPAN / real), self.width).to(x.dtype)  # (B, T, C)
        else:
            T, n = x.shape[1], self.embedding.shape[0]
            idx = torch.arange(T, device=x.device).clamp_max(n - 1)  # (T,)
            x = x + self.embedding[idx].to(x.dtype)[None]  # (B, T, C)
        return x if mask is None else x * mask[..., None].to(x.dtype)  # (B, T, C)


class QFormer(nn.Module):
    """``config.num_queries`` learnable queries of width ``config.hidden_size`` that read an
    encoder sequence of width ``encoder_width`` through cross-attention.

    Args:
        config: sizes, layer count, cross-attention frequency, dropout and the source
            positions.
        encoder_width: channels C of the encoder stage the queries read (the source stage).
    """

    def __init__(self, config: QFormerConfig, encoder_width: int) -> None:
        super().__init__()
        self.config = config
        self.encoder_width = encoder_width
        hf_config = Blip2QFormerConfig(
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_layers,
            num_attention_heads=config.num_heads,
            intermediate_size=config.intermediate_size,
            cross_attention_frequency=config.cross_attention_frequency,
            encoder_hidden_size=encoder_width,
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout,
            # Eager attention is the implementation that returns attention maps.
            attn_implementation="eager",
        )
        self.positions = (
            None
            if config.positions == "none"
            else SourcePositions(config.positions, encoder_width, config.max_positions)
        )
        self.qformer = Blip2QFormerModel(hf_config)
        self.query_tokens = nn.Parameter(torch.zeros(1, config.num_queries, config.hidden_size))
        nn.init.normal_(self.query_tokens, std=0.02)  # BLIP-2's initializer_range
        self.cross_layers = [
            i for i in range(config.num_layers) if i % config.cross_attention_frequency == 0
        ]

    def forward(
        self,
        encoder_hidden: torch.Tensor,
        encoder_mask: torch.Tensor | None = None,
        output_attentions: bool = True,
    ) -> QFormerOutput:
        """Read ``encoder_hidden`` with the queries.

        Args:
            encoder_hidden: (B, T, C) the source stage, C = ``encoder_width``.
            encoder_mask: (B, T) bool, True = real position; None = all real.
            output_attentions: return the attention maps (a little slower; off for pure training).

        Returns:
            :class:`QFormerOutput` with query_output (B, Q, H) and the maps.
        """
        B = encoder_hidden.shape[0]
        if self.positions is not None:
            encoder_hidden = self.positions(encoder_hidden, encoder_mask)  # (B, T, C)
        query_embeds = self.query_tokens.expand(B, -1, -1)  # (B, Q, H)
        out = self.qformer(
            query_embeds=query_embeds,
            encoder_hidden_states=encoder_hidden,  # (B, T, C)
            encoder_attention_mask=None if encoder_mask is None else encoder_mask.long(),  # (B, T)
            output_attentions=output_attentions,
        )
        if not output_attentions:
            return QFormerOutput(query_output=out.last_hidden_state)
        cross = tuple(out.cross_attentions)  # each (B, heads, Q, T)
        mixed = list(out.attentions)  # self and cross maps interleaved in execution order
        if len(mixed) != self.config.num_layers + len(self.cross_layers):
            raise RuntimeError(
                f"Blip2QFormerModel returned {len(mixed)} attention maps for "
                f"{self.config.num_layers} layers with {len(self.cross_layers)} cross-attention "
                "layers; the transformers version changed how it records attention"
            )
        self_maps = []
        for i in range(self.config.num_layers):
            self_maps.append(mixed.pop(0))  # (B, heads, Q, Q)
            if i in self.cross_layers:
                mixed.pop(0)  # this layer's cross map, taken from cross_attentions instead
        return QFormerOutput(
            query_output=out.last_hidden_state,  # (B, Q, H)
            cross_attentions=cross,
            self_attentions=tuple(self_maps),
        )
