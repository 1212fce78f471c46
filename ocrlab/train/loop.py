"""The training loop: setup, then :class:`_Loop` steps, evaluates and saves; and where an
interrupted run can resume."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..balancing import Balancer, make_balancer
from ..charset import Charset
from ..config import ConfigError, save_config
from ..data.transforms import Collate
from ..errors import OcrlabError
from ..evaluation import evaluate
from ..models import checkpoint
from ..models.model import OCRModel
from ..reading import reading_diagnostics
from ..run_config import RunConfig
from ..schedules import schedule_value
from .data import LengthBucketSampler, Shard, build_datasets, label_lengths, train_set_transform
from .diagnostics import gradient_diagnostics
from .log import MetricsLog, write_run_info
from .optim import freeze_modules, lr_lambda, param_groups, set_train_mode


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
    # accelerate and the model (transformers) are the optional "model" extra
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed

    run_dir = Path(run_dir)
    last_dir = run_dir / "checkpoints" / "last"
    if resume and not run_dir.exists():
        raise OcrlabError(
            f"--resume: {run_dir} does not exist, so there is no run to resume; start it "
            "without --resume (and add --resume when you restart it)"
        )
    if resume and not (last_dir / checkpoint.STATE_NAME).is_file():
        raise OcrlabError(
            f"--resume: {last_dir} holds no {checkpoint.STATE_NAME} to resume from (the run saved no "
            f"checkpoint yet); start it again without --resume, into an empty --out"
        )
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
    set_seed(tc.seed)  # random, numpy and torch (and CUDA), as accelerate seeds them

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
    frozen = freeze_modules(model, tc.freeze)
    optimizer = torch.optim.AdamW(param_groups(model, config.optim), lr=config.optim.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config.optim, tc.max_steps))

    step, best_cer, counters = 0, None, Counter()
    balancer_state = None
    if tc.init_from and not resume:
        model.load_weights_from(tc.init_from, skip=tc.init_skip)
    if resume:
        state = checkpoint.read_trainer_state(last_dir, model, optimizer, scheduler)
        step, best_cer, counters = state["step"], state["best_cer"], Counter(state["counters"])
        balancer_state = state.get("balancer")
        checkpoint.set_rng_state(state["rng"])
    elif main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
        # a run killed before its first checkpoint starts over: its log goes with it
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    log = MetricsLog(run_dir / "metrics.jsonl", enabled=main)
    if resume:
        redone = {e["step"] for e in log.truncate_after(step) if e["kind"] == "train"}
        if main and progress:
            print(
                f"resuming {run_dir} from step {step} (checkpoints/last); "
                f"{len(redone)} logged step(s) after it will be redone",
                flush=True,
            )
    if main:
        write_run_info(run_dir, accelerator, precision, step, resume)

    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)
    encoder_params = [p for p in raw_model.encoder.parameters() if p.requires_grad]
    # GradNorm's shared layer: the projection that feeds both the CTC context and the Q-Former
    balancer = make_balancer(config.loss.balance, list(raw_model.encoder.projection.parameters()))
    if balancer_state is not None:
        balancer.load_state_dict(balancer_state)
    collate = Collate(charset, config.data.policy, transform=train_set_transform(train_set))

    def loader_for(epoch: int, within: int) -> DataLoader:
        """The rest of ``epoch`` from optimizer step ``within`` on."""
        sampler.epoch, sampler.start = epoch, within * n_proc
        shard = Shard(sampler, n_proc, accelerator.process_index, steps_per_epoch - within)
        # its own generator: a DataLoader iterator otherwise draws its base seed from the
        # global torch RNG, so a resumed run (a new iterator mid-epoch) would shift the dropout
        # draws of every later step
        generator = torch.Generator().manual_seed(tc.seed * 1_000_003 + epoch)
        return DataLoader(
            train_set,
            batch_sampler=shard,
            collate_fn=collate,
            num_workers=config.data.num_workers,
            persistent_workers=False,
            generator=generator,
        )

    loop = _Loop(
        config=config,
        run_dir=run_dir,
        accelerator=accelerator,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        balancer=balancer,
        log=log,
        bar=tqdm(
            total=tc.max_steps,
            initial=step,
            desc="train",
            unit="step",
            disable=not (progress and main),
        ),
        frozen=frozen,
        encoder_params=encoder_params,
        val_set=val_set,
        reading_set=(
            [val_set[i] for i in range(min(tc.reading_lines, len(val_set)))]
            if val_set is not None and raw_model.has_lm and tc.reading_lines
            else []
        ),
        steps_per_epoch=steps_per_epoch,
        step=step,
        best_cer=best_cer,
        counters=counters,
    )
    t0 = time.time()
    deadline = t0 + tc.max_minutes * 60 if tc.max_minutes else None
    steps_this_call = 0
    set_train_mode(model, frozen)
    done = loop.step >= tc.max_steps
    while not done:
        epoch, within = divmod(loop.step, steps_per_epoch)
        for batch in loader_for(epoch, within):
            loop.train_step(batch, epoch)
            steps_this_call += 1
            out_of_time = deadline is not None and time.time() > deadline
            finished = loop.step >= tc.max_steps or out_of_time
            if val_set is not None and (loop.step % tc.eval_every == 0 or finished) and main:
                loop.evaluate()
            if loop.step % tc.save_every == 0 or finished:
                loop.save("last")
                if tc.keep_snapshots:
                    loop.save(f"step-{loop.step:07d}")
            if finished or (stop_after is not None and steps_this_call >= stop_after):
                done = True
                break
    loop.bar.close()
    if loop.step % tc.save_every and not (loop.step >= tc.max_steps):
        loop.save("last")
    return TrainResult(
        run_dir=run_dir,
        step=loop.step,
        best_cer=loop.best_cer,
        last_val=loop.last_val,
        counters=dict(loop.counters),
        seconds=time.time() - t0,
    )


@dataclass
class _Loop:
    """What the training loop carries from step to step, and its three actions: one optimizer
    step (:meth:`train_step`), a validation with the reading diagnostics (:meth:`evaluate`),
    and a checkpoint (:meth:`save`). ``model`` and ``optimizer`` are Accelerate's prepared
    ones."""

    config: RunConfig
    run_dir: Path
    accelerator: Any
    model: Any
    optimizer: Any
    scheduler: Any
    balancer: Balancer
    log: MetricsLog
    bar: Any
    frozen: list[torch.nn.Module]
    encoder_params: list[torch.nn.Parameter]
    val_set: Any
    reading_set: list[Any]
    steps_per_epoch: int
    step: int
    best_cer: float | None
    counters: Counter
    last_val: dict[str, Any] | None = None

    @property
    def raw_model(self) -> Any:
        return self.accelerator.unwrap_model(self.model)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    def train_step(self, batch: Any, epoch: int) -> None:
        """One batch: the losses combined by the balancer, backward, clip, optimizer and
        scheduler step, the log line; a batch that is empty or gives a non-finite loss is
        counted and changes no weight. The step counter advances either way."""
        config, tc, counters = self.config, self.config.train, self.counters
        raw_model, step = self.raw_model, self.step
        counters["skipped_samples"] += batch.skipped
        w_ctc = schedule_value(config.loss.ctc_weight, step, self.steps_per_epoch)
        w_lm = schedule_value(config.loss.lm_weight, step, self.steps_per_epoch)
        if len(batch) == 0:
            counters["empty_batches"] += 1
        else:
            batch = batch.to(self.accelerator.device)
            want_lm = raw_model.has_lm and w_lm > 0
            with self.accelerator.autocast():
                out = self.model(
                    batch.images,
                    batch.widths,
                    batch.targets,
                    batch.target_lengths,
                    batch.texts,
                    compute_lm=want_lm,
                )
            counters["infeasible_lines"] += int((~out.feasible).sum())
            balancer = self.balancer
            loss = None
            if all(torch.isfinite(x) for x in (out.ctc_loss, out.lm_loss) if x is not None):
                loss = balancer.combine(out.ctc_loss, out.lm_loss, w_ctc, w_lm, step)
                w_ctc, w_lm = balancer.weights["ctc"], balancer.weights["lm"]
            if loss is None or not torch.isfinite(loss):
                counters["nonfinite_steps"] += 1
                self.optimizer.zero_grad(set_to_none=True)
            else:
                diag_due = tc.grad_diag_every and step % tc.grad_diag_every == 0
                if want_lm and self.encoder_params and diag_due and self.main:
                    diag = gradient_diagnostics(
                        out.ctc_loss, out.lm_loss, self.encoder_params, w_ctc, w_lm
                    )
                    self.log.write("grad", step, w_ctc=w_ctc, w_lm=w_lm, **diag)
                self.accelerator.backward(loss)
                grad_norm = self.accelerator.clip_grad_norm_(
                    self.model.parameters(), config.optim.grad_clip
                )
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                balancer.step(lambda g: self.accelerator.reduce(g, "mean"))
                if step % tc.log_every == 0:
                    self.log.write(
                        "train",
                        step,
                        epoch=epoch,
                        loss=loss.item(),
                        ctc_loss=out.ctc_loss.item(),
                        lm_loss=out.lm_loss.item() if out.lm_loss is not None else None,
                        w_ctc=w_ctc,
                        w_lm=w_lm,
                        lr=self.scheduler.get_last_lr()[0],
                        grad_norm=float(grad_norm),
                        **balancer.extra,
                        **counters,
                    )
                self.bar.set_postfix(
                    ctc=f"{out.ctc_loss.item():.3f}",
                    lm=f"{out.lm_loss.item():.3f}" if out.lm_loss is not None else "-",
                )
        self.scheduler.step()
        self.step += 1
        self.bar.update(1)

    def evaluate(self) -> None:
        """Validation CER (a new best is saved as ``best``) and, with a Q-Former, the reading
        diagnostics on the fixed reading subset, with a warning when the queries collapse."""
        raw_model, step, bar = self.raw_model, self.step, self.bar
        res = evaluate(
            raw_model, self.val_set, batch_size=64, max_width=self.config.data.val_max_width
        )
        self.last_val = res.as_dict()
        self.log.write("val", step, **self.last_val)
        if self.best_cer is None or res.scores.cer < self.best_cer:
            self.best_cer = res.scores.cer
            self.save("best")
        bar.write(f"step {step}: val CER {res.scores.cer:.4f}, accuracy {res.scores.accuracy:.4f}")
        if self.reading_set:
            reading = reading_diagnostics(raw_model, self.reading_set)
            self.log.write("read", step, **reading.as_dict())
            bar.write(f"step {step}: {reading.summary()}")
            if reading.collapsed:
                bar.write(f"step {step}: WARNING {reading.collapse_warning()}")
        set_train_mode(self.model, self.frozen)

    def save(self, kind: str) -> None:
        """``checkpoints/<kind>``; ``last`` also holds the trainer state. Only the main process
        writes: DDP keeps every process's weights identical, so the others need not wait for
        it (a barrier here would hang: validation is main-only)."""
        if self.main:
            checkpoint.write_checkpoint(
                self.run_dir / "checkpoints" / kind,
                self.raw_model,
                self.optimizer,
                self.scheduler,
                step=self.step,
                best_cer=self.best_cer,
                counters=self.counters,
                with_state=kind == "last",
                balancer=self.balancer,
            )


def resume_point(run_dir: str | os.PathLike) -> tuple[int | None, int | None]:
    """(the step ``checkpoints/last`` holds, the last step ``metrics.jsonl`` logged) of a run
    folder; None where there is none. What an interrupted run tells its user."""
    run_dir = Path(run_dir)
    held = checkpoint.held_step(run_dir / "checkpoints" / "last")
    metrics = run_dir / "metrics.jsonl"
    events = MetricsLog.events(metrics) if metrics.is_file() else []
    return held, max((e["step"] for _, e in events if e["kind"] == "train"), default=None)
