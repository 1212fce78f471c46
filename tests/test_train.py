"""Training: overfitting, exact resumption, the frozen LM, bad batches, Accelerate, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ocrlab.cli import main
from ocrlab.data.lmdb_io import write_folder
from ocrlab.data.synth import render_line
from ocrlab.errors import OcrlabError
from ocrlab.models import OCRModel
from ocrlab.run_config import load_run_config
from ocrlab.train import train

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.yaml")


def make_folder(path: Path, texts: list[str]) -> Path:
    samples = [
        (render_line(t, seed=i, degrade=False, look="document"), t) for i, t in enumerate(texts)
    ]
    write_folder(samples, path, progress=False)
    return path


def tiny(lm: str | None, *overrides: str):
    sets = [f"model.lm.name_or_path={lm}"] if lm else ["model.qformer.enabled=false"]
    return load_run_config(TINY, [*sets, *overrides])


def weights(run: Path, kind: str = "last") -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / kind / "model.safetensors")


def events(run: Path, kind: str) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def test_overfits_a_few_lines_to_cer_zero(tmp_path):
    data = make_folder(tmp_path / "four", ["cat", "dog 42", "Hello", "ocr lab"])
    config = tiny(
        None,
        "model.encoder.d_model=64",  # the tiny preset (d 32) plateaus at CER ~0.1 on these
        "model.encoder.channels=[16, 32, 32]",
        f"data.train=[{data}]",
        f"data.val={data}",
        "data.batch_size=4",
        "optim.lr=0.005",
        "optim.warmup_steps=10",
        # 800, not 500: with 500 the cosine decays so early that on one thread (the xdist
        # workers') this machine's run stalls at one wrong character; with 800 both one and
        # two threads reach CER 0 by step 300
        "train.max_steps=800",
        "train.eval_every=100",
        "train.save_every=800",
        "train.keep_snapshots=false",
    )
    result = train(config, tmp_path / "run", progress=False)
    assert result.best_cer == 0.0, (
        f"val CER history: {[e['cer'] for e in events(result.run_dir, 'val')]}"
    )
    model = OCRModel.from_pretrained(tmp_path / "run" / "checkpoints" / "best")
    images = sorted((data / "images").iterdir())
    assert sorted(r.text for r in model.recognize(images)) == sorted(
        ["cat", "dog 42", "Hello", "ocr lab"]
    )


KILL_SCRIPT = """
import os, signal, sys
from ocrlab import train as T

kill_at = int(sys.argv[3])
write = T.MetricsLog.write

def write_then_die(self, kind, step, **values):
    write(self, kind, step, **values)
    if kind == "train" and step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no final save: a real kill

T.MetricsLog.write = write_then_die
from ocrlab.run_config import load_run_config
config = load_run_config(sys.argv[1], sys.argv[4:])
T.train(config, sys.argv[2], progress=False)
"""


def test_a_real_kill_between_saves_resumes_to_the_same_weights_and_log(tmp_path, tiny_lm):
    """SIGKILL after step 7 with the last save at step 4: the resumed run must end with the
    uninterrupted run's exact weights (dropout draws from the restored RNG) and a log holding
    every step exactly once."""
    sets = [
        f"model.lm.name_or_path={tiny_lm}",
        "model.encoder.dropout=0.3",  # RNG-dependent: a wrong RNG restore changes the weights
        "model.qformer.dropout=0.2",
        "train.max_steps=12",
        "train.save_every=4",
        "train.eval_every=6",
        "train.log_every=1",
        "train.grad_diag_every=1",
        "train.threads=1",
    ]
    config = load_run_config(TINY, sets)
    full = train(config, tmp_path / "full", progress=False)
    split = tmp_path / "split"
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), TINY, str(split), "7", *sets],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    logged = [e["step"] for e in events(split, "train")]
    assert logged == list(range(8))  # steps 0..7 ran; the checkpoint holds 4 steps
    from ocrlab.train import resume_point

    assert resume_point(split) == (4, 7)  # what an interrupted `ocrlab train` tells its user
    with pytest.raises(OcrlabError, match="--resume"):
        train(config, split, progress=False)
    resumed = train(config, split, progress=False, resume=True)
    assert resumed.step == full.step == 12
    a, b = weights(tmp_path / "full"), weights(split)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for kind in ("train", "grad"):
        assert [e["step"] for e in events(split, kind)] == list(range(12)), kind
    assert [e["step"] for e in events(split, "val")] == [6, 12]


def test_the_rng_restore_is_what_makes_resumption_exact(tmp_path, tiny_lm, monkeypatch):
    """The same kill-free split with the RNG restore disabled and the global RNGs scrambled
    must NOT reproduce the weights: the test above can fail."""
    from ocrlab.models import checkpoint

    config = tiny(tiny_lm, "model.encoder.dropout=0.3", "train.max_steps=8", "train.save_every=4")
    train(config, tmp_path / "full", progress=False)
    train(config, tmp_path / "split", progress=False, stop_after=4)
    monkeypatch.setattr(checkpoint, "set_rng_state", lambda state: torch.manual_seed(12345))
    train(config, tmp_path / "split", progress=False, resume=True)
    a, b = weights(tmp_path / "full"), weights(tmp_path / "split")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_an_interrupted_train_command_says_where_it_can_resume(tmp_path, capsys, monkeypatch):
    import ocrlab.train as T

    run = tmp_path / "run"
    real_train = T.train

    def interrupted(config, run_dir, *, resume=False, progress=True):
        real_train(config, run_dir, progress=False, stop_after=3)  # saved at step 3
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "train", interrupted)
    args = ["train", "--config", TINY, "--set", "model.qformer.enabled=false", "--out", str(run)]
    assert main([*args, "--set", "train.save_every=3"]) == 130
    err = capsys.readouterr().err
    assert "checkpoints/last holds step 3" in err and "--resume" in err


def test_resume_without_a_checkpoint_says_how_to_start(tmp_path):
    with pytest.raises(OcrlabError, match="never does not exist, so there is no run to resume"):
        train(tiny(None), tmp_path / "never", progress=False, resume=True)
    (tmp_path / "empty" / "checkpoints" / "last").mkdir(parents=True)
    with pytest.raises(OcrlabError, match="start it again without --resume"):
        train(tiny(None), tmp_path / "empty", progress=False, resume=True)


def test_init_from_starts_from_a_checkpoints_weights(tmp_path):
    first = train(tiny(None, "train.max_steps=4"), tmp_path / "a", progress=False)
    source = first.run_dir / "checkpoints" / "last"
    config = tiny(None, "train.max_steps=1", "optim.lr=0", f"train.init_from={source}")
    second = train(config, tmp_path / "b", progress=False)
    a, b = weights(tmp_path / "a"), weights(second.run_dir)
    trained = [k for k in a if "running_" not in k and "num_batches" not in k]  # not BN stats
    assert len(trained) > 10
    for k in trained:
        assert torch.equal(a[k], b[k]), k
    # a checkpoint of another charset is refused with both charsets named
    other = tiny(None, "model.charset=alnum36").model
    with pytest.raises(OcrlabError, match=r"charset 'latin'.*'alnum36'"):
        OCRModel(other).load_weights_from(source)


def test_init_skip_keeps_a_fresh_qformer_over_the_trained_encoder(tmp_path, tiny_lm):
    first = train(tiny(tiny_lm, "train.max_steps=3"), tmp_path / "a", progress=False)
    source = first.run_dir / "checkpoints" / "last"
    # a Q-Former of another shape would not fit; skipped, it keeps its own initialization
    config = tiny(tiny_lm, "model.qformer.num_queries=6", "model.qformer.positions=learned")
    torch.manual_seed(5)
    model = OCRModel(config.model)
    fresh = model.qformer.query_tokens.detach().clone()
    with pytest.raises(OcrlabError, match="query_tokens"):
        model.load_weights_from(source)
    model.load_weights_from(source, skip=["qformer.", "lm_bridge.language_projection."])
    a = weights(tmp_path / "a")
    for k, v in model.trainable_state_dict().items():
        if k.startswith(("encoder.", "ctc_head.")):
            assert torch.equal(v, a[k]), k
    assert torch.equal(model.qformer.query_tokens, fresh)


def test_freeze_keeps_the_encoder_and_its_batchnorm_statistics(tmp_path, tiny_lm):
    first = train(tiny(tiny_lm, "train.max_steps=3"), tmp_path / "a", progress=False)
    source = first.run_dir / "checkpoints" / "last"
    config = tiny(
        tiny_lm,
        "train.max_steps=4",
        f"train.init_from={source}",
        "train.init_skip=[qformer.]",
        "train.freeze=[encoder., ctc_head.]",
        "loss.ctc_weight.value=0.0",
        "loss.lm_weight.value=1.0",
        "optim.module_lr={qformer.: 0.01}",
        "optim.warmup_steps=1",
    )
    second = train(config, tmp_path / "b", progress=False)
    a, b = weights(tmp_path / "a"), weights(second.run_dir)
    frozen = [k for k in a if k.startswith(("encoder.", "ctc_head."))]
    assert any("running_mean" in k for k in frozen)  # BN statistics are frozen too
    for k in frozen:
        assert torch.equal(a[k], b[k]), k
    moved = [k for k in b if k.startswith("qformer.")]
    assert moved and any(not torch.equal(a[k], b[k]) for k in moved)
    with pytest.raises(
        OcrlabError, match=r"train\.freeze: no parameter name starts with 'encodr\.'"
    ):
        train(tiny(tiny_lm, "train.freeze=[encodr.]"), tmp_path / "c", progress=False)


def test_module_lr_gives_each_module_its_rate(tiny_lm):
    from ocrlab.run_config import OptimConfig
    from ocrlab.train import param_groups

    model = OCRModel(tiny(tiny_lm).model)
    optim = OptimConfig(lr=1e-3, module_lr={"qformer.": 1e-4, "qformer.query_tokens": 5e-4})
    groups = param_groups(model, optim)
    by_id = {id(p): g for g in groups for p in g["params"]}
    assert by_id[id(model.qformer.query_tokens)]["lr"] == 5e-4  # the longest prefix wins
    assert by_id[id(model.qformer.query_tokens)]["weight_decay"] == 0.0
    q_weight = model.qformer.qformer.encoder.layer[0].crossattention.attention.query.weight
    assert by_id[id(q_weight)]["lr"] == 1e-4 and by_id[id(q_weight)]["weight_decay"] == 0.01
    assert by_id[id(model.encoder.projection.weight)]["lr"] == 1e-3
    frozen_lm = next(model.lm_bridge.lm.parameters())
    assert id(frozen_lm) not in by_id
    with pytest.raises(OcrlabError, match=r"module_lr: no parameter name starts with 'qformr\.'"):
        param_groups(model, OptimConfig(module_lr={"qformr.": 1e-4}))


def test_frozen_lm_is_unchanged_and_losses_logged(tmp_path, tiny_lm):
    config = tiny(tiny_lm, "train.max_steps=6", "train.grad_diag_every=2")
    before = {k: v.clone() for k, v in OCRModel(config.model).lm_bridge.lm.state_dict().items()}
    result = train(config, tmp_path / "run", progress=False)
    after = OCRModel.from_pretrained(result.run_dir / "checkpoints" / "last").lm_bridge.lm
    for k, v in after.state_dict().items():
        assert torch.equal(v, before[k]), k
    grads = events(result.run_dir, "grad")
    assert [g["step"] for g in grads] == [0, 2, 4]
    for g in grads:
        assert g["grad_norm_ctc"] > 0 and g["grad_norm_lm"] > 0
        assert -1.0 <= g["grad_cosine"] <= 1.0
    train_events = events(result.run_dir, "train")
    assert all(e["lm_loss"] is not None and e["w_lm"] == 0.5 for e in train_events)


def test_loss_weight_schedule_reaches_the_loss(tmp_path, tiny_lm):
    config = tiny(
        tiny_lm,
        "train.max_steps=6",
        "loss.lm_weight={kind: step, value: 0.0, end: 2.0, start_step: 3}",
    )
    result = train(config, tmp_path / "run", progress=False)
    logged = {e["step"]: e for e in events(result.run_dir, "train")}
    assert [logged[s]["w_lm"] for s in range(6)] == [0.0, 0.0, 0.0, 2.0, 2.0, 2.0]
    assert logged[0]["lm_loss"] is None, "a zero LM weight skips the LM branch"
    assert logged[4]["loss"] == pytest.approx(
        logged[4]["ctc_loss"] + 2.0 * logged[4]["lm_loss"], rel=1e-5
    )


def test_nonfinite_loss_is_skipped_and_counted(tmp_path, monkeypatch):
    real_forward = OCRModel.forward
    calls = {"n": 0}

    def flaky(self, *args, **kwargs):
        out = real_forward(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            out.ctc_loss = out.ctc_loss * float("nan")
        return out

    monkeypatch.setattr(OCRModel, "forward", flaky)
    result = train(tiny(None, "train.max_steps=4"), tmp_path / "run", progress=False)
    assert result.counters["nonfinite_steps"] == 1
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "run").values())


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    data = make_folder(tmp_path / "d", ["one", "two", "three", "four"])
    for p in sorted((data / "images").iterdir())[:2]:
        p.write_bytes(b"broken")
    config = tiny(
        None,
        f"data.train=[{data}]",
        "data.val=null",
        "data.batch_size=2",
        "data.skip_bad=true",
        "train.max_steps=4",
    )
    result = train(config, tmp_path / "run", progress=False)
    assert result.step == 4
    assert result.counters["skipped_samples"] >= 2


def test_two_process_training_through_accelerate(tmp_path, tiny_lm):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        str(Path(sys.executable).with_name("accelerate")),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "ocrlab.cli",
        "train",
        "--config",
        TINY,
        "--set",
        f"model.lm.name_or_path={tiny_lm}",
        "--set",
        "train.max_steps=4",
        "--out",
        str(tmp_path / "run"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoints" / "last" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["num_processes"] == 2


def test_eval_and_predict_commands(tmp_path, capsys):
    data = make_folder(tmp_path / "d", ["alpha", "Beta 2"])
    ckpt = OCRModel(tiny(None).model).save_pretrained(tmp_path / "ckpt")
    assert main(["eval", str(ckpt), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 2 and {"cer", "accuracy", "ned"} <= report.keys()
    assert (
        main(
            [
                "eval",
                str(ckpt),
                "--data",
                str(data),
                "--labels",
                "labels.tsv",
                "--protocol",
                "alnum36",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["protocol"] == "alnum36"
    image = sorted((data / "images").iterdir())[0]
    assert main(["predict", str(ckpt), str(image), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["image"] == str(image) and "text" in record
    # --decoder reaches the decoder (a bad spec fails by name) and is recorded
    assert main(["eval", str(ckpt), "--data", str(data), "--decoder", "beam", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decoder"] == "beam"
    assert main(["predict", str(ckpt), str(image), "--decoder", "beam:width=1"]) == 0
    assert capsys.readouterr().out.startswith(str(image))
    assert main(["predict", str(ckpt), str(image), "--decoder", "beam:lm=kenlm"]) == 2
    assert "unknown lm 'kenlm'" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "none"), "--data", str(data)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_predict_reports_a_bad_file_by_name_and_reads_the_others(tmp_path, capsys):
    data = make_folder(tmp_path / "d", ["alpha", "Beta 2"])
    ckpt = OCRModel(tiny(None).model).save_pretrained(tmp_path / "ckpt")
    good = sorted(str(p) for p in (data / "images").iterdir())
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    assert main(["predict", str(ckpt), good[0], str(bad), good[1]]) == 1
    out = capsys.readouterr()
    assert [line.split("\t")[0] for line in out.out.splitlines()] == good
    assert str(bad) in out.err and "image 1" not in out.err
    assert "1 of 3 image(s) could not be read" in out.err


def test_eval_leaves_out_and_counts_empty_labels_as_benchmarks_do(tmp_path, capsys):
    """A label that is empty in the file, or that the protocol empties ('!!' under alnum36),
    has nothing to read: ocrlab eval leaves it out and says how many."""
    data = make_folder(tmp_path / "d", ["alpha", "!!", "Beta 2"])
    rows = (data / "labels.tsv").read_text().splitlines()
    (data / "lower.tsv").write_text("\n".join([*rows, rows[0].split("\t")[0] + "\t"]) + "\n")
    ckpt = OCRModel(tiny(None).model).save_pretrained(tmp_path / "ckpt")
    args = ["eval", str(ckpt), "--data", str(data), "--labels", "lower.tsv"]
    assert main([*args, "--protocol", "alnum36", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 2 and report["empty_labels"] == 2  # "!!" and the empty line
    assert main([*args, "--protocol", "exact"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 lines") and "left out 1 sample(s) whose label is empty" in out


def test_length_buckets_are_deterministic_and_cover_every_line():
    from ocrlab.train import LengthBucketSampler

    lengths = [(i * 37) % 41 + 1 for i in range(1000)]
    sampler = LengthBucketSampler(lengths, batch_size=32, seed=3, pool=4)
    epoch0 = sampler.batches(0)
    assert epoch0 == LengthBucketSampler(lengths, 32, seed=3, pool=4).batches(0)
    assert epoch0 != sampler.batches(1)
    assert sorted(i for b in epoch0 for i in b) == list(range(1000))
    # bucketing: within a batch, lengths are close (a random batch spans ~1..41)
    spans = [
        max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in epoch0 if len(b) == 32
    ]
    assert sum(spans) / len(spans) < 10
    sampler.start = 5
    assert list(sampler) == epoch0[5:] and len(sampler) == len(epoch0) - 5
