"""A study's grid: the YAML file (base preset, overrides, seeds, baseline, evaluation sets,
configurations), the run configuration of each (configuration, seed), its fingerprint, and
where each run and its result live in the study folder."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, apply_overrides, from_dict, read_yaml_mapping, set_path, to_dict
from ..errors import OcrlabError
from ..run_config import RunConfig

RESULT_NAME = "result.json"
ALPHA = 0.05


class StudyError(OcrlabError):
    """A grid that cannot run, or a study folder that does not match its grid."""


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


# -- the study folder ------------------------------------------------------------------------


def run_path(out: str | os.PathLike, spec: RunSpec) -> Path:
    """Where a run lives in a study folder."""
    if spec == WARMUP:
        return Path(out) / "warmup"
    return Path(out) / "runs" / spec.config / f"seed{spec.seed}"


def read_result(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / RESULT_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StudyError(f"{path} is not valid JSON ({exc}); delete it to redo that run") from None
