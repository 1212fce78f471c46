"""The character tokenizer and the pretraining of the embedded LM (tiny, offline)."""

from __future__ import annotations

import argparse
import json
import math
import random
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ocrlab.errors import OcrlabError
from ocrlab.lm.pretrain import evaluate_perplexity, pretrain_char_lm, unigram_perplexity
from ocrlab.lm.tokenizer import SPECIAL_TOKENS, build_char_tokenizer

try:
    from ocrlab.charset import Charset

    LATIN = Charset.preset("latin")
except (ImportError, AttributeError):  # Part A still in progress: the same 95 characters
    LATIN = string.printable[:95]

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "that",
    "for",
    "on",
    "with",
    "as",
    "by",
    "at",
    "from",
    "this",
    "have",
    "not",
    "are",
    "but",
    "one",
    "all",
    "were",
    "when",
    "there",
    "can",
    "more",
    "time",
    "about",
    "would",
    "said",
    "some",
    "which",
    "into",
    "first",
    "then",
    "people",
    "water",
    "number",
    "other",
    "could",
    "these",
    "way",
    "each",
]


class TinyText:
    """A deterministic stand-in text source: line i is always the same few common words."""

    def sample(self, index: int) -> str:
        rng = random.Random(index)
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))


@pytest.fixture
def one_thread() -> Iterator[None]:
    # Two cores shared with other jobs: a second intra-op thread mostly waits for a busy core.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_tokenizer_round_trip() -> None:
    tok = build_char_tokenizer(LATIN)
    assert len(tok) == len(SPECIAL_TOKENS) + 95
    assert [tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id] == [0, 1, 2, 3]
    for text in ["Hello, world!", "  two  spaces  ", " ", "", "a\\b'c\"d~`{}", "$12.99 (AB-1234)"]:
        ids = tok.encode(text, add_special_tokens=False)
        assert len(ids) == len(text)  # one token per character, spaces included
        assert tok.decode(ids) == text


def test_tokenizer_unknown_characters() -> None:
    tok = build_char_tokenizer(LATIN)
    ids = tok.encode("né€\n", add_special_tokens=False)
    assert ids == [tok.convert_tokens_to_ids("n"), *[tok.unk_token_id] * 3]
    assert tok.decode(ids, skip_special_tokens=True) == "n"


def test_tokenizer_other_scripts_and_multi_codepoint_chars() -> None:
    tok = build_char_tokenizer(["あ", "い", "が", "e\u0301", "e"])
    text = "あいがe\u0301e"
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) == 5 and tok.unk_token_id not in ids
    assert tok.decode(ids) == text


def test_tokenizer_rejects_bad_vocabularies() -> None:
    with pytest.raises(OcrlabError, match="twice"):
        build_char_tokenizer("abca")
    with pytest.raises(OcrlabError, match="no characters"):
        build_char_tokenizer("")


def test_tokenizer_saves_and_loads_offline(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    build_char_tokenizer(LATIN).save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = "Round trip, 100% exact."
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    assert tok.eos_token == "<eos>" and tok.unk_token == "<unk>"


def test_unigram_perplexity() -> None:
    # p(a) = 2/3, p(b) = 1/3 over "aab"
    expected = math.exp(-(2 * math.log(2 / 3) + math.log(1 / 3)) / 3)
    assert unigram_perplexity(["aa", "b"]) == pytest.approx(expected)
    assert unigram_perplexity(["abcd"]) == pytest.approx(4.0)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_tiny_pretrain_saves_reloads_and_beats_unigram(
    arch: str, tmp_path: Path, one_thread: None
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "charlm"
    report = pretrain_char_lm(
        out,
        arch=arch,
        size="tiny",
        steps=100,
        seed=0,
        text_source=TinyText(),
        charset=LATIN,
        batch_size=32,
        eval_lines=200,
        progress=False,
    )
    assert report["perplexity"] < 0.75 * report["unigram_perplexity"], report
    assert report["beats_unigram"]
    assert report["unk_rate"] == 0
    saved = json.loads((out / "lm_report.json").read_text())
    assert saved["perplexity"] == pytest.approx(report["perplexity"])
    assert "command" in saved and saved["arch"] == arch and saved["steps"] == 100
    assert (out / "model.safetensors").exists()
    assert not list(tmp_path.glob(".charlm.tmp-*"))  # the temporary directory is gone

    model = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    heldout = [TinyText().sample(1_000_000_000 + i) for i in range(200)]
    assert evaluate_perplexity(model, tok, heldout) == pytest.approx(report["perplexity"], rel=1e-4)


def test_pretrain_refuses_existing_output(tmp_path: Path) -> None:
    with pytest.raises(OcrlabError, match="already exists"):
        pretrain_char_lm(tmp_path, size="tiny", steps=1, text_source=TinyText(), charset=LATIN)


def test_cli_parses_pretrain() -> None:
    from ocrlab.lm.cli import add_lm_commands

    parser = argparse.ArgumentParser(prog="ocrlab")
    add_lm_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["lm", "pretrain", "--out", "x", "--size", "tiny", "--arch", "llama"])
    assert (args.out, args.size, args.arch, args.steps) == ("x", "tiny", "llama", None)
    assert callable(args.func)
