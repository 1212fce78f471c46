"""OCRModel: shapes, masks, the LM branch, recognition, checkpoints and their bad inputs."""

from __future__ import annotations

import json

import pytest
import torch

from ocrlab.charset import Charset
from ocrlab.config import from_dict
from ocrlab.data.synth import render_line
from ocrlab.data.transforms import Collate
from ocrlab.errors import OcrlabError
from ocrlab.models import CheckpointError, OCRConfig, OCRModel
from ocrlab.run_config import load_run_config


def tiny_config(lm_path: str | None, **qformer) -> OCRConfig:
    config = load_run_config("configs/tiny.yaml").model
    if lm_path is None:
        config.qformer.enabled = False
    else:
        config.lm.name_or_path = lm_path
    for k, v in qformer.items():
        setattr(config.qformer, k, v)
    return config


def batch_of(texts: list[str], charset: Charset, seed: int = 0):
    from ocrlab.data.datasets import Sample

    samples = [
        Sample(render_line(t, seed=seed + i, degrade=False, look="document"), t, f"s{i}")
        for i, t in enumerate(texts)
    ]
    return Collate(charset)(samples)


@pytest.fixture(scope="module")
def model(tiny_lm) -> OCRModel:
    torch.manual_seed(0)
    return OCRModel(tiny_config(tiny_lm)).eval()


def test_forward_shapes_and_losses(model):
    batch = batch_of(["Hello world", "ok", "12.50 EUR"], model.charset)
    out = model(
        batch.images,
        batch.widths,
        batch.targets,
        batch.target_lengths,
        batch.texts,
        output_attentions=True,
    )
    B, _, _, W = batch.images.shape
    T = W // 4
    assert out.ctc_logits.shape == (B, T, len(model.charset))
    assert out.lengths.tolist() == [(int(w) + 3) // 4 for w in batch.widths]
    assert out.query_output.shape == (B, 4, 32)
    assert len(out.cross_attentions) == 2
    assert out.cross_attentions[0].shape == (B, 2, 4, T)
    assert torch.isfinite(out.ctc_loss) and torch.isfinite(out.lm_loss)


def test_padding_changes_neither_ctc_output_nor_attention(model):
    short = batch_of(["Hi"], model.charset)
    wide = batch_of(["Hi", "a much longer line of text"], model.charset)
    a = model(short.images, short.widths, output_attentions=True)
    b = model(wide.images, wide.widths, output_attentions=True)
    T = int(a.lengths[0])
    assert torch.allclose(a.ctc_logits[0, :T], b.ctc_logits[0, :T], atol=1e-5)
    for ma, mb in zip(a.cross_attentions, b.cross_attentions, strict=True):
        assert torch.allclose(ma[0, :, :, :T], mb[0, :, :, :T], atol=1e-5)
        assert float(mb[0, :, :, T:].abs().max().detach()) == 0.0, "padding gets no attention"


def test_attention_rows_sum_to_one_over_real_positions(model):
    batch = batch_of(["Hi", "a much longer line of text"], model.charset)
    out = model(batch.images, batch.widths, output_attentions=True)
    for att in out.cross_attentions:
        assert torch.allclose(att.sum(-1), torch.ones(att.shape[:-1]), atol=1e-5)


def test_infeasible_label_is_left_out_not_nan(model):
    # a 4-character-wide image cannot hold a 40-character label
    batch = batch_of(["I", "fits"], model.charset)
    long = "x" * 200
    targets = torch.cat([torch.tensor(model.charset.encode(long)), batch.targets[1:]])
    lengths = torch.tensor([len(long), int(batch.target_lengths[1])])
    out = model(batch.images, batch.widths, targets, lengths, [long, "fits"])
    assert out.feasible.tolist() == [False, True]
    assert torch.isfinite(out.ctc_loss) and torch.isfinite(out.lm_loss)


def test_recognize_any_width_and_blank_images(model):
    import numpy as np
    from PIL import Image

    wide = render_line("wide " * 80, seed=1, degrade=False)
    assert wide.width > 2000
    blank = Image.new("RGB", (120, 40), "white")
    black = np.zeros((30, 90), dtype=np.uint8)
    images = [wide, blank, black, render_line("A", seed=2)]
    results = model.recognize(images, batch_size=3)
    assert len(results) == 4
    widths = [wide.width, 120, 90, images[3].width]
    for image, width, r in zip(images, widths, results, strict=True):
        # sorted by width and padded in a batch, each line reads as it does alone
        alone = model.recognize([image])[0]
        assert (r.text, r.spans) == (alone.text, alone.spans)
        assert r.confidence == pytest.approx(alone.confidence, abs=1e-5)
        assert len(r.pixel_spans) == len(r.text) == len(r.char_confidences)
        # spans are in the ORIGINAL image's pixels, in reading order; the last CTC frame
        # may reach into the padding to a multiple of 4 input pixels (one frame)
        height = image.height if hasattr(image, "height") else image.shape[0]
        frame = 4 * max(height / 32, width / 2048)  # original pixels per frame
        assert all(0 <= a < b <= width + frame + 1e-3 for a, b in r.pixel_spans)
        assert [a for a, _ in r.pixel_spans] == sorted(a for a, _ in r.pixel_spans)
    assert model.recognize([]) == []


def test_save_load_round_trip(model, tmp_path):
    path = model.save_pretrained(tmp_path / "ckpt")
    assert (path / "model.safetensors").is_file() and (path / "lm").is_dir()
    meta = json.loads((path / "config.json").read_text())
    assert meta["config"]["lm"]["name_or_path"] == "lm", "a local LM is copied and referenced"
    loaded = OCRModel.from_pretrained(path)
    batch = batch_of(["Round trip"], model.charset)
    a = model(batch.images, batch.widths, batch.targets, batch.target_lengths, batch.texts)
    b = loaded(batch.images, batch.widths, batch.targets, batch.target_lengths, batch.texts)
    assert torch.equal(a.ctc_logits, b.ctc_logits)
    assert torch.allclose(a.lm_loss, b.lm_loss)
    # the frozen LM is not repeated inside model.safetensors
    from safetensors.torch import load_file

    assert not any(k.startswith("lm_bridge.lm.") for k in load_file(path / "model.safetensors"))


def test_ctc_only_model_round_trip(tmp_path):
    m = OCRModel(tiny_config(None)).eval()
    assert not m.has_lm and m.qformer is None
    loaded = OCRModel.from_pretrained(m.save_pretrained(tmp_path / "ctc"))
    assert not loaded.has_lm
    with pytest.raises(OcrlabError, match="no Q-Former"):
        loaded.generate_text(torch.zeros(1, 1, 32, 16), torch.tensor([16]))


def test_checkpoint_with_another_charset_is_refused(tmp_path):
    m = OCRModel(tiny_config(None))
    path = m.save_pretrained(tmp_path / "ckpt")
    Charset.preset("alnum36").save(path / "charset.json")
    with pytest.raises(CheckpointError, match="charset"):
        OCRModel.from_pretrained(path)


def test_missing_or_corrupt_weights(tmp_path):
    path = OCRModel(tiny_config(None)).save_pretrained(tmp_path / "ckpt")
    (path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt"):
        OCRModel.from_pretrained(path)
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"no model\.safetensors"):
        OCRModel.from_pretrained(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        OCRModel.from_pretrained(tmp_path / "nowhere")


def _break_config(path, how: str) -> None:
    config = path / "config.json"
    meta = json.loads(config.read_text())
    if how == "not json":
        config.write_text("{ this is not json")
    elif how == "not ocrlab":
        config.write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    elif how == "newer format":
        meta["format_version"] = 99
        config.write_text(json.dumps(meta))
    elif how == "missing":
        config.unlink()
    elif how == "unknown key":
        meta["config"]["encoder"]["widht"] = 3
        config.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("not json", r"config\.json is not valid JSON"),
        ("not ocrlab", r"config\.json is not an ocrlab checkpoint config"),
        ("newer format", r"ckpt was written by a newer ocrlab \(format 99\)"),
        ("missing", r"ckpt has no config\.json"),
        ("unknown key", r"config\.json holds no valid ocrlab config: .*encoder\.widht"),
    ],
)
def test_bad_config_json_names_the_file_and_problem(tmp_path, how, message):
    path = OCRModel(tiny_config(None)).save_pretrained(tmp_path / "ckpt")
    _break_config(path, how)
    with pytest.raises(OcrlabError, match=message):
        OCRModel.from_pretrained(path)


def test_missing_unexpected_and_truncated_weights_name_the_file(tmp_path):
    from safetensors.torch import load_file, save_file

    path = OCRModel(tiny_config(None)).save_pretrained(tmp_path / "ckpt")
    weights = path / "model.safetensors"
    state = load_file(weights)
    good = weights.read_bytes()
    missing = dict(state)
    missing.pop("ctc_head.proj.weight")
    save_file(missing, weights)
    with pytest.raises(CheckpointError, match=r"model\.safetensors does not fit.*missing 1"):
        OCRModel.from_pretrained(path)
    save_file({**state, "extra.weight": torch.zeros(2)}, weights)
    with pytest.raises(CheckpointError, match=r"model\.safetensors does not fit.*1 unexpected"):
        OCRModel.from_pretrained(path)
    weights.write_bytes(good[: len(good) // 2])  # a copy cut short
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt"):
        OCRModel.from_pretrained(path)


def test_corrupt_trainer_state_names_the_file(tmp_path):
    from ocrlab.train import train

    config = load_run_config(
        "configs/tiny.yaml", ["model.qformer.enabled=false", "train.max_steps=2"]
    )
    train(config, tmp_path / "run", progress=False)
    state = tmp_path / "run" / "checkpoints" / "last" / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(OcrlabError, match=r"trainer_state\.pt cannot be read"):
        train(config, tmp_path / "run", progress=False, resume=True)


def test_config_that_does_not_fit_is_refused(tmp_path):
    path = OCRModel(tiny_config(None)).save_pretrained(tmp_path / "ckpt")
    meta = json.loads((path / "config.json").read_text())
    meta["config"]["encoder"]["d_model"] = 64
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        OCRModel.from_pretrained(path)


def test_missing_lm_path_says_what_was_looked_for(tmp_path):
    config = tiny_config(str(tmp_path / "no_such_lm"))
    with pytest.raises(OcrlabError, match="no_such_lm"):
        OCRModel(config)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    m = OCRModel(tiny_config(None))
    path = m.save_pretrained(tmp_path / "ckpt")
    before = (path / "model.safetensors").read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("ocrlab.models.checkpoint.save_file", boom)
    with pytest.raises(KeyboardInterrupt):
        m.save_pretrained(path)
    assert (path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"], "no temp folder left"


def test_source_stage_must_exist(tiny_lm):
    with pytest.raises(OcrlabError, match="source_stage"):
        OCRModel(tiny_config(tiny_lm, source_stage="stage9"))


def test_config_from_dict_round_trip():
    from ocrlab.config import to_dict

    config = tiny_config("x")
    assert from_dict(OCRConfig, to_dict(config)) == config


def test_convert_to_float16_halves_the_weights_and_loads_back(model, tmp_path, capsys):
    from safetensors.torch import load_file

    from ocrlab.cli import main

    full = model.save_pretrained(tmp_path / "fp32")
    assert main(["convert", str(full), "--out", str(tmp_path / "fp16")]) == 0
    assert "float16" in capsys.readouterr().out
    stored = load_file(tmp_path / "fp16" / "model.safetensors")
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    assert stored["encoder.stem.1.num_batches_tracked"].dtype == torch.int64  # ints stay
    size = lambda d: (tmp_path / d / "model.safetensors").stat().st_size  # noqa: E731
    assert size("fp16") < 0.6 * size("fp32")
    half = OCRModel.from_pretrained(tmp_path / "fp16")
    for k, v in half.trainable_state_dict().items():
        ref = model.trainable_state_dict()[k]
        assert v.dtype == ref.dtype, k  # cast back to the model's dtype
        if ref.is_floating_point():
            torch.testing.assert_close(v, ref.half().to(ref.dtype), rtol=0, atol=0)
    batch = batch_of(["Hello world"], model.charset)
    a = model(batch.images, batch.widths).ctc_logits
    b = half(batch.images, batch.widths).ctc_logits
    torch.testing.assert_close(a, b, atol=5e-2, rtol=5e-2)
    # --keep: the CTC path exactly as trained, the rest in half precision
    args = [
        "convert",
        str(full),
        "--out",
        str(tmp_path / "mixed"),
        "--keep",
        "encoder.",
        "ctc_head.",
    ]
    assert main(args) == 0
    mixed = load_file(tmp_path / "mixed" / "model.safetensors")
    assert mixed["encoder.stem.0.weight"].dtype == torch.float32
    assert mixed["qformer.query_tokens"].dtype == torch.float16
    exact = OCRModel.from_pretrained(tmp_path / "mixed")(batch.images, batch.widths).ctc_logits
    assert torch.equal(exact, a)


def test_the_default_checkpoint_is_found_from_a_checkout_an_install_or_the_environment(tmp_path):
    from ocrlab.models import DEFAULT_CHECKPOINT, DEFAULT_MODEL, find_default_checkpoint

    assert (DEFAULT_CHECKPOINT / "config.json").is_file(), "this checkout's bundled model"
    assert find_default_checkpoint(environ={}) == DEFAULT_CHECKPOINT
    # installed into site-packages: no models/ beside the package; found under the working dir
    site = tmp_path / "venv" / "site-packages" / "ocrlab" / "models"
    clone = tmp_path / "clone"
    (clone / "models" / DEFAULT_MODEL).mkdir(parents=True)
    (clone / "models" / DEFAULT_MODEL / "config.json").write_text("{}")
    found = find_default_checkpoint(environ={}, package_dir=site, cwd=clone)
    assert found == clone / "models" / DEFAULT_MODEL
    # nowhere: the checkout's path, which names itself when loading fails
    lost = find_default_checkpoint(environ={}, package_dir=site, cwd=tmp_path)
    assert lost == tmp_path / "venv" / "site-packages" / "models" / DEFAULT_MODEL
    # the environment wins
    env = {"OCRLAB_CHECKPOINT": str(tmp_path / "mine")}
    assert find_default_checkpoint(environ=env, package_dir=site, cwd=clone) == tmp_path / "mine"


def test_a_model_builds_from_its_config_and_an_lm_in_memory(tmp_path):
    """Nothing read from disk: the LM is handed in; the checkpoint then holds it, and loads."""
    from helpers import CHARS
    from transformers import GPT2Config, GPT2LMHeadModel

    from ocrlab.lm import build_char_tokenizer

    torch.manual_seed(0)
    tok = build_char_tokenizer(CHARS)
    lm = GPT2LMHeadModel(
        GPT2Config(
            n_layer=1,
            n_embd=16,
            n_head=2,
            n_positions=128,
            vocab_size=len(tok),
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
    )
    config = tiny_config(str(tmp_path / "no-such-lm"))  # would fail if anything loaded it
    model = OCRModel(config, lm=(lm, tok)).eval()
    assert model.lm_bridge.lm is lm and model.lm_bridge.handed
    batch = batch_of(["ab c", "hello"], model.charset)
    out = model(batch.images, batch.widths, batch.targets, batch.target_lengths, batch.texts)
    assert out.lm_loss is not None and torch.isfinite(out.lm_loss)

    model.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "lm" / "config.json").is_file()
    back = OCRModel.from_pretrained(tmp_path / "ckpt").eval()
    again = back(batch.images, batch.widths, batch.targets, batch.target_lengths, batch.texts)
    torch.testing.assert_close(again.lm_loss, out.lm_loss)


def test_a_checkpoint_holds_its_lm_even_when_the_lm_folder_moved_after_loading(tmp_path, tiny_lm):
    """A run loads its LM at the start; if that folder is moved or deleted before a save, the
    checkpoint must still hold the LM (from memory), not a name that points nowhere."""
    import shutil

    lm_dir = tmp_path / "charlm"
    shutil.copytree(tiny_lm, lm_dir)
    model = OCRModel(tiny_config(str(lm_dir))).eval()
    assert model.lm_bridge.source_dir == lm_dir.resolve()
    batch = batch_of(["ab c", "hello"], model.charset)
    out = model(batch.images, batch.widths, batch.targets, batch.target_lengths, batch.texts)

    copied = model.save_pretrained(tmp_path / "while-there")
    shutil.move(lm_dir, tmp_path / "moved")
    written = model.save_pretrained(tmp_path / "after-the-move")
    for ckpt in (copied, written):
        assert (ckpt / "lm" / "config.json").is_file()
        back = OCRModel.from_pretrained(ckpt).eval()
        again = back(batch.images, batch.widths, batch.targets, batch.target_lengths, batch.texts)
        torch.testing.assert_close(again.lm_loss, out.lm_loss)
