"""Plotly figures of query attention and of training runs (ocrlab.viz.figures, ocrlab.viz.curves):
what each figure draws (data, geometry, controls, labels), bad input, and export."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ocrlab.data.synth import render_line
from ocrlab.errors import OcrlabError
from ocrlab.models import OCRModel, Recognition
from ocrlab.run_config import load_run_config
from ocrlab.viz import (
    AttentionError,
    QueryAttention,
    attention_grid,
    attention_matrix,
    attention_over_training,
    attention_overlay,
    correspondence_figure,
    query_attention,
    query_stats_figure,
    read_metrics,
    save_figure,
    training_curves,
)
from ocrlab.viz.curves import _evenly
from ocrlab.viz.figures import _combos, _glyph_centres

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.yaml")
FIGURES = (attention_overlay, attention_grid, attention_matrix, correspondence_figure)


def tiny_model(lm: str, seed: int = 0) -> OCRModel:
    torch.manual_seed(seed)
    return OCRModel(load_run_config(TINY, [f"model.lm.name_or_path={lm}"]).model).eval()


@pytest.fixture(scope="module")
def model(tiny_lm) -> OCRModel:
    return tiny_model(tiny_lm)


@pytest.fixture(scope="module")
def qa(model) -> QueryAttention:
    return query_attention(model, render_line("Hello 42", seed=1, look="document", degrade=False))


def labelled(fig) -> None:
    """Every figure has a title and every axis that shows ticks a title."""
    assert fig.layout.title.text
    layout = fig.to_dict()["layout"]
    axes = [k for k in layout if k.startswith(("xaxis", "yaxis"))]
    assert axes
    titled = [k for k in axes if layout[k].get("title", {}).get("text")]
    assert titled, f"no axis title in {axes}"


def synthetic(text: str = "", spans=None, Q: int = 3, P: int = 10) -> QueryAttention:
    spans = spans or []
    maps = torch.softmax(torch.randn(1, 2, Q, P, generator=torch.Generator().manual_seed(0)), -1)
    return QueryAttention(
        maps=maps,
        self_maps=torch.eye(Q).expand(1, 2, Q, Q).clone(),
        recognition=Recognition(
            text, 1.0, [1.0] * len(text), spans, [(4 * a, 4 * b + 4) for a, b in spans]
        ),
        stage="cnn",
        stride=4,
        ctc_stride=4,
        centers_px=(torch.arange(P) + 0.5) * 4,
        scale=1.0,
        image=torch.zeros(1, 32, 4 * P),
        original=Image.new("RGB", (4 * P, 32), "white"),
        cross_layers=(0,),
    )


# -- one line ----------------------------------------------------------------------------------


def test_overlay_draws_the_map_over_its_pixels_with_query_slider_and_head_menu(qa):
    fig = attention_overlay(qa, query=1, layer=0, head="max")
    labelled(fig)
    combos = _combos(qa)
    assert len(combos) == qa.num_layers * (qa.num_heads + 2) + 1  # mean, max, each head; rollout
    assert len(fig.data) == 2 * len(combos)  # a band over the image + a profile per aggregation
    active = combos.index((0, "max"))
    visible = [i for i, t in enumerate(fig.data) if t.visible]
    assert visible == [2 * active, 2 * active + 1]
    band, profile = fig.data[2 * active], fig.data[2 * active + 1]
    expected = qa.max_heads(0)[1].numpy()
    np.testing.assert_allclose(band.z[0], expected, atol=1e-5)
    np.testing.assert_allclose(profile.y, expected, atol=1e-5)
    # geometry: position t spans pixel columns [t, t + 1) * stride * scale of the ORIGINAL image
    np.testing.assert_allclose(band.x, qa.edges_px.numpy(), rtol=1e-6)
    assert band.x[-1] == pytest.approx(qa.num_positions * 4 * qa.scale)
    np.testing.assert_allclose(profile.x, qa.centers_px.numpy(), rtol=1e-6)
    assert tuple(band.y) == (0, qa.original.height)
    image = fig.layout.images[0]
    assert (image.sizex, image.sizey) == qa.original.size
    assert image.source.startswith("data:image/png;base64,")
    # the slider sets every aggregation's data to query q, so it composes with the menu
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == [str(q) for q in range(qa.num_queries)]
    assert fig.layout.sliders[0].active == 1
    for q, step in enumerate(steps):
        z, y = step.args[0]["z"], step.args[0]["y"]
        for c, (lay, h) in enumerate(combos):
            want = qa.aggregate(lay, h)[q].numpy()
            np.testing.assert_allclose(z[2 * c][0], want, atol=1e-5)
            np.testing.assert_allclose(y[2 * c + 1], want, atol=1e-5)
            assert y[2 * c] == [0, qa.original.height]  # the band keeps its extent
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == [qa.label(lay, h) for lay, h in combos]
    assert buttons[-1].label == "rollout over all layers"
    assert buttons[3].args[0]["visible"] == [i // 2 == 3 for i in range(2 * len(combos))]
    # each recognized character is labelled over its glyph, legibly; the profile shades spans
    marks = [a for a in fig.layout.annotations if a.yref == "y"]
    assert [a.x for a in marks] == pytest.approx(_glyph_centres(qa))
    assert min(a.font.size for a in marks) >= 13
    assert len(fig.layout.shapes) == len(qa.text)


def test_overlay_without_menu_holds_only_the_chosen_layer_and_head(qa):
    """An app with its own layer and head controls asks for no second set inside the plot."""
    fig = attention_overlay(qa, query=2, layer=0, head=1, menu=False)
    assert fig.layout.updatemenus == ()
    assert "menu" not in fig.layout.title.text
    band, profile = fig.data
    assert profile.type == "bar"
    np.testing.assert_allclose(band.z[0], qa.head(0, 1)[2].numpy(), atol=1e-5)
    for q, step in enumerate(fig.layout.sliders[0].steps):
        np.testing.assert_allclose(step.args[0]["y"][1], qa.head(0, 1)[q].numpy(), atol=1e-5)


@pytest.mark.parametrize("figure", [attention_overlay, attention_grid])
@pytest.mark.parametrize("text", ["Hi", "a long line of text that is much wider than it is tall"])
def test_the_line_image_keeps_its_aspect_ratio(model, figure, text):
    """One image pixel is as tall as it is wide, at any width the browser gives the figure:
    the image row's y axis is anchored to its x axis, and its row is tall enough at the
    nominal width for a line of this shape (long lines used to be stretched vertically)."""
    qa = query_attention(model, render_line(text, seed=1, look="document", degrade=False))
    fig = figure(qa, width=1300)
    W, H = qa.original.size
    image = fig.layout.images[0]
    assert (image.xref, image.yref, image.sizex, image.sizey) == ("x2", "y2", W, H)
    assert fig.layout.yaxis2.scaleanchor == "x2" and fig.layout.yaxis2.scaleratio == 1
    assert fig.layout.yaxis2.constrain == "domain"
    assert tuple(fig.layout.yaxis2.range) == (H, 0)
    m = fig.layout.margin
    row_px = (fig.layout.yaxis2.domain[1] - fig.layout.yaxis2.domain[0]) * (
        fig.layout.height - m.t - m.b
    )
    plot_px = 1300 - m.l - m.r - 90
    assert row_px >= min(300, 0.95 * plot_px * H / W)  # room for the image at its aspect


def test_glyph_centres_put_each_letter_over_its_ink_not_its_ctc_spike():
    """CTC fires at a glyph's right edge (the first character often at frame 0): the labels
    go to the glyphs; touching glyphs share their run; no ink separation -> the spikes."""
    image = Image.new("L", (100, 32), 255)
    for x0, x1 in [(10, 20), (30, 40), (60, 80)]:  # "a", "b", then "cd" touching
        image.paste(0, (x0, 8, x1, 24))
    spans = [(0, 0), (9, 9), (12, 12), (19, 19), (21, 21)]  # frames of a, b, space, c, d
    qa = synthetic("ab cd", spans=spans, P=25)
    qa = dataclasses.replace(qa, original=image.convert("RGB"))
    assert _glyph_centres(qa) == pytest.approx([15, 35, 50, 65, 75])
    blank = synthetic("ab cd", spans=spans, P=25)  # a white image: no glyph to snap to
    assert _glyph_centres(blank) == pytest.approx([(4 * a + 4 * b + 4) / 2 for a, b in spans])


def test_overlay_rejects_bad_indices(qa):
    with pytest.raises(AttentionError, match="query 9 is out of range"):
        attention_overlay(qa, query=9)
    with pytest.raises(AttentionError, match="layer 5"):
        attention_overlay(qa, layer=5)
    with pytest.raises(AttentionError, match="unknown head aggregation"):
        attention_overlay(qa, head="median")
    assert attention_overlay(qa, head="rollout").data[-1].visible  # the last menu entry


def test_grid_is_one_queries_by_pixels_heatmap_under_the_line(qa):
    fig = attention_grid(qa, layer=-1, head=0)
    labelled(fig)
    a = qa.head(-1, 0).numpy()
    (heat,) = fig.data
    np.testing.assert_allclose(np.array(heat.z), a, atol=1e-5)  # (Q, P): one row per query
    np.testing.assert_allclose(heat.x, qa.edges_px.numpy(), rtol=1e-6)  # on the image's pixels
    assert heat.zmin == 0 and heat.zmax == pytest.approx(a.max())
    stats = qa.stats(-1, 0)
    assert np.array(heat.customdata)[:, 0, 0] == pytest.approx(stats.peak_px.numpy(), abs=0.01)
    assert "peak at" in heat.hovertemplate
    assert len(fig.layout.images) == 1
    assert [a.x for a in fig.layout.annotations if a.yref == "y"] == pytest.approx(
        _glyph_centres(qa)
    )


@pytest.mark.parametrize("queries", [16, 32])
def test_the_grid_of_many_queries_on_a_long_line_is_compact_and_legible(queries):
    """16-32 queries used to be 16-32 strips in a ~2,400 px figure with 11 px titles."""
    P = 200
    maps = torch.softmax(torch.randn(1, 2, queries, P), -1)
    qa = dataclasses.replace(
        synthetic(P=P), maps=maps, self_maps=torch.eye(queries).expand(1, 2, -1, -1).clone()
    )
    fig = attention_grid(qa, width=1300)
    assert fig.layout.height <= 900
    ticks = fig.layout.yaxis3
    assert ticks.tickfont.size >= 13 and ticks.title.text == "query"
    row_px = fig.layout.height * (ticks.domain[1] - ticks.domain[0]) / queries
    assert row_px * ticks.dtick >= 18  # tick labels do not touch


def test_matrix_marks_the_ctc_spans_on_the_position_axis(qa):
    fig = attention_matrix(qa)
    labelled(fig)
    heat, track = fig.data
    np.testing.assert_allclose(np.array(heat.z), qa.mean_heads().numpy(), atol=1e-5)
    assert heat.zmin == 0
    spans = qa.char_spans_in_source()
    assert len(fig.layout.shapes) == len(spans) == len(qa.text)
    for shape, (f, e) in zip(fig.layout.shapes, spans, strict=True):
        assert (shape.x0, shape.x1) == (f - 0.5, e + 0.5)
    assert list(track.text) == ["␣" if c == " " else c for c in qa.text]
    assert fig.layout.xaxis2.title.text == "source position ('cnn')"


def test_correspondence_shows_the_matrix_and_the_summary():
    qa = synthetic("ab", spans=[(1, 2), (6, 7)])
    fig = correspondence_figure(qa)
    labelled(fig)
    np.testing.assert_allclose(np.array(fig.data[0].z), qa.correspondence().numpy(), atol=1e-5)
    assert list(fig.layout.xaxis.ticktext) == ["0<br>a", "1<br>b"]
    summary = fig.layout.annotations[-1].text
    for line in qa.summary():
        assert line.replace("<", "&lt;") in summary  # "<-" escaped for plotly's HTML labels
    # nothing recognized: still a figure, which says so
    empty = correspondence_figure(synthetic(""))
    assert "nothing was recognized" in empty.layout.annotations[0].text
    assert empty.layout.title.text


def test_stats_figure_shows_entropy_similarity_coverage_and_the_verdict(qa):
    fig = query_stats_figure(qa)
    labelled(fig)
    stats = qa.stats()
    entropy, similarity, coverage = fig.data
    np.testing.assert_allclose(entropy.y, stats.entropy_norm.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.array(similarity.z), stats.similarity.numpy(), atol=1e-5)
    assert (similarity.zmin, similarity.zmax) == (0.0, 1.0)
    assert len(coverage.y) == qa.num_positions
    assert stats.verdict.upper() in fig.layout.title.text
    assert f"{stats.coverage:.0%}" in fig.layout.annotations[2].text


@pytest.mark.parametrize("name", ["blank", "black", "single character", "3000 px wide"])
def test_every_figure_builds_on_bad_images(model, name):
    if name == "blank":
        image = np.full((40, 300), 255, np.uint8)
    elif name == "black":
        image = np.zeros((40, 300), np.uint8)
    elif name == "single character":
        image = render_line("A", seed=0, look="document", degrade=False)
    else:
        image = Image.fromarray(np.asarray(render_line("wide", seed=0))).resize((3000, 40))
    qa = query_attention(model, image)
    for make in (*FIGURES, query_stats_figure):
        fig = make(qa)
        labelled(fig)
        assert len(fig.data) >= 1


# -- over a run --------------------------------------------------------------------------------


def write_metrics(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_training_curves_draw_every_logged_series(tmp_path):
    train = [
        {
            "kind": "train",
            "step": s,
            "loss": 5.0 / (s + 1),
            "ctc_loss": 4.0 / (s + 1),
            "lm_loss": 2.0,
            "w_ctc": 1.0,
            "w_lm": 0.5 if s < 2 else 1.0,
            "lr": 1e-3 * s,
        }
        for s in range(4)
    ]
    grad = [
        {
            "kind": "grad",
            "step": 0,
            "grad_ratio_lm_ctc": 0.4,
            "grad_cosine": float("nan"),
            "lm_share": 0.1,
        }
    ]
    val = [{"kind": "val", "step": 2, "cer": 0.5}, {"kind": "val", "step": 4, "cer": 0.25}]
    read = [
        {
            "kind": "read",
            "step": s,
            "lm_cer": 2.6 / s,
            "query_cosine": 0.9,
            "char_coverage": 0.1 * s,
            "query_info": 0.5 * s,
            "lm_loss": 3.0 - 0.5 * s,
            "lm_loss_zero_prompt": 3.0,
        }
        for s in (2, 4)
    ]
    run = tmp_path / "run"
    run.mkdir()
    write_metrics(run / "metrics.jsonl", [*train, *grad, *val, *read, '{"kind": "train", "st'])
    fig = training_curves(run)  # a run folder; the cut-off last line is skipped
    labelled(fig)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {
        "total loss",
        "CTC loss",
        "LM loss",
        "w_ctc",
        "w_lm",
        "learning rate",
        "validation CER",
        "|g_lm| / |g_ctc|",
        "cos(g_lm, g_ctc)",
        "LM share",
        "LM-decoding CER",
        "query cosine (1 = collapsed)",
        "character coverage",
        "information from the queries",
        "LM loss with the queries",
        "LM loss, zero prompt",
    }
    assert list(by_name["w_lm"].y) == [0.5, 0.5, 1.0, 1.0]
    assert list(by_name["information from the queries"].y) == [1.0, 2.0]
    assert list(by_name["LM-decoding CER"].x) == [2, 4]
    assert list(by_name["validation CER"].x) == [2, 4]
    assert list(by_name["cos(g_lm, g_ctc)"].y) == [None]  # NaN is a gap, not a crash
    assert fig.layout.yaxis.type == "log"
    assert "best 0.2500" in fig.layout.title.subtitle.text
    # the jsonl itself works too, and a kind never logged is said to be missing
    write_metrics(tmp_path / "m.jsonl", train)
    fig = training_curves(tmp_path / "m.jsonl")
    assert sum("not logged" in (a.text or "") for a in fig.layout.annotations) == 5


def test_metrics_errors_name_the_file_and_line(tmp_path):
    bad = write_metrics(tmp_path / "metrics.jsonl", [{"kind": "train", "step": 0}, "oops", "{}"])
    with pytest.raises(OcrlabError, match=r"metrics.jsonl:2: not a metrics event"):
        read_metrics(bad)
    with pytest.raises(OcrlabError, match="no metrics file"):
        training_curves(tmp_path / "nowhere")
    resumed = write_metrics(
        tmp_path / "r.jsonl",
        [
            {"kind": "val", "step": 4, "cer": 0.9},
            {"kind": "val", "step": 2, "cer": 0.5},
            {"kind": "val", "step": 4, "cer": 0.3},
        ],
    )
    assert [e["cer"] for e in read_metrics(resumed)["val"]] == [0.5, 0.3]  # by step, last wins


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_lm) -> Path:
    """A run folder with three snapshots of differently initialized tiny models."""
    run = tmp_path_factory.mktemp("run")
    for i, step in enumerate((4, 8, 12)):
        tiny_model(tiny_lm, seed=i).save_pretrained(run / "checkpoints" / f"step-{step:07d}")
    tiny_model(tiny_lm).save_pretrained(run / "checkpoints" / "last")  # not a snapshot
    return run


def test_attention_over_training_has_a_slider_over_the_snapshots(run_dir):
    image = render_line("Hi 7", seed=0, look="document", degrade=False)
    fig = attention_over_training(run_dir, image)
    labelled(fig)
    assert len(fig.data) == 3  # one queries x positions matrix per snapshot
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["4", "8", "12"]
    assert [t.visible for t in fig.data] == [False, False, True]  # the last step first
    assert steps[0].args[0]["visible"] == [True, False, False]
    for trace, seed in zip(fig.data, (0, 1, 2), strict=True):
        model = OCRModel.from_pretrained(run_dir / "checkpoints" / f"step-{4 * (seed + 1):07d}")
        want = query_attention(model, image).mean_heads().numpy()
        np.testing.assert_allclose(np.array(trace.z), want, atol=1e-5)
    zmax = {t.zmax for t in fig.data}
    assert len(zmax) == 1  # one colour scale for every step
    one = attention_over_training(run_dir, image, query=2, max_checkpoints=2)
    assert [s.label for s in one.layout.sliders[0].steps] == ["4", "12"]
    assert len(one.data) == 4  # per step: the band over the image and the profile
    with pytest.raises(AttentionError, match="query 7 is out of range"):
        attention_over_training(run_dir, image, query=7)


def test_attention_over_training_needs_snapshots(tmp_path):
    with pytest.raises(OcrlabError, match="no checkpoints folder"):
        attention_over_training(tmp_path, np.zeros((32, 64), np.uint8))
    (tmp_path / "checkpoints" / "last").mkdir(parents=True)
    with pytest.raises(OcrlabError, match="no checkpoints/step-N snapshots"):
        attention_over_training(tmp_path, np.zeros((32, 64), np.uint8))
    assert _evenly(list(range(10)), 4) == [0, 3, 6, 9]
    assert _evenly([1, 2], 5) == [1, 2]


# -- export ------------------------------------------------------------------------------------


def test_save_figure_writes_standalone_html(qa, tmp_path):
    path = save_figure(attention_matrix(qa), tmp_path / "sub" / "matrix.html")
    html = path.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith(("<!doctype html>", "<html>"))
    assert '<script src="http' not in html and len(html) > 1_000_000  # plotly.js is inlined
    assert "Queries x positions" in html
    with pytest.raises(OcrlabError, match=r"cannot save a figure as 'matrix.gif'"):
        save_figure(attention_matrix(qa), tmp_path / "matrix.gif")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["matrix.html"]  # no temp files


@pytest.mark.needs_chromium
def test_save_figure_exports_png_and_svg_with_chromium(qa, tmp_path, monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    fig = query_stats_figure(qa)
    png = save_figure(fig, tmp_path / "stats.png", scale=1)
    assert os.environ["BROWSER_PATH"] == "/usr/bin/chromium"  # set because nothing was
    with Image.open(png) as im:
        assert im.format == "PNG"
        assert im.size == (fig.layout.width, fig.layout.height)
    svg = save_figure(fig, tmp_path / "stats.svg")
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<svg")


@pytest.mark.needs_chromium
def test_overlay_controls_work_in_a_browser(qa, tmp_path):
    """Drive the overlay's slider and menu in Chromium (plotly.js, as a click does) and read
    back what the visible traces hold: the menu's aggregation at the slider's query."""
    from playwright.sync_api import sync_playwright

    html = save_figure(attention_overlay(qa), tmp_path / "overlay.html")
    combos = _combos(qa)
    run = """async ([kind, i]) => {
      const gd = document.querySelector('.js-plotly-plot');
      const item = kind === 'slider' ? gd.layout.sliders[0].steps[i]
                                     : gd.layout.updatemenus[0].buttons[i];
      await Plotly[item.method](gd, ...item.args);
      const k = gd._fullData.findIndex(t => t.visible === true);
      return {k: k, z: Array.from(gd.data[k].z[0]), y: Array.from(gd.data[k + 1].y),
              types: [gd._fullData[k].type, gd._fullData[k + 1].type],
              shown: gd._fullData.filter(t => t.visible === true).length};
    }"""
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.as_uri())
            page.wait_for_function("document.querySelector('.js-plotly-plot')?._fullData")
            query, combo = 0, combos.index((qa.num_layers - 1, "mean"))
            for kind, i in [("slider", 3), ("menu", 2), ("slider", 1), ("menu", len(combos) - 1)]:
                state = page.evaluate(run, [kind, i])
                query, combo = (i, combo) if kind == "slider" else (query, i)
                want = qa.aggregate(*combos[combo])[query].numpy()
                assert state["k"] == 2 * combo and state["shown"] == 2
                assert state["types"] == ["heatmap", "bar"]
                np.testing.assert_allclose(state["z"], want, atol=1e-4)
                np.testing.assert_allclose(state["y"], want, atol=1e-4)
        finally:
            browser.close()
    assert errors == []
