"""`ocrlab bench`: the real-time arithmetic, the int8 flag, the memory probe, bad input, and a
--quick run on a tiny checkpoint that must give a well-formed report (not particular speeds)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import time

import numpy as np
import pytest
import torch

from ocrlab import bench, tesseract
from ocrlab.bench import (
    ENGINES,
    BenchError,
    BenchSettings,
    format_report,
    load_bench_data,
    matmul_peak,
    realtime_table,
    run_bench,
)
from ocrlab.bench import engines as bench_engines
from ocrlab.cli import main
from ocrlab.data.synth import render_line
from ocrlab.errors import OcrlabError
from ocrlab.models import OCRModel
from ocrlab.run_config import load_run_config


def is_rate(x) -> bool:
    """A measured rate as the report writes it: a finite number >= 0. Unit tests check the
    report's structure and units; how fast is a benchmark's question (a 64x64 matmul on a
    loaded machine rounds to 0.0 GFLOP/s)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def tiny_checkpoint(path, lm_path=None):
    config = load_run_config("configs/tiny.yaml").model
    if lm_path is None:
        config.qformer.enabled = False
    else:
        config.lm.name_or_path = lm_path
    torch.manual_seed(0)
    return OCRModel(config).save_pretrained(path)


def tiny_settings(**kw) -> BenchSettings:
    """As small as a measurement can be: a few lines, one repeat, tiny sgemms, no cache."""
    base = dict(
        lines=8, repeats=1, latency_lines=3, lm_lines=4, matmul_sizes=(64,), threads=1, cache_dir=""
    )
    return BenchSettings(**{**base, **kw})


# -- pieces ------------------------------------------------------------------------------------


def test_realtime_table_lines_per_frame_and_needed_speedups():
    engines = {
        # 10 ms per line alone; 200 lines/s at b8, 400 at b32, 500 at b128
        "a": {
            "latency_ms_b1_p50": 10.0,
            "lines_per_s_b8": 200.0,
            "lines_per_s_b32": 400.0,
            "lines_per_s_b128": 500.0,
        },
        "skipped": {"skipped": "no", "latency_ms_b1_p50": None, "lines_per_s_b32": None},
    }
    rt = realtime_table(engines, budget_ms=40.0, lines=(1, 5, 10, 50))
    assert rt["fps"] == 25.0
    assert set(rt["engines"]) == {"a"}
    row = rt["engines"]["a"]
    assert row["lines_per_frame_b1"] == 4  # 40 ms / 10 ms
    assert row["lines_per_frame_b32"] == 16  # 400 lines/s * 0.04 s
    need = row["speedup_needed"]
    # N < 8 uses the b1 latency: 5 lines * 10 ms = 50 ms -> 1.25x, fits with 2x
    assert need["1"] == {"frame_ms": 10.0, "speedup": 0.25, "fits": True, "fits_with_2x": True}
    assert need["5"]["speedup"] == pytest.approx(1.25)
    assert (need["5"]["fits"], need["5"]["fits_with_2x"]) == (False, True)
    # N = 10 uses b8's rate: 10 / 200 = 50 ms; N = 50 uses b32's: 125 ms -> 3.1x, 2x not enough
    assert need["10"]["frame_ms"] == pytest.approx(50.0)
    assert need["50"]["speedup"] == pytest.approx(3.125)
    assert (need["50"]["fits"], need["50"]["fits_with_2x"]) == (False, False)


def test_int8_is_flagged_only_when_it_loses_more_than_half_a_point():
    ok = {"onnx_ctc": {"cer": 0.050}, "onnx_ctc_int8": {"cer": 0.054}}
    bench.flag_int8(ok)
    assert ok["onnx_ctc_int8"]["holds_accuracy"] is True
    assert ok["onnx_ctc_int8"]["cer_delta_vs_fp32_points"] == pytest.approx(0.4)
    assert "flag" not in ok["onnx_ctc_int8"]
    bad = {"onnx_ctc": {"cer": 0.050}, "onnx_ctc_int8": {"cer": 0.060}}
    bench.flag_int8(bad)
    assert bad["onnx_ctc_int8"]["holds_accuracy"] is False
    assert "loses accuracy: CER +1.00 points" in bad["onnx_ctc_int8"]["flag"]


def test_matmul_peak_reports_the_best_size():
    peak = matmul_peak((32, 64), repeats=2)
    assert set(peak["by_size"]) == {"32", "64"}
    assert peak["gflops"] == max(peak["by_size"].values())
    assert all(is_rate(v) for v in peak["by_size"].values())


def test_peak_rss_sees_a_fresh_allocation():
    with bench.PeakRSS() as rss:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, every page touched
        # held for 10 samples: the probe samples every 5 ms, and under load (a full test run)
        # an allocation freed at once can fall between two samples
        time.sleep(0.05)
        del block
    assert 50 <= rss.peak_mb < 1000


def test_empty_and_missing_data_are_clear_errors(tmp_path):
    with pytest.raises(BenchError, match="'synth:n=0,seed=1' has no readable lines"):
        load_bench_data("synth:n=0,seed=1")
    (tmp_path / "labels.tsv").write_text("")
    with pytest.raises(OcrlabError, match=r"labels\.tsv: no usable samples"):
        load_bench_data(str(tmp_path))


def test_unknown_engine_is_refused(tmp_path):
    with pytest.raises(BenchError, match=r"unknown engine\(s\) \['fast'\]"):
        run_bench(tmp_path, engines=["fast"])


def test_missing_tesseract_and_ctc_only_lm_are_skipped_with_reasons(tmp_path, monkeypatch):
    checkpoint = tiny_checkpoint(tmp_path / "ctc")
    monkeypatch.setattr(
        tesseract, "tesseract_backend", lambda: (None, "tesseract is not installed (test)")
    )
    report = run_bench(
        checkpoint,
        data="synth:n=4,seed=11",
        engines=["tesseract", "lm_generate", "torch_ctc"],
        settings=tiny_settings(),
    )
    eng = report["engines"]
    assert eng["tesseract"]["skipped"] == "tesseract is not installed (test)"
    assert eng["tesseract"]["lines_per_s_b32"] is None and eng["tesseract"]["cer"] is None
    assert "no Q-Former/LM branch" in eng["lm_generate"]["skipped"]
    assert is_rate(eng["torch_ctc"]["lines_per_s_b32"])
    assert list(report["realtime"]["engines"]) == ["torch_ctc"]  # skipped ones have no row
    text = format_report(report)
    assert "tesseract         skipped: tesseract is not installed (test)" in text


def test_onnx_file_of_another_model_is_refused(tmp_path, capsys):
    from ocrlab.export import export_onnx

    other = OCRModel.from_pretrained(tiny_checkpoint(tmp_path / "a"))
    torch.manual_seed(1)
    for p in other.parameters():
        p.data.add_(0.01 * torch.randn_like(p))
    onnx_file = export_onnx(other, tmp_path / "other.onnx", dynamo=False)
    code = main(
        [
            "bench",
            str(tmp_path / "a"),
            "--data",
            "synth:n=2,seed=11",
            "--quick",
            "--engines",
            "onnx_ctc",
            "--onnx",
            str(onnx_file),
        ]
    )
    assert code == 2
    assert "other.onnx was not exported from this checkpoint" in capsys.readouterr().err


@pytest.mark.needs_tesseract
def test_tesseract_engine_reads_a_clean_word_with_one_openmp_thread_per_instance():
    """Debian's libtesseract uses OpenMP: the engine must run each instance with ONE thread
    (OMP_THREAD_LIMIT=1 before the library loads), as its users do for throughput. This
    fails if the workers run with the default, machine-wide OpenMP team."""
    backend, version = bench.tesseract_backend()
    assert backend is not None, version
    engine = bench_engines.TesseractEngine(backend, version, psm=8, instances=2)
    try:
        images = [
            render_line(w, seed=0, degrade=False, look="document") for w in ("hello", "world")
        ]
        assert engine.read(images, 8) == ["hello", "world"]
        assert engine.read(images[:1], 1) == ["hello"]
        assert "psm 8" in engine.description and "Tesseract 5" in engine.description
        assert "one OpenMP thread each" in engine.description
        workers = engine.threads["workers"]
        assert len(workers) == engine.threads["instances"] == 2
        assert len({w["pid"] for w in workers}) == 2  # two processes, not two threads
        assert all(w["omp_thread_limit"] == 1 for w in workers), workers
        assert engine.threads["threads_per_instance"] == 1
    finally:
        engine.close()


@pytest.mark.needs_tesseract
def test_bench_records_every_engines_threads_and_cross_checks_tesseract(tmp_path):
    """The JSON says how each engine used the cores (no more threads than cores) and gives
    Tesseract's rate from a second harness, the tesseract command, on the same images."""
    checkpoint = tiny_checkpoint(tmp_path)
    report = run_bench(
        checkpoint,
        data="synth:n=6,seed=11,preset=clean",
        engines=["torch_ctc", "tesseract"],
        settings=tiny_settings(threads=2),
    )
    for name, r in report["engines"].items():
        t = r["threads"]
        assert t["total"] == t["instances"] * t["threads_per_instance"], name
        assert t["oversubscribed"] is (t["total"] > t["cores"]), name
        assert not t["oversubscribed"] or t["cores"] < 2, name
    assert report["engines"]["torch_ctc"]["threads"]["threads_per_instance"] == 2
    tess = report["engines"]["tesseract"]
    assert tess["threads"]["instances"] == 2 and tess["threads"]["threads_per_instance"] == 1
    cross = tess["cross_check"]
    assert "tesseract command" in cross["harness"] and is_rate(cross["lines_per_s"])
    assert cross["engine_over_harness"] == pytest.approx(
        tess["lines_per_s_b8"] / cross["lines_per_s"], rel=0.01
    )
    assert isinstance(cross["agrees"], bool) and 0.0 <= cross["same_text_share"] <= 1.0


def test_bad_device_is_a_clear_error(tmp_path):
    with pytest.raises(BenchError, match="'tpu' is not a torch device"):
        run_bench(tmp_path, settings=tiny_settings(device="tpu"))
    if not torch.cuda.is_available():
        with pytest.raises(BenchError, match="sees no CUDA GPU; use --device cpu"):
            run_bench(tmp_path, settings=tiny_settings(device="cuda"))


def test_nonpositive_batch_size_is_refused(tmp_path):
    with pytest.raises(BenchError, match=r"batch sizes must be positive integers, got \(8, 0\)"):
        run_bench(tmp_path, settings=tiny_settings(batch_sizes=(8, 0)))


def test_bf16_engine_and_chosen_batch_sizes(tmp_path):
    """torch_ctc_bf16 reads under bf16 autocast and is held against the bf16 peak; throughput
    is measured at exactly the asked batch sizes."""
    checkpoint = tiny_checkpoint(tmp_path / "ctc")
    report = run_bench(
        checkpoint,
        data="synth:n=6,seed=11",
        engines=["torch_ctc", "torch_ctc_bf16"],
        settings=tiny_settings(batch_sizes=(4, 32)),
    )
    assert report["device"] == "cpu" and is_rate(report["matmul_bf16_gflops"])
    fp32, bf16 = report["engines"]["torch_ctc"], report["engines"]["torch_ctc_bf16"]
    assert "bf16 autocast" in bf16["description"] and "bf16" not in fp32["description"]
    assert {k for k in bf16 if k.startswith("lines_per_s_b")} == {
        "lines_per_s_b4",
        "lines_per_s_b32",
    }
    assert bf16["cer"] >= 0 and is_rate(bf16["lines_per_s_b32"])
    for r, peak in ((fp32, report["matmul_gflops"]), (bf16, report["matmul_bf16_gflops"])):
        assert r["fraction_of_peak"] == pytest.approx(
            report["gflop_per_line"] * r["lines_per_s_b32"] / peak, rel=0.02, abs=1e-4
        )
    assert "device cpu" in format_report(report)


def test_gpt2_sized_engine_generates_exactly_the_asked_tokens(tiny_lm, tmp_path):
    model = OCRModel.from_pretrained(tiny_checkpoint(tmp_path / "lm", lm_path=tiny_lm))
    dims = {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 64, "vocab_size": 300}
    engine = bench_engines.gpt2_engine(model, 2048, tokens=7, dims=dims)
    images = [render_line(t, seed=i, degrade=False) for i, t in enumerate(["ab", "c d e", "f"])]
    assert engine.read(images, 2) == ["", "", ""]  # random weights: timing only
    assert engine.generated_shape == (1, 7)  # the last batch: 1 line, exactly 7 tokens
    assert "1 layers, 16 wide, 300-token head" in engine.description
    assert "7 tokens generated per line" in engine.notes


# -- the whole command ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_report(tiny_lm, tmp_path_factory):
    """`ocrlab bench --quick --json` on a tiny checkpoint with a Q-Former + LM."""
    tmp = tmp_path_factory.mktemp("bench")
    checkpoint = tiny_checkpoint(tmp / "tiny", lm_path=tiny_lm)
    out = tmp / "results" / "bench.json"
    argv = [
        "bench",
        str(checkpoint),
        "--quick",
        "--data",
        "synth:n=6,seed=11",
        "--threads",
        "1",
        "--repeats",
        "1",
        "--no-cache",
        "--json",
        "--out",
        str(out),
    ]
    buf = io.StringIO()  # capsys is function-scoped; this fixture is shared by two tests
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    assert code == 0
    return json.loads(buf.getvalue()), json.loads(out.read_text()), checkpoint


def test_quick_report_is_well_formed(quick_report):
    report, saved, checkpoint = quick_report
    assert report == saved  # --out writes what --json prints
    assert report["command"].startswith(f"ocrlab bench {checkpoint} --data synth:n=6,seed=11")
    assert "--quick" in report["command"]
    assert report["machine"]["cpu_count"] >= 1 and "onnxruntime" in report["machine"]
    assert report["data"]["lines"] == 6 and report["data"]["median_width_px"] % 4 == 0
    assert is_rate(report["matmul_gflops"]) and report["gflop_per_line"] > 0
    assert list(report["engines"]) == list(ENGINES)  # quick: no GPT-2-sized engine
    have_tesseract = shutil.which("tesseract") is not None
    for name, r in report["engines"].items():
        if name == "tesseract" and not have_tesseract:
            assert "not installed" in r["skipped"]
            continue
        assert "skipped" not in r, (name, r.get("skipped"))
        assert r["latency_ms_b1_p95"] >= r["latency_ms_b1_p50"] >= 0  # order, not speed
        for b in (8, 32, 128):
            assert is_rate(r[f"lines_per_s_b{b}"])
        assert r["cer"] >= 0
        assert r["peak_rss_mb"] is None or r["peak_rss_mb"] >= 0
    lm = report["engines"]["lm_generate"]
    assert lm["lines"] == lm["latency_lines"] == 6  # the quick LM subset (16) holds all 6
    for name in ("torch_ctc", "onnx_ctc", "onnx_ctc_int8"):
        r = report["engines"][name]
        assert is_rate(r["forward_lines_per_s_b32"])
        assert r["fraction_of_peak"] == pytest.approx(
            report["gflop_per_line"] * r["lines_per_s_b32"] / report["matmul_gflops"],
            rel=0.02,
            abs=1e-4,  # the report rounds to 4 decimals
        )
    # the same images, the same model: ONNX fp32 reads what PyTorch reads
    assert report["engines"]["onnx_ctc"]["cer"] == report["engines"]["torch_ctc"]["cer"]
    fp32, int8 = report["engines"]["onnx_ctc"], report["engines"]["onnx_ctc_int8"]
    assert int8["holds_accuracy"] is (int8["cer"] - fp32["cer"] <= bench.INT8_CER_TOLERANCE)
    rt = report["realtime"]
    assert rt["budget_ms"] == 33.3
    assert set(rt["engines"]["torch_ctc"]["speedup_needed"]) == {"1", "5", "10", "20", "50"}


def test_quick_report_reads_as_tables(quick_report):
    text = format_report(quick_report[0])
    for part in ("engine", "CER %", "b32 l/s", "real time, budget 33.3 ms", "is 2x enough?"):
        assert part in text
    for name in ("torch_ctc", "onnx_ctc_int8", "lm_generate"):
        assert f"\n{name} " in text
