"""Screenshots of the seminar app's default view with a checkpoint, in Debian's Chromium:
the query attention over the default line and the query <-> character view, at 1280x800 and
1920x1080. For a model card; look at them after a change to the Q-Former.

    .venv/bin/python benchmarks/qformer_reading/app_screenshots.py CHECKPOINT OUT_DIR
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def main(checkpoint: str, out: str) -> int:
    spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    sys.modules["app"] = app
    spec.loader.exec_module(app)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = app.build_demo(checkpoint)
    _, url, _ = app.launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    Path(out).mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            for w, h in ((1280, 800), (1920, 1080)):
                page = browser.new_page(viewport={"width": w, "height": h})
                page.set_default_timeout(60_000)
                page.goto(url)
                expect(page.locator("#attention-plot .js-plotly-plot")).to_be_visible(
                    timeout=60_000
                )
                page.wait_for_timeout(1500)  # plotly's first draw
                page.screenshot(path=f"{out}/app_attention_{w}x{h}.png", full_page=True)
                page.get_by_role("tab", name="Query ↔ character").click()
                expect(page.locator("#correspondence-plot .js-plotly-plot")).to_be_visible()
                page.wait_for_timeout(1500)
                page.screenshot(path=f"{out}/app_correspondence_{w}x{h}.png", full_page=True)
                page.close()
            browser.close()
    finally:
        demo.close()
    print(f"wrote {out}/app_*.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
