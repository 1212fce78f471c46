"""benchmarks/bench_frontier.py: a well-formed frontier from a trained checkpoint and a
speed-only preset, with no accuracy invented for the untrained one (no speeds asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ocrlab.models import OCRModel
from ocrlab.run_config import load_run_config

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location(
        "bench_frontier", ROOT / "benchmarks" / "bench_frontier.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_frontier_points_and_figures(tmp_path):
    config = load_run_config(ROOT / "configs" / "tiny.yaml", ["model.qformer.enabled=false"])
    ckpt = OCRModel(config.model).save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "frontier"
    code = load_script().main([
        "--model", f"tiny-trained={ckpt}", "--speed-only", f"tiny={ROOT / 'configs' / 'tiny.yaml'}",
        "--data", "synth:n=12,seed=1", "--protocol", "exact", "--lines", "12", "--repeats", "1",
        "--no-reference", "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    result = json.loads((out / "frontier.json").read_text())
    names = {p["name"]: p for p in result["points"]}
    assert {"tiny-trained torch_ctc", "tiny-trained onnx_ctc", "tiny torch_ctc"} <= set(names)
    # the point's accuracy is the model's on those lines, as `ocrlab eval` scores it
    from ocrlab.data.specs import open_dataset
    from ocrlab.evaluation import evaluate

    scores = evaluate(OCRModel.from_pretrained(ckpt), open_dataset("synth:n=12,seed=1")).scores
    assert names["tiny-trained torch_ctc"]["cer"] == pytest.approx(scores.cer, abs=1e-4)
    assert names["tiny-trained onnx_ctc"]["cer"] == pytest.approx(scores.cer, abs=1e-4)
    speed_only = names["tiny torch_ctc"]
    assert speed_only["cer"] is None and speed_only["accuracy"] is None
    assert "speed only" in speed_only["note"] and speed_only["lines_per_s_b32"] >= 0
    assert result["command"].startswith("python benchmarks/bench_frontier.py")
    for stem in ("frontier_cer", "frontier_accuracy", "frontier_latency"):
        assert (out / f"{stem}.html").stat().st_size > 1000


def test_frontier_needs_a_model(capsys):
    with pytest.raises(SystemExit):
        load_script().main(["--out", "/tmp/unused"])
    assert "at least one --model or --speed-only" in capsys.readouterr().err
