"""The image encoder: a ResNet-style CNN (+ optional BiLSTM / Transformer) over a text line.

A (B, 1, 32, W) line becomes a sequence of W/4 feature vectors::

    image     (B, 1, 32, W)
    stem      3x3 conv stride 2                     -> (B, stem, 16, W/2)
    stage1    basic blocks                          -> (B, C0, 16, W/2)    stride 2
    stage2    first block strides (2, 2)            -> (B, C1, 8, W/4)     stride 4
    stage3    first block strides (2, 1)            -> (B, C2, 4, W/4)     stride 4
    collapse  conv over the remaining height (4, 1) -> (B, C2, 1, W/4)
    cnn       Linear(C2 -> d_model)                 -> (B, W/4, d_model)   stride 4
    context   BiLSTM or Transformer (optional)      -> (B, W/4, d_model)   stride 4

Every stage is exposed by name (``encoder.stages``) so that the Q-Former can read any of them;
2-D stages are turned into sequences by averaging over the height.

Padding. Lines in a batch are right-padded to the widest one. A padded column must never change
what a real column computes, or a line's transcription would depend on its batch-mates. A 3x3
conv next to the right edge reads one column of padding; for a line alone, that column is the
conv's own zero padding. So the padded columns are zeroed before *every* conv (after each
BN + ReLU), not just after each stage, and the context stage only sees real positions
(``pack_padded_sequence`` / ``src_key_padding_mask``). BatchNorm in eval mode is per-element and
safe; in train mode its batch statistics include padded columns, which is harmless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.flop_counter import FlopCounterMode

from ocrlab.config import from_dict
from ocrlab.errors import OcrlabError
from ocrlab.models.config import EncoderConfig

__all__ = [
    "CONTEXTS",
    "PRESETS",
    "Encoder",
    "EncoderOutput",
    "StageInfo",
    "count_flops",
    "encoder_preset",
    "width_mask",
]

CONTEXTS = ("none", "bilstm", "transformer")
PRESETS = tuple(EncoderConfig.PRESETS)


def encoder_preset(name: str) -> EncoderConfig:
    """The :class:`EncoderConfig` of preset ``name`` (``EncoderConfig.PRESETS``: tiny, small,
    base)."""
    return from_dict(EncoderConfig, {"preset": name})


@dataclass(frozen=True)
class StageInfo:
    """A named encoder stage: ``stride`` input pixels per position, ``channels`` per position."""

    stride: int
    channels: int


@dataclass
class EncoderOutput:
    """What :class:`Encoder` returns.

    Attributes:
        features: (B, T, d_model) the last stage, T = W / 4.
        mask: (B, T) bool, True at real (not padding) positions.
        stages: every named stage as a sequence (B, T_s, C_s); padded positions are zero.
        stage_masks: (B, T_s) bool for each stage, True at real positions.
    """

    features: torch.Tensor
    mask: torch.Tensor
    stages: dict[str, torch.Tensor]
    stage_masks: dict[str, torch.Tensor]


def width_mask(widths: torch.Tensor, stride: int, length: int) -> torch.Tensor:
    """(B, length) bool: position t is real if its column holds any real pixel, i.e.
    t < ceil(width / stride)."""
    real = torch.div(widths + stride - 1, stride, rounding_mode="floor")  # (B,)
    return torch.arange(length, device=widths.device)[None, :] < real[:, None]  # (B, length)


def _conv_bn(c_in: int, c_out: int, kernel: int | tuple[int, int], stride=1, padding=0):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(c_out),
    )


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs + identity or 1x1 projection shortcut), padding-safe.

    ``forward(x, mask)`` takes the *output* width's column mask (B, 1, 1, W_out) and zeroes the
    padded columns of the hidden map before the second conv, and of the result.
    """

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int] = (1, 1)) -> None:
        super().__init__()
        self.conv1 = _conv_bn(c_in, c_out, 3, stride=stride, padding=1)
        self.conv2 = _conv_bn(c_out, c_out, 3, padding=1)
        self.shortcut = (
            _conv_bn(c_in, c_out, 1, stride=stride)
            if stride != (1, 1) or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(x)) * mask  # (B, C, H', W')
        h = self.conv2(h)  # (B, C, H', W')
        return F.relu(h + self.shortcut(x)) * mask  # (B, C, H', W')


class Stage(nn.Module):
    """``n`` basic blocks; the first changes channels and applies the stage's stride."""

    def __init__(self, c_in: int, c_out: int, n: int, stride: tuple[int, int]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            BasicBlock(c_in if i == 0 else c_out, c_out, stride if i == 0 else (1, 1))
            for i in range(n)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return x


def sinusoids(positions: torch.Tensor, d: int) -> torch.Tensor:
    """sin/cos codes (Vaswani et al.) of ``positions`` (any shape, float: fractional positions
    are fine) -> ``positions.shape + (d,)``; sines in the even channels, cosines in the odd."""
    freq = torch.exp(
        torch.arange(0, d, 2, device=positions.device, dtype=torch.float32) * (-math.log(1e4) / d)
    )  # (d/2,)
    angle = positions.float()[..., None] * freq  # (..., d/2)
    pe = torch.zeros(*positions.shape, d, device=positions.device)  # (..., d)
    pe[..., 0::2] = torch.sin(angle)
    pe[..., 1::2] = torch.cos(angle)
    return pe


class SinusoidalPositions(nn.Module):
    """Fixed sin/cos position encodings (Vaswani et al.), so any line width works."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pe = sinusoids(torch.arange(x.shape[1], device=x.device), self.d_model)  # (T, d)
        return x + pe.to(x.dtype)[None]  # (B, T, d)


class Encoder(nn.Module):
    """Text-line encoder built from an :class:`EncoderConfig` (see the module docstring).

    forward(images (B, 1, H, W), widths (B,) true widths in pixels) -> :class:`EncoderOutput`
    with ``features`` (B, W/4, d_model). W must be a multiple of 4 and H = ``config.height``.
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        if config.context not in CONTEXTS:
            raise OcrlabError(
                f"encoder.context={config.context!r}; choose one of {', '.join(CONTEXTS)}"
            )
        if len(config.channels) != 3 or len(config.blocks) != 3 or min(config.blocks) < 1:
            raise OcrlabError(
                "encoder.channels and encoder.blocks need 3 entries each (blocks >= 1), got "
                f"channels={config.channels}, blocks={config.blocks}"
            )
        if config.height % 8:
            raise OcrlabError(f"encoder.height={config.height} must be a multiple of 8")
        if config.context == "bilstm" and config.d_model % 2:
            raise OcrlabError(f"a BiLSTM needs an even d_model, got {config.d_model}")
        if config.context == "transformer" and config.d_model % config.context_heads:
            raise OcrlabError(
                f"d_model={config.d_model} is not divisible by context_heads={config.context_heads}"
            )
        self.config = config
        c0, c1, c2 = config.channels
        d = config.d_model

        self.stem = _conv_bn(config.in_channels, config.stem_channels, 3, stride=2, padding=1)
        self.stage1 = Stage(config.stem_channels, c0, config.blocks[0], stride=(1, 1))
        self.stage2 = Stage(c0, c1, config.blocks[1], stride=(2, 2))
        self.stage3 = Stage(c1, c2, config.blocks[2], stride=(2, 1))
        # A conv spanning the whole remaining height (H/8 rows) collapses it, keeping where in
        # the column a stroke sits (a mean would throw that away).
        self.collapse = _conv_bn(c2, c2, (config.height // 8, 1))
        self.projection = nn.Linear(c2, d)

        self.dropout = nn.Dropout(config.dropout)
        self.context: nn.Module | None = None
        if config.context == "bilstm":
            self.context = nn.LSTM(
                d,
                d // 2,
                num_layers=config.context_layers,
                bidirectional=True,
                batch_first=True,
                dropout=config.dropout if config.context_layers > 1 else 0.0,
            )
        elif config.context == "transformer":
            self.positions = SinusoidalPositions(d)
            layer = nn.TransformerEncoderLayer(
                d,
                config.context_heads,
                dim_feedforward=4 * d,
                dropout=config.dropout,
                batch_first=True,
                norm_first=True,
            )
            # Pre-norm layers need a final LayerNorm on their output.
            self.context = nn.TransformerEncoder(
                layer, config.context_layers, norm=nn.LayerNorm(d), enable_nested_tensor=False
            )

        self.stages: dict[str, StageInfo] = {
            "stage1": StageInfo(2, c0),
            "stage2": StageInfo(4, c1),
            "stage3": StageInfo(4, c2),
            "cnn": StageInfo(4, d),
        }
        if self.context is not None:
            self.stages["context"] = StageInfo(4, d)

    @property
    def d_model(self) -> int:
        return self.config.d_model

    @property
    def output_stride(self) -> int:
        """Input pixels per position of the last stage: what one CTC frame covers."""
        return self.stages[next(reversed(self.stages))].stride

    def positions_to_pixels(self, stage: str, T: int) -> torch.Tensor:
        """(T,) float: the x-centre, in input pixels, of each position of ``stage``."""
        if stage not in self.stages:
            raise OcrlabError(f"unknown encoder stage {stage!r}; stages: {', '.join(self.stages)}")
        return (torch.arange(T, dtype=torch.float32) + 0.5) * self.stages[stage].stride  # (T,)

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> EncoderOutput:
        """images (B, 1, H, W) with W % 4 == 0; widths (B,) long true widths (None: all W)."""
        B, C, H, W = images.shape
        if self.config.in_channels != C or self.config.height != H or W % 4:
            raise OcrlabError(
                f"encoder input must be (B, {self.config.in_channels}, {self.config.height}, W) "
                f"with W a multiple of 4, got {tuple(images.shape)}"
            )
        if widths is None:
            widths = torch.full((B,), W, dtype=torch.long, device=images.device)
        widths = widths.to(images.device)
        if widths.shape != (B,) or bool((widths > W).any()) or bool((widths < 0).any()):
            raise OcrlabError(
                f"encoder widths must be (B,) = ({B},) in 0..{W} (the padded width), "
                f"got {widths.tolist()}"
            )
        widths = widths.clamp(min=1)  # an empty line still gets one position

        m1 = width_mask(widths, 1, W)  # (B, W)
        m2 = width_mask(widths, 2, W // 2)  # (B, W/2)
        m4 = width_mask(widths, 4, W // 4)  # (B, W/4)
        col = lambda m: m[:, None, None, :].to(images.dtype)  # noqa: E731  (B, 1, 1, W_s)

        x = images * col(m1)  # (B, 1, H, W) padding reads as the conv's zero padding
        x = F.relu(self.stem(x)) * col(m2)  # (B, stem, H/2, W/2)
        s1 = self.stage1(x, col(m2))  # (B, C0, H/2, W/2)
        s2 = self.stage2(s1, col(m4))  # (B, C1, H/4, W/4)
        s3 = self.stage3(s2, col(m4))  # (B, C2, H/8, W/4)
        x = F.relu(self.collapse(s3)).squeeze(2)  # (B, C2, W/4)
        cnn = self.projection(x.transpose(1, 2)) * m4[..., None]  # (B, W/4, d)

        stages = {
            "stage1": s1.mean(2).transpose(1, 2),  # (B, W/2, C0)
            "stage2": s2.mean(2).transpose(1, 2),  # (B, W/4, C1)
            "stage3": s3.mean(2).transpose(1, 2),  # (B, W/4, C2)
            "cnn": cnn,  # (B, W/4, d)
        }
        masks = {"stage1": m2, "stage2": m4, "stage3": m4, "cnn": m4}
        if self.context is not None:
            stages["context"] = self._context(self.dropout(cnn), m4)  # (B, W/4, d)
            masks["context"] = m4
        last = next(reversed(stages))
        return EncoderOutput(
            features=stages[last], mask=masks[last], stages=stages, stage_masks=masks
        )

    def _context(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, d), mask (B, T) -> (B, T, d) with zeros at padded positions."""
        T = x.shape[1]
        if isinstance(self.context, nn.LSTM):
            lengths = mask.sum(1).cpu()  # (B,)
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.context(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, d)
            return out
        x = self.positions(x)  # (B, T, d)
        out = self.context(x, src_key_padding_mask=~mask)  # (B, T, d)
        return out * mask[..., None]  # (B, T, d)


def _rnn_layer_flops(input_shape, w_ih_shape, w_hh_shape, *args, out_shape=None, **kwargs):
    # aten.mkldnn_rnn_layer (the CPU LSTM kernel) has no formula in FlopCounterMode; count its
    # two matmuls per step like addmm: 2 * T * B * (4H * I + 4H * H).
    T, B = input_shape[0], input_shape[1]
    return 2 * T * B * (w_ih_shape[0] * w_ih_shape[1] + w_hh_shape[0] * w_hh_shape[1])


def _cpu_sdpa_flops(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs):
    # CPU's fused attention kernel, also missing a formula: QK^T and AV, 2 FLOPs per MAC.
    B, h, T, e = q_shape
    S = k_shape[-2]
    return 2 * 2 * B * h * T * S * e


def count_flops(encoder: Encoder, width: int = 128) -> float:
    """GFLOP of one forward pass on a single (1, 1, height, width) image.

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode` (convs and matmuls; a
    multiply-add is 2 FLOPs; BN, activations and the LSTM gates' elementwise math are not
    counted). The CPU LSTM and fused-attention kernels have no formula there, so this adds
    theirs. Grad mode is turned on for the count so that PyTorch's Transformer fast path, which
    would also hide its FLOPs, stays off; no backward runs.
    """
    aten = torch.ops.aten
    custom = {
        aten.mkldnn_rnn_layer: _rnn_layer_flops,
        aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    }
    was_training = encoder.training
    encoder.eval()
    param = next(encoder.parameters())
    x = torch.zeros(
        1, encoder.config.in_channels, encoder.config.height, width, device=param.device
    )
    try:
        with torch.enable_grad(), FlopCounterMode(display=False, custom_mapping=custom) as counter:
            encoder(x)
    finally:
        encoder.train(was_training)
    return counter.get_total_flops() / 1e9
