"""Training: data, the loop (Accelerate: CPU, one GPU, or ``accelerate launch`` over several),
weighted and scheduled CTC + LM losses, gradient diagnostics, validation, atomic checkpoints and
exact resumption.

A run folder holds::

    config.yaml            the resolved RunConfig
    metrics.jsonl          one JSON object per event: {"kind": "train" | "grad" | "val", "step", ...}
    checkpoints/last/      model checkpoint + trainer_state.pt (optimizer, scheduler, step, RNG,
                           data position): what --resume reads
    checkpoints/best/      the checkpoint with the lowest validation CER
    checkpoints/step-N/    snapshots every ``save_every`` steps (for attention-over-training views)

The model knows nothing of this file; this file knows nothing of the model's layers beyond
"the encoder's parameters" (for the gradient diagnostics).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from .balancing import BalanceConfig, make_balancer
from .charset import Charset
from .config import ConfigError, load_config, save_config
from .errors import OcrlabError
from .models.config import OCRConfig
from .schedules import ScheduleConfig, schedule_value

STATE_NAME = "trainer_state.pt"


# -- config -----------------------------------------------------------------------------------


@dataclass
class DataConfig:
    """``train``: dataset specs (``synth:n=..,seed=..``, a folder, an ``.lmdb``), concatenated.
    ``val``: one spec, read with the inference path (aspect kept up to ``val_max_width``)."""

    train: list[str] = field(default_factory=lambda: ["synth:n=100000,seed=1"])
    val: str | None = "synth:n=500,seed=900001"
    batch_size: int = 32
    max_width: int = 512
    val_max_width: int = 2048
    num_workers: int = 0
    policy: str = "skip"  # labels outside the charset: skip (counted) | error | replace
    skip_bad: bool = False  # skip (and count) unreadable images instead of stopping
    bucket_by_length: bool = True


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0


@dataclass
class LossConfig:
    ctc_weight: ScheduleConfig = field(default_factory=ScheduleConfig)
    lm_weight: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(value=0.5, end=0.5))
    # automatic balancing (uncertainty | gradnorm): learned weights that multiply the schedules
    balance: BalanceConfig = field(default_factory=BalanceConfig)


@dataclass
class TrainConfig:
    max_steps: int = 10000
    max_minutes: float | None = None  # wall-clock budget; the run ends cleanly when it is spent
    log_every: int = 20
    eval_every: int = 500
    save_every: int = 500
    grad_diag_every: int = 100
    keep_snapshots: bool = True
    seed: int = 0
    mixed_precision: str = "auto"  # auto: bf16 on a GPU, none on the CPU
    threads: int | None = None
    # start from this checkpoint's weights (a new optimizer and LR schedule): continue or
    # fine-tune a trained model; ignored on --resume, which restores everything from the run
    init_from: str | None = None


@dataclass
class RunConfig:
    model: OCRConfig = field(default_factory=OCRConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_run_config(path: str | os.PathLike | None, overrides: Sequence[str] = ()) -> RunConfig:
    """A YAML preset (``configs/small.yaml``) with ``key.path=value`` overrides applied."""
    return load_config(RunConfig, path, overrides)


# -- data ---------------------------------------------------------------------------------------


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
    from .data.datasets import concat, open_dataset
    from .data.transforms import LineTransform

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


# -- state ----------------------------------------------------------------------------------------


def _rng_state() -> dict[str, Any]:
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


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    np.random.set_state(
        ("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0)
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_lambda(optim: OptimConfig, max_steps: int):
    """Linear warmup, then cosine decay to ``min_lr_ratio`` at ``max_steps``."""

    def f(step: int) -> float:
        if step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        t = min(1.0, (step - optim.warmup_steps) / max(1, max_steps - optim.warmup_steps))
        return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices and convolution kernels only (not on norms, biases, queries)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 and "query_tokens" not in name else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


# -- gradient diagnostics --------------------------------------------------------------------------


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


# -- the run ------------------------------------------------------------------------------------------


class MetricsLog:
    """Append-only JSONL (one flushed line per event; a killed run leaves whole lines), plus
    TensorBoard scalars when ``tensorboard`` is installed."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled
        self._tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(path.parent / "tensorboard"))
            except ImportError:
                pass

    def write(self, kind: str, step: int, **values: Any) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, "time": round(time.time(), 3), **values}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(f"{kind}/{k}", v, step)

    def truncate_after(self, step: int) -> None:
        """On resume: drop events logged after the checkpoint's step (they will be redone)."""
        if not self.enabled or not self.path.exists():
            return
        keep = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    keep.append(line)
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut by a kill
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(x + "\n" for x in keep), encoding="utf-8")
        os.replace(tmp, self.path)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    best_cer: float | None
    last_val: dict[str, Any] | None
    counters: dict[str, int]
    seconds: float


def train(
    config: RunConfig,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Train ``config`` into ``run_dir`` (see the module docstring for what it holds).

    ``resume``: continue from ``run_dir/checkpoints/last`` — model, optimizer, scheduler,
    loss-weight schedule position (the step), RNG and data position — so an interrupted run
    ends with the same weights as an uninterrupted one. ``stop_after``: stop (with a
    checkpoint) after this many steps in this call, as if killed; for tests.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs
    from tqdm.auto import tqdm

    from .data.transforms import Collate
    from .evaluation import evaluate
    from .models.model import OCRModel

    run_dir = Path(run_dir)
    last_dir = run_dir / "checkpoints" / "last"
    if resume and not (last_dir / STATE_NAME).is_file():
        raise OcrlabError(f"--resume: {last_dir} holds no {STATE_NAME} to resume from")
    if not resume and last_dir.exists():
        raise OcrlabError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
        )
    tc = config.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    precision = tc.mixed_precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() else "no"
    accelerator = Accelerator(
        # without cpu=True Accelerate ignores a multi-process launch on a machine without GPUs
        cpu=not torch.cuda.is_available(),
        mixed_precision=precision,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    main = accelerator.is_main_process
    seed_everything(tc.seed)

    charset = Charset.preset(config.model.charset)
    train_set, val_set = build_datasets(config, charset)
    sampler = LengthBucketSampler(
        label_lengths(train_set),
        config.data.batch_size,
        tc.seed,
        bucket=config.data.bucket_by_length,
    )
    # each process reads every n-th batch; all take the same number of steps per epoch
    n_proc = accelerator.num_processes
    steps_per_epoch = len(sampler) // n_proc
    if steps_per_epoch == 0:
        raise ConfigError(
            f"the training set ({len(train_set)} lines) is smaller than one batch per process "
            f"({config.data.batch_size} x {n_proc})"
        )
    model = OCRModel(config.model, charset)
    optimizer = torch.optim.AdamW(
        param_groups(model, config.optim.weight_decay), lr=config.optim.lr
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config.optim, tc.max_steps))

    step, best_cer, counters = 0, None, Counter()
    balancer_state = None
    if tc.init_from and not resume:
        model.load_weights_from(tc.init_from)
    if resume:
        state = load_trainer_state(last_dir, model, optimizer, scheduler)
        step, best_cer, counters = state["step"], state["best_cer"], Counter(state["counters"])
        balancer_state = state.get("balancer")
        _set_rng_state(state["rng"])
    elif main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
    log = MetricsLog(run_dir / "metrics.jsonl", enabled=main)
    if resume:
        log.truncate_after(step)
    if main:
        _write_run_info(run_dir, accelerator, precision, step, resume)

    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)
    encoder_params = [p for p in raw_model.encoder.parameters() if p.requires_grad]
    # GradNorm's shared layer: the projection that feeds both the CTC context and the Q-Former
    balancer = make_balancer(config.loss.balance, list(raw_model.encoder.projection.parameters()))
    if balancer is not None and balancer_state is not None:
        balancer.load_state_dict(balancer_state)
    collate = Collate(charset, config.data.policy, transform=train_set_transform(train_set))

    def loader_for(epoch: int, within: int) -> DataLoader:
        """The rest of ``epoch`` from optimizer step ``within`` on."""
        sampler.epoch, sampler.start = epoch, within * n_proc
        shard = _Shard(sampler, n_proc, accelerator.process_index, steps_per_epoch - within)
        return DataLoader(
            train_set,
            batch_sampler=shard,
            collate_fn=collate,
            num_workers=config.data.num_workers,
            persistent_workers=False,
        )

    def checkpoint(kind: str) -> None:
        # only the main process writes; DDP keeps every process's weights identical, so the
        # others need not wait for it (a barrier here would hang: validation is main-only)
        if main:
            save_checkpoint(
                run_dir / "checkpoints" / kind,
                raw_model,
                optimizer,
                scheduler,
                step=step,
                best_cer=best_cer,
                counters=counters,
                with_state=kind == "last",
                balancer=balancer,
            )

    t0 = time.time()
    deadline = t0 + tc.max_minutes * 60 if tc.max_minutes else None
    bar = tqdm(
        total=tc.max_steps, initial=step, desc="train", unit="step", disable=not (progress and main)
    )
    last_val: dict[str, Any] | None = None
    steps_this_call = 0
    model.train()
    done = step >= tc.max_steps
    while not done:
        epoch, within = divmod(step, steps_per_epoch)
        for batch in loader_for(epoch, within):
            counters["skipped_samples"] += batch.skipped
            w_ctc = schedule_value(config.loss.ctc_weight, step, steps_per_epoch)
            w_lm = schedule_value(config.loss.lm_weight, step, steps_per_epoch)
            if len(batch) == 0:
                counters["empty_batches"] += 1
            else:
                batch = batch.to(accelerator.device)
                want_lm = raw_model.has_lm and w_lm > 0
                with accelerator.autocast():
                    out = model(
                        batch.images,
                        batch.widths,
                        batch.targets,
                        batch.target_lengths,
                        batch.texts,
                        ctc_weight=w_ctc,
                        lm_weight=w_lm,
                        compute_lm=want_lm,
                    )
                counters["infeasible_lines"] += int((~out.feasible).sum())
                loss = out.loss
                if balancer is not None and loss is not None and torch.isfinite(loss):
                    loss = balancer.combine(out.ctc_loss, out.lm_loss, w_ctc, w_lm, step)
                    w_ctc, w_lm = balancer.weights["ctc"], balancer.weights["lm"]
                if loss is None or not torch.isfinite(loss):
                    counters["nonfinite_steps"] += 1
                    optimizer.zero_grad(set_to_none=True)
                else:
                    if want_lm and tc.grad_diag_every and step % tc.grad_diag_every == 0 and main:
                        diag = gradient_diagnostics(
                            out.ctc_loss, out.lm_loss, encoder_params, w_ctc, w_lm
                        )
                        log.write("grad", step, w_ctc=w_ctc, w_lm=w_lm, **diag)
                    accelerator.backward(loss)
                    grad_norm = accelerator.clip_grad_norm_(
                        model.parameters(), config.optim.grad_clip
                    )
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    if balancer is not None:
                        balancer.step(lambda g: accelerator.reduce(g, "mean"))
                    if step % tc.log_every == 0:
                        log.write(
                            "train",
                            step,
                            epoch=epoch,
                            loss=loss.item(),
                            ctc_loss=out.ctc_loss.item(),
                            lm_loss=out.lm_loss.item() if out.lm_loss is not None else None,
                            w_ctc=w_ctc,
                            w_lm=w_lm,
                            lr=scheduler.get_last_lr()[0],
                            grad_norm=float(grad_norm),
                            **(balancer.extra if balancer is not None else {}),
                            **counters,
                        )
                    bar.set_postfix(
                        ctc=f"{out.ctc_loss.item():.3f}",
                        lm=f"{out.lm_loss.item():.3f}" if out.lm_loss is not None else "-",
                    )
            scheduler.step()
            step += 1
            steps_this_call += 1
            bar.update(1)
            out_of_time = deadline is not None and time.time() > deadline
            finished = step >= tc.max_steps or out_of_time
            if val_set is not None and (step % tc.eval_every == 0 or finished) and main:
                res = evaluate(
                    raw_model, val_set, batch_size=64, max_width=config.data.val_max_width
                )
                last_val = res.as_dict()
                log.write("val", step, **last_val)
                if best_cer is None or res.scores.cer < best_cer:
                    best_cer = res.scores.cer
                    checkpoint("best")
                bar.write(
                    f"step {step}: val CER {res.scores.cer:.4f}, accuracy {res.scores.accuracy:.4f}"
                )
                model.train()
            if step % tc.save_every == 0 or finished:
                checkpoint("last")
                if tc.keep_snapshots:
                    checkpoint(f"step-{step:07d}")
            if finished or (stop_after is not None and steps_this_call >= stop_after):
                done = True
                break
    bar.close()
    if step % tc.save_every and not (step >= tc.max_steps):
        checkpoint("last")
    return TrainResult(
        run_dir=run_dir,
        step=step,
        best_cer=best_cer,
        last_val=last_val,
        counters=dict(counters),
        seconds=time.time() - t0,
    )


def _write_run_info(run_dir: Path, accelerator: Any, precision: str, step: int, resume: bool):
    """run.json: how this run was executed (appended to on every resume)."""
    import sys

    from .machine import machine_info

    path = run_dir / "run.json"
    info = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"sessions": []}
    session = {
        "command": " ".join(["ocrlab", *sys.argv[1:]]) if sys.argv else None,
        "started_at_step": step,
        "resumed": resume,
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "num_processes": accelerator.num_processes,
        "device": str(accelerator.device),
        "mixed_precision": precision,
        "machine": machine_info("torch", "transformers", "accelerate"),
    }
    info["sessions"].append(session)
    info["num_processes"] = accelerator.num_processes
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def train_set_transform(dataset: Any):
    """The LineTransform the training set applies (the collate pads with its pad value)."""
    from .data.transforms import LineTransform

    for d in getattr(dataset, "datasets", [dataset]):
        if getattr(d, "transform", None) is not None:
            return d.transform
    return LineTransform()


class _Shard(Sampler[list[int]]):
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


# -- checkpoints ----------------------------------------------------------------------------------


def save_checkpoint(
    directory: Path,
    model: Any,
    optimizer,
    scheduler,
    *,
    step: int,
    best_cer: float | None,
    counters: Counter,
    with_state: bool,
    balancer: Any = None,
) -> None:
    """Model checkpoint (+ the trainer state for ``last``), written atomically: the whole
    folder is built beside the target and renamed over it."""
    from .models.model import _replace_dir

    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        model.save_pretrained(tmp / "ckpt")
        if with_state:
            state = {
                "step": step,
                "best_cer": best_cer,
                "counters": dict(counters),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(),
                "balancer": balancer.state_dict() if balancer is not None else None,
            }
            torch.save(state, tmp / "ckpt" / STATE_NAME)
        _replace_dir(tmp / "ckpt", directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_trainer_state(directory: Path, model: Any, optimizer, scheduler) -> dict[str, Any]:
    """Restore weights, optimizer and scheduler from ``directory``; return the rest."""
    from safetensors.torch import load_file

    from .models.model import WEIGHTS_NAME

    model._load_checked(load_file(str(directory / WEIGHTS_NAME)), directory / WEIGHTS_NAME)
    try:
        state = torch.load(directory / STATE_NAME, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise OcrlabError(f"{directory / STATE_NAME} cannot be read: {exc}") from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state
