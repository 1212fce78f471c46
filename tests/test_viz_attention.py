"""Query attention extraction (ocrlab.viz.attention): shapes, normalization, padding, geometry,
aggregations, rollout, query<->character correspondence, statistics and bad input."""

from __future__ import annotations

import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ocrlab.data.synth import Renderer, SynthConfig, render_line
from ocrlab.data.transforms import LineTransform
from ocrlab.errors import OcrlabError
from ocrlab.models import DEFAULT_CHECKPOINT, OCRModel, Recognition
from ocrlab.run_config import load_run_config
from ocrlab.viz import AttentionError, QueryAttention, query_attention, query_attention_batch

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.yaml")


def tiny_model(lm: str | None, *overrides: str, seed: int = 0) -> OCRModel:
    sets = [f"model.lm.name_or_path={lm}"] if lm else ["model.qformer.enabled=false"]
    torch.manual_seed(seed)
    return OCRModel(load_run_config(TINY, [*sets, *overrides]).model).eval()


@pytest.fixture(scope="module")
def model(tiny_lm) -> OCRModel:
    """Tiny random model with a Q-Former: 4 queries, 2 layers (both cross-attend), 2 heads."""
    return tiny_model(tiny_lm)


@pytest.fixture(scope="module")
def line() -> Image.Image:
    return render_line("Hello 42", seed=1, look="document", degrade=False)


def synthetic(
    maps: torch.Tensor,
    self_maps: torch.Tensor | None = None,
    *,
    text: str = "",
    spans: list[tuple[int, int]] | None = None,
    stride: int = 4,
    ctc_stride: int = 4,
    scale: float = 1.0,
) -> QueryAttention:
    """A QueryAttention built by hand: maps (Lc, H, Q, P), identity self-attention by default."""
    L, H, Q, P = maps.shape
    if self_maps is None:
        self_maps = torch.eye(Q).expand(L, H, Q, Q).clone()
    spans = spans or []
    w = P * stride
    return QueryAttention(
        maps=maps,
        self_maps=self_maps,
        recognition=Recognition(
            text=text,
            confidence=1.0,
            char_confidences=[1.0] * len(text),
            spans=spans,
            pixel_spans=[(a * ctc_stride * scale, (b + 1) * ctc_stride * scale) for a, b in spans],
        ),
        stage="cnn",
        stride=stride,
        ctc_stride=ctc_stride,
        centers_px=(torch.arange(P, dtype=torch.float32) + 0.5) * stride * scale,
        scale=scale,
        image=torch.zeros(1, 32, w),
        original=Image.new("RGB", (round(w * scale), round(32 * scale)), "white"),
        cross_layers=tuple(range(L)),
    )


# -- extraction ----------------------------------------------------------------------------------


def test_shapes_normalization_and_the_ctc_reading(model, line):
    qa = query_attention(model, line)
    w = qa.image.shape[-1]
    P = math.ceil(w / 4)  # real positions of the 'cnn' stage (stride 4)
    assert qa.image.shape == (1, 32, w)
    assert qa.original.size == line.size
    assert qa.maps.shape == (2, 2, 4, P)
    assert qa.self_maps.shape == (2, 2, 4, 4)
    assert (qa.stage, qa.stride, qa.ctc_stride) == ("cnn", 4, 4)
    # rows are distributions over the real positions only
    torch.testing.assert_close(qa.maps.sum(-1), torch.ones(2, 2, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(qa.self_maps.sum(-1), torch.ones(2, 2, 4), atol=1e-5, rtol=0)
    assert float(qa.maps.min()) >= 0.0
    # position t is drawn at the centre of input columns [4t, 4t + 4), in original pixels
    scale = line.width / w
    torch.testing.assert_close(qa.centers_px, (torch.arange(P) + 0.5) * 4 * scale)
    assert qa.scale == pytest.approx(scale)
    # the reading is OCRModel.recognize's, from the same forward pass
    ref = model.recognize([line])[0]
    assert qa.text == ref.text == qa.recognition.text
    assert qa.recognition.spans == ref.spans
    flat = [x for span in qa.recognition.pixel_spans for x in span]
    assert flat == pytest.approx([x for span in ref.pixel_spans for x in span])


def test_padding_does_not_change_the_maps_of_real_positions(model, line):
    alone = query_attention(model, line)
    wide = render_line(
        "a much wider line of text, three times as long", seed=2, look="document", degrade=False
    )
    batched, other = query_attention_batch(model, [line, wide])
    assert batched.maps.shape == alone.maps.shape  # padding cut off
    torch.testing.assert_close(batched.maps, alone.maps, atol=1e-5, rtol=0)
    torch.testing.assert_close(batched.self_maps, alone.self_maps, atol=1e-5, rtol=0)
    assert batched.text == alone.text
    assert other.maps.shape[-1] > 2 * alone.maps.shape[-1]  # most of the short line's row padded


def test_every_image_source_gives_the_same_maps(model, line, tmp_path):
    path = tmp_path / "line.png"
    line.save(path)
    ref = query_attention(model, line).maps
    for source in (path, str(path), path.read_bytes(), np.asarray(line)):
        torch.testing.assert_close(query_attention(model, source).maps, ref)


def test_training_mode_is_restored_and_maps_are_plain_tensors(model, line):
    model.train()
    try:
        qa = query_attention(model, line)
        assert model.training
    finally:
        model.eval()
    qa.maps.mul_(1.0)  # not an inference tensor: in-place math works outside inference mode


def test_a_ctc_only_checkpoint_says_it_has_no_qformer(line):
    with pytest.raises(AttentionError, match="no Q-Former") as err:
        query_attention(tiny_model(None), line)
    assert isinstance(err.value, OcrlabError)
    assert "attribute_character" in str(err.value)  # points to what still works


@pytest.mark.parametrize(
    "name",
    ["blank", "black", "single character", "3000 px wide", "5x5 px"],
)
def test_bad_images_do_not_crash(model, name):
    if name == "blank":
        image = np.full((40, 300), 255, np.uint8)
    elif name == "black":
        image = np.zeros((40, 300), np.uint8)
    elif name == "single character":
        image = render_line("A", seed=0, look="document", degrade=False)
    elif name == "3000 px wide":
        tiled = np.tile(np.asarray(render_line("wide line", seed=0, degrade=False)), (1, 20, 1))
        image = Image.fromarray(tiled).resize((3000, 40))  # the model reads it 2400 px wide
    else:
        image = np.full((5, 5), 128, np.uint8)
    qa = query_attention(model, image)
    assert torch.isfinite(qa.maps).all()
    torch.testing.assert_close(qa.maps.sum(-1), torch.ones(qa.maps.shape[:-1]), atol=1e-5, rtol=0)
    assert qa.num_positions == math.ceil(qa.image.shape[-1] / 4) >= 1
    # every position lies over the image (its centre within the padded last column block)
    assert float(qa.centers_px[-1]) <= qa.original.width + qa.stride * qa.scale
    assert len(qa.summary()) == len(qa.text)
    stats = qa.stats()
    assert stats.verdict in ("specialized", "collapsed", "mixed")
    assert torch.isfinite(qa.rollout()).all()
    if name == "3000 px wide":
        assert qa.image.shape[-1] == 2048  # squeezed to max_width ...
        assert qa.num_positions == 512
        assert qa.scale == pytest.approx(3000 / 2048)  # ... and mapped back to the original
        assert query_attention(model, image, max_width=None).num_positions == 2400 // 4


# -- geometry ------------------------------------------------------------------------------------


def test_positions_map_to_the_pixels_the_encoder_reads():
    """What this proves: ``centers_px`` puts each source position where the encoder actually
    sees the image, including the resize scale (the original is twice the model's height) and
    the stride, on a randomly initialized encoder, so nothing here depends on training. A black
    bar at a known x changes the 'cnn' features most around the position that reads it; the
    response-weighted mean of ``centers_px`` must lie within one stride (8 original px) of the
    bar. A forgotten scale or a wrong stride would be off by about half the bar's x (tens to
    hundreds of pixels). (The true receptive-field centre of position t is at input x = 4t + 0.5
    because the stride-2 convs are left-aligned, 1.5 input px left of the drawn centre 4t + 2:
    under a stride, which is the tolerance the issue sets.)"""
    model = tiny_model(None, seed=0)
    transform = LineTransform(max_width=None)
    H, W = 64, 400  # model input 32 x 200: scale 2
    blank = np.full((H, W), 255, np.uint8)
    with torch.no_grad():
        ref = model.encoder(transform(blank)[None]).stages["cnn"][0]  # (P, d)
    for x in (20, 57, 130, 211, 300, 380):
        image = blank.copy()
        image[:, x : x + 4] = 0
        with torch.no_grad():
            feats = model.encoder(transform(image)[None]).stages["cnn"][0]  # (P, d)
        response = (feats - ref).norm(dim=1)  # (P,)
        scale = W / transform(image).shape[-1]
        centers = model.encoder.positions_to_pixels("cnn", response.shape[0]) * scale
        seen_at = float((response * centers).sum() / response.sum())
        assert abs(seen_at - (x + 2)) < 4 * scale, (x, seen_at)


def test_char_spans_in_source_cover_the_ctc_frames_at_any_stride():
    # CTC frames are 4 input px; a stride-2 source stage has two positions per frame
    qa = synthetic(
        torch.full((1, 1, 2, 20), 1 / 20), text="ab", spans=[(1, 1), (3, 5)], stride=2, scale=1.5
    )
    assert qa.char_spans_in_source() == [(2, 3), (6, 11)]
    edges = qa.edges_px
    for (f, e), (x0, x1) in zip(qa.char_spans_in_source(), qa.recognition.pixel_spans, strict=True):
        assert float(edges[f]) == pytest.approx(x0)  # same pixel columns exactly
        assert float(edges[e + 1]) == pytest.approx(x1)
    # a span that runs past the last real position is clipped to it
    clipped = synthetic(torch.full((1, 1, 1, 6), 1 / 6), text="x", spans=[(5, 7)])
    assert clipped.char_spans_in_source() == [(5, 5)]


def test_shipped_model_ctc_spans_and_positions_agree_with_the_rendered_characters():
    """What this proves, on the shipped model and a synthetic line whose character boxes the
    renderer reports exactly (document look, no geometric distortion): every recognized
    character's CTC span, mapped to original pixels, lies within one stride of that character's
    box, and so do the source positions that ``char_spans_in_source`` assigns to it. The line
    is rendered larger than the model's input (scale about 1.5) so a scale error would show."""
    model = OCRModel.from_pretrained(DEFAULT_CHECKPOINT)
    text = "Hello World 2026"
    # a pinned font (the font pool grows with the installed packages) set plainly: no kerning,
    # ligatures or widened word gaps, so the model reads it exactly
    plain = SynthConfig.preset("default", p_kerning=0.0, p_ligatures=0.0, p_word_spacing=0.0)
    rendered = Renderer(plain).render(
        text, seed=3, font="Liberation Sans Narrow Bold", look="document", degrade=False, size=56
    )
    assert not rendered.geometric
    qa = query_attention(model, rendered.image)
    assert qa.scale > 1.2
    assert qa.text == text  # the check needs the characters to correspond one to one
    tol = qa.stride * qa.scale  # one stride, in original pixels
    centers = qa.centers_px
    for i, ((x0, x1), (p0, p1), (f, e)) in enumerate(
        zip(rendered.char_boxes, qa.recognition.pixel_spans, qa.char_spans_in_source(), strict=True)
    ):
        mid = (p0 + p1) / 2
        assert x0 - tol <= mid <= x1 + tol, (i, text[i], (x0, x1), (p0, p1))
        source_mid = float(centers[f : e + 1].mean())
        assert x0 - tol <= source_mid <= x1 + tol, (i, text[i], (x0, x1), source_mid)


# -- aggregations --------------------------------------------------------------------------------


def test_aggregations(model, line):
    qa = query_attention(model, line)
    torch.testing.assert_close(qa.head(0, 1), qa.maps[0, 1])
    torch.testing.assert_close(qa.head(-1, -1), qa.maps[1, 1])
    torch.testing.assert_close(qa.mean_heads(0), qa.maps[0].mean(0))
    torch.testing.assert_close(qa.max_heads(), qa.maps[-1].amax(0))
    assert (qa.max_heads() >= qa.mean_heads() - 1e-7).all()
    torch.testing.assert_close(qa.layer_mean(1), qa.mean_heads(1))
    torch.testing.assert_close(qa.layer_mean(None), qa.maps.mean((0, 1)))
    torch.testing.assert_close(qa.layer_mean(None).sum(1), torch.ones(4))
    torch.testing.assert_close(qa.aggregate(0, "mean"), qa.mean_heads(0))
    torch.testing.assert_close(qa.aggregate(0, "max"), qa.max_heads(0))
    torch.testing.assert_close(qa.aggregate(0, 1), qa.head(0, 1))
    torch.testing.assert_close(qa.aggregate(0, "rollout"), qa.rollout())
    with pytest.raises(AttentionError, match=r"layer 2 is out of range.*2 cross-attention"):
        qa.mean_heads(2)
    with pytest.raises(AttentionError, match="head 5 is out of range"):
        qa.head(0, 5)
    with pytest.raises(AttentionError, match="unknown head aggregation 'median'"):
        qa.aggregate(0, "median")


def test_rollout_follows_its_definition():
    P = 6
    c0 = torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1.0]])  # (Q=2, P)
    c1 = torch.full((2, P), 1 / P)
    maps = torch.stack([c0, c1])[:, None]  # (L=2, H=1, Q, P)
    # identity self-attention: query q keeps its own state, so
    # after layer 0: image part 0.5 c0; after layer 1: 0.25 c0 + 0.5 c1 -> renormalized
    qa = synthetic(maps)
    torch.testing.assert_close(qa.rollout(), (0.25 * c0 + 0.5 * c1) / 0.75)
    # one layer: the rollout is that layer's cross-attention
    torch.testing.assert_close(synthetic(maps[:1]).rollout(), c0)
    # self-attention that swaps the queries carries query 1's reading into query 0
    swap = torch.tensor([[0.0, 1.0], [1.0, 0.0]])[None, None].expand(2, 1, 2, 2)
    mixed = synthetic(maps, swap).rollout()
    # norm(S + I) averages the two queries: layer 1 starts from the mean of 0.5 c0's rows
    expected = 0.5 * (0.5 * c0.mean(0, keepdim=True)).expand(2, P) + 0.5 * c1
    torch.testing.assert_close(mixed, expected / expected.sum(1, keepdim=True))


# -- queries and characters ------------------------------------------------------------------


def test_correspondence_and_summary():
    P = 8
    a = torch.zeros(3, P)
    a[0, 1] = 1.0  # query 0 reads position 1 only
    a[1, 5], a[1, 1] = 0.6, 0.4
    a[2] = 1 / P
    qa = synthetic(a[None, None], text="ab", spans=[(1, 1), (5, 6)])
    corr = qa.correspondence()
    torch.testing.assert_close(corr, torch.tensor([[1.0, 0.0], [0.4, 0.6], [1 / 8, 2 / 8]]))
    assert qa.summary() == [
        "char 0 'a' <- queries 0, 1 (1.00, 0.40)",
        "char 1 'b' <- queries 1, 2 (0.60, 0.25)",
    ]
    assert qa.summary(top=1) == ["char 0 'a' <- query 0 (1.00)", "char 1 'b' <- query 1 (0.60)"]
    # a character no query reads names no query (a ranking of zeros would be arbitrary)
    none = synthetic(a[:1][None, None], text="ab", spans=[(1, 1), (5, 6)])
    assert none.summary()[1] == "char 1 'b' <- no query (max mass 0.000)"
    # nothing recognized
    empty = synthetic(a[None, None])
    assert empty.correspondence().shape == (3, 0)
    assert empty.summary() == []


# -- statistics ------------------------------------------------------------------------------------


def test_stats_say_collapsed_specialized_or_mixed():
    P = 8
    same = torch.zeros(4, P)
    same[:, 3] = 1.0
    s = synthetic(same[None, None]).stats()
    assert s.verdict == "collapsed"
    assert s.mean_similarity == pytest.approx(1.0)
    assert "0.9" in s.reason and "collapsed" in s.reason

    distinct = torch.eye(P)[[0, 2, 4, 6]]  # each query on its own position
    s = synthetic(distinct[None, None]).stats()
    assert s.verdict == "specialized"
    torch.testing.assert_close(s.entropy, torch.zeros(4))
    torch.testing.assert_close(s.similarity, torch.eye(4))
    assert s.coverage == pytest.approx(4 / P)
    assert s.covered.tolist() == [True, False] * 4
    torch.testing.assert_close(s.peak_px, torch.tensor([2.0, 10.0, 18.0, 26.0]))

    broad = torch.zeros(2, P)  # distinct-ish but spread out: neither
    broad[0, :6], broad[1, 2:] = 1 / 6, 1 / 6
    s = synthetic(broad[None, None]).stats()
    assert s.verdict == "mixed"
    assert s.mean_similarity == pytest.approx(4 / 6)
    torch.testing.assert_close(s.entropy, torch.full((2,), math.log(6)))
    torch.testing.assert_close(s.entropy_norm, torch.full((2,), math.log(6) / math.log(8)))
    torch.testing.assert_close(s.centroid_px, torch.tensor([12.0, 20.0]))

    one = synthetic(distinct[:1][None, None]).stats()
    assert one.verdict == "mixed" and math.isnan(one.mean_similarity)
    single_position = synthetic(torch.ones(1, 1, 3, 1)).stats()
    torch.testing.assert_close(single_position.entropy_norm, torch.zeros(3))


# -- package -----------------------------------------------------------------------------------------


def test_package_imports_lazily_and_exports_every_name():
    import ocrlab.viz as viz

    assert sorted(viz.__all__) == sorted(viz._MODULE_OF)
    code = (
        "import sys; import ocrlab.viz as v; from ocrlab.viz import query_attention; "
        "assert 'plotly' not in sys.modules and 'captum' not in sys.modules, 'eager import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=ROOT)


def test_a_submodule_named_like_its_function_does_not_shadow_it():
    import ocrlab.viz as viz

    def model_figure(config):
        return "figure"

    module = types.ModuleType("ocrlab.viz.model_figure")
    module.model_figure = model_figure
    old = viz.__dict__.get("model_figure")  # not getattr: that would import the real one
    try:
        # what `import ocrlab.viz.model_figure` does to the package after loading the module
        viz.model_figure = module
        assert viz.model_figure is model_figure
    finally:
        if old is None:
            del viz.model_figure
        else:
            viz.model_figure = old


def test_bytes_that_are_not_an_image_name_the_problem(model):
    with pytest.raises(OcrlabError, match="image 0"):
        query_attention(model, b"not an image")


def test_char_coverage_counts_characters_that_hold_a_focused_query_peak():
    """3 characters over 6 positions (2 each); query 0 peaks on char 0, query 1 on char 2,
    query 2 is flat (its argmax is noise and must not count)."""
    P = 6
    maps = torch.full((1, 1, 3, P), 0.02)
    maps[0, 0, 0, 0] = 0.9  # char 0
    maps[0, 0, 1, 5] = 0.9  # char 2
    maps[0, 0, 2] = 1 / P  # flat
    maps[0, 0, 2, 2] += 1e-4  # an argmax on char 1, by a hair
    maps = maps / maps.sum(-1, keepdim=True)
    qa = synthetic(maps, text="abc", spans=[(0, 1), (2, 3), (4, 5)])
    assert qa.char_coverage() == pytest.approx(2 / 3)
    assert qa.char_coverage(peak=0.0) == pytest.approx(1.0)  # counting the flat one's argmax
    nothing = synthetic(maps, text="", spans=[])
    assert math.isnan(nothing.char_coverage())


def test_char_coverage_and_collapse_of_a_collapsed_map():
    """Every query on the first position: one character covered, cosine 1."""
    maps = torch.zeros(1, 2, 4, 8)
    maps[..., 0] = 1.0
    qa = synthetic(maps, text="abcd", spans=[(0, 1), (2, 3), (4, 5), (6, 7)])
    assert qa.char_coverage() == pytest.approx(0.25)
    assert qa.stats().mean_similarity == pytest.approx(1.0)
    assert qa.stats().verdict == "collapsed"


def test_character_reading_names_the_queries_layer_peak_and_spans():
    """Two layers, 3 queries over 8 positions, characters on positions 0-1, 2-4, 5-7. In layer
    1, query 2 puts 0.8 of its mass on character 0 with its peak at position 1."""
    maps = torch.full((2, 1, 3, 8), 1 / 8)
    maps[1, 0, 2] = torch.tensor([0.1, 0.7, 0.05, 0.05, 0.05, 0.05, 0.0, 0.0])
    maps[0, 0, 0] = torch.tensor([0.3, 0.0, 0.0, 0.0, 0.0, 0.7, 0.0, 0.0])
    qa = synthetic(maps, text="abc", spans=[(0, 1), (2, 4), (5, 7)], scale=2.0)
    c = qa.character(0, glyph_box=(5.0, 14.0))
    assert (c.index, c.char, c.layer) == (0, "a", 1)
    assert c.queries[0] == 2 and c.mass[0] == pytest.approx(0.8)
    assert c.by_layer[0] == (0, pytest.approx(0.3)) and c.by_layer[1][0] == 2
    assert c.peak_px == pytest.approx((1 + 0.5) * 4 * 2.0)  # position 1's centre, original px
    assert c.sharpness == pytest.approx(0.7 * 8)
    assert c.ctc_span_px == (0.0, 16.0) and c.ctc_first_frame == 0
    assert c.peak_in_ctc_span and c.peak_in_glyph  # 12 px lies in [5, 14)
    assert not qa.character(0, glyph_box=(14.0, 30.0)).peak_in_glyph
    assert qa.character(-1).char == "c" and qa.character(0).peak_in_glyph is None
    assert "queries 2 (0.80)" in str(c)
    with pytest.raises(AttentionError, match="character 3 is out of range"):
        qa.character(3)
