from __future__ import annotations

import pytest

from ocrlab.metrics import apply_protocol, line_errors, score


def test_perfect_predictions():
    s = score(["hello world", "abc"], ["hello world", "abc"])
    assert (s.cer, s.accuracy, s.ned, s.wer) == (0.0, 1.0, 1.0, 0.0)


def test_cer_is_corpus_level_over_reference_characters():
    # 1 substitution in a 4-char line, 2 deletions in a 6-char line: (1 + 2) / (4 + 6)
    s = score(["abxd", "abcd"], ["abcd", "abcdef"])
    assert s.cer == pytest.approx(0.3)
    assert (s.char_errors, s.ref_chars) == (3, 10)
    assert s.accuracy == 0.0


def test_ned_follows_parseq():
    # 1 - d/max(len): "abxd" vs "abcd" -> 0.75; "" vs "" -> 1
    s = score(["abxd", ""], ["abcd", ""])
    assert s.ned == pytest.approx((0.75 + 1.0) / 2)


def test_wer_counts_word_edits():
    s = score(["the cat sat", "a dog"], ["the bat sat", "a dog ran"])
    assert s.wer == pytest.approx(2 / 6)


def test_alnum36_protocol_ignores_case_and_punctuation():
    assert apply_protocol("Hello, World-42!", "alnum36") == "helloworld42"
    s = score(["HOUSE"], ["house."], protocol="alnum36")
    assert s.accuracy == 1.0 and s.cer == 0.0
    assert score(["HOUSE"], ["house."]).accuracy == 0.0


def test_unknown_protocol_and_mismatched_lengths():
    with pytest.raises(ValueError, match="unknown protocol"):
        apply_protocol("x", "lower")
    with pytest.raises(ValueError, match="pair up"):
        score(["a"], ["a", "b"])


def test_empty_reference_counts_insertions():
    s = score(["abc"], [""])
    assert s.char_errors == 3 and s.cer == 1.0


def test_line_errors_pairs():
    assert line_errors(["abxd", "A"], ["abcd", "a"], protocol="alnum36") == [(1, 4), (0, 1)]
