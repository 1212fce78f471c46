"""The files of a checkpoint folder, written and read here and nowhere else. The functions take
an :class:`~ocrlab.models.OCRModel` (typed ``nn.Module``: ``model.py`` imports this module).

A model checkpoint (:meth:`OCRModel.save_pretrained <ocrlab.models.OCRModel.save_pretrained>`
writes it, ``from_pretrained`` reads it)::

    config.json         {"model_type": "ocrlab", "format_version": 1, "config": the OCRConfig}
    charset.json        the CTC vocabulary
    model.safetensors   every trained weight (the frozen LM's are not repeated here)
    lm/                 a copy of the LM when it came from a local directory or was handed to
                        the model in memory (a hub name is referenced in config.json instead)

A training run's ``checkpoints/last`` adds ``trainer_state.pt``: step, best validation CER,
counters, optimizer, LR scheduler, the loss balancer and the RNG state, what ``--resume`` reads.

Why not ``huggingface_hub``'s ``PyTorchModelHubMixin``: what it adds is hub upload and download,
which ocrlab must not do (offline), and a ``config.json`` of constructor arguments plus a
generated ``README.md``. Every other part of this folder it would leave to overrides of both of
its halves: weights without the frozen LM, the LM written once into ``lm/``, the charset file,
the format version, per-module storage dtypes (a float32 CTC path beside a float16 Q-Former) and
errors that name the file that is wrong. So the folder stays ours, and ``huggingface_hub`` is not
a dependency of ocrlab (transformers brings it along for the LM).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..charset import Charset
from ..config import ConfigError, from_dict, to_dict
from ..errors import OcrlabError
from ..files import atomic_dir
from .config import OCRConfig

FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CHARSET_NAME = "charset.json"
LM_DIR = "lm"
STATE_NAME = "trainer_state.pt"
LM_PREFIX = "lm_bridge.lm."  # the frozen LM's weights: never in model.safetensors


class CheckpointError(OcrlabError):
    """A checkpoint directory that is missing, incomplete, corrupt or does not fit the model."""


def is_checkpoint(path: str | os.PathLike) -> bool:
    """True when ``path`` is an ocrlab checkpoint folder: ``config.json`` (with
    ``"model_type": "ocrlab"``, so an LM folder is not mistaken for one) and
    ``model.safetensors``."""
    p = Path(path)
    if not (p / CONFIG_NAME).is_file() or not (p / WEIGHTS_NAME).is_file():
        return False
    try:
        meta = json.loads((p / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("model_type") == "ocrlab"


# -- the model --------------------------------------------------------------------------------


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every weight of ``model`` but the frozen LM's (those live in the LM's own folder)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith(LM_PREFIX)}


def write_model(
    model: nn.Module,
    directory: str | os.PathLike,
    *,
    dtype: torch.dtype | None = None,
    keep: Sequence[str] = (),
) -> Path:
    """Write ``model``'s checkpoint folder atomically (see
    :meth:`~ocrlab.models.OCRModel.save_pretrained` for ``dtype`` and ``keep``)."""
    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        config = to_dict(model.config)
        if model.has_lm:
            bridge = model.lm_bridge
            source = bridge.source_dir
            if bridge.handed or (source is not None and not source.is_dir()):
                # built in memory, or loaded from a folder that has moved since (during a
                # long run): write the LM from memory, refer to it
                bridge.lm.save_pretrained(tmp / LM_DIR)
                bridge.tokenizer.save_pretrained(tmp / LM_DIR)
                config["lm"]["name_or_path"] = LM_DIR
            elif source is not None:  # a local LM: copy its folder, refer to the copy
                shutil.copytree(source, tmp / LM_DIR)
                config["lm"]["name_or_path"] = LM_DIR
        keep = tuple(keep)
        state = {
            k: v.detach()
            .cpu()
            .to(dtype if dtype and v.is_floating_point() and not k.startswith(keep) else v.dtype)
            .contiguous()
            for k, v in trainable_state_dict(model).items()
        }
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        model.charset.save(tmp / CHARSET_NAME)
        meta = {"format_version": FORMAT_VERSION, "model_type": "ocrlab", "config": config}
        (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return directory


def read_model_config(directory: str | os.PathLike) -> tuple[OCRConfig, Charset]:
    """The config and charset that build the model of checkpoint ``directory`` (a relative LM
    path pointing into the checkpoint is made absolute)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint {directory} does not exist (expected a directory)")
    config_path = directory / CONFIG_NAME
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {directory} has no {CONFIG_NAME}") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{config_path} is not valid JSON: {exc}") from None
    if meta.get("model_type") != "ocrlab" or "config" not in meta:
        raise CheckpointError(f"{config_path} is not an ocrlab checkpoint config")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{directory} was written by a newer ocrlab (format {meta['format_version']})"
        )
    try:
        config = from_dict(OCRConfig, meta["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{config_path} holds no valid ocrlab config: {exc}") from None
    if config.qformer.enabled:
        local = directory / config.lm.name_or_path
        if local.is_dir():  # the checkpoint's own copy of a local LM
            config.lm.name_or_path = str(local)
    return config, Charset.load(directory / CHARSET_NAME)


def read_weights(
    directory: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """The tensors of ``directory/model.safetensors``."""
    weights = Path(directory) / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {directory} has no {WEIGHTS_NAME}")
    try:
        return load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is corrupt or not a safetensors file: {exc}") from None


def check_charset(directory: str | os.PathLike, charset: Charset) -> None:
    """Raise when checkpoint ``directory`` was trained with another charset than ``charset``."""
    path = Path(directory) / CHARSET_NAME
    if path.is_file():
        theirs = Charset.load(path)
        if theirs != charset:
            raise CheckpointError(
                f"{directory} was trained with charset {theirs.name!r} ({len(theirs)} classes), "
                f"this model uses {charset.name!r} ({len(charset)} classes)"
            )


def load_weights(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    source: str | os.PathLike,
    skip: Sequence[str] = (),
) -> None:
    """Copy ``state`` (read from ``source``) into ``model``; every trained weight must be there
    with its shape, or :class:`CheckpointError` says what differs. ``skip``: name prefixes
    left out on both sides (they keep the model's own initialization)."""
    skip = tuple(skip)
    if skip:
        state = {k: v for k, v in state.items() if not k.startswith(skip)}
    expected = {k: v for k, v in trainable_state_dict(model).items() if not k.startswith(skip)}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        problems = []
        if wrong:
            problems.append("shape mismatch: " + "; ".join(wrong[:5]))
        if missing:
            problems.append(f"missing {len(missing)} weight(s), e.g. {missing[:3]}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected weight(s), e.g. {unexpected[:3]}")
        hint = ""
        if any(k.startswith("ctc_head.") for k in [*missing, *(w.split(":")[0] for w in wrong)]):
            charset = model.charset
            hint = (
                f" (the CTC head does not fit charset {charset.name!r} of {len(charset)} classes)"
            )
        raise CheckpointError(f"{source} does not fit the model{hint}: " + " | ".join(problems))
    model.load_state_dict(state, strict=False)


# -- the trainer state ------------------------------------------------------------------------


# The RNG state travels inside trainer_state.pt rather than through accelerate's
# save_state/load_state: those write model, optimizer, scheduler and RNG as separate files in
# accelerate's own layout, while a checkpoint here is an OCRModel folder (loadable as a model)
# plus one trainer_state.pt, and every checkpoint written so far stays resumable.
def rng_state() -> dict[str, Any]:
    """The torch, Python and NumPy (and CUDA) RNG states, as tensors and lists."""
    state = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_pos": random.getstate()[2],
        "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
        "numpy_pos": int(np.random.get_state()[2]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    np.random.set_state(
        ("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0)
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_checkpoint(
    directory: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    step: int,
    best_cer: float | None,
    counters: Counter,
    with_state: bool,
    balancer: Any = None,
) -> None:
    """A training checkpoint: the model folder (+ ``trainer_state.pt`` when ``with_state``),
    written atomically: the whole folder is built beside the target and renamed over it."""
    with atomic_dir(Path(directory)) as tmp:
        write_model(model, tmp)
        if with_state:
            state = {
                "step": step,
                "best_cer": best_cer,
                "counters": dict(counters),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                "balancer": balancer.state_dict() if balancer is not None else None,
            }
            torch.save(state, tmp / STATE_NAME)


def held_step(directory: str | os.PathLike) -> int | None:
    """The step whose trainer state ``directory`` holds; None when it holds none or a state
    cut short (by a kill during the write of a run from before atomic checkpoints)."""
    path = Path(directory) / STATE_NAME
    if not path.is_file():
        return None
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["step"])
    except Exception:  # any unreadable state means "nothing is held"
        return None


def read_trainer_state(
    directory: str | os.PathLike, model: nn.Module, optimizer, scheduler
) -> dict[str, Any]:
    """Restore weights, optimizer and scheduler from the training checkpoint ``directory``;
    return the rest of its trainer state (step, best CER, counters, RNG, balancer)."""
    directory = Path(directory)
    load_weights(model, read_weights(directory), directory / WEIGHTS_NAME)
    try:
        state = torch.load(directory / STATE_NAME, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise OcrlabError(f"{directory / STATE_NAME} cannot be read: {exc}") from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state
