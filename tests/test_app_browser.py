"""The seminar demo in a real browser: Playwright driving Debian's Chromium (never a downloaded
browser; see DEVELOPERS.md). Type a line and see it read with its attention plot, pick an example,
draw a word, and upload bad files: each gets its message and the next upload is read.

Screenshots go to ``tmp_path`` and, when ``OCRLAB_ARTIFACTS`` is set, are copied there (CI keeps
them as artifacts).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from playwright import sync_api as playwright
from test_app import READ_TEXT, served_app

from ocrlab import demo_app

pytestmark = [
    pytest.mark.needs_chromium,
    # gradio's queue statistics use pandas options that pandas 3 deprecates (not ours to fix)
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1600, "height": 1000}  # a 1080p projector with the browser's chrome
TIMEOUT_MS = 30_000  # a busy 2-core CI runner reads a line in well under a second

playwright.expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def served(request):
    return served_app(request)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, served):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(served.url)
    # the page reads its default line on load: wait for it, so every test starts settled
    playwright.expect(page.locator("#chars .text").first).to_be_visible()
    yield page
    page.close()


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    artifacts = os.environ.get("OCRLAB_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / name)
    return path


def reading(page) -> str:
    """The CTC text as the page shows it (the highlighted runs joined)."""
    return "".join(page.locator("#chars .text").all_text_contents())


def wait_for_reading(page, text: str) -> None:
    try:
        page.wait_for_function(
            """text => [...document.querySelectorAll('#chars .text')]
                       .map(e => e.textContent).join('') === text""",
            arg=text,
        )
    except playwright.TimeoutError:
        pytest.fail(f"the page shows {reading(page)!r}, not {text!r}")


def test_typed_text_is_read_with_its_attention_plot(page, tmp_path):
    page.locator("#type-text textarea").fill(READ_TEXT)
    wait_for_reading(page, READ_TEXT)
    expect = playwright.expect
    expect(page.locator("#attention-plot .js-plotly-plot")).to_be_visible()
    expect(page.locator("#attention-plot")).to_contain_text("query 0")
    for stage in ("preprocess", "encoder + CTC", "decode", "attention", "LM generate"):
        expect(page.locator("#stats")).to_contain_text(stage)
    expect(page.locator("#attention-summary")).to_contain_text("queries (layer")
    expect(page.locator("#message")).to_have_count(0)  # no error box
    shot = save_screenshot(page, tmp_path, "app_type_text.png")
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one

    page.get_by_role("tab", name="Query ↔ character").click()
    expect(page.locator("#correspondence-plot .js-plotly-plot")).to_be_visible()
    page.get_by_role("tab", name="Attribution").click()
    page.locator("input[value=saliency]").check()  # the quickest method
    page.get_by_role("button", name="Explain this character").click()
    expect(page.locator("#attribution-plot .js-plotly-plot")).to_be_visible()
    expect(page.locator("#attribution-plot")).to_contain_text("'S'")  # the first character
    save_screenshot(page, tmp_path, "app_attribution.png")


def test_the_lm_reading_is_smaller_than_the_ctc_text_and_says_how_good_it_is(page):
    """The LM-decoding path is a probe of the Q-Former: it must not look like the answer."""
    size = "el => parseFloat(getComputedStyle(el).fontSize)"
    ctc = page.locator("#chars .text").first.evaluate(size)
    lm = page.locator("#lm-text textarea").evaluate(size)
    assert lm < 0.75 * ctc, (lm, ctc)
    info = page.locator("#lm-text").inner_text()
    assert "measured:" in info or "not measured" in info


def test_choosing_the_beam_decoder_reads_the_line_again(page):
    stats = page.locator("#stats").inner_text()
    page.get_by_label("beam + word LM").check()
    # a new reading: its stage times replace the old ones
    page.wait_for_function("old => document.querySelector('#stats').innerText !== old", arg=stats)
    assert reading(page)
    playwright.expect(page.locator("#message")).to_have_count(0)


def test_bad_uploads_get_their_message_and_the_next_upload_is_read(page, tmp_path):
    good = tmp_path / "seminar.png"
    demo_app.typed_line(READ_TEXT, font="DejaVu Sans", preset="clean", seed=0).save(good)
    bad = tmp_path / "notes.png"
    bad.write_text("a text file with an image's name")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:200])
    expect = playwright.expect

    page.get_by_role("tab", name="Upload / paste").click()
    upload = page.locator("#upload")
    for path, message in [
        (bad, "notes.png: not an image file"),
        (truncated, "cut.png: truncated or corrupt image"),
    ]:
        if upload.get_by_label("Remove Image").count():
            upload.get_by_label("Remove Image").click()
        upload.locator("input[type=file]").set_input_files(str(path))
        expect(page.locator("#message")).to_contain_text(message)
        expect(page.locator("#chars .text")).to_have_count(0)  # no stale reading beside it
    save_screenshot(page, tmp_path, "app_bad_upload.png")

    upload.get_by_label("Remove Image").click()
    upload.locator("input[type=file]").set_input_files(str(good))
    wait_for_reading(page, READ_TEXT)
    expect(page.locator("#message")).to_have_count(0)


def test_an_example_line_and_a_drawing_are_read(page):
    expect = playwright.expect
    page.get_by_role("tab", name="Upload / paste").click()
    page.locator("#examples .thumbnail-item").first.click()  # "Research toolkit", clean
    wait_for_reading(page, "Research toolkit")

    page.get_by_role("tab", name="Draw").click()
    # Gradio's sketchpad starts with no tool selected: pick the brush, as a presenter would
    page.locator("#sketch").get_by_role("button", name=re.compile("brush|draw", re.I)).first.click()
    canvas = page.locator("#sketch canvas").first
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
    page.mouse.move(x0, y0 - 40)  # an "l"
    page.mouse.down()
    page.mouse.move(x0, y0 + 40, steps=8)
    page.mouse.up()
    page.mouse.move(x0 + 40, y0 - 40)  # and another
    page.mouse.down()
    page.mouse.move(x0 + 40, y0 + 40, steps=8)
    page.mouse.up()
    # the drawing is read: the line view shows the crop around the strokes, and no error
    page.wait_for_function(
        """() => [...document.querySelectorAll('#chars .text')]
                   .map(e => e.textContent).join('') !== 'Research toolkit'"""
    )
    expect(page.locator("#message")).to_have_count(0)


LONG_LINE = "The quick brown fox jumps over the lazy dog by the river bank 12345"
PLOT = "#attention-plot .js-plotly-plot"


def test_all_queries_at_once_is_one_compact_legible_figure(page, tmp_path):
    """It used to be one strip per query: 16-32 strips in a ~2,400 px figure, 11 px titles."""
    page.get_by_label("all queries at once").check()
    playwright.expect(page.locator("#attention-plot")).to_contain_text("All 32 queries")
    height = page.locator(PLOT).bounding_box()["height"]
    assert height <= 1000, height
    sizes = page.locator(f"{PLOT} .ytick text, {PLOT} .annotation-text").evaluate_all(
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))"
    )
    assert sizes and min(sizes) >= 13, sizes
    save_screenshot(page, tmp_path, "app_all_queries.png")


def test_a_long_line_keeps_its_aspect_and_its_letters_sit_on_their_glyphs(page, tmp_path):
    """Long lines were stretched vertically, with 10 px letters at their CTC spikes (the first
    one at x=0): the line keeps its shape, and each legible letter stands over its ink."""
    page.locator("#type-text textarea").fill(LONG_LINE)
    page.wait_for_function(
        "() => document.querySelector('#stats').innerText.includes('characters')"
        " && document.querySelector('#attention-plot')?.innerText.includes('quick')"
    )
    image = demo_app.typed_line(LONG_LINE, font="DejaVu Serif", preset="clean", seed=0)
    got = page.locator(PLOT).evaluate(
        """gd => {
          const im = gd.querySelector('.layer-below image, image');
          const box = im.getBoundingClientRect();
          const xa = gd._fullLayout.xaxis2, left = gd.getBoundingClientRect().left;
          const notes = [...gd.querySelectorAll('.annotation')].map(a => {
            const r = a.getBoundingClientRect(), t = a.querySelector('.annotation-text');
            return {text: t.textContent, x: xa.p2l(r.left + r.width / 2 - left - xa._offset),
                    size: parseFloat(getComputedStyle(t).fontSize)};
          });
          return {w: box.width, h: box.height, notes: notes};
        }"""
    )
    W, H = image.size
    assert got["w"] / got["h"] == pytest.approx(W / H, rel=0.03)
    letters = [n for n in got["notes"] if n["text"] not in ("␣", "")]
    assert len(letters) >= 0.9 * len(LONG_LINE.replace(" ", ""))
    assert min(n["size"] for n in letters) >= 13
    ink = (np.asarray(image.convert("L")) < 128).any(axis=0)
    for n in letters:  # over ink: at most a stroke's width beside it
        x = round(n["x"])
        assert ink[max(0, x - 3) : x + 4].any(), (n, W)
    save_screenshot(page, tmp_path, "app_long_line.png")


def test_layer_and_head_have_one_control_each(page):
    """The Gradio slider and dropdown choose layer and head; the plot has no menu of its own."""
    playwright.expect(page.locator(PLOT)).to_be_visible()
    assert page.locator(f"{PLOT} .updatemenu-container").count() == 0
    assert page.get_by_label("layer").count() >= 1 and page.get_by_label("head").count() == 1
    playwright.expect(page.locator("#attention-plot")).to_contain_text("mean over heads")


def test_errors_raise_no_toasts_over_the_checkpoint_menu(page, tmp_path):
    """Each failed reading used to leave a warning toast in the top right, over the checkpoint
    menu; the message box says it, and the menu stays clickable."""
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    page.get_by_role("tab", name="Upload / paste").click()
    upload = page.locator("#upload")
    for _ in range(3):
        if upload.get_by_label("Remove Image").count():
            upload.get_by_label("Remove Image").click()
        upload.locator("input[type=file]").set_input_files(str(bad))
        playwright.expect(page.locator("#message")).to_contain_text("notes.png: not an image")
    page.wait_for_timeout(500)
    assert page.locator(".toast-body").count() == 0
    menu = page.locator("#checkpoint")
    box = menu.bounding_box()
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('#checkpoint') !== null",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_plot_fills_its_panel_and_the_header_has_no_gap(browser, served, size):
    """The attention figure had a fixed 1300 px width: cut off at 1280x800, a quarter of its
    panel empty at 1920x1080. The header's two controls shared one form whose gray background
    showed beside the shorter one."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    try:
        page.goto(served.url)
        playwright.expect(page.locator(PLOT)).to_be_visible()
        page.wait_for_timeout(500)  # plotly's resize to the container
        panel = page.locator("#attention-plot").bounding_box()
        plot = page.locator(f"{PLOT} .main-svg").first.bounding_box()
        assert plot["x"] + plot["width"] <= panel["x"] + panel["width"] + 1, (plot, panel)
        assert plot["width"] >= 0.9 * panel["width"], (plot, panel)
        for control in ("#checkpoint", "#decoding"):
            block = page.locator(control).bounding_box()
            form = page.locator(control).locator("xpath=..").bounding_box()
            assert block["height"] >= form["height"] - 2, (control, block, form)
            assert block["width"] >= form["width"] - 2, (control, block, form)
    finally:
        page.close()
