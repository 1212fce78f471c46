"""OCRModel: encoder → CTC head (the fast reading path), and, in training, the encoder's chosen
stage → Q-Former queries → ``language_projection`` → frozen causal LM loss.

``forward`` returns an :class:`OCROutput`; ``recognize`` reads images; ``save_pretrained`` /
``from_pretrained`` write and read a checkpoint directory (its files:
:mod:`ocrlab.models.checkpoint`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..charset import Charset
from ..config import ConfigError
from ..data.transforms import prepare_lines
from ..errors import OcrlabError
from . import checkpoint
from .config import OCRConfig
from .ctc import CTCHead, Decoded, ctc_feasible, ctc_loss, greedy_decode, make_decoder
from .encoder import Encoder, EncoderOutput


@dataclass
class OCROutput:
    """What :meth:`OCRModel.forward` returns.

    ctc_loss: () mean CTC loss over the lines whose target fits in their frames.
    lm_loss: () the frozen LM's next-token loss on the texts given the queries (None when the
        model has no Q-Former/LM or no texts were given).
    ctc_logits: (B, T, C) CTC logits, C = len(charset) incl. blank at 0.
    lengths: (B,) real frames per line.
    feasible: (B,) bool, lines whose target the frames can hold (others are left out of the
        CTC loss and counted by the trainer).
    cross_attentions: one (B, heads, Q, T_s) map per cross-attention layer over the source
        stage's real positions (empty unless asked for).
    self_attentions: one (B, heads, Q, Q) map per Q-Former layer (empty unless asked for).
    query_output: (B, Q, H) the Q-Former's queries (None without a Q-Former).
    encoder: the :class:`~ocrlab.models.encoder.EncoderOutput` (features, masks, stages).
    """

    ctc_loss: torch.Tensor | None
    lm_loss: torch.Tensor | None
    ctc_logits: torch.Tensor
    lengths: torch.Tensor
    feasible: torch.Tensor | None = None
    cross_attentions: tuple[torch.Tensor, ...] = ()
    self_attentions: tuple[torch.Tensor, ...] = ()
    query_output: torch.Tensor | None = None
    encoder: EncoderOutput | None = None


@dataclass
class Recognition:
    """One recognized line.

    text, confidence, char_confidences: as :class:`~ocrlab.models.ctc.Decoded`.
    spans: per character, its (first, last) encoder frame, inclusive.
    pixel_spans: per character, (x0, x1) in the ORIGINAL image's pixel columns.
    """

    text: str
    confidence: float
    char_confidences: list[float] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    pixel_spans: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def from_decoded(cls, dec: Decoded, stride: int, scale: float) -> Recognition:
        """``dec`` with its frame spans mapped to original pixels: frame ``t`` covers resized
        columns ``[t, t + 1) * stride``, and ``scale`` = original width / resized width."""
        return cls(
            text=dec.text,
            confidence=dec.confidence,
            char_confidences=dec.char_confidences,
            spans=dec.spans,
            pixel_spans=[(a * stride * scale, (b + 1) * stride * scale) for a, b in dec.spans],
        )


@functools.lru_cache(maxsize=8)
def _decoder(spec: str):
    """One decoder per spec, kept: a word LM's score cache outlives a batch."""
    return make_decoder(spec)


class OCRModel(nn.Module):
    """The recognizer. Build it from an :class:`OCRConfig` (and a charset), or load it with
    :meth:`from_pretrained`.

    Args:
        config: the nested config; ``config.qformer.enabled`` adds the Q-Former + LM branch.
        charset: the CTC vocabulary (default: ``Charset.preset(config.charset)``).
        lm: the frozen LM and its tokenizer, ``(model, tokenizer)``, to use instead of loading
            ``config.lm.name_or_path``: the model is then built from the config and this pair
            alone, nothing read from disk (:meth:`save_pretrained` writes the LM into the
            checkpoint).
    """

    def __init__(
        self,
        config: OCRConfig,
        charset: Charset | None = None,
        lm: tuple[nn.Module, Any] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.charset = charset if charset is not None else Charset.preset(config.charset)
        self.encoder = Encoder(config.encoder)
        self.ctc_head = CTCHead(config.encoder.d_model, len(self.charset))
        self.qformer = None
        self.lm_bridge = None
        if config.qformer.enabled:
            # the branch needs transformers (the `model` extra); the CTC path does not
            from .lm import LMBridge
            from .qformer import QFormer

            source = config.qformer.source_stage
            if source not in self.encoder.stages:
                raise ConfigError(
                    f"qformer.source_stage={source!r} is not an encoder stage; "
                    f"stages: {', '.join(self.encoder.stages)}"
                )
            width = self.encoder.stages[source].channels
            self.qformer = QFormer(config.qformer, encoder_width=width)
            self.lm_bridge = LMBridge(config.lm, config.qformer.hidden_size, lm=lm)

    @property
    def has_lm(self) -> bool:
        return self.lm_bridge is not None

    @property
    def source_stride(self) -> int:
        """Width stride (input pixels per position) of the stage the Q-Former reads."""
        return self.encoder.stages[self.config.qformer.source_stage].stride

    # -- forward ----------------------------------------------------------------------------

    def forward(
        self,
        images: torch.Tensor,
        widths: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        target_lengths: torch.Tensor | None = None,
        texts: Sequence[str] | None = None,
        *,
        compute_lm: bool = True,
        output_attentions: bool = False,
    ) -> OCROutput:
        """Run the model.

        Args:
            images: (B, 1, 32, W) normalized lines, W a multiple of 4, right-padded.
            widths: (B,) true widths in pixels (None: all W).
            targets: (sum L,) concatenated CTC targets; target_lengths: (B,).
            texts: the B label strings, for the LM loss.
            compute_lm: run the Q-Former/LM branch (when present and ``texts`` are given).
            output_attentions: return the Q-Former's attention maps (runs the Q-Former even
                without texts).
        """
        enc = self.encoder(images, widths)
        logits = self.ctc_head(enc.features)  # (B, T, C)
        lengths = enc.mask.sum(1)  # (B,)

        ctc = feasible = None
        if targets is not None and target_lengths is not None:
            feasible = ctc_feasible(lengths, targets, target_lengths)  # (B,)
            ctc = self._ctc_loss(logits, lengths, targets, target_lengths, feasible)

        lm_loss = None
        query_output = None
        cross: tuple[torch.Tensor, ...] = ()
        self_att: tuple[torch.Tensor, ...] = ()
        run_lm = compute_lm and texts is not None and self.has_lm
        if self.qformer is not None and (run_lm or output_attentions):
            source = self.config.qformer.source_stage
            q = self.qformer(
                enc.stages[source], enc.stage_masks[source], output_attentions=output_attentions
            )
            query_output, cross, self_att = q.query_output, q.cross_attentions, q.self_attentions
            if run_lm:
                lm_loss = self.lm_bridge(query_output, list(texts)).loss

        return OCROutput(
            ctc_loss=ctc,
            lm_loss=lm_loss,
            ctc_logits=logits,
            lengths=lengths,
            feasible=feasible,
            cross_attentions=cross,
            self_attentions=self_att,
            query_output=query_output,
            encoder=enc,
        )

    @staticmethod
    def _ctc_loss(logits, lengths, targets, target_lengths, feasible) -> torch.Tensor:
        """Mean CTC loss over the feasible lines (0 with a graph when none is)."""
        log_probs = CTCHead.log_probs(logits)  # (B, T, C)
        if bool(feasible.all()):
            return ctc_loss(log_probs, lengths, targets, target_lengths)
        if not bool(feasible.any()):
            return log_probs.sum() * 0.0
        offsets = torch.cumsum(target_lengths, 0) - target_lengths  # (B,)
        keep = torch.cat(
            [
                targets[int(o) : int(o) + int(n)]
                for o, n, f in zip(offsets, target_lengths, feasible, strict=True)
                if f
            ]
        )  # (sum L over feasible,)
        return ctc_loss(log_probs[feasible], lengths[feasible], keep, target_lengths[feasible])

    # -- inference --------------------------------------------------------------------------

    @torch.inference_mode()
    def decode(
        self, logits: torch.Tensor, lengths: torch.Tensor, decoder: str | None = None
    ) -> list[Decoded]:
        """CTC decoding of (B, T, C) logits: greedy, or a ``decoder`` spec
        (:func:`~ocrlab.models.ctc.make_decoder`, e.g. ``"beam"``)."""
        if decoder in (None, "greedy"):
            return greedy_decode(CTCHead.log_probs(logits), lengths, self.charset)
        return _decoder(decoder)(CTCHead.log_probs(logits), lengths, self.charset)

    @torch.inference_mode()
    def recognize(
        self,
        images: Sequence[Any],
        *,
        batch_size: int = 32,
        max_width: int | None = 2048,
        decoder: str | None = None,
    ) -> list[Recognition]:
        """Read line images (paths, bytes, PIL images or arrays) with the CTC path.

        Aspect ratio is kept; ``max_width`` (pixels after scaling to height 32) only squeezes
        lines longer than that (a CTC model reads any width). Batches are sorted by width so
        little padding is computed. ``decoder``: greedy (default) or a spec such as ``"beam"``
        (:func:`~ocrlab.models.ctc.make_decoder`). Returns one :class:`Recognition` per image, in order.
        """
        was_training = self.training
        self.eval()
        lines = prepare_lines(
            images, height=self.config.encoder.height, max_width=max_width, batch_size=batch_size
        )
        device = next(self.parameters()).device
        results: list[Recognition | None] = [None] * len(lines)
        for idx, batch in lines.batches():
            out = self(batch.images.to(device), batch.widths.to(device))
            decoded = self.decode(out.ctc_logits, out.lengths, decoder)
            for i, dec in zip(idx, decoded, strict=True):
                results[i] = Recognition.from_decoded(
                    dec, self.encoder.output_stride, lines.scale(i)
                )
        self.train(was_training)
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def generate_text(self, images: torch.Tensor, widths: torch.Tensor, max_new_tokens: int = 64):
        """The LM-decoding path: read the text back from the queries through the frozen LM."""
        if not self.has_lm:
            raise OcrlabError("this model has no Q-Former/LM branch: only the CTC path reads")
        out = self(images, widths, output_attentions=False, compute_lm=False)
        source = self.config.qformer.source_stage
        q = self.qformer(out.encoder.stages[source], out.encoder.stage_masks[source], False)
        return self.lm_bridge.generate(q.query_output, max_new_tokens=max_new_tokens)

    # -- checkpoints (the files: ocrlab.models.checkpoint) -----------------------------------

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Every weight but the frozen LM's (those live in the LM's own folder)."""
        return checkpoint.trainable_state_dict(self)

    def save_pretrained(
        self,
        directory: str | os.PathLike,
        *,
        dtype: torch.dtype | None = None,
        keep: Sequence[str] = (),
    ) -> Path:
        """Write the checkpoint directory atomically (temp dir + rename): an interrupted save
        never leaves a half-written checkpoint where a valid one was.

        ``dtype``: store the floating-point weights in this dtype (``torch.float16`` halves a
        shipped model; loading casts them back to the model's dtype), except those whose names
        start with a prefix in ``keep`` (e.g. ``("encoder.", "ctc_head.")``: the CTC path
        exactly as trained, the training-only branch in half precision). Check the CTC path's
        accuracy on the converted copy before shipping it."""
        return checkpoint.write_model(self, directory, dtype=dtype, keep=keep)

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, *, map_location: str | torch.device = "cpu"
    ) -> OCRModel:
        """Load a checkpoint directory written by :meth:`save_pretrained`."""
        config, charset = checkpoint.read_model_config(directory)
        model = cls(config, charset)
        state = checkpoint.read_weights(directory, map_location)
        checkpoint.load_weights(model, state, Path(directory) / checkpoint.WEIGHTS_NAME)
        model.eval()
        return model

    def load_weights_from(self, directory: str | os.PathLike, *, skip: Sequence[str] = ()) -> None:
        """Copy the trained weights of checkpoint ``directory`` into this model (to continue
        training it with a new optimizer, schedule or data). The checkpoint's charset must be
        this model's and every weight must fit; otherwise :class:`CheckpointError` says what
        differs.

        ``skip``: weight-name prefixes (``"qformer."``) that keep this model's own fresh
        initialization, on both sides: a new Q-Former over a trained encoder.
        """
        state = checkpoint.read_weights(directory)
        checkpoint.check_charset(directory, self.charset)
        weights = Path(directory) / checkpoint.WEIGHTS_NAME
        checkpoint.load_weights(self, state, weights, skip=skip)
