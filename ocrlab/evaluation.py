"""Scoring a model on a dataset with the CTC path — the one evaluation loop that training's
validation, ``ocrlab eval``, the benchmarks and the notebooks share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .data.transforms import Collate, LineTransform
from .metrics import Scores, apply_protocol, score


@dataclass
class EvalResult:
    """Scores plus the per-line predictions they came from (for error analysis and paired
    statistics)."""

    scores: Scores
    predictions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    skipped: int = 0
    empty_labels: int = 0  # samples left out because their label is empty (after the protocol)

    def as_dict(self) -> dict[str, Any]:
        return {**self.scores.as_dict(), "skipped": self.skipped, "empty_labels": self.empty_labels}


@torch.inference_mode()
def evaluate(
    model: Any,
    dataset: Any,
    *,
    protocol: str = "exact",
    batch_size: int = 64,
    max_width: int | None = 2048,
    num_workers: int = 0,
    progress: bool = False,
    limit: int | None = None,
    decoder: str | None = None,
) -> EvalResult:
    """Read every line of ``dataset`` with ``model``'s CTC path and score it.

    The dataset's labels are compared as they are (under ``protocol``): labels are not
    filtered by the model's charset, so characters the model cannot produce count as errors.
    A label that the protocol empties (``"!?"`` under ``alnum36``) has nothing to read: such
    samples are left out and counted in ``empty_labels``, the scene-text benchmarks'
    convention, as are those the dataset skipped for an empty label (``skip_empty``).
    ``max_width`` only squeezes lines longer than that after scaling to height 32.
    ``decoder``: greedy (default) or a spec such as ``"beam"`` (:func:`ocrlab.models.ctc.make_decoder`).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    transform = LineTransform(height=model.config.encoder.height, max_width=max_width)
    indices = range(len(dataset) if limit is None else min(limit, len(dataset)))
    loader = DataLoader(
        torch.utils.data.Subset(dataset, list(indices)),
        batch_size=batch_size,
        collate_fn=Collate(transform=transform),
        num_workers=num_workers,
    )
    result = EvalResult(scores=score([], []))
    for batch in tqdm(loader, desc="eval", unit="batch", disable=not progress, leave=False):
        result.skipped += batch.skipped
        if len(batch) == 0:
            continue
        out = model(batch.images.to(device), batch.widths.to(device))
        for dec, ref, key in zip(
            model.decode(out.ctc_logits, out.lengths, decoder), batch.texts, batch.keys, strict=True
        ):
            if not apply_protocol(ref, protocol):
                result.empty_labels += 1
                continue
            result.predictions.append(dec.text)
            result.references.append(ref)
            result.keys.append(key)
            result.confidences.append(dec.confidence)
    result.empty_labels += getattr(dataset, "skipped", {}).get("empty label", 0)
    result.scores = score(result.predictions, result.references, protocol=protocol)
    model.train(was_training)
    return result
