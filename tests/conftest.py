"""Shared test setup.

Tests that need a system package carry a marker (``needs_tesseract``, ``needs_chromium``,
``needs_cjk_font``). On a user's machine without the package they skip with the reason; in CI,
where ``.ci/run`` installs the packages and sets ``OCRLAB_REQUIRE_SYSTEM_DEPS=1``, the same
absence is a failure, so a forgotten install step cannot pass as a skip. With the flag set,
EVERY skip is a failure (``importorskip``, a missing compiler or checkpoint, a ``pytest.skip``
in a test body), and the session prints how many tests were skipped.

Threads: ``make test`` runs two xdist workers on two cores; each worker's torch (and OpenMP)
gets one thread, so the workers do not fight over the cores (a test that took 15 s with one
thread took 843 s with two per worker under load).
"""

from __future__ import annotations

import os
import shutil

if os.environ.get("PYTEST_XDIST_WORKER"):
    # before torch (or any OpenMP library) is imported by a test module
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

REQUIRE_SYSTEM_DEPS = os.environ.get("OCRLAB_REQUIRE_SYSTEM_DEPS") == "1"

# Nothing in the tests may reach a model hub: every LM is built in-process and saved to a tmp dir.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _has_cjk_font() -> bool:
    from ocrlab.data.fonts import find_fonts

    return any(f.supports("日本語のテキスト") for f in find_fonts())


_SYSTEM_DEPS = {
    "needs_tesseract": ("tesseract", lambda: shutil.which("tesseract") is not None),
    "needs_chromium": ("chromium", lambda: os.path.exists("/usr/bin/chromium")),
    "needs_cjk_font": ("a CJK font (Debian: fonts-noto-cjk)", _has_cjk_font),
}
_cache: dict[str, bool] = {}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, (what, probe) in _SYSTEM_DEPS.items():
        if item.get_closest_marker(marker) is None:
            continue
        if marker not in _cache:
            _cache[marker] = probe()
        if not _cache[marker]:
            message = f"{what} is not installed"
            if REQUIRE_SYSTEM_DEPS:
                pytest.fail(f"{message}, but OCRLAB_REQUIRE_SYSTEM_DEPS=1 (CI installs it)")
            pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """With ``OCRLAB_REQUIRE_SYSTEM_DEPS=1`` a skipped test is a failed one, whatever skipped
    it, with the skip's reason in the report."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SYSTEM_DEPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"skipped ({reason}), but OCRLAB_REQUIRE_SYSTEM_DEPS=1: CI must run every test"
        )


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module skipped at collection (``importorskip`` at the top) fails CI the same way."""
    if REQUIRE_SYSTEM_DEPS and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"module skipped ({reason}), but OCRLAB_REQUIRE_SYSTEM_DEPS=1"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    skipped = len(terminalreporter.stats.get("skipped", []))
    terminalreporter.write_line(
        f"ocrlab: {skipped} test(s) skipped"
        + (
            " (OCRLAB_REQUIRE_SYSTEM_DEPS=1 turns skips into failures)"
            if REQUIRE_SYSTEM_DEPS
            else ""
        )
    )


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    """A tiny random GPT-2 + character tokenizer saved in Hugging Face format (offline)."""
    from helpers import save_tiny_lm

    return str(save_tiny_lm("gpt2", tmp_path_factory.mktemp("tiny_lm")))
