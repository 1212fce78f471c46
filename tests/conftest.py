"""Shared test setup.

Tests that need a system package or an optional peer carry a marker (``needs_tesseract``,
``needs_chromium``, ``needs_cjk_font``, ``needs_rapidocr``, ``needs_easyocr``). On a user's
machine without the package they skip with the reason; in CI, where ``.ci/run`` installs the
packages and sets ``OCRLAB_REQUIRE_SYSTEM_DEPS=1``, the same absence is a failure, so a
forgotten install step cannot pass as a skip. With the flag set, EVERY skip is a failure
(``importorskip``, a missing compiler or checkpoint, a ``pytest.skip`` in a test body), except
the tests of a package CI cannot install (:data:`NOT_IN_CI`, which says why), and the session
prints how many tests were skipped.

Threads: ``make test`` runs two xdist workers on two cores; each worker's torch (and OpenMP)
gets one thread, so the workers do not fight over the cores (a test that took 15 s with one
thread took 843 s with two per worker under load).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

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


def _installed(what: str, present: Callable[[], bool]) -> Callable[[], str | None]:
    return lambda: None if present() else f"{what} is not installed"


def _peer(name: str) -> Callable[[], str | None]:
    from ocrlab.peers import unavailable

    return lambda: unavailable(name)


# marker -> a probe that returns why the test cannot run here (None: it can)
_SYSTEM_DEPS: dict[str, Callable[[], str | None]] = {
    "needs_tesseract": _installed("tesseract", lambda: shutil.which("tesseract") is not None),
    "needs_chromium": _installed("chromium", lambda: os.path.exists("/usr/bin/chromium")),
    "needs_cjk_font": _installed("a CJK font (Debian: fonts-noto-cjk)", _has_cjk_font),
    "needs_rapidocr": _peer("ppocr_v4"),
    "needs_easyocr": _peer("easyocr"),
}
# The only tests allowed to skip in CI: CI cannot install what they need, for this reason.
NOT_IN_CI = {
    "needs_easyocr": "no torchvision on PyPI imports beside the pinned CPU torch",
}
_cache: dict[str, str | None] = {}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, probe in _SYSTEM_DEPS.items():
        if item.get_closest_marker(marker) is None:
            continue
        if marker not in _cache:
            _cache[marker] = probe()
        message = _cache[marker]
        if message is None:
            continue
        if REQUIRE_SYSTEM_DEPS and marker in NOT_IN_CI:
            pytest.skip(f"{message} (a skip CI allows: {NOT_IN_CI[marker]})")
        if REQUIRE_SYSTEM_DEPS:
            pytest.fail(f"{message}, but OCRLAB_REQUIRE_SYSTEM_DEPS=1 (CI installs it)")
        pytest.skip(message)


def _not_in_ci(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(marker) for marker in NOT_IN_CI)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """With ``OCRLAB_REQUIRE_SYSTEM_DEPS=1`` a skipped test is a failed one, whatever skipped
    it, with the skip's reason in the report (the :data:`NOT_IN_CI` tests excepted)."""
    outcome = yield
    report = outcome.get_result()
    if (
        REQUIRE_SYSTEM_DEPS
        and report.skipped
        and not hasattr(report, "wasxfail")
        and not _not_in_ci(item)
    ):
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
            " (OCRLAB_REQUIRE_SYSTEM_DEPS=1 turns skips into failures, except those of "
            f"{', '.join(NOT_IN_CI)}: CI cannot install what they need)"
            if REQUIRE_SYSTEM_DEPS
            else ""
        )
    )


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    """A tiny random GPT-2 + character tokenizer saved in Hugging Face format (offline)."""
    from helpers import save_tiny_lm

    return str(save_tiny_lm("gpt2", tmp_path_factory.mktemp("tiny_lm")))
