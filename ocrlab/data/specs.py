"""Datasets by name: the spec strings that every command, config and notebook uses to say which
lines to read (``synth:n=2000,seed=7``, a folder, a labels ``.tsv``, an LMDB, any real set with
``?repeat=..,augment=..,join=..``), and the synthetic set built from command-line style
options. The dataset classes themselves are in :mod:`ocrlab.data.datasets`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError
from .augment import Augment, Augmented, parse_join
from .datasets import FolderDataset, LineDataset, LmdbDataset, SyntheticLines
from .synth import Renderer, SynthConfig
from .text import make_text_source

__all__ = ["open_dataset", "synth_dataset"]


def open_dataset(spec: str | os.PathLike, **kw: Any) -> LineDataset:
    """Open a dataset from a short spec string.

    - ``"synth:n=2000,seed=7[,preset=clean|default|degraded|scene][,text=wordfreq:ja]"``;
      ``text.KEY=VALUE`` adds an option to the text source: ``text=wordfreq:en,
      text.rank_from=30000,text.vocab_size=200000`` (rare words), ``text=pseudo`` (made-up ones)
    - an LMDB: a path ending in ``.lmdb`` or a directory holding ``data.mdb``
    - a folder holding ``labels.tsv``, or the path of a ``*.tsv`` labels file
    - any of the two above with ``?repeat=K,augment=real|none,seed=S,join=A-B``: a real set
      weighted and augmented for training (:class:`~ocrlab.data.augment.Augmented`): seen ``K``
      times per epoch, each time with its own augmentation (``augment`` defaults to ``real``);
      ``join``: each item a row of ``A`` to ``B`` of its crops with gaps between them, labels
      joined by spaces (word crops that teach spaces)

    ``kw`` go to the dataset class (``charset``, ``policy``, ``skip_bad``, ``transform``); a
    synthetic set draws its text inside ``charset``.
    """
    s = str(spec)
    if s.startswith("synth:") or s == "synth":
        return _open_synth(s, **kw)
    if "?" in s:
        return _open_augmented(s, **kw)
    p = Path(s)
    if p.suffix == ".lmdb" or (p.is_dir() and (p / "data.mdb").is_file()):
        return LmdbDataset(p, **kw)
    if p.is_dir():
        return FolderDataset(p, **kw)
    if p.suffix == ".tsv" and p.is_file():
        return FolderDataset(p.parent, p.name, **kw)
    if not p.exists():
        raise DataError(
            f"{s}: no such dataset (expected 'synth:n=..,seed=..', a *.lmdb, a folder with"
            " labels.tsv, or a labels .tsv file)"
        )
    raise DataError(f"{s}: not a dataset (not an LMDB, a folder or a .tsv labels file)")


def _options(spec: str, body: str) -> dict[str, str]:
    opts: dict[str, str] = {}
    for part in filter(None, (x.strip() for x in body.split(","))):
        k, eq, v = part.partition("=")
        if not eq:
            raise DataError(f"{spec}: expected key=value, got {part!r}")
        opts[k.strip()] = v.strip()
    return opts


def _open_augmented(spec: str, **kw: Any) -> Any:
    path, _, body = spec.partition("?")
    opts = _options(spec, body)
    unknown = set(opts) - {"repeat", "augment", "seed", "join"}
    if unknown:
        raise DataError(
            f"{spec}: unknown option(s) {sorted(unknown)}; use repeat, augment, seed, join"
        )
    try:
        repeat, seed = int(opts.get("repeat", "1")), int(opts.get("seed", "0"))
        augment = Augment.preset(opts.get("augment", "real"))
        join = parse_join(opts.get("join", "1"))
    except ValueError as exc:
        raise DataError(f"{spec}: {exc}") from None
    if repeat < 1:
        raise DataError(f"{spec}: repeat must be >= 1, got {repeat}")
    transform = kw.pop("transform", None)
    base = open_dataset(path, **kw)
    return Augmented(
        base, repeat=repeat, augment=augment, seed=seed, transform=transform, join=join
    )


def _open_synth(spec: str, **kw: Any) -> SyntheticLines:
    opts = _options(spec, spec.partition(":")[2])
    text_opts = [f"{k[5:]}={opts.pop(k)}" for k in list(opts) if k.startswith("text.")]
    unknown = set(opts) - {"n", "seed", "preset", "text"}
    if unknown:
        raise DataError(
            f"{spec}: unknown synth option(s) {sorted(unknown)}; use n, seed, preset, text, "
            "text.KEY"
        )
    try:
        n = int(opts.get("n", "1000"))
        seed = int(opts.get("seed", "0"))
    except ValueError as exc:
        raise DataError(f"{spec}: n and seed must be integers ({exc})") from None
    charset = kw.pop("charset", None)
    # synthetic text is drawn inside the charset and never empty: nothing to check or skip
    for key in ("policy", "skip_bad", "skip_empty"):
        kw.pop(key, None)
    dataset = synth_dataset(
        n=n,
        seed=seed,
        preset=opts.get("preset", "default"),
        text=",".join([opts.get("text", "wordfreq:en"), *text_opts]),
        charset=charset,
    )
    dataset.transform = kw.pop("transform", None)
    if kw:
        raise TypeError(f"open_dataset({spec!r}): unexpected arguments {sorted(kw)}")
    return dataset


def synth_dataset(
    *,
    n: int,
    seed: int = 0,
    preset: str = "default",
    text: str = "wordfreq:en",
    crop: str | None = None,
    min_chars: int | None = None,
    max_chars: int | None = None,
    font_dirs: Sequence[str] = (),
    charset=None,
):
    """A :class:`~ocrlab.data.datasets.SyntheticLines` from command-line style options.

    With a ``charset``, the text source only draws text the charset can encode."""
    config = SynthConfig.preset(preset)
    if crop is not None:
        config.crop = crop
    if font_dirs:
        config.font_dirs = list(font_dirs)
    for key, value in (("min_chars", min_chars), ("max_chars", max_chars)):
        if value is not None:
            text += f",{key}={value}"
    words = None
    if text.startswith("wordfreq") and "words_only" not in text:
        words = make_text_source(text + ",words_only=true", seed=seed, charset=charset)
    source = make_text_source(text, seed=seed, charset=charset)
    return SyntheticLines(n, seed=seed, text=source, renderer=Renderer(config), words=words)
