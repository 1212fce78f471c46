"""Fonts and the synthetic line renderer (ocrlab.data.fonts, ocrlab.data.synth)."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocrlab.data.fonts import Font, find_fonts, font_from_file
from ocrlab.data.synth import (
    BACKGROUNDS,
    Degradations,
    Renderer,
    RenderResult,
    SynthConfig,
    SyntheticSource,
    render_line,
    synth_sample,
)
from ocrlab.errors import DataError

NO_DEGRADE = Degradations.preset("none")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(SynthConfig.preset("default"))


@pytest.fixture(scope="module")
def dejavu() -> Font:
    fonts = [f for f in find_fonts() if f.family == "DejaVu Sans" and f.style == "Book"]
    assert fonts, "matplotlib ships DejaVu Sans"
    return fonts[0]


def _only(**ps: float) -> Degradations:
    return replace(NO_DEGRADE, **ps)


def _luma(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), np.float32)


# ---------------------------------------------------------------------------------- fonts


def test_find_fonts_sorted_cached_and_has_dejavu() -> None:
    fonts = find_fonts()
    assert fonts == find_fonts()
    keys = [(f.family, f.style, str(f.path)) for f in fonts]
    assert keys == sorted(keys)
    assert any(f.family == "DejaVu Sans" for f in fonts)
    names = " ".join(f"{f.name} {f.path.name}".lower() for f in fonts)
    for bad in ("symbol", "dingbat", "emoji", "cmex10", "cmsy10", "lastresort"):
        assert bad not in names


def test_supports_detects_tofu_and_accents(dejavu: Font) -> None:
    assert dejavu.supports("café naïve Ångström Œuvre ß ñ ü")
    assert not dejavu.supports("日本語")
    assert dejavu.missing("a日本b") == sorted(["日", "本"])
    assert dejavu.supports("   ")  # whitespace needs no glyph


def test_font_tags(dejavu: Font) -> None:
    assert "sans" in dejavu.tags
    by_name = {f.name: f for f in find_fonts()}
    assert "mono" in by_name["DejaVu Sans Mono Book"].tags
    assert {"bold", "italic"} <= by_name["DejaVu Serif Bold Italic"].tags
    assert "condensed" in by_name["DejaVu Sans Condensed"].tags


def test_unreadable_font_files_are_skipped_or_named(tmp_path: Path) -> None:
    bogus = tmp_path / "Broken-Regular.ttf"
    bogus.write_bytes(b"not a font at all")
    fonts = find_fonts(extra_dirs=[tmp_path], include_system=False)
    assert all(f.path != bogus.resolve() for f in fonts)
    with pytest.raises(DataError, match=r"Broken-Regular\.ttf"):
        font_from_file(bogus)
    with pytest.raises(DataError, match="does not exist"):
        font_from_file(tmp_path / "missing.ttf")


# ---------------------------------------------------------------------------------- render


def test_same_seed_same_pixels_different_seed_differs(renderer: Renderer) -> None:
    a = renderer.render("Determinism 123", seed=[3, 4])
    b = renderer.render("Determinism 123", seed=[3, 4])
    c = renderer.render("Determinism 123", seed=[3, 5])
    assert a.image.tobytes() == b.image.tobytes() and a.params == b.params
    assert a.image.tobytes() != c.image.tobytes()
    # a fresh renderer (fresh caches) gives the same pixels too
    d = Renderer(SynthConfig.preset("default")).render("Determinism 123", seed=[3, 4])
    assert d.image.tobytes() == a.image.tobytes()


@pytest.mark.parametrize("look", ["document", "scene"])
@pytest.mark.parametrize("background", BACKGROUNDS)
def test_every_background_renders_rgb_with_contrast(
    renderer: Renderer, look: str, background: str
) -> None:
    r = renderer.render("Background 42", seed=1, look=look, background=background, degrade=False)
    assert isinstance(r, RenderResult)
    assert r.image.mode == "RGB" and r.image.width > 0 and r.image.height > 0
    assert r.look == look and r.params["background"] == background
    lum = _luma(r.image)
    assert lum.max() - lum.min() > 40


def test_scene_effects_all_on() -> None:
    cfg = SynthConfig.preset(
        "clean",
        p_scene=1.0,
        p_outline=1.0,
        p_shadow=1.0,
        p_emboss=1.0,
        p_fill_gradient=1.0,
        p_bold=1.0,
        p_condensed=1.0,
    )
    r = Renderer(cfg).render("Effects", seed=2)
    p = r.params
    assert r.look == "scene"
    assert p["outline"] >= 1 and p["shadow"] is not None and p["emboss"] and p["fill_gradient"]
    assert p["bold"] >= 1 and p["squeeze"] < 1.0
    assert _luma(r.image).std() > 10


@pytest.mark.parametrize(
    ("prob", "tag"),
    [
        ("p_blur", "blur"),
        ("p_noise", "noise"),
        ("p_jpeg", "jpeg"),
        ("p_lowres", "lowres"),
        ("p_lines", "lines"),
        ("p_occlusion", "occlusion"),
        ("p_rotate", None),
        ("p_shear", None),
        ("p_perspective", None),
    ],
)
@pytest.mark.parametrize("look", ["document", "scene"])
def test_each_degradation_path_runs(
    renderer: Renderer, prob: str, tag: str | None, look: str
) -> None:
    text = "Degrade me 0.5"
    r = renderer.render(text, seed=5, look=look, degrade=_only(**{prob: 1.0}))
    clean = renderer.render(text, seed=5, look=look, degrade=_only())
    assert r.image.mode == "RGB" and r.image.width > 4 and r.image.height > 4
    assert len(r.char_boxes) == len(text)
    if tag is None:  # rotation, shear, perspective: the canvas itself changes shape
        assert r.geometric
        assert r.image.size != clean.image.size
        return
    assert not r.geometric
    assert any(d.startswith(tag) for d in r.params["degradations"])
    # the pixels, not just the log: same canvas, different image
    a, b = _luma(r.image), _luma(clean.image)
    assert a.shape == b.shape and np.abs(a - b).mean() > 0.05
    # horizontal detail: blur and low resolution remove it, noise adds it
    detail = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    if tag in ("blur", "lowres"):
        assert detail(a) < 0.9 * detail(b)
    if tag == "noise":
        assert detail(a) > 1.05 * detail(b)


def test_degraded_preset_is_heavier_than_clean() -> None:
    clean, heavy = Degradations.preset("none"), Degradations.preset("degraded")
    for f in fields(Degradations):
        if f.name.startswith("p_"):
            assert getattr(clean, f.name) == 0.0
            assert getattr(heavy, f.name) >= getattr(Degradations(), f.name)
    with pytest.raises(ValueError, match="unknown"):
        SynthConfig.preset("nope")


def _check_boxes(r: RenderResult) -> None:
    w = r.image.width
    assert len(r.char_boxes) == len(r.text)
    prev = 0
    for x0, x1 in r.char_boxes:
        assert 0 <= x0 <= x1 <= w
        assert x0 >= prev
        prev = x0


def test_char_boxes_monotonic_inside_and_exact(renderer: Renderer) -> None:
    for seed in range(40):
        _check_boxes(renderer.render("Boxes, boxes: 1234 WW", seed=seed))
    text = "Hi WIDE mm"
    r = renderer.render(
        text, seed=0, look="document", crop="line", background="flat", degrade=False
    )
    assert not r.geometric
    _check_boxes(r)
    dark = _luma(r.image) < 128
    cols = dark.any(0)
    for ch, (x0, x1) in zip(text, r.char_boxes, strict=True):
        if not ch.isspace():
            assert cols[x0:x1].mean() > 0.5, (ch, x0, x1)
    # nearly all ink lies inside the boxes (side bearings may overhang a pixel or two)
    first, last = r.char_boxes[0][0], r.char_boxes[-1][1]
    assert cols[: max(0, first - 3)].sum() == 0 and cols[last + 3 :].sum() == 0


def test_geometric_boxes_are_approximate_but_valid(renderer: Renderer) -> None:
    r = renderer.render("Rotated text here", seed=3, degrade=_only(p_rotate=1.0, p_perspective=1.0))
    assert r.geometric
    _check_boxes(r)


def test_word_crop_is_tight(renderer: Renderer) -> None:
    for seed in range(6):
        r = renderer.render(
            "Tight", seed=seed, look="document", crop="word", background="flat", degrade=False
        )
        dark = _luma(r.image) < 160
        ys, xs = np.nonzero(dark)
        h, w = dark.shape
        size = r.params["size"]
        slack = 0.1 * size + 2
        assert xs.min() <= slack and w - 1 - xs.max() <= slack
        assert ys.min() <= slack and h - 1 - ys.max() <= slack


def test_line_crop_has_room_around_text(renderer: Renderer) -> None:
    r = renderer.render(
        "xxxx", seed=0, look="document", crop="line", background="flat", degrade=False
    )
    dark = _luma(r.image) < 160
    ys, _ = np.nonzero(dark)
    # the line box reaches the ascender and descender lines, above and below the x-height
    assert ys.min() > 2 and r.image.height - 1 - ys.max() > 2


def test_pinning_keywords(renderer: Renderer, dejavu: Font) -> None:
    r = renderer.render("Pinned", seed=9, font="DejaVu Sans", size=30, spacing=0.1, look="scene")
    assert r.font == dejavu and r.params["size"] == 30 and r.look == "scene"
    r2 = renderer.render("Pinned", seed=9, font=str(dejavu.path))
    assert r2.font.path == dejavu.path
    with pytest.raises(DataError, match="no font named"):
        renderer.render("x", font="No Such Family")
    with pytest.raises(ValueError, match="look"):
        renderer.render("x", look="watercolour")


def test_bad_text_is_named(renderer: Renderer) -> None:
    with pytest.raises(DataError, match="empty"):
        renderer.render("   ")
    with pytest.raises(DataError, match="U\\+0009"):
        renderer.render("tab\there")


def test_text_no_font_can_render_raises(dejavu: Font) -> None:
    latin_only = Renderer(fonts=[dejavu])
    with pytest.raises(DataError, match="U\\+65E5"):
        latin_only.render("日本語 text", seed=0)
    with pytest.raises(DataError, match="no glyph"):
        Renderer().render("日本", seed=0, font=dejavu)


@pytest.mark.needs_cjk_font
def test_japanese_renders_with_cjk_font(renderer: Renderer) -> None:
    text = "日本語のテキスト、東京駅 12:30"
    for seed in range(4):
        r = renderer.render(text, seed=seed)
        assert "cjk" in r.font.tags and r.font.supports(text)
        _check_boxes(r)


def test_render_line_convenience() -> None:
    img = render_line("Hello world", seed=1, look="document", degrade=False)
    assert img.mode == "RGB" and img.width > img.height
    assert (
        render_line("Hello world", seed=1).tobytes() == render_line("Hello world", seed=1).tobytes()
    )


class _Words:
    def sample(self, index: int) -> str:
        return ["alpha", "beta", "gamma"][index % 3]


def test_synth_sample_is_a_pure_function_of_index_and_seed(renderer: Renderer) -> None:
    a = synth_sample(4, 7, _Words(), renderer)
    b = synth_sample(4, 7, lambda i: ["alpha", "beta", "gamma"][i % 3], renderer)
    assert a.text == "beta" and a.image.tobytes() == b.image.tobytes()
    assert synth_sample(4, 8, _Words(), renderer).image.tobytes() != a.image.tobytes()
    src = SyntheticSource(_Words(), renderer, seed=7)
    assert src[4].image.tobytes() == a.image.tobytes()


def test_config_accepts_yaml_lists_and_rejects_bad_values() -> None:
    cfg = SynthConfig(size_range=[20, 30], degrade={"p_blur": 1.0, "blur_sigma": [0.5, 0.6]})
    assert cfg.size_range == (20, 30) and cfg.degrade.blur_sigma == (0.5, 0.6)
    with pytest.raises(ValueError, match="crop"):
        SynthConfig(crop="page")
    with pytest.raises(ValueError, match="backgrounds"):
        SynthConfig(doc_backgrounds={"marble": 1.0})
    with pytest.raises(DataError, match="no fonts left"):
        Renderer(SynthConfig(font_filter=("mono", "!mono")))


def test_font_filter_keeps_tagged_fonts() -> None:
    r = Renderer(SynthConfig(font_filter=("mono",)))
    assert all("mono" in f.tags for f in r.fonts)
    assert "mono" in r.render("code = 1", seed=0).font.tags
