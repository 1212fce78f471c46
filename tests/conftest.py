"""Shared test setup.

Tests that need a system package carry a marker (``needs_tesseract``, ``needs_chromium``,
``needs_cjk_font``). On a user's machine without the package they skip with the reason; in CI,
where ``.ci/run`` installs the packages and sets ``OCRLAB_REQUIRE_SYSTEM_DEPS=1``, the same
absence is a failure, so a forgotten install step cannot pass as a skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

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


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    """A tiny random GPT-2 + character tokenizer saved in Hugging Face format (offline)."""
    from helpers import save_tiny_lm

    return str(save_tiny_lm("gpt2", tmp_path_factory.mktemp("tiny_lm")))
