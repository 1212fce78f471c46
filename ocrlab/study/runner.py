"""Running a study: each (configuration, seed) trained as an ordinary run, scored on every
evaluation set (the CTC path, and the LM-decoding path on one set) into its ``result.json``;
``--jobs N`` runs in parallel processes; a killed study continues where it stopped."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from .. import files
from .. import train as trainer
from ..charset import Charset
from ..data.specs import open_dataset
from ..data.transforms import Collate, LineTransform
from ..evaluation import evaluate
from ..machine import machine_info
from ..metrics import line_errors, score
from ..models import OCRModel, checkpoint
from .analysis import write_report
from .grid import (
    RESULT_NAME,
    WARMUP,
    EvalSet,
    Grid,
    RunSpec,
    StudyError,
    expand_grid,
    fingerprint,
    load_grid,
    read_result,
    run_config,
    run_path,
)


def run_one(
    grid: Grid,
    spec: RunSpec,
    out: str | os.PathLike,
    *,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (or resume, or reuse) one run and score it; returns its result."""
    config = run_config(grid, spec, out)
    if threads:
        config.train.threads = threads
    fp = fingerprint(run_config(grid, spec, out))  # threads do not change what is learned
    run_dir = run_path(out, spec)
    done = read_result(run_dir)
    if done is not None:
        if done.get("fingerprint") != fp:
            raise StudyError(
                f"{run_dir} holds a finished run of a different configuration than the grid's "
                f"{spec.config!r} now gives; delete that folder or choose another --out"
            )
        return done
    resume = (run_dir / "checkpoints" / "last" / checkpoint.STATE_NAME).is_file()
    if resume:
        saved = (
            (run_dir / "fingerprint.txt").read_text().strip()
            if (run_dir / "fingerprint.txt").is_file()
            else None
        )
        if saved is not None and saved != fp:
            raise StudyError(
                f"{run_dir} holds a partial run of a different configuration; delete it or "
                "choose another --out"
            )
    elif run_dir.exists():
        shutil.rmtree(run_dir)  # killed before its first checkpoint: nothing worth keeping
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "fingerprint.txt").write_text(fp + "\n")
    t0 = time.time()
    trained = trainer.train(config, run_dir, resume=resume, progress=progress)
    train_seconds = time.time() - t0

    from accelerate import PartialState  # the model extra

    state = PartialState()
    result: dict[str, Any] = {}
    if spec == WARMUP:  # a warm start is not scored, only marked finished
        if state.is_main_process:
            result = {"config": spec.config, "seed": spec.seed, "fingerprint": fp,
                      "steps": trained.step, "last_val": trained.last_val}  # fmt: skip
            files.write_json(run_dir / RESULT_NAME, result, indent=1)
        state.wait_for_everyone()
        return result
    if state.is_main_process:
        result = score_run(grid, spec, run_dir, progress=progress)
        result.update(
            fingerprint=fp,
            steps=trained.step,
            train_seconds_this_call=round(train_seconds, 1),
            counters=trained.counters,
        )
        files.write_json(run_dir / RESULT_NAME, result, indent=1)
    state.wait_for_everyone()
    return result if state.is_main_process else (read_result(run_dir) or {})


def _open_eval(item: EvalSet):
    return open_dataset(item.data, charset=Charset.preset("latin"), skip_bad=True)


def available_sets(grid: Grid) -> tuple[list[EvalSet], dict[str, str]]:
    """The evaluation sets that can be opened here, and why each other one is skipped."""
    ok, skipped = [], {}
    for item in grid.eval_sets:
        try:
            _open_eval(item)
            ok.append(item)
        except Exception as exc:
            if not item.optional:
                raise StudyError(f"evaluation set {item.name!r} ({item.data}): {exc}") from None
            skipped[item.name] = f"{item.data}: {exc}"
    return ok, skipped


def lm_decode_predictions(
    model: Any, dataset: Any, *, limit: int, batch_size: int = 32
) -> tuple[list[str], list[str]]:
    """Read ``limit`` lines of ``dataset`` with the LM-decoding path (queries -> frozen LM)."""
    transform = LineTransform(height=model.config.encoder.height, max_width=2048)
    loader = DataLoader(
        Subset(dataset, list(range(min(limit, len(dataset))))),
        batch_size=batch_size,
        collate_fn=Collate(transform=transform),
    )
    preds, refs = [], []
    model.eval()
    with torch.inference_mode():
        for batch in loader:
            if len(batch) == 0:
                continue
            preds.extend(model.generate_text(batch.images, batch.widths))
            refs.extend(batch.texts)
    return preds, refs


def read_series(run_dir: Path) -> dict[str, dict[str, list]]:
    """Curves from a run's metrics.jsonl: gradient diagnostics, loss weights, validation CER."""
    series: dict[str, dict[str, list]] = {
        "grad": {k: [] for k in ("step", "grad_ratio_lm_ctc", "grad_cosine", "lm_share",
                                 "grad_norm_ctc", "grad_norm_lm")},
        "weights": {k: [] for k in ("step", "w_ctc", "w_lm", "ctc_loss", "lm_loss")},
        "val": {"step": [], "cer": []},
    }  # fmt: skip
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return series
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind = {"grad": "grad", "train": "weights", "val": "val"}.get(rec.get("kind"))
        if kind is None:
            continue
        for key, values in series[kind].items():
            values.append(rec.get(key))
    return series


def score_run(grid: Grid, spec: RunSpec, run_dir: Path, *, progress: bool = False):
    """Score a finished run's final weights (``checkpoints/last``) on every available set."""
    model = OCRModel.from_pretrained(run_dir / "checkpoints" / "last")
    model.eval()
    sets, skipped = available_sets(grid)
    result: dict[str, Any] = {
        "config": spec.config,
        "seed": spec.seed,
        "sets": {},
        "skipped_sets": skipped,
    }
    for item in sets:
        dataset = _open_eval(item)
        res = evaluate(
            model,
            dataset,
            protocol=item.protocol,
            batch_size=grid.eval_batch_size,
            limit=item.lines,
            progress=progress,
        )
        errs = line_errors(res.predictions, res.references, protocol=item.protocol)
        result["sets"][item.name] = {
            **res.as_dict(),
            "protocol": item.protocol,
            "errors": [e for e, _ in errs],
            "lengths": [n for _, n in errs],
            "correct": [int(e == 0) for e, _ in errs],
        }
    result["lm_decode"] = None
    if grid.lm_decode_set and model.has_lm and grid.lm_decode_set in result["sets"]:
        item = next(s for s in sets if s.name == grid.lm_decode_set)
        preds, refs = lm_decode_predictions(model, _open_eval(item), limit=grid.lm_decode_lines)
        s = score(preds, refs, protocol=item.protocol)
        result["lm_decode"] = {
            "set": item.name,
            "n": s.n,
            "cer": s.cer,
            "accuracy": s.accuracy,
            "examples": [{"ref": r, "lm": p} for p, r in list(zip(preds, refs, strict=True))[:5]],
        }
    result["series"] = read_series(run_dir)
    return result


# -- the study ----------------------------------------------------------------------------------


def _worker(grid_path: str, config: str, seed: int, out: str, threads: int) -> dict[str, Any]:
    torch.set_num_threads(threads)
    grid = load_grid(grid_path)
    return run_one(grid, RunSpec(config, seed), out, threads=threads, progress=False)


def run_study(
    grid_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    seeds: int | None = None,
    jobs: int = 1,
    only: Sequence[str] = (),
    progress: bool = True,
    command: str | None = None,
) -> dict[str, Any]:
    """Run (or continue) every run of the grid, then write the report. Returns results.json."""
    from accelerate import PartialState  # the model extra

    grid = load_grid(grid_path)
    specs = expand_grid(grid, seeds, only)
    out = Path(out)
    state = PartialState()  # under `accelerate launch`, every process runs this loop
    if jobs > 1 and state.num_processes > 1:
        raise StudyError("--jobs > 1 trains runs in parallel processes; under accelerate launch "
                         "each run is already data-parallel: use --jobs 1")  # fmt: skip
    _check_finished(grid, out, [WARMUP, *specs] if grid.warmup is not None else specs)
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(grid.path, out / "grid.yaml")
        _record_session(out, command, jobs, len(specs), grid.path)
    state.wait_for_everyone()
    progress = progress and state.is_main_process
    if grid.warmup is not None and read_result(run_path(out, WARMUP)) is None:
        if progress:
            print("ocrlab study: training the shared warm start (warmup) first")
        run_one(grid, WARMUP, out, progress=progress)
    todo = [s for s in specs if read_result(run_path(out, s)) is None]
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc="study", unit="run",
               disable=not progress)  # fmt: skip
    if jobs <= 1 or len(todo) <= 1:
        for spec in todo:
            bar.set_postfix_str(spec.run_id)
            run_one(grid, spec, out, progress=progress)
            bar.update(1)
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {
                pool.submit(_worker, str(grid.path), s.config, s.seed, str(out), threads): s
                for s in todo
            }
            for fut in as_completed(futures):
                fut.result()  # re-raises a run's error, naming nothing else lost: others finish
                bar.set_postfix_str(futures[fut].run_id)
                bar.update(1)
    bar.close()
    state.wait_for_everyone()
    if not state.is_main_process:
        return {}
    return write_report(out, grid=grid, specs=specs)


def _check_finished(grid: Grid, out: Path, specs: Sequence[RunSpec]) -> None:
    """Refuse a study folder whose finished runs were made with other configurations."""
    for spec in specs:
        done = read_result(run_path(out, spec))
        if done is not None and done.get("fingerprint") != fingerprint(run_config(grid, spec, out)):
            raise StudyError(
                f"{run_path(out, spec)} holds a finished run of a different configuration than "
                f"the grid's {spec.config!r} now gives; delete that folder or choose another --out"
            )


def _record_session(out: Path, command: str | None, jobs: int, n_runs: int, grid: Path) -> None:
    path = out / "study.json"
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"sessions": []}
    info["sessions"].append(
        {
            "command": command,
            "grid": str(grid),
            "jobs": jobs,
            "runs": n_runs,
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": machine_info("torch", "transformers"),
        }
    )
    files.write_json(path, info, indent=1)
