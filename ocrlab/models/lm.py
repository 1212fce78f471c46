"""The bridge from the Q-Former to a frozen causal LM (BLIP-2's ``language_projection`` + LM).

The projected queries are a soft prompt: the LM reads ``[language_projection(queries); text]`` and
its next-token loss on the text flows back through the projection into the Q-Former and the
encoder, while the LM's own weights stay fixed.

Facts of transformers 5.x this relies on (read from ``loss/loss_utils.py`` and
``generation/utils.py``):

- ``*ForCausalLM(labels=...)`` shifts the labels itself (``ForCausalLMLoss``: logits at position
  t are scored against ``labels[t + 1]``), so labels are aligned with the inputs, not shifted
  here; the last query position predicts the first character. The loss is the mean over the
  labels that are not -100.
- ``generate(inputs_embeds=...)`` on a decoder-only model without ``input_ids`` returns only the
  new tokens. Every line has the same number of queries, so the prompt needs no padding.
- ``generate(position_ids=...)`` keeps the given positions of the prompt and numbers each new
  token one past the last (``_update_model_kwargs_for_generation``), so a prompt whose queries
  all sit at position 0 is followed by text at positions 1, 2, ... as in training.

Where the text sits matters for a small LM with absolute positions: the embedded LM learned lines
as ``<bos> text`` from position 0. With the queries at positions 0..Q-1 (``prompt_positions:
sequential``, the first models' layout) the text starts at position Q, where the LM has seen
little: its loss on the scene words with a zero prompt is 3.24 nats/char there against 2.56 after
``<bos>`` at its own positions. ``shared`` puts every query at position 0 (the slot of ``<bos>``;
GPT-2 has no other notion of order, and the queries differ by content) and the text at 1, 2, ...
``spread`` keeps the text at 1, 2, ... and spreads the queries over the same positions (query i
of Q at ``1 + i * (max_text_tokens - 1) / (Q - 2)``, the last one at 0), so that a frozen LM whose
heads look near their own position finds the query placed near the character it is writing;
``benchmarks/qformer_reading/oracle.py`` measures what each layout lets the bridge read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ocrlab.errors import OcrlabError

from .config import LMConfig

# transformers (the `model` extra) is imported where the LM is loaded: a CTC-only model (no
# Q-Former) imports this package without it.

__all__ = ["IGNORE_INDEX", "PROMPT_POSITIONS", "LMBridge", "LMOutput", "load_causal_lm"]

PROMPT_POSITIONS = ("sequential", "shared", "spread")

IGNORE_INDEX = -100
"""Label of the positions the LM loss skips (queries, padding): PyTorch's cross-entropy default."""


@dataclass
class LMOutput:
    """What the bridge returns.

    loss: () the LM's mean next-token loss over the text tokens (+ EOS) of the batch.
    logits: (B, Q + L, V) the LM's logits for every input position.
    labels: (B, Q + L) long, the token ids the loss scored, -100 on queries and padding (aligned
        with the inputs; the LM shifts them).
    """

    loss: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor

    def nats(self) -> tuple[float, int]:
        """(summed next-token loss in nats, number of scored tokens) over the batch: a total
        that does not depend on how the batch was split (the mean ``loss`` does)."""
        logits = self.logits[:, :-1].float()  # (B, Q + L - 1, V) position t predicts t + 1
        target = self.labels[:, 1:]  # (B, Q + L - 1)
        total = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            target.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        return float(total), int((target != IGNORE_INDEX).sum())


def load_causal_lm(
    name_or_path: str, *, local_files_only: bool = True, dtype: str = "float32"
) -> tuple[nn.Module, object]:
    """Load ``AutoModelForCausalLM`` and ``AutoTokenizer`` from a local directory or a hub name.

    With ``local_files_only`` (the default) nothing downloads: a hub name must already be in the
    Hugging Face cache. Raises :class:`OcrlabError` naming what was looked for and how to make
    the embedded LM.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = Path(name_or_path).expanduser()
    try:
        torch_dtype = getattr(torch, dtype)
    except AttributeError:
        raise OcrlabError(f"LM dtype {dtype!r} is not a torch dtype (e.g. float32)") from None
    bars_were_off = hf_logging.is_progress_bar_enabled() is False
    hf_logging.disable_progress_bar()  # a per-tensor "Loading weights" bar says nothing here
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path) if path.exists() else name_or_path,
            local_files_only=local_files_only,
            dtype=torch_dtype,
        )
        tokenizer = AutoTokenizer.from_pretrained(
            str(path) if path.exists() else name_or_path, local_files_only=local_files_only
        )
    except (OSError, ValueError) as exc:
        if path.exists():
            where = (
                f"the directory {path.resolve()} holds no loadable causal LM + tokenizer ({exc})"
            )
        elif local_files_only:
            where = (
                f"there is no directory {path.resolve()}, and no hub model of that name in the "
                "local Hugging Face cache (downloads are off: model.lm.local_files_only=true)"
            )
        else:
            where = f"there is no directory {path.resolve()}, and the hub download failed ({exc})"
        raise OcrlabError(
            f"cannot load the language model {name_or_path!r}: {where}. Make the embedded LM with "
            f"`ocrlab lm pretrain --out {name_or_path}`, or point model.lm.name_or_path at a local "
            "Hugging Face causal LM"
        ) from exc
    finally:
        if not bars_were_off:
            hf_logging.enable_progress_bar()
    if getattr(model, "loss_type", None) is None:
        # the configs the embedded LM saves carry no loss_type; name the causal LM loss that
        # transformers falls back to anyway, so it does not warn on every run
        model.loss_type = "ForCausalLM"
    if tokenizer.eos_token_id is None:
        raise OcrlabError(f"the tokenizer of LM {name_or_path!r} has no EOS token")
    return model, tokenizer


class LMBridge(nn.Module):
    """``language_projection`` + a frozen causal LM, scoring texts given the Q-Former's queries.

    The LM's parameters have ``requires_grad=False`` and the LM stays in eval mode (no dropout)
    even when a parent module calls ``.train()``; gradients still flow through it to the inputs.
    The LM is a submodule, so ``.to(device)`` moves it and its weights are in ``state_dict()``
    under ``lm.``.

    Args:
        lm_config: which LM (``name_or_path``, ``local_files_only``, ``dtype``) and the text
            length cap ``max_text_tokens`` (tokens incl. EOS; longer texts are cut, without EOS).
        qformer_hidden: width H of the Q-Former's query output.
        lm: a ``(causal LM, tokenizer)`` pair to use as it is, instead of loading
            ``lm_config.name_or_path`` (a model built in memory, or one shared by several
            bridges); ``handed`` records that it came this way.
    """

    def __init__(
        self, lm_config: LMConfig, qformer_hidden: int, lm: tuple[nn.Module, Any] | None = None
    ) -> None:
        super().__init__()
        if lm_config.prompt_positions not in PROMPT_POSITIONS:
            raise OcrlabError(
                f"lm.prompt_positions={lm_config.prompt_positions!r}; choose one of "
                f"{', '.join(PROMPT_POSITIONS)}"
            )
        self.config = lm_config
        self.handed = lm is not None
        local = Path(lm_config.name_or_path).expanduser()
        #: the local folder the LM was loaded from, resolved (None: handed in, or a hub model);
        #: a checkpoint copies it, or writes the LM from memory if the folder has gone since
        self.source_dir: Path | None = local.resolve() if not lm and local.is_dir() else None
        self.lm, self.tokenizer = lm or load_causal_lm(
            lm_config.name_or_path,
            local_files_only=lm_config.local_files_only,
            dtype=lm_config.dtype,
        )
        self.lm.requires_grad_(False)
        self.lm.eval()
        self.lm_hidden = self.lm.get_input_embeddings().embedding_dim
        self.language_projection = nn.Linear(qformer_hidden, self.lm_hidden)

    def train(self, mode: bool = True) -> LMBridge:
        """Set train/eval mode of the projection; the frozen LM always stays in eval mode."""
        super().train(mode)
        self.lm.eval()
        return self

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids of ``texts`` + EOS, right-padded.

        Returns ids (B, L) long (padding = EOS id, masked out anyway) and mask (B, L) long,
        1 = real token. L >= 1: an empty text is just EOS.
        """
        eos = self.tokenizer.eos_token_id
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        rows = [[*ids, eos][: self.config.max_text_tokens] for ids in encoded]
        L = max(len(r) for r in rows)
        ids = torch.full((len(rows), L), eos, dtype=torch.long)  # (B, L)
        mask = torch.zeros((len(rows), L), dtype=torch.long)  # (B, L)
        for b, r in enumerate(rows):
            ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[b, : len(r)] = 1
        return ids, mask

    def position_ids(
        self, batch: int, prompt: int, text: int, device: torch.device
    ) -> torch.Tensor:
        """(B, prompt + text) positions of the soft prompt and the text after it, by
        ``config.prompt_positions``."""
        layout = self.config.prompt_positions
        if layout in ("shared", "spread"):
            if layout == "spread" and prompt > 1:
                # queries 0..Q-2 spread over the text's positions 1..max_text_tokens, the last
                # at 0: generate() numbers the text on from the last prompt position
                span = self.config.max_text_tokens - 1
                queries = 1 + torch.round(torch.arange(prompt - 1) * span / max(1, prompt - 2))
                queries = torch.cat([queries.long(), torch.zeros(1, dtype=torch.long)])
            else:
                queries = torch.zeros(prompt, dtype=torch.long)
            pos = torch.cat([queries, torch.arange(1, text + 1)])  # (prompt + text,)
        else:
            pos = torch.arange(prompt + text)  # (prompt + text,)
        return pos.to(device)[None].expand(batch, -1)  # (B, prompt + text)

    def project(self, query_output: torch.Tensor) -> torch.Tensor:
        """(B, Q, H) queries -> (B, Q, D) soft prompt in the LM's embedding space and dtype."""
        dtype = self.lm.get_input_embeddings().weight.dtype
        return self.language_projection(query_output).to(dtype)  # (B, Q, D)

    def forward(self, query_output: torch.Tensor, texts: list[str]) -> LMOutput:
        """The LM's loss on ``texts`` given the queries.

        Args:
            query_output: (B, Q, H) the Q-Former's output.
            texts: B ground-truth strings.

        Returns:
            :class:`LMOutput` (loss (), logits (B, Q + L, V), labels (B, Q + L)).
        """
        if len(texts) != query_output.shape[0]:
            raise OcrlabError(
                f"LMBridge: {len(texts)} texts for a batch of {query_output.shape[0]} query outputs"
            )
        return self.score_prompt(self.project(query_output), texts)

    def score_prompt(self, prompt: torch.Tensor, texts: list[str]) -> LMOutput:
        """The LM's loss on ``texts`` after the soft prompt ``prompt`` (B, Q, D), already in the
        LM's embedding space: the projected queries, or zeros (the LM with no information,
        the reference for how much the queries carry)."""
        B, Q, _ = prompt.shape
        device = prompt.device
        ids, mask = self.tokenize(texts)
        ids, mask = ids.to(device), mask.to(device)  # (B, L), (B, L)
        tokens = self.lm.get_input_embeddings()(ids)  # (B, L, D)
        inputs_embeds = torch.cat([prompt, tokens], dim=1)  # (B, Q + L, D)
        attention_mask = torch.cat([mask.new_ones(B, Q), mask], dim=1)  # (B, Q + L)
        text_labels = ids.masked_fill(mask == 0, IGNORE_INDEX)  # (B, L)
        labels = torch.cat([ids.new_full((B, Q), IGNORE_INDEX), text_labels], dim=1)  # (B, Q + L)
        out = self.lm(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=self.position_ids(B, Q, ids.shape[1], device),  # (B, Q + L)
            labels=labels,
        )
        return LMOutput(loss=out.loss, logits=out.logits, labels=labels)

    @torch.no_grad()
    def generate(self, query_output: torch.Tensor, max_new_tokens: int = 64) -> list[str]:
        """Greedy LM decoding from the queries alone (the slow path; CTC is the fast one).

        Args:
            query_output: (B, Q, H).
            max_new_tokens: stop after this many tokens if no EOS came.

        Returns:
            B strings, each cut at its first EOS, special tokens removed.
        """
        B, Q, _ = query_output.shape
        prompt = self.project(query_output)  # (B, Q, D)
        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        new_ids = self.lm.generate(
            inputs_embeds=prompt,
            attention_mask=torch.ones(B, Q, dtype=torch.long, device=prompt.device),  # (B, Q)
            position_ids=self.position_ids(B, Q, 0, prompt.device),  # (B, Q)
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=eos,
            pad_token_id=pad,
        )  # (B, N) only the new tokens: no input_ids were given
        texts = []
        for row in new_ids.tolist():
            if eos in row:
                row = row[: row.index(eos)]
            texts.append(self.tokenizer.decode(row, skip_special_tokens=True))
        return texts
