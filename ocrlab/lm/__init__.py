"""The small embedded causal LM: a character tokenizer and the pretraining that makes the LM.

Names are imported on first use, so that ``ocrlab.lm.cli`` (imported by the ``ocrlab`` command
line) does not pull in torch and transformers for unrelated subcommands.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["build_char_tokenizer", "evaluate_perplexity", "pretrain_char_lm", "unigram_perplexity"]

_HOME = {
    "build_char_tokenizer": ".tokenizer",
    "evaluate_perplexity": ".pretrain",
    "pretrain_char_lm": ".pretrain",
    "unigram_perplexity": ".pretrain",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOME[name], __name__), name)
