"""Studies: every configuration of a grid, for every seed, on one step budget — then scored,
compared with statistics, and written up.

``ocrlab study --grid configs/study/lm_loss.yaml --seeds 3 --out DIR`` trains each run into
``DIR/runs/<config>/seed<k>/`` (an ordinary training run: ``metrics.jsonl``, checkpoints),
scores its final weights on every evaluation set with the CTC path (and the LM-decoding path on
one set), writes ``result.json`` beside it, and at the end ``DIR/results.json``, ``report.md`` and
``figures/``. A killed study continues where it stopped: finished runs (those with
``result.json``) are not redone, a run cut short resumes from its last checkpoint.
``--jobs N`` trains N runs at once, each in its own process with ``cores / N`` threads (on a CPU,
two one-thread runs read more lines per second than one two-thread run). Under
``accelerate launch -m ocrlab study ...`` each run trains data-parallel instead.

The grid file (YAML)::

    base: ../small.yaml          # a training preset, relative to this file
    set: {train.max_steps: 400}  # dotted overrides for every configuration
    seeds: [0, 1, 2]             # --seeds N uses the first N of these
    baseline: ctc_only           # what every configuration is compared against
    eval:
      sets:
        clean: synth:n=400,seed=900101,preset=clean
        iiit5k: {data: ../shared/data/iiit5k_test_cs/labels_alnum_lower.tsv,
                 protocol: alnum36, optional: true}   # skipped with a note when missing
      lm_decode: {set: clean, lines: 100}
    configs:
      ctc_only: {loss.lm_weight: {kind: constant, value: 0.0}}
      lm_0.3: {loss.lm_weight: {kind: constant, value: 0.3}}

Data paths in ``eval`` are relative to the working directory, like every ocrlab command.
Statistics: :mod:`ocrlab.stats`. Figures: :mod:`ocrlab.viz.study`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import files
from .config import ConfigError, apply_overrides, from_dict, read_yaml_mapping, set_path, to_dict
from .errors import OcrlabError
from .stats import holm, mean_ci, paired_bootstrap

RESULT_NAME = "result.json"
ALPHA = 0.05


class StudyError(OcrlabError):
    """A grid that cannot run, or a study folder that does not match its grid."""


# -- the grid -----------------------------------------------------------------------------------


@dataclass
class EvalSet:
    name: str
    data: str
    protocol: str = "exact"
    optional: bool = False
    lines: int | None = None


@dataclass
class Grid:
    path: Path
    base: Path | None
    common: dict[str, Any]
    seeds: list[int]
    baseline: str
    configs: dict[str, dict[str, Any]]
    eval_sets: list[EvalSet]
    lm_decode_set: str | None = None
    lm_decode_lines: int = 100
    eval_batch_size: int = 64
    warmup: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    config: str
    seed: int

    @property
    def run_id(self) -> str:
        return f"{self.config}/seed{self.seed}"


WARMUP = RunSpec("_warmup", 0)  # the shared warm start, when the grid has one


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StudyError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def load_grid(path: str | os.PathLike) -> Grid:
    """Read and check a grid file: every configuration must build a valid training config."""
    path = Path(path)
    try:
        raw = read_yaml_mapping(path, "grid file")
    except ConfigError as exc:
        raise StudyError(str(exc)) from None
    keys = {"base", "set", "seeds", "baseline", "eval", "configs", "warmup", "notes"}
    unknown = set(raw) - keys
    if unknown:
        raise StudyError(f"{path}: unknown key(s) {sorted(unknown)}; use {', '.join(sorted(keys))}")
    base = (path.parent / raw["base"]).resolve() if raw.get("base") else None
    if base is not None and not base.is_file():
        raise StudyError(f"{path}: base preset {base} does not exist")
    configs = _mapping(raw.get("configs"), f"{path}: configs")
    if not configs:
        raise StudyError(f"{path}: 'configs' names no configuration")
    for name in configs:
        if "/" in str(name) or not str(name).strip():
            raise StudyError(f"{path}: configuration name {name!r} must be a plain word")
    baseline = str(raw.get("baseline") or next(iter(configs)))
    if baseline not in configs:
        raise StudyError(f"{path}: baseline {baseline!r} is not among configs {list(configs)}")
    seeds = raw.get("seeds", [0, 1, 2])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise StudyError(f"{path}: seeds must be a non-empty list of integers, got {seeds!r}")
    ev = _mapping(raw.get("eval"), f"{path}: eval")
    sets = []
    for name, item in _mapping(ev.get("sets"), f"{path}: eval.sets").items():
        item = {"data": item} if isinstance(item, str) else _mapping(item, f"eval.sets.{name}")
        try:
            sets.append(EvalSet(name=str(name), **item))
        except TypeError as exc:
            raise StudyError(f"{path}: eval.sets.{name}: {exc}") from None
    if not sets:
        raise StudyError(f"{path}: eval.sets names no evaluation set")
    lm = _mapping(ev.get("lm_decode"), f"{path}: eval.lm_decode")
    lm_set = lm.get("set")
    if lm_set is not None and lm_set not in {s.name for s in sets}:
        raise StudyError(f"{path}: eval.lm_decode.set {lm_set!r} is not an evaluation set")
    grid = Grid(
        path=path,
        base=base,
        common=_mapping(raw.get("set"), f"{path}: set"),
        seeds=list(seeds),
        baseline=baseline,
        configs={str(k): _mapping(v, f"configs.{k}") for k, v in configs.items()},
        eval_sets=sets,
        lm_decode_set=lm_set,
        lm_decode_lines=int(lm.get("lines", 100)),
        eval_batch_size=int(ev.get("batch_size", 64)),
        warmup=_mapping(raw["warmup"], f"{path}: warmup") if raw.get("warmup") else None,
        raw=raw,
    )
    if grid.warmup is not None:
        run_config(grid, WARMUP)
    for name in grid.configs:  # fail now, not after hours of training
        run_config(grid, RunSpec(name, grid.seeds[0]))
    return grid


def _merge(data: dict[str, Any], overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Apply dotted keys whose values may be mappings (``loss.lm_weight: {kind: step, ...}``)."""
    for key, value in overrides.items():
        try:
            set_path(data, str(key), copy.deepcopy(value), what=f"{where}: {key!r}")
        except ConfigError as exc:
            raise StudyError(str(exc)) from None
    return data


def run_config(grid: Grid, spec: RunSpec, out: str | os.PathLike | None = None):
    """The full training config of one run: base preset, ``set``, the configuration, the seed.

    With a ``warmup`` section, :data:`WARMUP` is the shared warm start (base, ``set``, then
    ``warmup``'s overrides, seed 0) and every other run starts from its final weights
    (``train.init_from``, under ``out``)."""
    from .run_config import RunConfig

    data = read_yaml_mapping(grid.base, "base preset") if grid.base is not None else {}
    _merge(data, grid.common, f"{grid.path}: set")
    if spec == WARMUP:
        _merge(data, grid.warmup or {}, f"{grid.path}: warmup")
    else:
        _merge(data, grid.configs[spec.config], f"{grid.path}: configs.{spec.config}")
        if grid.warmup is not None:
            where = Path(out) if out is not None else Path("STUDY")
            data.setdefault("train", {})["init_from"] = str(
                where / "warmup" / "checkpoints" / "last"
            )
    apply_overrides(data, [f"train.seed={spec.seed}"])
    try:
        return from_dict(RunConfig, data)
    except ConfigError as exc:
        raise StudyError(f"{grid.path}: configuration {spec.config!r}: {exc}") from None


def expand_grid(grid: Grid, seeds: int | None = None, only: Sequence[str] = ()) -> list[RunSpec]:
    """Every (configuration, seed) pair, seed-major so that an interrupted study has every
    configuration at the first seeds. ``seeds``: use the first N of the grid's seeds (or
    0..N-1 beyond them). ``only``: a subset of configuration names (the baseline is kept)."""
    names = list(grid.configs)
    if only:
        missing = [n for n in only if n not in grid.configs]
        if missing:
            raise StudyError(f"unknown configuration(s) {missing}; the grid has {names}")
        names = [n for n in names if n in only or n == grid.baseline]
    if seeds is None:
        seed_list = grid.seeds
    else:
        if seeds < 1:
            raise StudyError(f"--seeds must be >= 1, got {seeds}")
        seed_list = (grid.seeds + [s for s in range(seeds * 2) if s not in grid.seeds])[:seeds]
    return [RunSpec(name, seed) for seed in seed_list for name in names]


def fingerprint(config: Any) -> str:
    """A short hash of a resolved training config: a finished run is reused only when its
    configuration is unchanged. The ``init_from`` folder is left out (a study folder can move);
    a warm start's own configuration is part of the grid, which ``study.json`` records."""
    data = to_dict(config)
    data["train"].pop("init_from", None)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- one run ------------------------------------------------------------------------------------


def read_result(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / RESULT_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StudyError(f"{path} is not valid JSON ({exc}); delete it to redo that run") from None


def run_one(
    grid: Grid,
    spec: RunSpec,
    out: str | os.PathLike,
    *,
    threads: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (or resume, or reuse) one run and score it; returns its result."""
    from .train import STATE_NAME, train

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
    resume = (run_dir / "checkpoints" / "last" / STATE_NAME).is_file()
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
    trained = train(config, run_dir, resume=resume, progress=progress)
    train_seconds = time.time() - t0

    from accelerate import PartialState

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


def run_path(out: str | os.PathLike, spec: RunSpec) -> Path:
    """Where a run lives in a study folder."""
    if spec == WARMUP:
        return Path(out) / "warmup"
    return Path(out) / "runs" / spec.config / f"seed{spec.seed}"


def _open_eval(item: EvalSet):
    from .charset import Charset
    from .data.specs import open_dataset

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
    import torch
    from torch.utils.data import DataLoader, Subset

    from .data.transforms import Collate, LineTransform

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
    from .evaluation import evaluate
    from .metrics import line_errors, score
    from .models import OCRModel

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
    import torch

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
    from accelerate import PartialState
    from tqdm.auto import tqdm

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
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

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
    from .machine import machine_info

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


# -- statistics and the report --------------------------------------------------------------------


def collect(out: Path, specs: Sequence[RunSpec]) -> dict[str, dict[int, dict[str, Any]]]:
    """{config: {seed: result}} for the finished runs among ``specs``."""
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for s in specs:
        res = read_result(run_path(out, s))
        if res is not None:
            runs.setdefault(s.config, {})[s.seed] = res
    return runs


def mechanism_summary(series: dict[str, list]) -> dict[str, Any] | None:
    """From one run's gradient diagnostics: the LM's share of the encoder update and the
    gradient ratio early (first quarter of the records) and late (last quarter), their cosine,
    and the step after which the LM share stays below ``max(0.01, 0.2 * early share)`` for at
    least the last ``max(2, records // 4)`` records — when the LM signal vanishes (None if it
    never does, or if it never rose above that threshold: ``never_above_threshold``)."""
    steps = [s for s, v in zip(series["step"], series["lm_share"], strict=True) if v is not None]
    share = [v for v in series["lm_share"] if v is not None]
    if len(share) < 2:
        return None
    ratio = [v for v in series["grad_ratio_lm_ctc"] if v is not None]
    cos = [v for v in series["grad_cosine"] if v is not None]
    q = max(1, len(share) // 4)
    early, late = float(np.mean(share[:q])), float(np.mean(share[-q:]))
    threshold = max(0.01, 0.2 * early)
    never = all(v < threshold for v in share)  # below 1% throughout: nothing to vanish
    vanish = None
    tail = max(2, q)  # one low last record is noise, not vanishing
    for i in range(len(share) - tail + 1):
        if not never and all(v < threshold for v in share[i:]):
            vanish = steps[i]
            break
    return {
        "never_above_threshold": never,
        "lm_share_early": early,
        "lm_share_late": late,
        "grad_ratio_early": float(np.mean(ratio[:q])) if ratio else None,
        "grad_ratio_late": float(np.mean(ratio[-q:])) if ratio else None,
        "cosine_mean": float(np.mean(cos)) if cos else None,
        "vanishes_at_step": vanish,
        "threshold": threshold,
        "records": len(share),
    }


def _metric_arrays(results: dict[int, dict[str, Any]], seeds: list[int], name: str, kind: str):
    """(S, N) errors and (N,) lengths of one set for ``seeds``: edit distances and reference
    lengths for CER, 1 - correct and ones for the line error rate."""
    rows, lengths = [], None
    for seed in seeds:
        s = results[seed]["sets"][name]
        if kind == "cer":
            rows.append(s["errors"])
            lengths = s["lengths"]
        else:
            rows.append([1 - c for c in s["correct"]])
            lengths = [1] * len(s["correct"])
    return np.asarray(rows, dtype=np.float64), np.asarray(lengths, dtype=np.float64)


def analyze(runs: dict[str, dict[int, dict[str, Any]]], grid: Grid) -> dict[str, Any]:
    """Means with CIs over seeds, paired comparisons against the baseline (Holm-corrected over
    the configurations, per set and metric), LM-decoding CER and the mechanism summaries."""
    set_names = sorted({n for r in runs.values() for res in r.values() for n in res["sets"]},
                       key=[s.name for s in grid.eval_sets].index)  # fmt: skip
    summary: dict[str, Any] = {}
    for config, by_seed in runs.items():
        seeds = sorted(by_seed)
        entry: dict[str, Any] = {"seeds": seeds, "sets": {}}
        for name in set_names:
            have = [s for s in seeds if name in by_seed[s]["sets"]]
            if not have:
                continue
            cer = [by_seed[s]["sets"][name]["cer"] for s in have]
            acc = [by_seed[s]["sets"][name]["accuracy"] for s in have]
            entry["sets"][name] = {
                "cer": {**mean_ci(cer).as_dict(), "values": cer},
                "accuracy": {**mean_ci(acc).as_dict(), "values": acc},
            }
        lm = [by_seed[s]["lm_decode"]["cer"] for s in seeds if by_seed[s].get("lm_decode")]
        entry["lm_decode_cer"] = {**mean_ci(lm).as_dict(), "values": lm} if lm else None
        mech = [mechanism_summary(by_seed[s]["series"]["grad"]) for s in seeds]
        mech = [m for m in mech if m is not None]
        if mech:
            keys = ("lm_share_early", "lm_share_late", "grad_ratio_early", "grad_ratio_late",
                    "cosine_mean")  # fmt: skip
            entry["mechanism"] = {
                k: mean_ci([m[k] for m in mech if m[k] is not None]).as_dict()
                for k in keys
                if any(m[k] is not None for m in mech)
            }
            entry["mechanism"]["vanishes_at_step"] = [m["vanishes_at_step"] for m in mech]
            entry["mechanism"]["never_above_threshold"] = [m["never_above_threshold"] for m in mech]
        else:
            entry["mechanism"] = None
        summary[config] = entry

    comparisons: dict[str, Any] = {}
    base = runs.get(grid.baseline, {})
    for name in set_names:
        for metric in ("cer", "accuracy"):
            rows = {}
            for config, by_seed in runs.items():
                if config == grid.baseline:
                    continue
                seeds = sorted(
                    s for s in by_seed if s in base and name in by_seed[s]["sets"]
                    and name in base[s]["sets"]
                )  # fmt: skip
                if not seeds:
                    continue
                a, lengths = _metric_arrays(by_seed, seeds, name, metric)
                b, _ = _metric_arrays(base, seeds, name, metric)
                d = paired_bootstrap(a, b, lengths, seed=len(rows))
                row = d.as_dict()
                if metric == "accuracy":  # errors were 1 - correct: flip to accuracy
                    row.update(diff=-d.diff, low=-d.high, high=-d.low,
                               per_seed=[-x for x in d.per_seed])  # fmt: skip
                row["seeds"] = seeds
                rows[config] = row
            adjusted = holm([r["p"] for r in rows.values()]) if rows else []
            for r, p_adj in zip(rows.values(), adjusted, strict=True):
                r["p_holm"] = p_adj
                r["verdict"] = _verdict(r, metric)
            comparisons.setdefault(name, {})[metric] = rows
    return {"summary": summary, "comparisons": comparisons, "sets": set_names}


def _verdict(row: dict[str, Any], metric: str) -> str:
    """better / worse (Holm-adjusted p < 0.05) or noise; lower CER and higher accuracy win."""
    if row["p_holm"] >= ALPHA:
        return "noise"
    good = row["diff"] < 0 if metric == "cer" else row["diff"] > 0
    return "better" if good else "worse"


def write_report(
    out: str | os.PathLike,
    *,
    grid: Grid | None = None,
    specs: Sequence[RunSpec] | None = None,
    figures: bool = True,
) -> dict[str, Any]:
    """Write ``results.json``, ``report.md`` and ``figures/`` from the finished runs in ``out``
    (reading ``out/grid.yaml`` when ``grid`` is not given). Returns the results."""
    out = Path(out)
    if grid is None:  # the grid file the study ran (its base path is relative to it)
        info = out / "study.json"
        if not info.is_file():
            raise StudyError(f"{out} holds no study.json: not a study folder")
        sessions = json.loads(info.read_text(encoding="utf-8")).get("sessions") or [{}]
        grid = load_grid(sessions[-1].get("grid") or out / "grid.yaml")
    if specs is None:
        specs = expand_grid(grid, seeds=_seeds_on_disk(out, grid))
    runs = collect(out, specs)
    if grid.baseline not in runs:
        raise StudyError(f"{out}: no finished run of the baseline {grid.baseline!r} yet")
    analysis = analyze(runs, grid)
    session = json.loads((out / "study.json").read_text()) if (out / "study.json").is_file() else {}
    first = next(iter(runs.values()))
    any_result = next(iter(first.values()))
    results = {
        "grid": grid.raw,
        "baseline": grid.baseline,
        "runs_finished": sum(len(v) for v in runs.values()),
        "runs_planned": len(specs),
        "skipped_sets": any_result.get("skipped_sets", {}),
        "steps": {c: sorted({r["steps"] for r in v.values()}) for c, v in runs.items()},
        "sessions": session.get("sessions", []),
        "warmup": read_result(run_path(out, WARMUP)) if grid.warmup is not None else None,
        **analysis,
    }
    files.write_json(out / "results.json", results, indent=1)
    (out / "report.md").write_text(format_report(results, runs), encoding="utf-8")
    if figures:
        write_figures(out, results, runs)
    return results


def _seeds_on_disk(out: Path, grid: Grid) -> int:
    found = {int(p.name[4:]) for p in (out / "runs").glob("*/seed*") if p.name[4:].isdigit()}
    return max(1, len(found | set(grid.seeds[:1])))


def write_figures(out: Path, results: dict[str, Any], runs) -> list[Path]:
    """The study's plotly figures as HTML (and PNG where kaleido and Chromium are present)."""
    from .viz.plotting import save_figure
    from .viz.study import study_figures

    folder = out / "figures"
    folder.mkdir(exist_ok=True)
    written, png_error = [], None
    for name, fig in study_figures(results, runs).items():
        written.append(save_figure(fig, folder / f"{name}.html"))
        if png_error is None:
            try:
                written.append(save_figure(fig, folder / f"{name}.png"))
            except Exception as exc:  # PNG needs kaleido + Chromium
                png_error = f"PNG export skipped ({type(exc).__name__}: {exc}); the HTML is written"
                print(f"ocrlab study: {png_error}")
    return written


# -- report text -------------------------------------------------------------------------------


def _pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}"


def _ci(entry: dict[str, Any], digits: int = 2) -> str:
    if entry["n"] == 1:
        return f"{_pct(entry['mean'], digits)}"
    return f"{_pct(entry['mean'], digits)} [{_pct(entry['low'], digits)}, {_pct(entry['high'], digits)}]"


def format_report(results: dict[str, Any], runs) -> str:
    """The study as Markdown: the answers first, then every table they come from."""
    base = results["baseline"]
    summary, comps, sets = results["summary"], results["comparisons"], results["sets"]
    configs = list(summary)
    lines = ["# LM-loss study", ""]
    sess = results["sessions"][-1] if results["sessions"] else {}
    if sess.get("command"):
        lines += [f"Command: `{sess['command']}`", ""]
    m = sess.get("machine") or {}
    if m:
        lines += [
            f"Machine: {m.get('cpu')}, {m.get('cpu_count')} cores, torch {m.get('torch')}, "
            f"Python {m.get('python')}.",
            "",
        ]
    steps = sorted({s for v in results["steps"].values() for s in v})
    lines += [
        f"Runs: {results['runs_finished']} of {results['runs_planned']} finished; "
        f"{', '.join(map(str, steps))} optimizer steps each. Baseline: `{base}`. "
        "Inference is the CTC path in every row except *LM decoding*.",
        "",
    ]
    warm = results.get("warmup")
    if warm:
        cer = (warm.get("last_val") or {}).get("cer")
        lines += [
            f"Every run starts from one shared warm start (the grid's `warmup`: "
            f"{warm['steps']} steps, validation CER {_pct(cer)}%), so each configuration is "
            "the second stage of a two-stage run.",
            "",
        ]
    for name, why in results.get("skipped_sets", {}).items():
        lines.append(f"- Set `{name}` skipped: {why}")
    lines += ["", "## Answers", ""]
    lines += _answers(results)
    lines += [
        "",
        "## How to read the tables",
        "",
        "- CER and accuracy in %, mean over seeds with a 95% t-interval over seeds (with 3 seeds "
        "the t-interval is wide: 4.30 standard errors).",
        "- Δ: configuration minus baseline, pooled over seeds on the same test lines; its 95% CI "
        "and p-value come from a paired bootstrap over test lines (2000 resamples); p (Holm) is "
        "corrected over the configurations compared on that set. *better*/*worse*: Holm-adjusted "
        "p < 0.05; *noise*: the difference cannot be told from test-set sampling noise. "
        "'seeds agree': every seed's difference has the verdict's sign.",
        "",
    ]
    for name in sets:
        lines += [f"## Set `{name}`", ""]
        lines += [
            "| configuration | CER % | Δ CER (points) [95% CI] | p (Holm) | verdict | accuracy % "
            "| Δ accuracy [95% CI] | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in configs:
            e = summary[c]["sets"].get(name)
            if e is None:
                continue
            rc = comps.get(name, {}).get("cer", {}).get(c)
            ra = comps.get(name, {}).get("accuracy", {}).get(c)
            lines.append(
                f"| `{c}` | {_ci(e['cer'])} | {_delta(rc)} | {_p(rc)} | {_verd(rc)} "
                f"| {_ci(e['accuracy'], 1)} | {_delta(ra, 1)} | {_verd(ra)} |"
            )
        lines.append("")
    lines += ["## LM decoding (does the Q-Former carry the text?)", ""]
    lines += ["| configuration | LM-decoding CER % | CTC CER % on the same set |", "|---|---|---|"]
    for c in configs:
        lm = summary[c].get("lm_decode_cer")
        first = next(iter(runs[c].values())).get("lm_decode")
        ctc = summary[c]["sets"].get(first["set"]) if first else None
        lines.append(
            f"| `{c}` | {_ci(lm) if lm else 'no LM branch run'} "
            f"| {_ci(ctc['cer']) if ctc else '—'} |"
        )
    lines += ["", "## Mechanism: the LM gradient on the encoder", ""]
    lines += [
        "LM share = the LM's share of the encoder's update, `<w_lm g_lm, g> / |g|^2`; ratio = "
        "|g_lm| / |g_ctc| of the unweighted losses; early/late = first/last quarter of the "
        "diagnostics of a run; vanishes = the step after which the share stays below "
        "max(1%, 0.2 × early), per seed ('never': it stays above; '<1%': it never rose above "
        "1%).",
        "",
        "| configuration | LM share early % | LM share late % | ratio early | ratio late "
        "| cosine | vanishes at step |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in configs:
        mech = summary[c].get("mechanism")
        if not mech:
            lines.append(f"| `{c}` | — | — | — | — | — | no LM loss |")
            continue
        g = lambda k, f, m=mech: f(m[k]["mean"]) if k in m else "—"  # noqa: E731
        lines.append(
            f"| `{c}` | {g('lm_share_early', _pct)} | {g('lm_share_late', _pct)} "
            f"| {g('grad_ratio_early', lambda x: f'{x:.3f}')} "
            f"| {g('grad_ratio_late', lambda x: f'{x:.3f}')} "
            f"| {g('cosine_mean', lambda x: f'{x:+.3f}')} | {_vanish_cells(mech)} |"
        )
    lines += ["", "Figures: `figures/*.png`, and interactive `figures/*.html` where written.", ""]
    return "\n".join(lines)


def _vanish_cells(mech: dict[str, Any]) -> str:
    """Per seed: the step the LM share vanished at, 'never' (it stayed), or '<1%' (it never
    rose above 1% of the update)."""
    never = mech.get("never_above_threshold") or [False] * len(mech["vanishes_at_step"])
    cells = [
        "<1%" if n else ("never" if v is None else str(v))
        for v, n in zip(mech["vanishes_at_step"], never, strict=True)
    ]
    return ", ".join(cells)


def _delta(row: dict[str, Any] | None, digits: int = 2) -> str:
    if row is None:
        return "baseline"
    return f"{100 * row['diff']:+.{digits}f} [{100 * row['low']:+.{digits}f}, {100 * row['high']:+.{digits}f}]"


def _p(row: dict[str, Any] | None) -> str:
    return "—" if row is None else f"{row['p_holm']:.3f}"


def _verd(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    v = row["verdict"]
    if v == "noise":
        return "noise"
    agree = all((x < 0) == (row["diff"] < 0) and x != 0 for x in row["per_seed"])
    return f"**{v}**" + (", seeds agree" if agree else ", seeds disagree")


def _answers(results: dict[str, Any]) -> list[str]:
    """Plain sentences generated from the numbers: effect per set, best configuration, whether
    the LM gradient vanishes."""
    base = results["baseline"]
    summary, comps = results["summary"], results["comparisons"]
    out = ["**Does the LM loss help the CTC path?**", ""]
    for name in results["sets"]:
        rows = comps.get(name, {}).get("cer", {})
        better = [c for c, r in rows.items() if r["verdict"] == "better"]
        worse = [c for c, r in rows.items() if r["verdict"] == "worse"]
        base_cer = summary[base]["sets"][name]["cer"]["mean"]
        best = min(summary, key=lambda c: summary[c]["sets"].get(name, {}).get("cer", {}).get(
            "mean", float("inf")))  # fmt: skip
        best_cer = summary[best]["sets"][name]["cer"]["mean"]
        text = f"- `{name}` (baseline CER {_pct(base_cer)}%): "
        if better:
            text += "lower CER than the baseline beyond noise for " + ", ".join(
                f"`{c}` ({100 * rows[c]['diff']:+.2f} points, p={rows[c]['p_holm']:.3f})"
                for c in better
            )
            text += "; "
        if worse:
            text += "higher CER beyond noise for " + ", ".join(
                f"`{c}` ({100 * rows[c]['diff']:+.2f} points, p={rows[c]['p_holm']:.3f})"
                for c in worse
            )
            text += "; "
        if not better and not worse:
            text += "no configuration differs from the baseline beyond noise; "
        text += f"lowest mean CER: `{best}` ({_pct(best_cer)}%)."
        out.append(text)
    ranks: dict[str, list[int]] = {c: [] for c in summary}
    for name in results["sets"]:
        have = [c for c in summary if name in summary[c]["sets"]]
        order = sorted(have, key=lambda c: summary[c]["sets"][name]["cer"]["mean"])
        for r, c in enumerate(order, start=1):
            ranks[c].append(r)
    mean_rank = {c: float(np.mean(r)) for c, r in ranks.items() if r}
    if mean_rank:
        ordered = sorted(mean_rank, key=mean_rank.get)
        out += [
            "",
            "**Which weighting is best?** Mean rank of the mean CER over the sets (1 = lowest "
            "CER on every set): "
            + ", ".join(f"`{c}` {mean_rank[c]:.1f}" for c in ordered)
            + ". A rank is not a significance test: only the verdicts above are.",
        ]
    out += ["", "**Is the LM gradient vanishing relative to CTC's?**", ""]
    any_mech = False
    for c, e in summary.items():
        mech = e.get("mechanism")
        if not mech or "lm_share_early" not in mech:
            continue
        any_mech = True
        vanish = [v for v in mech["vanishes_at_step"] if v is not None]
        n = len(mech["vanishes_at_step"])
        never = sum(mech.get("never_above_threshold", []))
        if never == n:
            when = "it never reaches 1% of the update in any seed: negligible from the start"
        elif vanish:
            when = (
                f"vanishes (share below threshold for good) in {len(vanish)}/{n} seeds, "
                f"from step {int(np.median(vanish))} (median)"
            )
        else:
            when = "does not vanish in any seed"
            if never:
                when += f" (in {never}/{n} it never rose above 1%)"
        cos = mech.get("cosine_mean")
        if cos is not None:
            when += f"; cosine with CTC's gradient {cos['mean']:+.2f}"
        ratio = mech.get("grad_ratio_late")
        if ratio is not None:
            when += f"; |g_lm|/|g_ctc| late {ratio['mean']:.2f}"
        out.append(
            f"- `{c}`: LM share {_pct(mech['lm_share_early']['mean'], 1)}% early → "
            f"{_pct(mech['lm_share_late']['mean'], 1)}% late; {when}."
        )
    if not any_mech:
        out.append("- No run computed the LM loss with gradient diagnostics.")
    return out
