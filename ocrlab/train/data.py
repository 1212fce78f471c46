"""The training data: the mix from the config, the length-bucketed batch order (deterministic per
seed and epoch) and each process's share of it."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from ..charset import Charset
from ..config import ConfigError
from ..data.datasets import concat
from ..data.specs import open_dataset
from ..data.transforms import LineTransform
from ..run_config import RunConfig


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of lines of similar label length (a proxy for width, known without decoding
    images), so little padding is computed; deterministic for (seed, epoch).

    Each epoch: shuffle, cut into pools of ``pool`` batches, sort each pool by length, cut into
    batches, shuffle the batches. ``start`` skips the first batches of the epoch (resumption).
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int, *, bucket: bool = True, pool=50
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.bucket = bucket
        self.pool = pool
        self.epoch = 0
        self.start = 0

    def batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        if self.bucket:
            size = self.batch_size * self.pool
            pools = [order[i : i + size] for i in range(0, len(order), size)]
            order = np.concatenate([p[np.argsort(self.lengths[p], kind="stable")] for p in pools])
        batches = [
            order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)
        ]
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches(self.epoch)[self.start :]

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size) - self.start


def build_datasets(config: RunConfig, charset: Charset):
    """(train dataset, val dataset or None) from the data config."""
    transform = LineTransform(height=config.model.encoder.height, max_width=config.data.max_width)
    parts = [
        open_dataset(
            spec,
            charset=charset,
            policy=config.data.policy,
            skip_bad=config.data.skip_bad,
            transform=transform,
        )
        for spec in config.data.train
    ]
    if not parts:
        raise ConfigError("data.train lists no dataset")
    train = parts[0] if len(parts) == 1 else concat(*parts)
    val = open_dataset(config.data.val) if config.data.val else None
    return train, val


def label_lengths(dataset: Any) -> list[int]:
    """Every item's label length, read without decoding (or rendering) images."""
    return [len(dataset.text_at(i)) for i in range(len(dataset))]


def train_set_transform(dataset: Any):
    """The LineTransform the training set applies (the collate pads with its pad value)."""
    for d in getattr(dataset, "datasets", [dataset]):
        if getattr(d, "transform", None) is not None:
            return d.transform
    return LineTransform()


class Shard(Sampler[list[int]]):
    """Every ``n``-th batch of ``sampler`` from ``rank`` on, ``steps`` of them: each process of a
    multi-process run reads its own batches, all take the same number of steps, and the data
    position is a function of the step alone (resumable)."""

    def __init__(self, sampler: LengthBucketSampler, n: int, rank: int, steps: int) -> None:
        self.sampler, self.n, self.rank, self.steps = sampler, n, rank, steps

    def __iter__(self) -> Iterator[list[int]]:
        taken = 0
        for i, batch in enumerate(self.sampler):
            if taken >= self.steps:
                return
            if i % self.n == self.rank:
                taken += 1
                yield batch

    def __len__(self) -> int:
        return self.steps
