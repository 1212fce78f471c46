"""Charset: presets, encode/decode round trips, every policy, normalization, save/load."""

from __future__ import annotations

import json
import string

import numpy as np
import pytest

from ocrlab.charset import JA_KANJI_COUNT, Charset, common_kanji
from ocrlab.errors import CharsetError, DataError, SkipSample

JA_TEXT = "東京駅で「カメラ」を買った。価格は12,800円です、ありがとう！"


@pytest.fixture(scope="module")
def latin() -> Charset:
    return Charset.preset("latin")


@pytest.fixture(scope="module")
def ja() -> Charset:
    return Charset.preset("ja")


# -- the vocabulary ----------------------------------------------------------------------------


def test_latin_preset_is_printable_ascii(latin: Charset) -> None:
    assert latin.chars == list(string.printable[:95])
    assert " " in latin and "\n" not in latin and "\t" not in latin
    assert len(latin) == 96  # 95 characters + blank
    assert latin.blank == 0
    assert latin.index("0") == 1  # first character after the blank
    assert latin.name == "latin" and not latin.casefold


def test_alnum36_preset_lowercases() -> None:
    cs = Charset.preset("alnum36")
    assert "".join(cs.chars) == string.digits + string.ascii_lowercase
    assert len(cs) == 37 and cs.casefold
    assert cs.decode(cs.encode("Hello42")) == "hello42"
    assert cs.encode("ABC") == cs.encode("abc")


def test_ja_preset_contents(ja: Charset) -> None:
    chars = set(ja.chars)
    assert set(string.printable[:95]) <= chars
    assert set("あいうえおがぱゃっをんゝゞ") <= chars  # hiragana incl. small and voiced kana
    assert set("アイウエオガパャッヲンヴー・ヽ") <= chars  # katakana, long vowel mark, middle dot
    assert set("、。「」『』【】々〜…") <= chars
    kanji = common_kanji()
    assert len(kanji) == JA_KANJI_COUNT
    assert set("日本人大学東京駅価格買円") <= set(kanji) <= chars
    assert len(ja) == len(chars) + 1  # no duplicates
    assert "\u3099" not in chars  # combining dakuten: text is NFC, never needs it


def test_ja_preset_is_deterministic(ja: Charset) -> None:
    again = Charset.preset("ja")
    assert again == ja and again.chars == ja.chars
    assert list(common_kanji()) == sorted(common_kanji())  # code-point order


def test_unknown_preset() -> None:
    with pytest.raises(DataError, match="unknown charset preset 'klingon'"):
        Charset.preset("klingon")


def test_index_contains_eq_hash(latin: Charset) -> None:
    cs = Charset("abc", name="x")
    assert cs.chars == ["a", "b", "c"]
    assert [cs.index(c) for c in "abc"] == [1, 2, 3]
    assert "a" in cs and "d" not in cs and "ab" not in cs
    with pytest.raises(CharsetError, match="'d' is not in charset 'x'"):
        cs.index("d")
    # Equality is about what encodes: the name does not count, order and casefold do.
    assert cs == Charset(["a", "b", "c"], name="other")
    assert hash(cs) == hash(Charset("abc"))
    assert cs != Charset("acb")
    assert cs != Charset("abc", casefold=True)
    assert cs != latin
    assert list(cs) == ["a", "b", "c"]
    assert "3 chars" in repr(cs)


@pytest.mark.parametrize(
    ("chars", "kwargs", "message"),
    [
        ("abca", {}, r"duplicated characters 'a' \(U\+0061\)"),
        (["a", "bc"], {}, "one character"),
        ("", {}, "no characters"),
        (["e\u0301"], {}, "one character"),  # two code points
        (["\u212b"], {}, "not in Unicode NFC"),  # ANGSTROM SIGN, NFC is U+00C5
        ("abC", {"casefold": True}, r"uppercase characters 'C' \(U\+0043\)"),
    ],
)
def test_constructor_rejects_bad_chars(chars, kwargs, message) -> None:
    with pytest.raises(DataError, match=message):
        Charset(chars, **kwargs)


# -- encode / decode -------------------------------------------------------------------------


def test_latin_round_trip(latin: Charset) -> None:
    text = "Invoice #AB-1234: $1,299.00 (due 2024-03-15) - thanks!"
    ids = latin.encode(text)
    assert len(ids) == len(text)
    assert all(1 <= i < len(latin) for i in ids)
    assert latin.decode(ids) == text


def test_ja_round_trip(ja: Charset) -> None:
    ids = ja.encode(JA_TEXT)
    assert len(ids) == len(JA_TEXT)
    assert ja.decode(ids) == JA_TEXT.replace("！", "!")  # full-width ! maps to the ASCII one


def test_empty_text(latin: Charset) -> None:
    assert latin.encode("") == []
    assert latin.decode([]) == ""


def test_decode_drops_blanks_without_collapsing(latin: Charset) -> None:
    a, b = latin.index("a"), latin.index("b")
    assert latin.decode([0, a, a, 0, b, 0, 0]) == "aab"
    assert latin.decode(np.array([a, 0, b], dtype=np.int64)) == "ab"


@pytest.mark.parametrize("bad", [-1, 96, 1000])
def test_decode_rejects_ids_outside(latin: Charset, bad: int) -> None:
    with pytest.raises(DataError, match=f"id {bad} is outside charset 'latin'"):
        latin.decode([1, bad])


def test_policy_error_names_sample_and_characters(latin: Charset) -> None:
    with pytest.raises(CharsetError) as info:
        latin.encode("café 5€", sample="labels.tsv:12")
    message = str(info.value)
    assert "labels.tsv:12" in message
    assert "'café 5€'" in message
    assert "'é' (U+00E9)" in message and "'€' (U+20AC)" in message
    assert "2 character(s)" in message and "'latin'" in message
    assert not isinstance(info.value, SkipSample)


def test_policy_error_without_sample_name(latin: Charset) -> None:
    with pytest.raises(CharsetError, match=r"^text: label"):
        latin.encode("ü")


def test_policy_replace_default_question_mark(latin: Charset) -> None:
    ids = latin.encode("café 5€", policy="replace")
    assert latin.decode(ids) == "caf? 5?"


def test_policy_replace_drops_when_charset_has_no_question_mark() -> None:
    cs = Charset.preset("alnum36")
    assert cs.decode(cs.encode("Don't stop!", policy="replace")) == "dontstop"


def test_policy_replace_explicit(latin: Charset) -> None:
    assert latin.decode(latin.encode("a€b", policy="replace", replacement="_")) == "a_b"
    assert latin.decode(latin.encode("a€b", policy="replace", replacement="")) == "ab"
    with pytest.raises(DataError, match="replacement '€' is not a character"):
        latin.encode("a€b", policy="replace", replacement="€")


def test_policy_skip_raises_skip_sample(latin: Charset) -> None:
    with pytest.raises(SkipSample, match=r"sample image-000000007.*'€' \(U\+20AC\)"):
        latin.encode("5€", sample="image-000000007", policy="skip")
    # A skip is a CharsetError, so code that only knows "error" still stops on it.
    assert issubclass(SkipSample, CharsetError)
    assert latin.encode("fine", policy="skip") == latin.encode("fine")


def test_unknown_policy(latin: Charset) -> None:
    with pytest.raises(DataError, match="unknown charset policy 'ignore'"):
        latin.encode("a", policy="ignore")


def test_missing(latin: Charset, ja: Charset) -> None:
    assert latin.missing("plain ASCII") == set()
    assert latin.missing("naïve 日本") == {"ï", "日", "本"}
    assert ja.missing(JA_TEXT) == set()
    assert ja.missing("𠮷") == {"𠮷"}  # a rare kanji outside the preset


# -- normalization ---------------------------------------------------------------------------


def test_typographic_characters_map_to_ascii_in_latin(latin: Charset) -> None:
    text = "It\u2019s \u201cquoted\u201d \u2014 10\u201312 \u2018x\u2019\u2026\u00a0ok \u22125"
    assert latin.normalize(text) == "It's \"quoted\" - 10-12 'x'...\u0020ok -5"
    assert latin.missing(text) == set()
    assert latin.decode(latin.encode(text)) == "It's \"quoted\" - 10-12 'x'... ok -5"


def test_typographic_mapping_keeps_characters_the_charset_has() -> None:
    cs = Charset("It\u2019s '", name="curly")
    assert cs.normalize("It\u2019s") == "It\u2019s"  # the charset holds ’, so it stays


def test_typographic_mapping_needs_the_target_in_the_charset() -> None:
    cs = Charset("abc")  # no apostrophe: ’ cannot become ', so it is reported as missing
    assert cs.normalize("a\u2019b") == "a\u2019b"
    assert cs.missing("a\u2019b") == {"\u2019"}
    dots = Charset("ab.")
    assert dots.normalize("a\u2026") == "a..."


def test_fullwidth_and_nfc_in_ja(ja: Charset) -> None:
    assert ja.normalize("ＡＢＣ１２３（株）") == "ABC123(株)"
    assert ja.normalize("日本\u3000語") == "日本 語"  # ideographic space: one space class
    assert "\u3000" not in ja
    decomposed = "か\u3099き"  # か + combining dakuten
    assert ja.normalize(decomposed) == "がき"
    assert ja.decode(ja.encode(decomposed)) == "がき"


def test_casefold_keeps_length_for_sharp_s() -> None:
    cs = Charset.from_corpus(["straße"], casefold=True)
    assert cs.normalize("STRAßE") == "straße"  # lower(), not casefold() ("strasse")


# -- building from text ----------------------------------------------------------------------


def test_from_corpus_sorted_with_min_count() -> None:
    cs = Charset.from_corpus(["banana", "cab\n", "z\tz"], name="fruit")
    assert cs.chars == ["a", "b", "c", "n", "z"]  # code-point order; \n and \t left out
    assert cs.name == "fruit"
    assert Charset.from_corpus(["banana", "cab"], min_count=2).chars == ["a", "b", "n"]
    assert Charset.from_corpus(["a b"]).chars == [" ", "a", "b"]
    folded = Charset.from_corpus(["AbC", "abc"], casefold=True)
    assert folded.chars == ["a", "b", "c"] and folded.casefold
    # The order does not depend on the order of the texts.
    assert Charset.from_corpus(["xy", "ab"]) == Charset.from_corpus(["ab", "xy"])


def test_from_corpus_errors() -> None:
    with pytest.raises(DataError, match="no character occurs at least 5"):
        Charset.from_corpus(["abc"], min_count=5)
    with pytest.raises(DataError, match="min_count must be >= 1"):
        Charset.from_corpus(["abc"], min_count=0)


def test_from_file(tmp_path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\ufeffこんにちは世界\nHello, world\n\n", encoding="utf-8")
    cs = Charset.from_file(path)
    assert cs.name == "corpus"
    assert set(cs.chars) == set("こんにちは世界Hello, world")
    assert "\ufeff" not in cs
    assert cs.decode(cs.encode("世界, Hello")) == "世界, Hello"


def test_from_file_errors(tmp_path) -> None:
    with pytest.raises(DataError, match=r"nope\.txt: file not found"):
        Charset.from_file(tmp_path / "nope.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nalso fine\n\xff\xfe broken\n")
    with pytest.raises(DataError, match=r"bad\.txt:3: not valid UTF-8"):
        Charset.from_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no character occurs"):
        Charset.from_file(empty)


# -- save / load -------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["latin", "alnum36", "ja"])
def test_save_load_round_trip(tmp_path, preset: str) -> None:
    cs = Charset.preset(preset)
    path = tmp_path / f"{preset}.json"
    cs.save(path)
    loaded = Charset.load(path)
    assert loaded == cs
    assert loaded.name == cs.name and loaded.casefold == cs.casefold
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"name", "chars", "casefold", "version"}
    assert data["chars"] == cs.chars and data["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_save_overwrites(tmp_path) -> None:
    path = tmp_path / "cs.json"
    Charset("abc").save(path)
    Charset("xyz").save(path)
    assert Charset.load(path) == Charset("xyz")


def test_load_missing_file(tmp_path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(DataError, match=r"missing\.json: charset file not found"):
        Charset.load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"name": "x", "chars": ["a"', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b'["a", "b"]', "expected a JSON object, got list"),
        (b'{"name": "x", "chars": ["a"]}', "missing field"),
        (b'{"name": "x", "chars": "ab", "casefold": false, "version": 1}', "'chars' must be"),
        (b'{"name": "x", "chars": ["a"], "casefold": "no", "version": 1}', "'casefold' must be"),
        (b'{"name": "x", "chars": ["a"], "casefold": false, "version": 99}', "version 99 is newer"),
        (b'{"name": "x", "chars": ["a"], "casefold": false, "version": "1"}', "'version' must"),
        (b'{"name": "x", "chars": ["a", "a"], "casefold": false, "version": 1}', "duplicated"),
        (b'{"name": "x", "chars": ["ab"], "casefold": false, "version": 1}', "one character"),
    ],
)
def test_load_corrupt_file_names_the_path(tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "charset.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        Charset.load(path)
    assert str(path) in str(info.value)


def test_dict_round_trip(ja: Charset) -> None:
    assert Charset.from_dict(ja.to_dict()) == ja
