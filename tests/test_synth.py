"""Fonts and the synthetic line renderer (ocrlab.data.fonts, ocrlab.data.synth)."""

from __future__ import annotations

import math
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
from ocrlab.data.textures import SURFACES, natural_textures
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
        ("p_low_contrast", "contrast"),
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
        if not ch.isspace():  # (a light face's "i" is a 3 px stem in a 6 px advance)
            assert cols[x0:x1].mean() >= 0.4, (ch, x0, x1)
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
        slack = 0.1 * size + 3  # + the faint anti-aliased edge of a light oblique face
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


# ------------------------------------------------------------ effects closer to real scenes

_PLAIN = {  # clean preset, every stylistic scene effect off, so one effect shows alone
    "p_outline": 0.0,
    "p_shadow": 0.0,
    "p_emboss": 0.0,
    "p_fill_gradient": 0.0,
    "p_bold": 0.0,
    "p_condensed": 0.0,
    "p_spacing": 0.0,
    "p_kerning": 0.0,
    "p_ligatures": 0.0,
    "p_word_spacing": 0.0,
    "p_curve": 0.0,
}


def _plain(**overrides: object) -> Renderer:
    return Renderer(SynthConfig.preset("clean", **{**_PLAIN, **overrides}))


def _components(ink: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a boolean mask, each an (k, 2) array of (y, x)."""
    seen = np.zeros_like(ink)
    out = []
    for y0, x0 in zip(*np.nonzero(ink), strict=True):
        if seen[y0, x0]:
            continue
        stack, pix = [(y0, x0)], []
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            pix.append((y, x))
            for v, u in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= v < ink.shape[0] and 0 <= u < ink.shape[1] and ink[v, u] and not seen[v, u]:
                    seen[v, u] = True
                    stack.append((v, u))
        out.append(np.asarray(pix, np.float64))
    return out


def test_curved_word_glyph_centres_lie_on_an_arc() -> None:
    """Nine identical glyphs on a curve: their ink centroids, measured from the pixels, lie on
    one circle around the centre the renderer reports, evenly spaced along it, and each char
    box is centred on its glyph."""
    text = "I" * 9
    r = _plain(p_scene=1.0, p_curve=1.0, curve_deg=(70.0, 70.0))
    signs = set()
    for seed in range(6):
        res = r.render(
            text, seed, font="DejaVu Sans", size=40, spacing=0.5, crop="word", background="flat"
        )
        assert res.geometric and "curve" in res.params
        curve = res.params["curve"]
        lum = _luma(res.image)
        ink = np.abs(lum - np.median(lum)) > 0.5 * abs(_lum_of(res.params["fill"]) - np.median(lum))
        blobs = [b for b in _components(ink) if len(b) > 20]
        assert len(blobs) == len(text)
        cy, cx = np.array([b.mean(0) for b in blobs]).T
        order = np.argsort(cx)
        cx, cy = cx[order], cy[order]
        ox, oy = curve["centre"]
        dist = np.hypot(cx - ox, cy - oy)
        assert dist.std() < 1.0, dist  # one circle, concentric with the mid-line's
        assert abs(dist.mean() - curve["radius"]) < 0.5 * 40  # a glyph centre is near mid-line
        ang = np.arctan2(cx - ox, np.abs(cy - oy))
        steps = np.diff(ang)
        assert np.all(steps > 0) and steps.std() < 0.1 * steps.mean()  # evenly spaced
        signs.add(np.sign(oy - cy.mean()))  # centre below (arched) or above (sagging)
        box_mid = np.array([(a + b) / 2 for a, b in res.char_boxes])
        assert np.abs(box_mid - cx).max() < 2.5
        _check_boxes(res)
    assert signs == {-1.0, 1.0}


def _lum_of(rgb: tuple[int, int, int]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def test_straight_text_is_not_curved() -> None:
    res = _plain(p_scene=1.0).render("Straight", 0, crop="word")
    assert "curve" not in res.params and not res.geometric


def test_long_curved_lines_bow_at_most_curve_max_sag() -> None:
    r = _plain(p_scene=1.0, p_curve=1.0, curve_deg=(120.0, 120.0), curve_max_sag=1.0)
    res = r.render("a long line of scene text along a gentle arc", 1, size=30, crop="line")
    curve = res.params["curve"]
    radius, angle = curve["radius"], math.radians(abs(curve["angle_deg"]))
    assert radius * (1 - math.cos(angle / 2)) <= 1.05 * 30  # the sag, in px
    assert res.image.height < 4 * 30


def test_natural_textures_are_deterministic_and_varied() -> None:
    a = natural_textures(3, 64, 256)
    assert len(a) == 2 * len(SURFACES)
    assert all(t.shape == (64, 256, 3) and t.dtype == np.uint8 for t in a)
    b = natural_textures(3, 64, 256)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], natural_textures(4, 64, 256)[0])
    for tex in a:  # structure at several scales, not flat colour or white noise
        lum = tex.astype(np.float32).mean(2)
        assert lum.std() > 4
        lum -= lum.mean()
        # neighbouring pixels correlate, as in photographs (white noise would give 0)
        assert (lum[:, 1:] * lum[:, :-1]).mean() / lum.var() > 0.4
    means = np.array([t.reshape(-1, 3).mean(0) for t in a])
    assert np.ptp(means, axis=0).max() > 60  # surfaces differ in colour


def test_texture_background_is_drawn_from_the_natural_bank() -> None:
    r = _plain(p_scene=1.0, scene_backgrounds={"texture": 1.0})
    res = r.render("Brick wall", 4, crop="line")
    assert res.params["background"] == "texture"
    lum = _luma(res.image)
    assert lum.std() > 10


def test_low_contrast_shrinks_the_range_by_its_factor() -> None:
    r = _plain(p_scene=0.0)
    clean = r.render("Faded print", 2, crop="line", background="flat")
    deg = replace(NO_DEGRADE, p_low_contrast=1.0, contrast_range=(0.4, 0.4))
    faded = r.render("Faded print", 2, crop="line", background="flat", degrade=deg)
    assert "contrast=0.40" in faded.params["degradations"]
    spread = lambda x: np.percentile(x, 99.5) - np.percentile(x, 0.5)  # noqa: E731
    ratio = spread(_luma(faded.image)) / spread(_luma(clean.image))
    assert 0.35 < ratio < 0.45


def test_lowres_jpeg_compresses_the_small_image() -> None:
    r = _plain(p_scene=1.0)
    small = replace(NO_DEGRADE, p_lowres=1.0, lowres_scale=(0.5, 0.5))
    plain = r.render("Shop sign", 3, size=36, degrade=small)
    jpeg = r.render(
        "Shop sign", 3, size=36, degrade=replace(small, p_lowres_jpeg=1.0, jpeg_quality=(15, 15))
    )
    assert "lowres_jpeg=15" in jpeg.params["degradations"]
    assert plain.image.size == jpeg.image.size
    assert np.abs(_luma(plain.image) - _luma(jpeg.image)).mean() > 0.5
    # never below a 9 px em, however small lowres_scale is
    tiny = r.render("Shop sign", 3, size=24, degrade=replace(small, lowres_scale=(0.1, 0.1)))
    assert "lowres=0.38" in tiny.params["degradations"]


def test_kerning_moves_letters_by_the_fonts_own_pair_values(dejavu: Font) -> None:
    from PIL import ImageFont

    text, size = "AVAVAV To Wa", 40
    off = _plain().render(text, 1, font=dejavu, size=size, crop="line", background="flat")
    on = _plain(p_kerning=1.0).render(
        text, 1, font=dejavu, size=size, crop="line", background="flat"
    )
    assert on.params["kerning"] and not off.params["kerning"]
    width = lambda r: r.char_boxes[-1][1] - r.char_boxes[0][0]  # noqa: E731
    shaped = ImageFont.truetype(str(dejavu.path), size, layout_engine=ImageFont.Layout.RAQM)
    expected = shaped.getlength(text, features=["-kern"]) - shaped.getlength(text)
    assert expected > 5  # DejaVu kerns A-V and T-o
    assert abs((width(off) - width(on)) - expected) <= 2
    _check_boxes(on)


def test_ligatures_draw_the_fonts_ligature_glyphs_and_keep_the_label(dejavu: Font) -> None:
    text = "office fluffy waffle"
    drawn = "o\ufb03ce \ufb02u\ufb00y wa\ufb04e"  # what a typesetter puts on the page
    kw = {"font": dejavu, "size": 34, "crop": "line", "background": "flat", "spacing": 0.0}
    lig = _plain(p_ligatures=1.0).render(text, 5, **kw)
    ref = _plain().render(drawn, 5, **kw)
    plain = _plain().render(text, 5, **kw)
    assert lig.text == text and lig.params["ligatures"]
    assert lig.image.tobytes() == ref.image.tobytes()
    assert lig.image.tobytes() != plain.image.tobytes()
    assert len(lig.char_boxes) == len(text)
    _check_boxes(lig)
    # letter-spaced text is set without ligatures, as typesetters do
    spaced = _plain(p_ligatures=1.0).render(text, 5, **{**kw, "spacing": 0.1})
    assert not spaced.params["ligatures"]


def test_word_spacing_widens_only_the_gaps(dejavu: Font) -> None:
    text = "one two three"
    kw = {"font": dejavu, "size": 30, "crop": "line", "background": "flat"}
    a = _plain().render(text, 7, **kw)
    b = _plain(p_word_spacing=1.0, word_spacing_range=(2.5, 2.5)).render(text, 7, **kw)
    assert b.params["word_space"] == 2.5
    for ch, (x0, x1), (y0, y1) in zip(text, a.char_boxes, b.char_boxes, strict=True):
        if ch == " ":
            assert abs((y1 - y0) - 2.5 * (x1 - x0)) <= 1.5
        else:
            assert abs((y1 - y0) - (x1 - x0)) <= 1


def _caps_font(dejavu: Font, path: Path) -> Path:
    """DejaVu Sans with a..z mapped to the capitals' glyphs: an all-caps face."""
    from fontTools.ttLib import TTFont

    tt = TTFont(str(dejavu.path))
    for table in tt["cmap"].tables:
        if table.isUnicode():
            for cp in range(ord("a"), ord("z") + 1):
                table.cmap[cp] = table.cmap[cp - 32]
    tt["name"].setName("Capsy", 1, 3, 1, 0x409)
    tt["name"].setName("Capsy", 16, 3, 1, 0x409)
    tt.save(str(path))
    return path


def test_caps_faces_render_no_lowercase(dejavu: Font, tmp_path: Path) -> None:
    caps = font_from_file(_caps_font(dejavu, tmp_path / "Capsy.ttf"))
    assert "caps" in caps.tags and "caps" not in dejavu.tags
    assert caps.supports("EXIT 24") and not caps.supports("Exit")
    assert caps.missing("Exit") == ["i", "t", "x"]
    r = Renderer(SynthConfig.preset("clean"), fonts=[dejavu, caps])
    assert {r.render("Exit", s).font.family for s in range(12)} == {"DejaVu Sans"}
    assert "Capsy" in {r.render("EXIT", s).font.family for s in range(12)}
    with pytest.raises(DataError, match="no glyph"):
        r.render("Exit", 0, font=caps)


def test_handwriting_faces_are_tagged_and_rare_in_print() -> None:
    fonts = find_fonts()
    by_family = {f.family: f for f in fonts}
    assert "handwriting" in by_family["Z003"].tags  # URW's chancery, in fonts-urw-base35
    assert "handwriting" not in by_family["DejaVu Sans"].tags
    r = Renderer(SynthConfig.preset("clean"), fonts=fonts)
    from ocrlab.data.synth.paint import Draws

    d = Draws(np.random.default_rng(0))
    doc = [r.pick_font("Handwriting", "document", d) for _ in range(400)]
    scene = [r.pick_font("Handwriting", "scene", d) for _ in range(400)]
    share = lambda picks: np.mean(["handwriting" in f.tags for f in picks])  # noqa: E731
    assert share(doc) < 0.03 < share(scene)


def test_a_line_wider_than_the_texture_banks_gets_noise() -> None:
    """A rendered line wider than the banks (1536 px) with sensor noise crashed: the float noise
    bank was stretched through PIL, which holds no 3-channel float image (a training run died on
    such a line at step 3956). The noise is now mirror-tiled to the width."""
    noisy = replace(Degradations.preset("none"), p_noise=1.0, noise_sigma=(8.0, 8.0))
    text = "a very long line of text that renders far wider than the texture banks " * 2
    out = Renderer(SynthConfig.preset("default")).render(text, seed=3, degrade=noisy)
    assert out.image.width > 1536
    plain = Renderer(SynthConfig.preset("default")).render(
        text, seed=3, degrade=Degradations.preset("none")
    )
    diff = np.asarray(out.image, np.float32) - np.asarray(plain.image, np.float32)
    assert out.image.size == plain.image.size and diff[:, 1536:].std() > 2  # noise past the bank
