"""The bench report as aligned text tables: engines, real time, and "is 2x enough"."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any, spec: str = ".1f", none: str = "—") -> str:
    return none if value is None else format(value, spec)


def format_report(report: dict[str, Any]) -> str:
    """The report as aligned text tables: engines, real time, and "is 2x enough"."""
    d, m, s = report["data"], report["machine"], report["settings"]
    skipped = f", {d['skipped']} unreadable skipped" if d["skipped"] else ""
    lines = [
        f"ocrlab bench — {report['checkpoint']} on {d['spec']} ({d['lines']} lines"
        f"{skipped}, median width "
        f"{d['median_width_px']} px, {d['mean_chars']} chars/line), threads: {s['threads']}"
        f"{', quick' if s['quick'] else ''}",
        f"machine: {m.get('cpu')}, {m.get('cpu_count')} cores, load {m.get('load_average_1m')}"
        + (f"; GPU {m.get('gpu')}" if report.get("device", "cpu").startswith("cuda") else "")
        + f"; device {report.get('device', 'cpu')}; "
        f"fp32 matmul peak {report['matmul_gflops']:.1f} GFLOP/s"
        + (
            f" (bf16 {report['matmul_bf16_gflops']:.0f})"
            if report.get("matmul_bf16_gflops")
            else ""
        )
        + "; model "
        f"{report['gflop_per_line']:.3f} GFLOP/line at {d['median_width_px']} px",
        "",
    ]
    bs = s["batch_sizes"]
    on_gpu = report.get("device", "cpu").startswith("cuda")
    mem_head, mem_key = ("GPU MB", "peak_gpu_mb") if on_gpu else ("RSS MB", "peak_rss_mb")
    head = (
        f"{'engine':<18}{'CER %':>7}{'b1 p50 ms':>11}{'b1 p95 ms':>11}"
        + "".join(f"{f'b{b} l/s':>10}" for b in bs)
        + f"{'fwd b32':>9}{'% peak':>8}{mem_head:>8}"
    )
    lines += [head, "-" * len(head)]
    notes = []
    for name, r in report["engines"].items():
        if r.get("skipped"):
            lines.append(f"{name:<18}skipped: {r['skipped']}")
            continue
        cer = None if r.get("cer") is None else 100 * r["cer"]
        frac = r.get("fraction_of_peak")
        row = (
            f"{name:<18}{_fmt(cer, '.2f'):>7}{_fmt(r['latency_ms_b1_p50'], '.2f'):>11}"
            f"{_fmt(r['latency_ms_b1_p95'], '.2f'):>11}"
            + "".join(f"{_fmt(r.get(f'lines_per_s_b{b}'), '.1f'):>10}" for b in bs)
            + f"{_fmt(r.get('forward_lines_per_s_b32'), '.0f'):>9}"
            + f"{_fmt(None if frac is None else 100 * frac, '.1f'):>8}"
            + f"{_fmt(r.get(mem_key, r.get('peak_rss_mb')), '.0f'):>8}"
        )
        lines.append(row)
        if r["lines"] != d["lines"]:
            notes.append(f"{name}: measured on the first {r['lines']} lines")
        if r.get("flag"):
            notes.append(f"{name}: {r['flag']}")
        if r.get("notes"):
            notes.append(f"{name}: {r['notes']}")
        t = r.get("threads")
        if t:
            over = " — OVERSUBSCRIBED" if t.get("oversubscribed") else ""
            notes.append(
                f"{name}: {t['instances']} instance(s) x {t['threads_per_instance']} thread(s) "
                f"on {t['cores']} cores{over}"
            )
        cross = r.get("cross_check")
        if cross and "error" not in cross:
            verdict = "agrees" if cross["agrees"] else "DISAGREES"
            notes.append(
                f"{name}: cross-check {cross['lines_per_s']:.1f} lines/s by the {cross['harness']}"
                f"; engine/harness {cross['engine_over_harness']:.2f} ({verdict}, tolerance "
                f"{100 * cross['tolerance']:.0f}%)"
            )
        elif cross:
            notes.append(f"{name}: cross-check failed: {cross['error']}")
    lines += [f"  note: {n}" for n in notes]

    rt = report["realtime"]
    lines += [
        "",
        f"real time, budget {rt['budget_ms']} ms ({rt['fps']} fps): lines per frame",
        f"{'engine':<18}{'one by one':>12}{'batched (b32 rate)':>20}",
    ]
    for name, row in rt["engines"].items():
        lines.append(
            f"{name:<18}{_fmt(row['lines_per_frame_b1'], 'd'):>12}{row['lines_per_frame_b32']:>20d}"
        )
    ns = list(next(iter(rt["engines"].values()))["speedup_needed"]) if rt["engines"] else []
    lines += [
        "",
        "is 2x enough? speedup needed to read N lines per frame "
        "(<= 1 fits now; * a 2x speedup makes it fit; ! even 2x is not enough)",
        f"{'engine':<18}" + "".join(f"{f'N={n}':>10}" for n in ns),
    ]
    for name, row in rt["engines"].items():
        cells = []
        for n in ns:
            c = row["speedup_needed"][n]
            mark = "" if c["fits"] else ("*" if c["fits_with_2x"] else "!")
            cells.append(f"{c['speedup']:>9.2f}{mark or ' '}")
        lines.append(f"{name:<18}" + "".join(cells))
    lines.append(f"\n({report['seconds']} s; {report['command']})")
    return "\n".join(lines)
