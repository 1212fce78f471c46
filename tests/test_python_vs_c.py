"""benchmarks/python_vs_c: the Python, NumPy, torch (library) and C decoders agree — on
model-like and flat random log-probabilities, exact ties, all-blank lines and empty lines —
and the benchmark script writes its JSON and markdown table."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ocrlab.charset import Charset
from ocrlab.models import OCRModel
from ocrlab.run_config import load_run_config

HERE = Path(__file__).resolve().parents[1] / "benchmarks" / "python_vs_c"


def _load(name: str):
    sys.path.insert(0, str(HERE))  # bench_python_vs_c imports its sibling `decoders`
    try:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(HERE))
    return module


dec = _load("decoders")


@pytest.fixture(scope="module")
def c(tmp_path_factory):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler (cc/gcc) to build ctc_decode.c")
    return dec.CDecoder(tmp_path_factory.mktemp("ctc_build"))


def charset_for(C: int) -> Charset:
    return Charset.preset("latin") if C == 96 else Charset("abcdefghijklmnopqrstuvwxyz"[: C - 1])


def log_softmax(logits: np.ndarray) -> np.ndarray:
    return torch.from_numpy(logits.astype(np.float32)).log_softmax(-1).numpy()


def cases():
    """(name, log_probs (B, T, C), lengths (B,)) covering what can go wrong."""
    rng = np.random.default_rng(0)
    out = [
        (
            "model-like",
            dec.model_like_log_probs(6, 48, 96, seed=1),
            np.array([48, 40, 17, 1, 0, 48]),
        ),
        ("flat", log_softmax(rng.normal(0, 1, (4, 14, 6))), np.array([14, 9, 1, 0])),
        # integer logits: exact ties in argmax and between candidate characters
        ("ties", log_softmax(rng.integers(0, 3, (5, 10, 5))), np.array([10, 10, 6, 2, 0])),
    ]
    blank = np.full((3, 12, 8), -30.0, np.float32)
    blank[..., 0] = 0.0
    out.append(("all-blank", blank, np.array([12, 3, 0])))
    return out


@pytest.mark.parametrize("name,lp,lengths", cases(), ids=[c[0] for c in cases()])
def test_greedy_variants_agree(c, name, lp, lengths):
    charset = charset_for(lp.shape[-1])
    results = {
        "python": dec.greedy_python(lp, lengths, charset),
        "numpy": dec.greedy_numpy(lp, lengths, charset),
        "c": c.greedy(lp, lengths, charset),
    }
    want = dec.greedy_torch(lp, lengths, charset)  # the library
    for variant, got in results.items():
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert (a.text, a.ids, a.spans) == (b.text, b.ids, b.spans), variant
            assert a.char_confidences == pytest.approx(b.char_confidences, rel=1e-5), variant
            assert a.score == pytest.approx(b.score, rel=1e-4, abs=1e-4), variant
    if name == "all-blank":
        assert all(d.text == "" and d.confidence == 1.0 for d in want)
    empty = list(lengths).index(0)  # every case has a line of length 0
    assert want[empty].text == "" and want[empty].score == 0.0


@pytest.mark.parametrize("width", [2, 5, 10])
@pytest.mark.parametrize("name,lp,lengths", cases(), ids=[c[0] for c in cases()])
def test_beam_variants_agree(c, name, lp, lengths, width):
    results = {
        "python": dec.beam_python(lp, lengths, width),
        "numpy": dec.beam_numpy(lp, lengths, width),
        "c": c.beam(lp, lengths, width),
    }
    ref = results["python"]
    for variant, got in results.items():  # same tie rules: identical, ties included
        for (ids, score), (ref_ids, ref_score) in zip(got, ref, strict=True):
            assert ids == ref_ids, variant
            assert score == pytest.approx(ref_score, rel=1e-12, abs=1e-12), variant
    library = dec.beam_torch(lp, lengths, width)
    if name != "ties":  # no exact ties: the library's torch.topk order cannot matter
        assert [ids for ids, _ in library] == [ids for ids, _ in ref]
        assert [s for _, s in library] == pytest.approx([s for _, s in ref], rel=1e-12)
    if name == "all-blank":
        assert all(ids == [] for ids, _ in ref)


def test_beam_ties_match_the_library_when_no_beam_is_cut(c):
    # With a beam wide enough to keep every prefix, candidate order among tied classes cannot
    # change which prefixes survive, so the best score must be the library's exactly.
    rng = np.random.default_rng(5)
    lp = log_softmax(rng.integers(0, 2, (6, 5, 4)))
    lengths = np.array([5, 5, 4, 3, 1, 0])
    ours = c.beam(lp, lengths, 1000)
    library = dec.beam_torch(lp, lengths, 1000)
    assert [s for _, s in ours] == pytest.approx([s for _, s in library], rel=1e-12)


def test_beam_search_is_better_than_or_equal_to_greedy(c):
    # the prefix search sums over alignments: the best path's own text scores at least as much
    lp = dec.model_like_log_probs(8, 40, 96, seed=3)
    lengths = np.full(8, 40)
    for (_ids, score), g in zip(
        c.beam(lp, lengths, 10), c.greedy(lp, lengths, charset_for(96)), strict=True
    ):
        assert score >= g.score - 1e-9


def test_model_like_log_probs_resemble_a_trained_model():
    lp = dec.model_like_log_probs(8, 200, 96, seed=0)
    assert lp.shape == (8, 200, 96) and lp.dtype == np.float32
    assert np.allclose(np.exp(lp).sum(-1), 1.0, atol=1e-4)
    above = (lp[..., 1:] >= dec.MIN_LP).sum(-1).mean()
    assert 8 < above < 25  # ocrlab-small-v1 on synthetic lines: about 14
    assert 0.5 < (lp.argmax(-1) == 0).mean() < 0.75  # blank wins most frames, as in a model


def test_benchmark_script_writes_json_and_table(c, tmp_path, capsys):
    config = load_run_config("configs/tiny.yaml").model
    config.qformer.enabled = False
    torch.manual_seed(0)
    checkpoint = OCRModel(config).save_pretrained(tmp_path / "tiny")
    script = _load("bench_python_vs_c")
    out = tmp_path / "pvc.json"
    script.main(["--quick", "--threads", "1", "--checkpoint", str(checkpoint), "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["compiler"]["flags"] and report["machine"]["cpu_count"] >= 1
    assert [d["shape"] for d in report["decode"]] == [[4, 32, 96], [4, 64, 96]]
    for d in report["decode"]:
        assert d["agree"]["greedy"] and d["agree"]["beam"]
        for kind in ("greedy", "beam"):
            assert set(d[kind]) >= {"python", "numpy", "torch", "c", "c_kernel"}
            assert d[kind]["c"]["x_vs_c"] == 1.0
            assert all(row["ms"] > 0 for row in d[kind].values())
    p = report["pipeline"]
    assert p["lines"] == 16 and p["greedy_texts_agree"]
    shares = [p["stages"][k]["share_of_greedy_pipeline"] for k in list(p["stages"])[:4]]
    assert sum(shares) == pytest.approx(1.0, abs=0.01)
    table = (tmp_path / "pvc.md").read_text()
    assert "| greedy | 4×32×96 |" in table and "| beam (w=10) | 4×64×96 |" in table
    assert "| forward (encoder + CTC head, torch) |" in table
    assert table in capsys.readouterr().out
