"""What a run writes about itself: ``metrics.jsonl`` (with TensorBoard scalars) and ``run.json``."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from .. import files
from ..machine import machine_info


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

    # Events about optimizer step ``s`` (train, grad) carry ``s`` itself, before the step
    # counter advances; events after ``s`` steps are done (val, read) carry ``s`` afterwards.
    AFTER_STEP_KINDS = ("val", "read")

    @staticmethod
    def events(path: Path) -> list[tuple[str, dict[str, Any]]]:
        """(line, event) for every whole event of a metrics file; lines cut by a kill, or
        without a kind and an integer step, are left out."""
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
                event["step"], event["kind"] = int(event["step"]), str(event["kind"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            out.append((line, event))
        return out

    def truncate_after(self, step: int) -> list[dict[str, Any]]:
        """On resume from a checkpoint taken after ``step`` optimizer steps: drop what the
        redone steps will log again (train/grad events of steps >= ``step``, val/read events
        after ``step``), and lines cut by a kill. Returns the dropped events."""
        if not self.enabled or not self.path.exists():
            return []
        keep, dropped = [], []
        for line, event in self.events(self.path):
            s = event["step"]
            done = s <= step if event["kind"] in self.AFTER_STEP_KINDS else s < step
            (keep if done else dropped).append(line)
        files.write_text(self.path, "".join(x + "\n" for x in keep))
        return [json.loads(x) for x in dropped]


def write_run_info(run_dir: Path, accelerator: Any, precision: str, step: int, resume: bool):
    """run.json: how this run was executed (appended to on every resume)."""
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
    files.write_json(path, info)
