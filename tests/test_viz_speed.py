"""ocrlab.viz.speed: the bench, Python-vs-C and frontier figures, on hand-written reports with
the structure of real ones (the real-time table comes from ocrlab.bench.realtime_table)."""

from __future__ import annotations

import copy
import math

import pytest

from ocrlab.bench import realtime_table
from ocrlab.errors import OcrlabError
from ocrlab.viz import (
    frontier_figure,
    frontier_points_from_bench,
    latency_figure,
    python_vs_c_figure,
    realtime_figure,
    throughput_figure,
)


def _measured(p50, p95, b8, b32, b128, cer, **extra):
    return {
        "lines": 200,
        "latency_ms_b1_p50": p50,
        "latency_ms_b1_p95": p95,
        "latency_lines": 30,
        "lines_per_s_b8": b8,
        "lines_per_s_b32": b32,
        "lines_per_s_b128": b128,
        "forward_lines_per_s_b32": b32 * 1.2,
        "cer": cer,
        "accuracy": None if cer is None else round(1 - 5 * cer, 3),
        "description": "test engine",
        **extra,
    }


def _skipped(reason):
    return {
        "skipped": reason,
        "latency_ms_b1_p50": None,
        "cer": None,
        "lines_per_s_b8": None,
        "lines_per_s_b32": None,
        "lines_per_s_b128": None,
    }


def make_report(budget_ms: float = 33.3) -> dict:
    """A bench report as run_bench writes it: three CTC engines, a GPT-2 timing-only engine
    (no CER), and two skipped engines."""
    engines = {
        "torch_ctc": _measured(12.0, 20.0, 150.0, 400.0, 450.0, 0.04),
        "onnx_ctc": _measured(4.0, 6.0, 500.0, 900.0, 950.0, 0.04),
        "onnx_ctc_int8": _measured(3.0, 5.0, 700.0, 1200.0, 1300.0, 0.043),
        "lm_generate": _skipped("the model has no Q-Former/LM branch (a CTC-only checkpoint)"),
        "tesseract": _skipped("tesseract is not installed (no libtesseract, no pytesseract)"),
        "lm_generate_gpt2": {
            **_measured(900.0, 1100.0, 3.0, 5.0, 5.5, None),
            "lines": 128,
            "description": "LM path with a GPT-2-sized LM: timing only",
        },
    }
    return {
        "command": "ocrlab bench models/ocrlab-small-v2 --quick",
        "checkpoint": "models/ocrlab-small-v2",
        "machine": {"cpu": "Test CPU", "cpu_count": 2},
        "data": {"spec": "synth:n=200,seed=11", "lines": 200, "skipped": 0},
        "settings": {"batch_sizes": [8, 32, 128], "budget_ms": budget_ms, "threads": 2},
        "engines": engines,
        "realtime": realtime_table(engines, budget_ms, batch_sizes=(8, 32, 128)),
    }


def _title_text(fig) -> str:
    t = fig.layout.title
    return f"{t.text} {t.subtitle.text or ''}"


# -- throughput / latency -------------------------------------------------------------------


def test_throughput_has_one_log_line_per_measured_engine_and_names_the_skipped():
    fig = throughput_figure(make_report())
    names = [t.name for t in fig.data]
    assert names == ["torch_ctc", "onnx_ctc", "onnx_ctc_int8", "lm_generate_gpt2"]
    assert fig.layout.yaxis.type == "log"
    torch_line = fig.data[0]
    assert list(torch_line.x) == [1, 8, 32, 128]
    # batch 1 comes from the p50 latency: 1000 / 12 ms
    assert torch_line.y[0] == pytest.approx(1000 / 12.0)
    assert list(torch_line.y[1:]) == [150.0, 400.0, 450.0]
    text = _title_text(fig)
    assert "skipped: lm_generate (the model has no Q-Former/LM branch" in text
    assert "skipped: tesseract (tesseract is not installed" in text
    assert fig.layout.template.layout.plot_bgcolor == "white"  # plotly_white


def test_throughput_of_a_report_that_is_not_one_is_a_clear_error():
    with pytest.raises(OcrlabError, match="not an `ocrlab bench` report"):
        throughput_figure({"decode": []})


def test_latency_bars_and_the_budget_line():
    report = make_report()
    fig = latency_figure(report)
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert [t.name for t in fig.data] == ["p50 latency", "p95 latency"]
    assert list(fig.data[0].x) == ["torch_ctc", "onnx_ctc", "onnx_ctc_int8", "lm_generate_gpt2"]
    assert list(fig.data[1].y) == [20.0, 6.0, 5.0, 1100.0]
    budget_lines = [s for s in fig.layout.shapes if s.y0 == s.y1]
    assert [s.y0 for s in budget_lines] == [33.3]
    # 3 ms .. 1100 ms spans more than 50x: log axis chosen by itself
    assert fig.layout.yaxis.type == "log"
    label = next(a for a in fig.layout.annotations if "frame budget" in a.text)
    assert label.y == pytest.approx(math.log10(33.3))
    assert "skipped: tesseract" in _title_text(fig)

    fig = latency_figure(report, budget_ms=16.7, log_y=False)
    assert [s.y0 for s in fig.layout.shapes if s.y0 == s.y1] == [16.7]
    assert fig.layout.yaxis.type != "log"
    label = next(a for a in fig.layout.annotations if "frame budget" in a.text)
    assert "16.7 ms (60 fps)" in label.text and label.y == 16.7


# -- real time ------------------------------------------------------------------------------


def test_realtime_panels_follow_the_table_and_mark_the_2x_line():
    report = make_report()
    rt = report["realtime"]["engines"]
    fig = realtime_figure(report)
    bars = [t for t in fig.data if t.type == "bar"]
    lines = [t for t in fig.data if t.type == "scatter"]
    assert len(bars) == 2  # one by one, batched
    assert [t.name for t in lines] == list(rt)  # the 4 measured engines, none skipped
    assert list(bars[0].y) == [rt[n]["lines_per_frame_b1"] for n in rt]
    assert list(bars[1].y) == [rt[n]["lines_per_frame_b32"] for n in rt]
    assert list(bars[0].y)[:3] == [2, 8, 11]  # floor(33.3 / p50)
    onnx = lines[1]
    assert list(onnx.x) == [1, 5, 10, 20, 50]
    assert list(onnx.y) == [rt["onnx_ctc"]["speedup_needed"][str(n)]["speedup"] for n in onnx.x]
    assert fig.layout.yaxis2.type == "log" and fig.layout.xaxis2.type == "log"
    # the 1x and 2x lines and the band between them, on the speedup panel
    hlines = sorted(s.y0 for s in fig.layout.shapes if s.type == "line")
    assert hlines == [1, 2]
    assert any(s.type == "rect" and (s.y0, s.y1) == (1, 2) for s in fig.layout.shapes)
    # labels on a log axis are placed in log10 units (plotly's add_hline would put "2x" at 100x)
    label = next(a for a in fig.layout.annotations if "2x faster engine fits below" in a.text)
    assert (label.yref, label.y) == ("y2", pytest.approx(math.log10(2)))
    # markers say which N fit now, with 2x, or not even then
    torch_cells = rt["torch_ctc"]["speedup_needed"]
    symbols = list(lines[0].marker.symbol)
    for n, symbol in zip(["1", "5", "10", "20", "50"], symbols, strict=True):
        cell = torch_cells[n]
        expected = "circle" if cell["fits"] else "diamond" if cell["fits_with_2x"] else "x"
        assert symbol == expected
    assert set(symbols) == {"circle", "diamond", "x"}  # the test report exercises all three
    text = _title_text(fig)
    assert "is 2x faster enough?" in text
    assert "torch_ctc: fits N = 1 now; 2x adds N = 5" in text
    assert "lm_generate_gpt2: fits no N now; 2x adds nothing" in text
    assert "skipped: lm_generate" in text


def test_realtime_with_nothing_measured_says_so():
    report = make_report()
    for name in list(report["engines"]):
        report["engines"][name] = _skipped("not here")
    report["realtime"] = realtime_table(report["engines"], 33.3)
    fig = realtime_figure(report)
    assert [t for t in fig.data if t.type == "scatter"] == []
    assert sum("no engine was measured" in a.text for a in fig.layout.annotations) == 2


# -- Python vs C ----------------------------------------------------------------------------


def _timing(ms, c_ms, B=32):
    return {"ms": ms, "ms_best": ms, "runs": 3, "us_per_line": 1000 * ms / B, "x_vs_c": ms / c_ms}


def make_python_vs_c(pipeline: bool = True) -> dict:
    decode = []
    for T, scale in ((128, 1.0), (512, 4.0)):
        c = 0.1 * scale
        decode.append(
            {
                "shape": [32, T, 96],
                "agree": {"greedy": True, "beam": True},
                "greedy": {
                    k: _timing(v * scale, c)
                    for k, v in {
                        "python": 3.0,
                        "numpy": 0.4,
                        "torch": 0.5,
                        "c": 0.1,
                        "c_kernel": 0.02,
                        "numpy_kernel": 0.2,
                    }.items()
                },
                "beam": {
                    k: _timing(v * scale * 10, c * 10)
                    for k, v in {
                        "python": 20.0,
                        "numpy": 8.0,
                        "torch": 15.0,
                        "c": 0.1,
                        "c_kernel": 0.08,
                    }.items()
                },
            }
        )
    result = {
        "machine": {"cpu": "Test CPU"},
        "compiler": {"cc": "cc (Debian 12.2.0) 12.2.0", "flags": ["-O3"]},
        "settings": {"threads": 2, "beam_width": 10, "quick": False},
        "decode": decode,
    }
    if pipeline:
        stages = {
            "load (PNG decode)": 0.05,
            "preprocess (LineTransform + padding)": 0.1,
            "forward (encoder + CTC head, torch)": 2.0,
            "greedy decode (library, torch)": 0.01,
            "greedy decode (C)": 0.002,
            "beam decode w10 (library, Python)": 1.8,
            "beam decode w10 (C, search only)": 0.01,
        }
        total = 0.05 + 0.1 + 2.0 + 0.01
        result["pipeline"] = {
            "checkpoint": "models/ocrlab-small-v2",
            "data": "synth:n=256,seed=11",
            "lines": 256,
            "batch_size": 32,
            "median_width_px": 300,
            "stages": {
                k: {"ms": v * 256, "ms_per_line": v, "share_of_greedy_pipeline": v / total}
                for k, v in stages.items()
            },
        }
    return result


def test_python_vs_c_ratios_on_log_axes_and_the_pipeline_panel():
    fig = python_vs_c_figure(make_python_vs_c())
    bars = list(fig.data)
    # 2 shapes x (greedy, beam) + the pipeline
    assert len(bars) == 5 and all(t.orientation == "h" for t in bars)
    greedy_128 = bars[0]
    assert list(greedy_128.y)[:4] == ["pure Python", "NumPy", "torch (library)", "C (via ctypes)"]
    assert list(greedy_128.x)[:4] == pytest.approx([30.0, 4.0, 5.0, 1.0])
    beam_512 = bars[3]
    assert beam_512.xaxis == "x2" and beam_512.x[0] == pytest.approx(200.0)
    for axis in (fig.layout.xaxis, fig.layout.xaxis2, fig.layout.xaxis3):
        assert axis.type == "log"
    pipeline = bars[4]
    assert pipeline.xaxis == "x3"
    assert "forward (encoder + CTC head, torch)" in pipeline.y
    assert max(pipeline.x) == 2.0
    # a vertical "= C" line on both decoder panels
    assert sorted(s.x0 for s in fig.layout.shapes if s.x0 == s.x1) == [1, 1]
    assert "all agree" in _title_text(fig)


def test_python_vs_c_without_pipeline_has_two_panels_and_flags_disagreement():
    result = make_python_vs_c(pipeline=False)
    result["decode"][1]["agree"]["beam"] = False
    fig = python_vs_c_figure(result)
    assert len(fig.data) == 4
    assert "xaxis3" not in fig.layout.to_plotly_json()
    assert fig.layout.xaxis.type == fig.layout.xaxis2.type == "log"
    assert "VARIANTS DISAGREE" in _title_text(fig)
    with pytest.raises(OcrlabError, match="not a python_vs_c result"):
        python_vs_c_figure(make_report())


# -- frontier -------------------------------------------------------------------------------


def test_frontier_points_from_bench_skip_skipped_engines_and_group_them():
    report = make_report()
    report["engines"]["tesseract"] = {
        **_measured(30.0, 40.0, 60.0, 60.0, 60.0, 0.12),
        "description": "Tesseract 5.3.0 (libtesseract C API via ctypes), psm 7, lang eng",
    }
    points = frontier_points_from_bench(report, "ocrlab small", name_prefix="small · ")
    by_name = {p["name"]: p for p in points}
    assert set(by_name) == {
        "small · torch_ctc",
        "small · onnx_ctc",
        "small · onnx_ctc_int8",
        "small · tesseract",
        "small · lm_generate_gpt2",
    }  # lm_generate was skipped
    assert by_name["small · onnx_ctc"]["group"] == "ocrlab small"
    assert by_name["small · tesseract"]["group"] == "Tesseract 5"
    gpt2 = by_name["small · lm_generate_gpt2"]
    assert gpt2["group"] == "LM decoding" and gpt2["cer"] is None
    assert "first 128 of 200 lines" in gpt2["note"] and "timing only" in gpt2["note"]
    assert by_name["small · torch_ctc"]["lines_per_s_b32"] == 400.0
    assert by_name["small · torch_ctc"]["latency_ms_b1_p50"] == 12.0
    assert set(by_name["small · torch_ctc"]) == {
        "name",
        "group",
        "cer",
        "accuracy",
        "lines_per_s_b32",
        "latency_ms_b1_p50",
        "note",
    }
    regrouped = frontier_points_from_bench(report, "tiny", groups={"tesseract": "baseline"})
    assert {p["group"] for p in regrouped} == {"tiny", "baseline", "LM decoding"}


def test_frontier_joins_groups_and_keeps_points_without_accuracy_off_zero():
    points = frontier_points_from_bench(make_report(), "ocrlab small", "small · ")
    points += [
        {
            "name": "tiny · onnx_ctc",
            "group": "ocrlab tiny",
            "cer": 0.12,
            "accuracy": 0.6,
            "lines_per_s_b32": 3000.0,
            "latency_ms_b1_p50": 1.0,
        },
        {
            "name": "tiny · torch_ctc",
            "group": "ocrlab tiny",
            "cer": 0.12,
            "accuracy": 0.6,
            "lines_per_s_b32": 1500.0,
            "latency_ms_b1_p50": 2.0,
        },
        {
            "name": "no speed",
            "group": "ocrlab tiny",
            "cer": 0.5,
            "accuracy": 0.1,
            "lines_per_s_b32": None,
            "latency_ms_b1_p50": None,
        },
    ]
    fig = frontier_figure(points)
    main = [t for t in fig.data if t.yaxis == "y"]
    rug = [t for t in fig.data if t.yaxis == "y2"]
    assert [t.name for t in main] == ["ocrlab small", "ocrlab tiny"]
    assert all("lines" in t.mode and "text" in t.mode for t in main)
    small = main[0]
    assert list(small.x) == [400.0, 900.0, 1200.0]  # joined in order of speed
    assert list(small.y) == pytest.approx([4.0, 4.0, 4.3])  # CER in %
    assert list(main[1].x) == [1500.0, 3000.0]
    # the GPT-2 engine has no CER: not on the CER axis at 0, on the speed-only strip
    assert 5.0 not in list(small.x) and 0.0 not in [v for t in main for v in t.y]
    assert len(rug) == 1 and list(rug[0].x) == [5.0]
    assert list(rug[0].text) == ["small · lm_generate_gpt2"]
    assert rug[0].showlegend is True  # its group has no point with a CER
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type == "log"
    assert "not placed (no lines_per_s_b32): no speed" in _title_text(fig)


def test_frontier_by_accuracy_and_latency_without_speed_only_points():
    points = [
        p
        for p in frontier_points_from_bench(make_report(), "ocrlab small")
        if p["accuracy"] is not None
    ]
    fig = frontier_figure(points, metric="accuracy", x="latency_ms_b1_p50")
    assert len(fig.data) == 1 and "xaxis2" not in fig.layout.to_plotly_json()
    assert list(fig.data[0].x) == [3.0, 4.0, 12.0]
    assert list(fig.data[0].y) == pytest.approx([78.5, 80.0, 80.0])
    assert fig.layout.xaxis.type == "log"
    assert "left is faster" in fig.layout.xaxis.title.text
    assert "higher is better" in fig.layout.yaxis.title.text


def test_figures_do_not_modify_the_report():
    report = make_report()
    before = copy.deepcopy(report)
    throughput_figure(report)
    latency_figure(report)
    realtime_figure(report)
    frontier_figure(frontier_points_from_bench(report, "g"))
    assert report == before
