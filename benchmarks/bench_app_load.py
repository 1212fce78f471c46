"""Load on the seminar demo: concurrent gradio_client clients calling ``recognize`` over loopback.

    .venv/bin/python benchmarks/bench_app_load.py [--clients 20] [--requests 10]
        [--checkpoint DIR] [--url http://127.0.0.1:7860/] [--out benchmarks/results/app_load.json]

Starts ``python app.py`` as its own process on a free loopback port (or uses ``--url``, an app
already running), waits until it serves, sends one warm-up request, then runs ``--clients``
threads, each with its own ``gradio_client.Client`` sending ``--requests`` requests one after
another (rendered clean lines, five different texts). Records every request's latency (from
``predict`` called to the result back, so queueing is included), the errors and whether each
reading was right; writes the JSON with the command and the machine. The server process is
stopped at the end. Target (issue 5): 20 clients x 10 requests with no errors; p50/p95 recorded.
The app computes ``app.CONCURRENCY`` requests at once and queues the rest (``app.QUEUE_SIZE``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from ocrlab.demo_app import typed_line
from ocrlab.machine import machine_info

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "Seminar 2026",
    "Invoice 42.50 EUR",
    "Open data",
    "The quick brown fox",
    "meet me at 10:30",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    checkpoint: str | None, timeout_s: float, log_path: Path
) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free loopback port, its output in ``log_path``; returns the
    process and its URL once it answers (RuntimeError with the server's output when it does not
    within ``timeout_s``)."""
    port = free_port()
    cmd = [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)]
    if checkpoint:
        cmd += ["--checkpoint", checkpoint]
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(url + "gradio_api/info", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    output = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the app did not start within {timeout_s:.0f} s:\n{output}")


def run_client(url: str, images: list[tuple[str, str]], n: int, offset: int, out: list) -> None:
    """One client: ``n`` requests one after another; appends (latency_s, error, correct)."""
    from gradio_client import Client, handle_file

    try:
        client = Client(url, verbose=False)
    except Exception as exc:  # a client that cannot connect counts its requests as errors
        out.extend((float("nan"), f"connect: {type(exc).__name__}: {exc}", False) for _ in range(n))
        return
    for i in range(n):
        path, text = images[(offset + i) % len(images)]
        start = time.perf_counter()
        try:
            got, _ = client.predict(handle_file(path), api_name="/recognize")
            out.append((time.perf_counter() - start, None, got == text))
        except Exception as exc:
            out.append((time.perf_counter() - start, f"{type(exc).__name__}: {exc}", False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=10, help="requests per client")
    ap.add_argument("--checkpoint", default=None, help="checkpoint the started app loads")
    ap.add_argument("--url", default=None, help="an app already running (nothing is started)")
    ap.add_argument("--start-timeout", type=float, default=300.0, help="seconds to wait for app.py")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "app_load.json"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ocrlab-app-load-"))
    images = []
    for i, text in enumerate(TEXTS):
        path = tmp / f"line{i}.png"
        typed_line(text, font="DejaVu Sans", preset="clean", seed=i).save(path)
        images.append((str(path), text))

    proc = None
    t0 = time.perf_counter()
    if args.url:
        url = args.url if args.url.endswith("/") else args.url + "/"
    else:
        proc, url = start_server(args.checkpoint, args.start_timeout, tmp / "server.log")
    startup_s = time.perf_counter() - t0
    try:
        warm: list = []
        run_client(url, images, 1, 0, warm)  # first-call costs stay out of the numbers
        results: list[list] = [[] for _ in range(args.clients)]
        threads = [
            threading.Thread(target=run_client, args=(url, images, args.requests, c, results[c]))
            for c in range(args.clients)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    flat = [r for rs in results for r in rs]
    ok = np.array([lat for lat, err, _ in flat if err is None])
    errors = [err for _, err, _ in flat if err is not None]
    pct = (lambda q: round(float(np.percentile(ok, q)) * 1e3, 1)) if ok.size else (lambda q: None)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info("gradio", "gradio_client", "torch"),
        "server": "started by this script (app.py)" if proc is not None else url,
        "server_startup_s": round(startup_s, 1) if proc is not None else None,
        "clients": args.clients,
        "requests_per_client": args.requests,
        "requests": len(flat),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "correct_readings": sum(1 for _, err, right in flat if err is None and right),
        "warm_up_error": warm[0][1] if warm else None,
        "latency_ms_p50": pct(50),
        "latency_ms_p95": pct(95),
        "latency_ms_max": round(float(ok.max()) * 1e3, 1) if ok.size else None,
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(flat) / wall, 2) if wall > 0 else None,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "target": "no errors with 20 clients x 10 requests; p50/p95 recorded",
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
