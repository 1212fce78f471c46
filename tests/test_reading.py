"""Reading diagnostics of the Q-Former branch (ocrlab.reading): what they measure on a tiny
model, that a branch trained on a few words reads them back, and the training log's events."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ocrlab.data.specs import open_dataset
from ocrlab.errors import OcrlabError
from ocrlab.models import OCRModel
from ocrlab.reading import ReadingDiagnostics, reading_diagnostics
from ocrlab.run_config import load_run_config
from ocrlab.train import train

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.yaml")


def samples(spec: str, n: int):
    ds = open_dataset(spec)
    return [ds[i] for i in range(n)]


def test_diagnostics_of_an_untrained_branch(tiny_lm):
    torch.manual_seed(0)
    model = OCRModel(load_run_config(TINY, [f"model.lm.name_or_path={tiny_lm}"]).model).eval()
    lines = samples("synth:n=6,seed=3,preset=clean", 6)
    r = reading_diagnostics(model, lines, batch_size=4)
    assert r.lines == 6 and len(r.examples) == 6
    assert [ref for ref, _ in r.examples] == [s.text for s in lines]
    assert r.lm_cer > 0.5 and r.lm_accuracy == 0.0  # a random branch reads nothing
    # a random projection tells the LM nothing: the zero prompt is as good, within noise
    assert abs(r.query_info) < 0.5
    assert r.query_info == pytest.approx(r.lm_loss_zero_prompt - r.lm_loss)
    assert 0.0 <= r.query_cosine <= 1.0 + 1e-6
    assert 0.0 <= r.char_coverage <= 1.0 or math.isnan(r.char_coverage)
    assert model.training is False


def test_batching_does_not_change_the_numbers(tiny_lm):
    torch.manual_seed(0)
    model = OCRModel(load_run_config(TINY, [f"model.lm.name_or_path={tiny_lm}"]).model).eval()
    lines = samples("synth:n=5,seed=4,preset=clean", 5)
    a = reading_diagnostics(model, lines, batch_size=5)
    b = reading_diagnostics(model, lines, batch_size=2)
    assert a.lm_loss == pytest.approx(b.lm_loss, abs=1e-4)
    assert a.lm_loss_zero_prompt == pytest.approx(b.lm_loss_zero_prompt, abs=1e-4)
    assert a.query_cosine == pytest.approx(b.query_cosine, abs=1e-5)
    assert a.examples == b.examples


def test_collapse_and_summary():
    r = ReadingDiagnostics(
        lines=2,
        lm_cer=2.6,
        lm_accuracy=0.0,
        lm_loss=2.2,
        lm_loss_zero_prompt=3.4,
        query_info=1.2,
        query_cosine=0.97,
        char_coverage=0.1,
    )
    assert r.collapsed
    assert "collapsed" in r.collapse_warning() and "0.97" in r.collapse_warning()
    assert "1.20 nats/char" in r.summary()
    d = r.as_dict()
    assert d["collapsed"] is True and json.loads(json.dumps(d)) == d
    assert not ReadingDiagnostics(1, 0.1, 0.9, 1.0, 3.0, 2.0, 0.3, 0.8).collapsed


def test_a_model_without_the_branch_is_refused():
    model = OCRModel(load_run_config(TINY, ["model.qformer.enabled=false"]).model)
    with pytest.raises(OcrlabError, match="Q-Former/LM branch"):
        reading_diagnostics(model, samples("synth:n=2,seed=1", 2))


def test_a_tiny_branch_learns_to_read_a_few_words_back(tmp_path):
    """The LM path overfits 4 fixed words through the queries: what 'reads' means, end to end.
    The LM is the repository's embedded character LM, frozen; only the queries, Q-Former and
    projection learn (the tiny encoder is frozen at its random initialization)."""
    words = ["cat", "dog", "sun", "pen"]
    folder = tmp_path / "words"
    folder.mkdir()
    from ocrlab.data.synth import render_line

    rows = []
    for i, w in enumerate(words):
        render_line(w, seed=i, look="document", degrade=False).save(folder / f"{i}.png")
        rows.append(f"{i}.png\t{w}")
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = load_run_config(
        TINY,
        [
            f"model.lm.name_or_path={ROOT / 'models' / 'ocrlab-charlm'}",
            "model.qformer.positions=sinusoidal",
            "model.qformer.num_queries=4",
            f"data.train=[{folder}]",
            f"data.val={folder}",
            "data.batch_size=4",
            "optim.lr=0.01",
            "optim.warmup_steps=5",
            "loss.ctc_weight.value=0.0",
            "loss.lm_weight.value=1.0",
            "train.freeze=[encoder., ctc_head.]",
            "train.max_steps=150",
            "train.eval_every=150",
            "train.save_every=150",
            "train.keep_snapshots=false",
            "train.reading_lines=4",
            "train.threads=1",
        ],
    )
    train(config, tmp_path / "run", progress=False)
    events = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    read = [e for e in events if e["kind"] == "read"]
    assert [e["step"] for e in read] == [150]
    assert read[-1]["lm_accuracy"] == 1.0, read[-1]["examples"]
    assert read[-1]["lm_cer"] == 0.0
    assert read[-1]["query_info"] > 0.5


def test_first_character_survey_counts_what_each_reading_says(tiny_lm):
    from types import SimpleNamespace

    from ocrlab.reading import first_character_survey

    torch.manual_seed(0)
    model = OCRModel(load_run_config(TINY, [f"model.lm.name_or_path={tiny_lm}"]).model).eval()
    ds = open_dataset("synth:n=6,seed=5,preset=clean")
    rendered = [ds.render(i) for i in range(6)]
    with pytest.raises(OcrlabError, match="first character"):  # a random model reads nothing
        first_character_survey(
            model, [SimpleNamespace(**{**vars(r), "text": "\x00"}) for r in rendered]
        )
    # label each line with what the model reads, so every line counts
    reads = [model.recognize([r.image])[0].text for r in rendered]
    kept = [
        SimpleNamespace(image=r.image, text=t, char_boxes=r.char_boxes)
        for r, t in zip(rendered, reads, strict=True)
        if t
    ]
    if not kept:
        pytest.fail("the tiny random model read nothing at all; pick another seed")
    s = first_character_survey(model, kept)
    assert s.lines == len(kept) == len(s.readings)
    assert s.ctc_frame0 == sum(c.ctc_first_frame == 0 for c in s.readings) / s.lines
    assert s.peak_in_ctc_span == sum(c.peak_in_ctc_span for c in s.readings) / s.lines
    assert sum(s.layer_share) == pytest.approx(1.0)
    assert 0 < s.top_query_share <= 1 and "reads character 0" in s.summary()
    assert "readings" not in s.as_dict()
