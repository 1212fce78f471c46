"""The seminar demo: ``ocrlab.demo_app`` (checkpoints, image limits, typed lines, timed reading)
and ``app.py`` served on loopback, called with ``gradio_client`` (``recognize``, bad uploads,
the safe defaults). The browser tests are in ``test_app_browser.py``; both launch the app once
per test process (:func:`served_app`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import socket
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import httpx
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from ocrlab import demo_app
from ocrlab.data.datasets import Sample
from ocrlab.errors import DataError
from ocrlab.models import DEFAULT_CHECKPOINT, CheckpointError, OCRModel, Recognition
from ocrlab.run_config import load_run_config

# gradio's queue statistics use pandas options that pandas 3 deprecates (not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

ROOT = Path(__file__).resolve().parents[1]
READ_TEXT = "Seminar 2026"  # a short clean line the shipped model reads right in every font tried


def import_app() -> ModuleType:
    """``app.py`` from the repository root, imported once (it is a script, not a package)."""
    if "app" not in sys.modules:
        spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["app"] = module
        spec.loader.exec_module(module)
    return sys.modules["app"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SERVER: SimpleNamespace | None = None


def served_app(request: pytest.FixtureRequest) -> SimpleNamespace:
    """The demo with the shipped model on a free loopback port, launched once per test process
    (this module and ``test_app_browser.py`` share it) and closed when the session ends.
    Returns a namespace with ``app`` (the module), ``demo`` and ``url``."""
    global _SERVER
    if _SERVER is None:
        app = import_app()
        demo = app.build_demo()
        _, url, _ = app.launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
        request.config.add_cleanup(demo.close)
        _SERVER = SimpleNamespace(app=app, demo=demo, url=url)
    return _SERVER


@pytest.fixture(scope="module")
def served(request) -> SimpleNamespace:
    return served_app(request)


@pytest.fixture(scope="module")
def client(served) -> Client:
    return Client(served.url, verbose=False)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def line_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lines") / "seminar.png"
    demo_app.typed_line(READ_TEXT, font="DejaVu Sans", preset="clean", seed=0).save(path)
    return path


def tiny_model(lm: str | None) -> OCRModel:
    sets = [f"model.lm.name_or_path={lm}"] if lm else ["model.qformer.enabled=false"]
    torch.manual_seed(0)
    return OCRModel(load_run_config(str(ROOT / "configs" / "tiny.yaml"), sets).model).eval()


# -- demo_app: checkpoints ----------------------------------------------------------------------


def _fake_checkpoint(path: Path, model_type: str | None = "ocrlab") -> Path:
    path.mkdir(parents=True)
    meta = {"config": {}} if model_type is None else {"model_type": model_type, "config": {}}
    (path / "config.json").write_text(json.dumps(meta))
    (path / "model.safetensors").write_bytes(b"x")
    return path


def test_find_checkpoints_lists_models_and_run_best_last(tmp_path):
    good = _fake_checkpoint(tmp_path / "models" / "good")
    _fake_checkpoint(tmp_path / "models" / "charlm", model_type=None)  # an LM folder
    (tmp_path / "models" / "broken").mkdir()
    (tmp_path / "models" / "broken" / "config.json").write_text("{not json")
    (tmp_path / "models" / "broken" / "model.safetensors").write_bytes(b"x")
    _fake_checkpoint(tmp_path / "models" / "noweights").joinpath("model.safetensors").unlink()
    run = tmp_path / "runs" / "r1" / "checkpoints"
    best, last = _fake_checkpoint(run / "best"), _fake_checkpoint(run / "last")
    _fake_checkpoint(run / "step-0000100")  # every step would flood the dropdown
    (tmp_path / "runs" / "r1.log").write_text("a log file, not a folder")

    assert demo_app.find_checkpoints(tmp_path) == [good, best, last]
    assert demo_app.find_checkpoints(tmp_path / "nowhere") == []


def test_find_checkpoints_in_the_repository_has_the_shipped_model_not_the_lm():
    found = [p.resolve() for p in demo_app.find_checkpoints(ROOT)]
    assert DEFAULT_CHECKPOINT.resolve() in found
    assert all(p.name != "ocrlab-charlm" for p in found)


def test_model_cache_loads_once_and_evicts_least_recent(tmp_path, tiny_lm):
    dirs = []
    for i, lm in enumerate([None, tiny_lm, None]):
        dirs.append(tiny_model(lm).save_pretrained(tmp_path / f"m{i}"))
    cache = demo_app.ModelCache(max_models=2)
    a = cache.get(dirs[0])
    assert cache.get(str(dirs[0])) is a  # same folder, any spelling: one model
    b = cache.get(dirs[1])
    cache.get(dirs[0])  # a is now the most recent
    cache.get(dirs[2])  # evicts b
    assert cache.get(dirs[0]) is a
    assert cache.get(dirs[1]) is not b
    assert demo_app.attention_sizes(a) is None
    assert demo_app.attention_sizes(b) == (4, 2, 2)
    assert "no Q-Former (CTC only)" in demo_app.describe_model(a)
    assert "Q-Former: 4 queries, 2 layers, 2 heads" in demo_app.describe_model(b)
    assert "frozen LM" in demo_app.describe_model(b)
    with pytest.raises(CheckpointError, match="does not exist"):
        cache.get(tmp_path / "missing")


# -- demo_app: images and typed lines -----------------------------------------------------------


def test_load_line_image_refuses_huge_images_from_the_header(tmp_path):
    # 6000 x 5000 = 30 MP of white: a 30 kB PNG, 30 MB decoded
    huge = tmp_path / "huge.png"
    Image.new("1", (6000, 5000), 1).save(huge)
    assert huge.stat().st_size < 200_000
    with pytest.raises(DataError, match=r"huge\.png: image too large \(6000x5000 = 30,000,000"):
        demo_app.load_line_image(huge, name="huge.png")
    small = png_bytes(Image.new("RGB", (20, 10), "white"))
    with pytest.raises(DataError, match="up to 100 pixels"):
        demo_app.load_line_image(small, max_pixels=100)
    assert demo_app.load_line_image(small).size == (20, 10)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty image file"),
        (b"these are not pixels", "not an image file"),
        ("truncated", "truncated or corrupt"),
    ],
    ids=["empty", "not-an-image", "truncated"],
)
def test_load_line_image_names_the_file_and_the_problem(tmp_path, content, message):
    if content == "truncated":
        whole = png_bytes(demo_app.typed_line("Hello", seed=0))
        content = whole[: len(whole) // 2]
    path = tmp_path / "upload.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^upload.png: {message}"):
        demo_app.load_line_image(path, name="upload.png")


def test_crop_to_ink_keeps_the_writing_and_a_margin():
    canvas = Image.new("RGBA", (400, 200), (0, 0, 0, 0))  # a sketchpad: transparent
    canvas.paste((0, 0, 0, 255), (100, 80, 180, 120))  # 80 x 40 px of ink
    crop = demo_app.crop_to_ink(demo_app.load_line_image(canvas, name="sketch"))
    pad = round(0.15 * 40)
    assert crop.size == (80 + 2 * pad, 40 + 2 * pad)
    assert crop.getpixel((0, 0)) == (255, 255, 255)  # transparent became paper white
    assert crop.getpixel((pad + 1, pad + 1)) == (0, 0, 0)
    with pytest.raises(DataError, match="sketch is empty"):
        demo_app.crop_to_ink(Image.new("RGB", (50, 50), "white"))


def test_typed_line_renders_with_the_chosen_font_and_says_what_is_wrong():
    families = demo_app.font_families()
    assert {"DejaVu Sans", "DejaVu Serif"} <= set(families)
    assert families == sorted(families)
    a = demo_app.typed_line("Hello", font="DejaVu Sans", preset="clean", seed=3)
    b = demo_app.typed_line("Hello", font="DejaVu Serif", preset="clean", seed=3)
    assert a.mode == "RGB" and a.width > 2 * a.height
    assert a.tobytes() != b.tobytes()
    assert (
        demo_app.typed_line("Hello", seed=3).tobytes()
        == demo_app.typed_line("Hello", seed=3).tobytes()
    )
    with pytest.raises(DataError, match="empty"):
        demo_app.typed_line("   ")
    with pytest.raises(DataError, match="unknown degradation preset 'heavy'"):
        demo_app.typed_line("Hello", preset="heavy")
    with pytest.raises(DataError, match="has no glyph for '日'"):
        demo_app.typed_line("日本", font="DejaVu Sans")


def test_confidence_bands_merge_runs_of_one_band():
    rec = Recognition(text="abcde", confidence=0.1, char_confidences=[0.95, 0.97, 0.6, 0.3, 0.99])
    assert demo_app.confidence_bands(rec) == [
        ("ab", None),
        ("c", "unsure"),
        ("d", "doubtful"),
        ("e", None),
    ]
    assert demo_app.confidence_bands(Recognition(text="", confidence=1.0)) == []


# -- demo_app: reading stage by stage -----------------------------------------------------------


def test_read_line_matches_recognize_and_times_each_stage(tiny_lm):
    model = tiny_model(tiny_lm)
    image = demo_app.typed_line("Hello world", seed=0)
    reading = demo_app.read_line(model, image)
    expected = model.recognize([image])[0]
    rec = reading.recognition
    assert (rec.text, rec.spans) == (expected.text, expected.spans)
    assert rec.confidence == pytest.approx(expected.confidence)
    flat = [x for span in rec.pixel_spans for x in span]
    assert flat == pytest.approx([x for span in expected.pixel_spans for x in span])
    assert list(reading.times_ms) == list(demo_app.STAGES)
    assert all(ms >= 0 for ms in reading.times_ms.values())
    # the LM box shows the LM-decoding path's reading of the same image
    from ocrlab.data.transforms import Collate, LineTransform

    batch = Collate(transform=LineTransform(max_width=2048))([Sample(image, "", "x")])
    assert reading.lm_text == model.generate_text(batch.images, batch.widths)[0]
    assert reading.attention.num_queries == 4
    assert reading.attention.original.size == image.size
    assert reading.notes == {}


def test_read_line_with_the_beam_decoder_reads_as_recognize_does(tiny_lm):
    model = tiny_model(tiny_lm)
    image = demo_app.typed_line("Hello world", seed=0)
    reading = demo_app.read_line(model, image, attention=False, lm=False, decoder="beam")
    assert reading.recognition.text == model.recognize([image], decoder="beam")[0].text
    greedy = demo_app.read_line(model, image, attention=False, lm=False)
    one = demo_app.read_line(model, image, attention=False, lm=False, decoder="beam:width=1")
    assert one.recognition.text == greedy.recognition.text
    assert "decode" in reading.times_ms


def test_read_line_on_a_ctc_only_model_says_what_is_missing():
    reading = demo_app.read_line(tiny_model(None), demo_app.typed_line("ok", seed=0))
    assert list(reading.times_ms) == ["preprocess", "encoder + CTC", "decode"]
    assert reading.attention is None and reading.lm_text is None
    assert "no Q-Former" in reading.notes["attention"]
    assert "no LM" in reading.notes["LM generate"]
    quick = demo_app.read_line(tiny_model(None), reading.image, attention=False, lm=False)
    assert quick.notes == {} and len(quick.times_ms) == 3


# -- app.py without a server --------------------------------------------------------------------


def test_build_demo_fails_fast_on_a_bad_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        import_app().build_demo(tmp_path / "no-such-model")


def test_cli_defaults_to_loopback_and_passes_its_arguments(monkeypatch):
    app = import_app()
    calls = {}
    monkeypatch.setattr(app, "build_demo", lambda checkpoint: calls.setdefault("ckpt", checkpoint))
    monkeypatch.setattr(app, "launch", lambda demo, **kw: calls.setdefault("launch", kw))
    app.main([])
    assert calls == {"ckpt": None, "launch": {"host": "127.0.0.1", "port": 7860}}
    calls.clear()
    app.main(["--checkpoint", "runs/x/checkpoints/best", "--host", "0.0.0.0", "--port", "8000"])
    assert calls == {
        "ckpt": "runs/x/checkpoints/best",
        "launch": {"host": "0.0.0.0", "port": 8000},
    }


# -- the served app -----------------------------------------------------------------------------


def test_launch_uses_the_safe_defaults(served):
    demo = served.demo
    assert served.url.startswith("http://127.0.0.1:")
    assert demo.server_name == "127.0.0.1"
    assert demo.share is False
    assert demo.allowed_paths == []
    # what the app adds to Gradio's own refusal: its checkpoints, runs and data stay blocked
    # even if someone later allows a folder above them
    assert {Path(p).resolve() for p in demo.blocked_paths} == {
        (ROOT / name).resolve() for name in ("models", "runs", "data")
    }
    assert demo.max_file_size == 10 * 1024 * 1024
    assert demo._queue.default_concurrency_limit == served.app.CONCURRENCY == 2
    assert demo._queue.max_size == served.app.QUEUE_SIZE


def test_recognize_reads_a_rendered_line(client, line_png):
    text, confidence = client.predict(handle_file(str(line_png)), api_name="/recognize")
    assert text == READ_TEXT
    assert 0.5 < confidence <= 1.0


def test_only_recognize_is_an_api_endpoint(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/recognize"]
    assert api["unnamed_endpoints"] == {}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-an-image.png", "not-an-image.png: not an image file"),
        ("truncated.png", "truncated.png: truncated or corrupt image"),
        ("empty.png", "empty.png: empty image file (0 bytes)"),
        ("huge.png", "huge.png: image too large (6000x5000 = 30,000,000 pixels)"),
    ],
)
def test_bad_upload_gets_its_message_and_the_app_keeps_serving(
    client, line_png, tmp_path, name, message
):
    path = tmp_path / name
    if name == "huge.png":
        Image.new("1", (6000, 5000), 1).save(path)
    elif name == "truncated.png":
        whole = line_png.read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif name == "empty.png":
        path.write_bytes(b"")
    else:
        path.write_text("a text file renamed to .png")
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(path)), api_name="/recognize")
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)
    text, _ = client.predict(handle_file(str(line_png)), api_name="/recognize")
    assert text == READ_TEXT


def test_uploads_over_the_size_limit_are_refused(served, client, line_png):
    big = b"\0" * (10 * 1024 * 1024 + 1)
    response = httpx.post(
        served.url + "gradio_api/upload", files={"files": ("big.png", big, "image/png")}
    )
    assert response.status_code == 413
    text, _ = client.predict(handle_file(str(line_png)), api_name="/recognize")
    assert text == READ_TEXT


def test_no_file_outside_the_uploads_can_be_read(served):
    config = DEFAULT_CHECKPOINT / "config.json"
    assert httpx.get(f"{served.url}gradio_api/file={config}").status_code == 403
    assert httpx.get(f"{served.url}gradio_api/file=/etc/hostname").status_code == 403
    # naming a server file as the `recognize` input instead of uploading it
    payload = {"data": [{"path": str(config), "meta": {"_type": "gradio.FileData"}}]}
    event = httpx.post(served.url + "gradio_api/call/recognize", json=payload).json()["event_id"]
    stream = httpx.get(f"{served.url}gradio_api/call/recognize/{event}", timeout=30).text
    assert "event: error" in stream
    assert "ocrlab" not in stream  # nothing of the file came back


def test_uploads_cannot_be_guessed_listed_or_escaped(served, line_png):
    """An upload is served at a path only its uploader learns; nothing else of the disk is."""
    content = line_png.read_bytes()
    response = httpx.post(
        served.url + "gradio_api/upload", files={"files": ("mine.png", content, "image/png")}
    )
    path = Path(response.json()[0])
    assert httpx.get(f"{served.url}gradio_api/file={path}").content == content
    folder = path.parent
    # another client cannot find it: the folder is a keyed hash (a per-server secret), so the
    # plain SHA-256 of the same bytes names nothing, and folders are not listed
    guess = folder.parent / hashlib.sha256(content).hexdigest() / path.name
    assert guess != path
    assert httpx.get(f"{served.url}gradio_api/file={guess}").status_code in (403, 404)
    assert httpx.get(f"{served.url}gradio_api/file={folder}").status_code in (403, 404)
    # `..` out of the upload folder, to a checkpoint and to a system file
    config = DEFAULT_CHECKPOINT / "config.json"
    for target in (config, Path("/etc/hostname")):
        ups = "/".join([".."] * len(folder.parts))
        escape = f"{folder}/{ups}{target}"
        r = httpx.get(f"{served.url}gradio_api/file={escape}")
        assert r.status_code in (403, 404), escape
        assert "ocrlab" not in r.text
    # a symlink planted inside the upload folder, pointing at a checkpoint file
    link = folder / "planted.json"
    link.symlink_to(config)
    try:
        r = httpx.get(f"{served.url}gradio_api/file={link}")
        assert r.status_code == 403 and "model_type" not in r.text
    finally:
        link.unlink()


def test_lm_quality_comes_from_the_checkpoints_measurements(tmp_path):
    (tmp_path / "eval_results.jsonl").write_text(
        json.dumps({"data": "synth:n=2000,seed=7", "cer": 0.04})
        + "\n"
        + json.dumps({"data": "synth:n=500,seed=7", "reading": {"lm_cer": 0.305}})
        + "\nnot json\n"
    )
    text = demo_app.lm_quality(tmp_path)
    assert text.startswith("measured: 30% CER on synth:n=500,seed=7")
    assert "not measured" in demo_app.lm_quality(tmp_path / "nowhere")
