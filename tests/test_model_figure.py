"""The generated architecture figure (ocrlab.viz.model_figure): real shapes and parameter
counts, every preset, a CTC-only model, the inputs it accepts, files per suffix, and a layout in
which no text leaves its box."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib
import pytest
import torch
from matplotlib.patches import FancyBboxPatch
from matplotlib.text import Text

from ocrlab.charset import Charset
from ocrlab.errors import OcrlabError
from ocrlab.models import DEFAULT_CHECKPOINT, OCRModel
from ocrlab.models.encoder import Encoder
from ocrlab.models.qformer import QFormer
from ocrlab.run_config import load_run_config
from ocrlab.viz.model_figure import architecture_shapes, model_figure

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = DEFAULT_CHECKPOINT


@pytest.fixture(autouse=True)
def _in_repository(monkeypatch):
    # the presets name the embedded LM relative to the repository root
    monkeypatch.chdir(ROOT)


def charlm_millions() -> float:
    """The embedded LM's parameter count, counted on the loaded model (not read from a card)."""
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(ROOT / "models" / "ocrlab-charlm")
    return sum(p.numel() for p in lm.parameters()) / 1e6


def preset(name: str, *overrides: str):
    return load_run_config(ROOT / "configs" / f"{name}.yaml", list(overrides)).model


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def real_maps(config, width: int) -> dict[str, tuple[int, ...]]:
    """The encoder's feature-map shapes from a real forward pass (hooks), for comparison."""
    encoder = Encoder(config.encoder).eval()
    seen: dict[str, tuple[int, ...]] = {}
    for name in ("stem", "stage1", "stage2", "stage3", "collapse"):
        getattr(encoder, name).register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, tuple(out.shape[1:]))
        )
    with torch.no_grad():
        out = encoder(torch.zeros(1, 1, 32, width))
    seen["cnn"] = tuple(out.stages["cnn"].shape[1:])
    return seen


@pytest.mark.parametrize("name", ["tiny", "small", "base"])
def test_each_preset_shows_its_real_shapes(name):
    config = preset(name)
    fig = model_figure(config, width=128)
    words = texts(fig)
    real = real_maps(config, 128)
    for stage in ("stem", "stage1", "stage2", "stage3"):
        c, h, w = real[stage]
        assert f"{c} × {h} × {w}" in words, f"{stage} shape {real[stage]} missing"
    d = config.encoder.d_model
    assert real["cnn"] == (32, d) and f"32 × {d}" in words, "w = 128 / 4 positions x d_model"
    q = config.qformer
    assert f"{q.num_queries} learnable queries × {q.hidden_size}" in words
    assert f"out: {q.num_queries} × {q.hidden_size}" in words
    assert f"  to {q.source_stage}: 32 × {d}" in words, (
        "the Q-Former reads its source stage's sequence"
    )
    assert f"FFN {q.hidden_size} → {q.intermediate_size} → {q.hidden_size}" in words
    assert f"Q-Former: {q.num_layers} layers" in words
    assert "32 × 96 (incl. blank)" in words, "the latin charset: 95 characters + blank"
    assert "1 × 32 × 128" in words
    # the presets' LM is the embedded one, local in the repository: width and size are read
    assert "ocrlab-charlm" in words and "gpt2, 4 layers, width 256" in words
    assert f"linear {q.hidden_size} → 256" in words and f"{q.num_queries} × 256" in words
    assert f"{charlm_millions():.1f} M params" in words
    legend = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else []
    legend += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    assert {"trained", "frozen", "loss", "dropped at inference"} <= set(legend)
    assert "training only: dropped at inference" in words


def test_small_preset_numbers_from_the_issue():
    words = texts(model_figure(preset("small"), width=128))
    assert "32 learnable queries × 512" in words and "32 × 512" in words
    wide = texts(model_figure(preset("small"), width=512))
    assert "128 × 512" in wide and "  to context: 128 × 512" in wide and "1 × 32 × 512" in wide


def test_parameter_counts_are_the_modules(tiny_lm):
    config = preset("tiny", f"model.lm.name_or_path={tiny_lm}")
    shapes = architecture_shapes(config, 64)
    model = OCRModel(config)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    encoder_parts = ("stem", "stage1", "stage2", "stage3", "cnn", "context")
    assert sum(shapes.params[k] for k in encoder_parts) == count(model.encoder)
    assert shapes.params["ctc_head"] == count(model.ctc_head)
    assert shapes.params["qformer"] == count(model.qformer)
    assert shapes.params["projection"] == count(model.lm_bridge.language_projection)
    assert shapes.lm.params == count(model.lm_bridge.lm), "tied weights are counted once"
    assert shapes.lm.hidden == model.lm_bridge.lm_hidden == 32
    assert shapes.maps["stage2"] == (16, 8, 16) and shapes.sequences["cnn"] == (16, 32)
    assert isinstance(model.qformer, QFormer)


def test_ctc_only_config_greys_out_the_branch():
    fig = model_figure(preset("small", "model.qformer.enabled=false"))
    words = texts(fig)
    assert "Q-Former + LM: disabled" in words and "qformer.enabled = false" in words
    assert not any(w.startswith("Q-Former: ") for w in words)
    assert "Frozen causal LM" not in words and "32 × 512" in words
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    assert legend == ["trained", "loss"]


def test_other_source_stage_and_context():
    config = preset(
        "small",
        "model.qformer.source_stage=stage1",
        "model.encoder.context=transformer",
        "model.lm.name_or_path=some-org/not-downloaded-lm",
    )
    words = texts(model_figure(config))
    assert "  to stage1: 64 × 32" in words, "stage1 has stride 2: 64 positions of 32 channels"
    assert "Context: 2-layer Transformer" in words and "32 × 512, 8 heads" in words
    assert "some-org/not-downloaded-lm" in words and "size unknown (not local)" in words
    assert "linear 512 → LM width" in words


def test_accepts_run_config_yaml_and_checkpoint(tmp_path, tiny_lm):
    from_model = texts(model_figure(preset("tiny")))
    assert texts(model_figure(load_run_config(ROOT / "configs" / "tiny.yaml"))) == from_model
    assert texts(model_figure(ROOT / "configs" / "tiny.yaml")) == from_model
    ckpt = OCRModel(preset("tiny", f"model.lm.name_or_path={tiny_lm}")).save_pretrained(
        tmp_path / "ckpt"
    )
    words = texts(model_figure(ckpt))
    assert "ckpt/lm" in words, "a checkpoint's LM copy is read from the checkpoint"
    assert "gpt2, 2 layers, width 32" in words
    abc = OCRModel(preset("tiny", "model.qformer.enabled=false"), Charset("abc", name="abc"))
    words = texts(model_figure(abc.save_pretrained(tmp_path / "abc")))
    assert "CTC head: linear 32 → 4" in words, "a checkpoint's own charset: 3 letters + blank"
    with pytest.raises(OcrlabError, match="not an ocrlab checkpoint"):
        model_figure(tmp_path)
    with pytest.raises(OcrlabError, match="neither a checkpoint folder nor a YAML"):
        model_figure(tmp_path / "missing.yaml")
    with pytest.raises(OcrlabError, match="expected an OCRConfig"):
        model_figure(42)
    with pytest.raises(OcrlabError, match="multiple of 4"):
        model_figure(preset("tiny"), width=130)


def test_files_for_each_suffix(tmp_path):
    config = preset("small")
    magic = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}
    for suffix, head in magic.items():
        path = tmp_path / "sub" / f"model{suffix}"
        model_figure(config, path=path)
        assert path.read_bytes().startswith(head), suffix
    svg = (tmp_path / "sub" / "model.svg").read_text()
    assert "32 learnable queries × 512" in svg, "SVG text stays text (editable in a paper)"
    again = tmp_path / "again.svg"
    model_figure(config, path=again)
    assert again.read_text() == svg, "the same config writes the same SVG (no date, fixed ids)"
    with pytest.raises(OcrlabError, match=r"\.svg, \.pdf, \.png"):
        model_figure(config, path=tmp_path / "model.jpg")
    assert not (tmp_path / "model.jpg").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("model.qformer.enabled=false",),
        (
            "model.lm.name_or_path=a-very-long-organisation/an-extremely-long-language-model-name",
            "model.qformer.num_queries=128",
            "model.qformer.intermediate_size=16384",
        ),
    ],
)
def test_no_text_leaves_its_box_and_boxes_do_not_overlap(overrides):
    fig = model_figure(preset("base", *overrides), width=4096)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = {
        p.get_gid()[4:]: p.get_window_extent(renderer)
        for p in ax.patches
        if isinstance(p, FancyBboxPatch) and (p.get_gid() or "").startswith("box:")
    }
    assert len(boxes) >= 9
    for t in ax.texts:
        gid = t.get_gid() or ""
        extent = t.get_window_extent(renderer)
        assert fig.bbox.contains(extent.x0, extent.y0) and fig.bbox.contains(extent.x1, extent.y1)
        if gid.startswith("text:") and gid[5:] in boxes:
            box = boxes[gid[5:]]
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1, f"{t.get_text()!r} overflows"
            assert box.y0 <= extent.y0 and extent.y1 <= box.y1, f"{t.get_text()!r} overflows"
    for (a, ea), (b, eb) in itertools.combinations(boxes.items(), 2):
        assert not ea.overlaps(eb), f"boxes {a} and {b} overlap"


def test_shipped_checkpoint():
    words = texts(model_figure(SHIPPED))
    q = OCRModel.from_pretrained(SHIPPED).config.qformer
    assert f"{SHIPPED.name}/lm" in words and f"{charlm_millions():.1f} M params" in words
    assert f"{q.num_queries} learnable queries × {q.hidden_size}" in words and "32 × 512" in words


def test_the_figure_displays_in_a_fresh_notebook_kernel():
    """IPython shows a bare matplotlib Figure (no pyplot) only through _repr_png_."""
    from IPython.core.formatters import PNGFormatter

    fig = model_figure(load_run_config(ROOT / "configs" / "tiny.yaml").model)
    png = PNGFormatter()(fig)
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
