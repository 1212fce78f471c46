"""ocrlab seminar demo: type, upload or draw a text line and watch the recognizer read it.

    python app.py [--checkpoint DIR] [--host 127.0.0.1] [--port 7860]

This file only wires widgets to ``ocrlab``: reading and timing (``ocrlab.demo_app``), the
attention and attribution figures (``ocrlab.viz``). :func:`build_demo` returns the
``gr.Blocks``; :func:`launch` starts it with the safe defaults (loopback only, no share link,
no files served from disk, upload and pixel limits, a bounded queue). Tests call both.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from ocrlab import demo_app
from ocrlab.errors import DataError, OcrlabError
from ocrlab.models import DEFAULT_CHECKPOINT

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("ocrlab.app")

# Safe defaults (issue 5). Uploads above MAX_FILE_SIZE are refused by Gradio before they reach
# Python; demo_app.MAX_PIXELS refuses images that are small files but huge when decoded.
HOST = "127.0.0.1"
PORT = 7860
MAX_FILE_SIZE = "10mb"
CONCURRENCY = 2  # requests computed at once: this is a CPU demo, more would only share the cores
QUEUE_SIZE = 64  # waiting requests beyond this are refused with "queue full", not left to pile up

DEFAULT_TEXT = "Hello seminar 2026"
ANY_FONT = "any (picked by seed)"
TYPED_EXAMPLES = [
    ["Hello seminar 2026", "DejaVu Serif", "clean", "document", 0],
    ["Invoice total: 42.50 EUR", "Liberation Sans", "clean", "document", 1],
    ["The quick brown fox", "DejaVu Sans Mono", "default", "document", 2],
    ["OPEN 24 HOURS", ANY_FONT, "default", "scene", 3],
    ["meet me at 10:30", ANY_FONT, "degraded", "document", 4],
]
# (text, degradations, look, seed): the example line images the app renders for itself
GALLERY_LINES = [
    ("Research toolkit", "clean", "document", 11),
    ("Call 555-0199 today", "default", "document", 12),
    ("Fresh bread daily", "default", "scene", 13),
    ("Deadline: 2026-03-14", "degraded", "document", 14),
    ("Platform 9", "clean", "scene", 15),
    ("query attention", "degraded", "scene", 16),
]
PLOT_WIDTH = 1540  # pixels: the page width on a 1080p projector (the .gradio-container cap)
CONFIDENCE_COLOURS = {"unsure": "#f59e0b", "doubtful": "#dc2626"}
ATTRIBUTION_METHODS = ["integrated_gradients", "saliency", "gradcam"]

# Large type and strong contrast: the demo is read from the back of a seminar room.
THEME = gr.themes.Default(
    primary_hue="blue",
    neutral_hue="slate",
    text_size=gr.themes.sizes.text_lg,
    spacing_size=gr.themes.sizes.spacing_lg,
).set(
    body_text_color="#0f172a",
    block_label_text_color="#0f172a",
    block_label_text_weight="600",
    block_title_text_weight="600",
)
CSS = """
.gradio-container { max-width: 1600px !important; }
#title h1 { font-size: 2.2rem; margin: 0; }
#title p { font-size: 1.1rem; color: #334155; margin: 0.2rem 0 0 0; }
#type-text textarea { font-size: 1.5rem !important; }
#chars .token, #chars .token-container, #chars .text { margin: 0 !important; padding: 0 !important; }
#chars .token { border-radius: 3px; }
/* the LM's reading is a probe of the Q-Former, not the output: smaller than the CTC text */
#lm-text textarea {
    font-size: 1.15rem !important; line-height: 1.25 !important;
    font-family: "DejaVu Sans Mono", ui-monospace, monospace !important;
}
#chars { font-size: 1.9rem; font-family: "DejaVu Sans Mono", ui-monospace, monospace; }
#stats table { font-size: 1.05rem; }
#message { background: #fee2e2; border: 2px solid #b91c1c; border-radius: 8px;
           padding: 0.4rem 1rem; }
#message p { color: #7f1d1d !important; font-size: 1.3rem; font-weight: 600; }
#line-view img { width: 100%; height: 100%; object-fit: contain; }
/* wide line thumbnails instead of Gradio's squares */
#examples .grid-container { grid-template-rows: none !important; grid-auto-rows: auto !important; }
#examples .thumbnail-item { aspect-ratio: 4 / 1 !important; }
#examples .grid-wrap { padding-top: 2.4rem; }
#examples .caption-label { display: none; }
footer { display: none !important; }
"""


# ----------------------------------------------------------------------------------------------
# wiring


def build_demo(checkpoint: str | os.PathLike | None = None) -> gr.Blocks:
    """The demo's ``gr.Blocks`` with ``checkpoint`` (default: the bundled model) loaded.

    Raises :class:`~ocrlab.models.CheckpointError` at once for a checkpoint that cannot load, so
    a typo fails before the audience sees the page.
    """
    default = Path(checkpoint).resolve() if checkpoint else DEFAULT_CHECKPOINT.resolve()
    models = demo_app.ModelCache()
    model0 = models.get(default)
    _, n_layers, n_heads = demo_app.attention_sizes(model0) or (1, 1, 1)
    found = [p.resolve() for p in demo_app.find_checkpoints(ROOT)]
    if default not in found:
        found.insert(0, default)
    allowed = {str(p) for p in found}  # the dropdown's choices are the only loadable folders
    fonts = [ANY_FONT, *demo_app.font_families()]
    gallery_images = [
        demo_app.typed_line(text, preset=preset, look=look, seed=seed)
        for text, preset, look, seed in GALLERY_LINES
    ]

    def model_for(ckpt: str) -> Any:
        if ckpt not in allowed:
            raise OcrlabError(f"{ckpt} is not one of this demo's checkpoints")
        return models.get(ckpt)

    with gr.Blocks(title="ocrlab — live text-line recognition", analytics_enabled=False) as demo:
        state = gr.State(None)  # {"checkpoint", "image", "attention"} of the line on screen

        head_ = _header(found, default, model0)
        ckpt, decoding, model_info = head_.checkpoint, head_.decoding, head_.model_info
        with gr.Row():
            inputs = _input_tabs(fonts, gallery_images)
            out = _reading_column(default)
        q = _query_tabs(n_layers, n_heads)
        api_image, api_text, api_confidence, api_button = _api_row()
        # the handlers below name the components as the panels do
        text, font, preset, look, seed = (getattr(inputs, k) for k in _TYPED_FIELDS)
        upload, gallery, sketch = inputs.upload, inputs.gallery, inputs.sketch
        message, line_view, chars, lm_text, stats = (getattr(out, k) for k in _READING_FIELDS)
        all_queries, layer, head, summary = q.all_queries, q.layer, q.head, q.summary
        attention_plot, correspondence_plot = q.attention_plot, q.correspondence_plot
        char_pick, method, explain = q.char_pick, q.method, q.explain
        attribution_plot = q.attribution_plot

        controls = [all_queries, layer, head]
        view = [
            message,
            line_view,
            chars,
            lm_text,
            stats,
            attention_plot,
            correspondence_plot,
            summary,
            char_pick,
            attribution_plot,
            state,
        ]

        # ------------------------------------------------------------------ handlers

        def show(
            ckpt_path: str, dec: str, image: Image.Image, allq: bool, lay: int, hd: str
        ) -> dict:
            reading = demo_app.read_line(model_for(ckpt_path), image, decoder=dec)
            rec = reading.recognition
            qa = reading.attention
            return {
                message: _message(""),
                line_view: reading.image,
                chars: demo_app.confidence_bands(rec),
                lm_text: gr.Textbox(
                    value=reading.lm_text
                    if reading.lm_text is not None
                    else reading.notes.get("LM generate", ""),
                    info=demo_app.lm_quality(ckpt_path),
                ),
                stats: _stats_markdown(reading),
                attention_plot: _attention_figure(qa, allq, lay, hd) if qa is not None else None,
                correspondence_plot: _viz_call("correspondence_figure", qa, width=PLOT_WIDTH)
                if qa is not None
                else None,
                summary: _summary_markdown(qa, lay, hd, reading.notes),
                char_pick: gr.Dropdown(
                    choices=[(f"{i}: {ch}", i) for i, ch in enumerate(rec.text)],
                    value=0 if rec.text else None,
                ),
                attribution_plot: None,
                state: {"checkpoint": ckpt_path, "image": reading.image, "attention": qa},
            }

        @_guard(message, view)
        def read_typed(ckpt_path, dec, txt, fnt, pre, lk, sd, allq, lay, hd):
            if not (txt or "").strip():
                return _cleared(message, view, "")
            image = demo_app.typed_line(
                txt,
                font=None if fnt in (None, "", ANY_FONT) else fnt,
                preset=pre,
                look=lk,
                seed=int(sd or 0),
            )
            return show(ckpt_path, dec, image, allq, lay, hd)

        @_guard(message, view)
        def read_upload(ckpt_path, dec, payload, allq, lay, hd):
            if payload is None:
                return _cleared(message, view, "")
            source, name = _uploaded(payload)
            image = demo_app.load_line_image(source, name=name)
            return show(ckpt_path, dec, image, allq, lay, hd)

        @_guard(message, view)
        def read_sketch(ckpt_path, dec, value, allq, lay, hd):
            composite = (value or {}).get("composite")
            if composite is None:
                return _cleared(message, view, "")
            image = demo_app.load_line_image(composite, name="sketch")
            try:
                line = demo_app.crop_to_ink(image)
            except DataError:  # a cleared canvas: nothing to read, nothing to complain about
                return _cleared(message, view, "")
            return show(ckpt_path, dec, line, allq, lay, hd)

        @_guard(message, view)
        def reread(ckpt_path, dec, st, allq, lay, hd):
            if not st or st.get("image") is None:
                return {}
            return show(ckpt_path, dec, st["image"], allq, lay, hd)

        @_guard(message, view)
        def switch_checkpoint(ckpt_path, dec, st, allq, lay, hd):
            model = model_for(ckpt_path)
            _, nl, nh = demo_app.attention_sizes(model) or (1, 1, 1)
            lay = min(int(lay), nl - 1)
            hd = hd if hd in ("mean", "max") or int(hd) < nh else "mean"
            updates = {
                model_info: demo_app.describe_model(model),
                layer: gr.Slider(maximum=max(1, nl - 1), value=lay, interactive=nl > 1),
                head: gr.Dropdown(choices=_head_choices(nh), value=hd),
            }
            if st and st.get("image") is not None:
                updates.update(show(ckpt_path, dec, st["image"], allq, lay, hd))
            return updates

        @_guard(message, [attention_plot])
        def redraw_attention(st, allq, lay, hd):
            qa = (st or {}).get("attention")
            if qa is None:
                return {}
            return {
                attention_plot: _attention_figure(qa, allq, lay, hd),
                summary: _summary_markdown(qa, lay, hd),
                message: _message(""),
            }

        @_guard(message, [attribution_plot])
        def attribute(st, index, meth):
            if not st or st.get("image") is None:
                raise OcrlabError("read a line first, then pick one of its characters")
            if index is None:
                raise OcrlabError("the line has no characters to explain")
            from ocrlab.viz import attribute_character, attribution_figure

            attr = attribute_character(
                model_for(st["checkpoint"]), st["image"], int(index), method=meth
            )
            figure = _page_figure(attribution_figure(attr, width=PLOT_WIDTH))
            return {attribution_plot: figure, message: _message("")}

        def recognize(payload: dict | None) -> tuple[str, float]:
            """Read one line image with the CTC path: returns (text, confidence in 0..1)."""
            if payload is None:
                raise gr.Error("no image given")
            try:
                source, name = _uploaded(payload)
                image = demo_app.load_line_image(source, name=name)
                rec = demo_app.read_line(
                    models.get(default), image, attention=False, lm=False
                ).recognition
            except OcrlabError as exc:
                raise gr.Error(str(exc)) from None
            return rec.text, round(float(rec.confidence), 4)

        # ------------------------------------------------------------------ events
        # Only `recognize` is an API endpoint; the UI's events are private to the page.
        # Uploads reach the handlers undecoded (preprocess=False; Gradio has still checked that
        # the file is one it received as an upload): gr.Image's own preprocessing opens the file
        # with PIL and fails with a bare "Error" on anything that is not an image, while
        # demo_app.load_line_image names the file and what is wrong with it.
        ui: dict[str, Any] = {"api_visibility": "private"}
        live: dict[str, Any] = {**ui, "trigger_mode": "always_last", "show_progress": "minimal"}
        typed_inputs = [ckpt, decoding, text, font, preset, look, seed, *controls]
        typed_triggers = [text.change, font.change, preset.change, look.change, seed.change]
        gr.on(typed_triggers, read_typed, typed_inputs, view, **live)
        demo.load(read_typed, typed_inputs, view, **live)
        upload.change(
            read_upload, [ckpt, decoding, upload, *controls], view, preprocess=False, **live
        )
        gallery.select(_gallery_pick(gallery_images), None, upload, show_progress="hidden", **ui)
        sketch.change(read_sketch, [ckpt, decoding, sketch, *controls], view, **live)
        decoding.change(reread, [ckpt, decoding, state, *controls], view, **live)
        ckpt.change(
            switch_checkpoint,
            [ckpt, decoding, state, *controls],
            [*view, model_info, *controls],
            **ui,
        )
        gr.on(
            [all_queries.change, layer.change, head.change],
            redraw_attention,
            [state, *controls],
            [attention_plot, summary, message],
            **{**live, "show_progress": "hidden"},
        )
        explain.click(attribute, [state, char_pick, method], [attribution_plot, message], **ui)
        api_button.click(
            recognize,
            api_image,
            [api_text, api_confidence],
            api_name="recognize",
            preprocess=False,
        )

    # One reading now, so the audience's first one does not pay for the first-call costs
    # (plotly's import, the LM's first generate): a second or more on a CPU.
    show(str(default), "greedy", gallery_images[0], False, n_layers - 1, "mean")

    return demo


# -- the page's panels: each builder makes its components (inside the open gr.Blocks) and
# returns them by name for build_demo's handlers


@dataclass
class _Header:
    checkpoint: Any
    decoding: Any
    model_info: Any


def _header(found: list[Path], default: Path, model0: Any) -> _Header:
    """Title, the checkpoint picker, the CTC decoding choice and the model's description."""
    # each control in its own column: side by side in one row, Gradio wraps them in one
    # form whose gray background showed beside and below the shorter one
    with gr.Row(equal_height=False):
        gr.Markdown(
            "# ocrlab · live text-line recognition\n"
            "CTC reads the line; the Q-Former's queries (trained with a frozen LM) show "
            "where the model looks.",
            elem_id="title",
        )
        with gr.Column(scale=0, min_width=380):
            ckpt = gr.Dropdown(
                choices=[(_label(p), str(p)) for p in found],
                value=str(default),
                label="checkpoint",
                elem_id="checkpoint",
            )
        with gr.Column(scale=0, min_width=300):
            decoding = gr.Radio(
                [("greedy", "greedy"), ("beam + word LM", "beam")],
                value="greedy",
                label="CTC decoding",
                info="beam: a word-frequency LM fused into the search, for single words "
                "(it merges the words of a line)",
                elem_id="decoding",
            )
    model_info = gr.Markdown(demo_app.describe_model(model0), elem_id="model-info")
    return _Header(ckpt, decoding, model_info)


_TYPED_FIELDS = ("text", "font", "preset", "look", "seed")
_READING_FIELDS = ("message", "line_view", "chars", "lm_text", "stats")


@dataclass
class _Inputs:
    text: Any
    font: Any
    preset: Any
    look: Any
    seed: Any
    upload: Any
    gallery: Any
    sketch: Any


def _input_tabs(fonts: list[str], gallery_images: list[Image.Image]) -> _Inputs:
    """The three ways in: type a line (rendered), upload or paste an image, draw one."""
    with gr.Column(scale=5), gr.Tabs():
        with gr.Tab("Type text", id="type"):
            text = gr.Textbox(
                value=DEFAULT_TEXT,
                label="type text",
                placeholder="type a line, it is rendered and read as you type",
                elem_id="type-text",
                max_length=200,
            )
            with gr.Row():
                font = gr.Dropdown(fonts, value="DejaVu Serif", label="font")
                preset = gr.Radio(
                    list(demo_app.DEGRADATION_PRESETS),
                    value="clean",
                    label="degradations",
                )
            with gr.Row():
                look = gr.Radio(list(demo_app.LOOKS), value="document", label="look")
                seed = gr.Number(value=0, precision=0, minimum=0, label="seed")
            gr.Examples(TYPED_EXAMPLES, [text, font, preset, look, seed], label="try")
        with gr.Tab("Upload / paste", id="upload"):
            upload = gr.Image(
                type="filepath",
                sources=["upload", "clipboard"],
                format="png",
                label="line image (PNG, JPEG, ...; one text line)",
                height=180,
                elem_id="upload",
            )
            gallery = gr.Gallery(
                [(im, t) for im, (t, *_rest) in zip(gallery_images, GALLERY_LINES, strict=True)],
                label="example lines (click one to read it)",
                elem_id="examples",
                columns=2,
                height=300,
                allow_preview=False,
                object_fit="contain",
            )
        with gr.Tab("Draw", id="draw"):
            sketch = gr.Sketchpad(
                type="pil",
                image_mode="RGBA",
                canvas_size=(900, 220),
                brush=gr.Brush(default_size=5, colors=["#000000"], color_mode="fixed"),
                layers=False,
                transforms=(),
                label="pick the brush, then write a word with the mouse",
                elem_id="sketch",
            )
    return _Inputs(text, font, preset, look, seed, upload, gallery, sketch)


@dataclass
class _Reading:
    message: Any
    line_view: Any
    chars: Any
    lm_text: Any
    stats: Any


def _reading_column(default: Path) -> _Reading:
    """What the model read: the line as the model sees it, the CTC text with its confidence,
    the LM-decoded probe of the Q-Former, the timings."""
    with gr.Column(scale=6):
        message = gr.Markdown(visible=False, elem_id="message")
        line_view = gr.Image(
            label="the line as read",
            interactive=False,
            height=130,
            elem_id="line-view",
            format="png",
            buttons=[],
        )
        chars = gr.HighlightedText(
            label="CTC text · amber: unsure (confidence < 0.9) · red: doubtful (< 0.5)",
            color_map=CONFIDENCE_COLOURS,
            show_legend=False,
            show_inline_category=False,
            elem_id="chars",
        )
        lm_text = gr.Textbox(
            label="LM-decoded text (queries → frozen LM): a probe of the Q-Former",
            info=demo_app.lm_quality(default),
            elem_id="lm-text",
            interactive=False,
        )
        stats = gr.Markdown(elem_id="stats")

    return _Reading(message, line_view, chars, lm_text, stats)


@dataclass
class _Queries:
    all_queries: Any
    layer: Any
    head: Any
    attention_plot: Any
    summary: Any
    correspondence_plot: Any
    char_pick: Any
    method: Any
    explain: Any
    attribution_plot: Any


def _query_tabs(n_layers: int, n_heads: int) -> _Queries:
    """What the queries look at: attention over the line, query <-> character, attribution."""
    with gr.Tabs():
        with gr.Tab("Query attention", id="attention"):
            with gr.Row():
                all_queries = gr.Checkbox(value=False, label="all queries at once")
                layer = gr.Slider(
                    0,
                    max(1, n_layers - 1),
                    value=n_layers - 1,
                    step=1,
                    label="layer",
                    interactive=n_layers > 1,
                )
                head = gr.Dropdown(_head_choices(n_heads), value="mean", label="head")
            attention_plot = gr.Plot(
                label="cross-attention over the line", elem_id="attention-plot"
            )
            summary = gr.Markdown(elem_id="attention-summary")
        with gr.Tab("Query ↔ character", id="correspondence"):
            correspondence_plot = gr.Plot(
                label="which query attends to which character", elem_id="correspondence-plot"
            )
        with gr.Tab("Attribution", id="attribution"):
            with gr.Row():
                char_pick = gr.Dropdown(choices=[], label="character (index: glyph)", scale=2)
                method = gr.Radio(
                    ATTRIBUTION_METHODS, value="integrated_gradients", label="method", scale=3
                )
                explain = gr.Button("Explain this character", variant="primary", scale=1)
            attribution_plot = gr.Plot(
                label="which pixels made the model read this character",
                elem_id="attribution-plot",
            )

    return _Queries(
        all_queries,
        layer,
        head,
        attention_plot,
        summary,
        correspondence_plot,
        char_pick,
        method,
        explain,
        attribution_plot,
    )


def _api_row() -> tuple[Any, Any, Any, Any]:
    """The hidden components of the API endpoint ``recognize`` (image in -> text, confidence)."""
    with gr.Row(visible=False):
        api_image = gr.Image(type="filepath", label="image")
        api_text = gr.Textbox(label="text")
        api_confidence = gr.Number(label="confidence")
        api_button = gr.Button("recognize")

    return api_image, api_text, api_confidence, api_button


def launch(
    demo: gr.Blocks,
    *,
    host: str = HOST,
    port: int = PORT,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> tuple[Any, str, str | None]:
    """Start ``demo`` with the safe defaults; returns Gradio's ``(app, local_url, share_url)``."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        # Gradio 6 serves only files it created (uploads, rendered outputs) and allowed_paths:
        # the app needs no file from disk, so the checkpoints, runs and the rest stay private.
        allowed_paths=[],
        blocked_paths=[str(ROOT / "models"), str(ROOT / "runs"), str(ROOT / "data")],
        max_file_size=MAX_FILE_SIZE,
        show_error=False,  # our handlers show their own messages; no tracebacks in the browser
        enable_monitoring=False,
        mcp_server=False,
        ssr_mode=False,  # no Node server: one process to start and stop
        pwa=False,
        run_history=False,
        footer_links=["api"],
        theme=THEME,
        css=CSS,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
    )


# ----------------------------------------------------------------------------------------------
# presentation helpers (formatting only; the numbers come from ocrlab)


def _label(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _uploaded(payload: dict) -> tuple[str | bytes, str]:
    """(source for ``load_line_image``, the name its messages use) of an undecoded gr.Image
    payload: the uploaded file and its original name, or the bytes of a pasted data URL."""
    url = payload.get("url") or ""
    if url.startswith("data:"):
        return base64.b64decode(url.split(",", 1)[1]), "pasted image"
    path = payload.get("path")
    if not path:
        raise OcrlabError("the upload arrived without a file")
    return path, payload.get("orig_name") or Path(path).name


def _head_choices(num_heads: int) -> list[str]:
    return ["mean", "max", *(str(h) for h in range(num_heads))]


def _gallery_pick(images: list[Image.Image]) -> Callable[[gr.SelectData], Image.Image]:
    def pick(evt: gr.SelectData) -> Image.Image:
        return images[evt.index]

    return pick


def _stats_markdown(reading: demo_app.Reading) -> str:
    """Confidence, size and the stage times (ms) as one short table row."""
    rec = reading.recognition
    w, h = reading.image.size
    times = reading.times_ms
    head = " | ".join([*times, "total"])
    row = " | ".join(
        f"{ms:.1f}" if ms < 10 else f"{ms:,.0f}" for ms in [*times.values(), sum(times.values())]
    )
    return (
        f"**confidence {rec.confidence:.2f}** · {len(rec.text)} characters · image {w}×{h} px\n\n"
        f"| ms | {head} |\n|---|{'---:|' * (len(times) + 1)}\n| time | {row} |"
    )


def _head_arg(head: str | None) -> str | int:
    """The head dropdown's value as ``ocrlab.viz`` takes it: "mean", "max" or a head index."""
    return int(head) if str(head).isdigit() else (head or "mean")


def _summary_markdown(qa: Any, layer: int, head: str, notes: dict[str, str] | None = None) -> str:
    """Why a view is missing, and whether the queries specialize or collapse on this line."""
    lines = [f"- {n}" for n in (notes or {}).values()]
    if qa is not None:
        stats = qa.stats(int(layer), _head_arg(head))
        lines.append(f"- **queries ({stats.label})** — {stats.reason}")
    return "\n".join(lines)


def _page_figure(fig: Any) -> Any:
    """A plotly figure as the page shows it: projector-sized text and no fixed width, so
    Gradio's autosize fits it to its panel (a fixed 1300 px was cut off at 1280x800 and left a
    quarter empty at 1920x1080); ``width=PLOT_WIDTH`` at build time still sizes titles,
    letters and rows for a full-width page."""
    if fig is not None and hasattr(fig, "update_layout"):
        fig.update_layout(font={"size": 16}, title_font={"size": 20}, width=None)
    return fig


def _viz_call(name: str, *args: Any, **kwargs: Any) -> Any:
    """``ocrlab.viz.<name>(...)`` with projector fonts; None (and a log line) when the optional
    ``viz`` extra is not installed, so the reading itself is still shown."""
    import ocrlab.viz

    try:
        fn = getattr(ocrlab.viz, name)
    except ImportError as exc:
        log.warning("ocrlab.viz.%s is unavailable: %s", name, exc)
        return None
    return _page_figure(fn(*args, **kwargs))


def _attention_figure(qa: Any, all_queries: bool, layer: int, head: str) -> Any:
    """Every query's map (one compact queries x pixels heatmap under the line), or the overlay
    whose own slider steps through the queries in the browser (no round trip to the server
    while the presenter browses them)."""
    layer_arg = int(layer)  # 0-based, as ocrlab.viz labels layers and queries
    if all_queries:
        return _viz_call(
            "attention_grid", qa, layer=layer_arg, head=_head_arg(head), width=PLOT_WIDTH
        )
    # menu=False: the layer and head controls above the plot are the only ones (one control
    # per setting); they also drive the grid and the summary, which a menu in the plot cannot
    return _viz_call(
        "attention_overlay",
        qa,
        query=0,
        layer=layer_arg,
        head=_head_arg(head),
        menu=False,
        width=PLOT_WIDTH,
    )


def _cleared(message: Any, views: list[Any], text: str) -> dict:
    """Empty ``views`` (so no stale result stands beside an error); ``text`` goes to ``message``."""
    out: dict[Any, Any] = {c: None for c in views}
    out[message] = _message(text)
    return out


def _message(text: str) -> gr.Markdown:
    """The message box: shown with ``text``, hidden when there is nothing to say."""
    return gr.Markdown(value=text, visible=bool(text))


def _guard(message: Any, views: list[Any]) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Turn every exception of a handler into a friendly message in the ``message`` box and
    empty ``views``: the app keeps serving, the audience sees no traceback. Bad input (an
    ``OcrlabError``) shows its own message; anything else is logged in full on the server and
    named in one line. No toast as well: the box already says it, and Gradio's toasts stack up
    in the top right corner, over the checkpoint menu, one per failed reading."""

    def wrap(fn: Callable[..., dict]) -> Callable[..., dict]:
        @wraps(fn)
        def guarded(*args: Any) -> dict:
            try:
                return fn(*args)
            except OcrlabError as exc:
                msg = str(exc)
            except Exception as exc:  # a demo must not die on stage; the log keeps the details
                log.exception("handler %s failed", fn.__name__)
                msg = f"internal error ({type(exc).__name__}: {exc}); details are in the server log"
            return _cleared(message, views, f"⚠ {msg}")

        return guarded

    return wrap


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        default=None,
        help=f"checkpoint folder (default: {_label(DEFAULT_CHECKPOINT)})",
    )
    parser.add_argument("--host", default=HOST, help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    launch(build_demo(args.checkpoint), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
