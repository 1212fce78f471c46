"""Text sources: determinism, length bounds, every token kind, Japanese, corpus files, specs."""

from __future__ import annotations

import re
import string

import pytest

from ocrlab.charset import Charset
from ocrlab.data.text import (
    DEFAULT_MIX,
    KINDS,
    CorpusText,
    TextSource,
    WordfreqText,
    make_text_source,
    unigram_frequencies,
)
from ocrlab.errors import DataError
from ocrlab.files import read_text_lines

N = 1000

# One pattern per token kind; each matches what that kind writes and (nearly) nothing else.
_NUM = r"-?\d{1,3}(?:,\d{3})*(?:\.\d+)?%?|-?\d+(?:\.\d+)?%?|\d+(?:st|nd|rd|th)|\d+-\d+|\d+/\d+"
KIND_PATTERNS = {
    "word": re.compile(r"\b[a-z]{3,}\b"),
    # A whole space-separated token that is a number, so that dates and times do not count.
    "number": re.compile(rf"(?:^|\s)(?:{_NUM})(?=\s|$)"),
    "date": re.compile(
        r"\b\d{4}-\d\d-\d\d\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{1,2}\.\d{1,2}\.\d{4}\b"
        r"|\b(?:January|February|March|April|May|June|July|August|September|October"
        r"|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"
    ),
    "time": re.compile(r"\b\d{1,2}:\d\d(?::\d\d)?\b|\b\d{1,2} ?(?:AM|PM|am|pm)\b|\b\d{1,2}h\d\d\b"),
    "price": re.compile(
        r"[$€£¥]\s?\d|\d \u20ac|\d USD\b|\bEUR \d|(?:^|\s)\d{1,3}(?:,\d{3})*\.\d\d(?=\s|$)"
    ),
    "code": re.compile(
        r"\b[A-Z0-9]{2,3}-[A-Z0-9]{3,4}\b|\bSN |S/N: |\bNo\. \d|#[A-Z]-\d|REF:\d|\d{3}-\d-\d\d-"
        r"|\b[A-Z]\d[A-Z] \d[A-Z]\d\b|\b[A-Z]{2}\d\d [A-Z]{3}\b"
    ),
    "email": re.compile(r"\b[a-z][a-z._\d]*@[a-z]+\.[a-z.]+\b"),
    "url": re.compile(r"https?://|\bwww\.|\b[a-z]+\.(?:com|org|net|io|de|co\.uk|fr|jp|edu|info)/"),
}


@pytest.fixture(scope="module")
def english() -> list[str]:
    source = WordfreqText("en", seed=0)
    return [source.sample(i) for i in range(N)]


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_and_index_give_the_same_text() -> None:
    a, b = WordfreqText("en", seed=7), WordfreqText("en", seed=7)
    forward = [a.sample(i) for i in range(50)]
    backward = [b(i) for i in reversed(range(50))][::-1]  # order of calls does not matter
    assert forward == backward
    assert a.sample(12) == a.sample(12)


def test_different_seeds_and_indices_differ() -> None:
    a, b = WordfreqText("en", seed=0), WordfreqText("en", seed=1)
    texts_a = [a.sample(i) for i in range(100)]
    texts_b = [b.sample(i) for i in range(100)]
    assert sum(x != y for x, y in zip(texts_a, texts_b, strict=True)) >= 95
    assert len(set(texts_a)) >= 95


def test_languages_with_one_seed_do_not_share_structure() -> None:
    en, de = (
        WordfreqText("en", seed=3, mix={"code": 1}),
        WordfreqText("de", seed=3, mix={"code": 1}),
    )
    assert [en(i) for i in range(20)] != [de(i) for i in range(20)]


def test_bad_index_and_seed() -> None:
    source = WordfreqText("en")
    with pytest.raises(DataError, match="non-negative integer, got -1"):
        source.sample(-1)
    with pytest.raises(DataError, match=r"non-negative integer, got 1\.5"):
        source.sample(1.5)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="seed must be a non-negative integer"):
        WordfreqText("en", seed=-3)


# -- lengths and shape --------------------------------------------------------------------------


def _assert_clean(texts: list[str], lo: int, hi: int) -> None:
    for text in texts:
        assert lo <= len(text) <= hi, (text, len(text))
        assert text == text.strip() and "  " not in text, repr(text)


def test_default_lengths_within_bounds(english: list[str]) -> None:
    _assert_clean(english, 1, 40)
    lengths = [len(t) for t in english]
    # The target length is uniform in the range: short and long lines both occur.
    assert min(lengths) <= 5 and max(lengths) >= 38
    assert 15 <= sum(lengths) / len(lengths) <= 28


@pytest.mark.parametrize(("lo", "hi"), [(10, 10), (1, 3), (20, 25), (60, 80), (33, 34)])
def test_length_bounds_hold_for_tight_ranges(lo: int, hi: int) -> None:
    source = WordfreqText("en", seed=5, min_chars=lo, max_chars=hi)
    _assert_clean([source.sample(i) for i in range(N)], lo, hi)


def test_lines_end_at_word_boundaries_when_they_can() -> None:
    # With a loose range there is always a token boundary inside it: no word is cut.
    vocabulary = set(unigram_frequencies("en"))
    source = WordfreqText("en", seed=2, min_chars=10, max_chars=40, mix={"word": 1})
    for i in range(300):
        for token in source.sample(i).split():
            bare = token.strip(",.;:!?'\"()").lower()
            assert all(part in vocabulary for part in bare.split("-")), token


def test_invalid_length_ranges() -> None:
    with pytest.raises(DataError, match="min_chars must be >= 1"):
        WordfreqText("en", min_chars=0)
    with pytest.raises(DataError, match=r"max_chars \(5\) must be >= min_chars \(6\)"):
        WordfreqText("en", min_chars=6, max_chars=5)


def test_words_only() -> None:
    source = WordfreqText("en", seed=1, words_only=True, min_chars=2, max_chars=16)
    words = [source.sample(i) for i in range(N)]
    _assert_clean(words, 2, 16)
    assert all(" " not in w for w in words)
    assert any(w.isupper() for w in words) and any(w.istitle() for w in words)
    assert any(w.islower() for w in words)
    assert any(re.search(r"\d", w) for w in words)  # prices, numbers, codes as single words


def test_words_only_with_a_min_beyond_most_words() -> None:
    source = WordfreqText(
        "en", seed=1, words_only=True, min_chars=30, max_chars=30, mix={"word": 1}
    )
    words = [source.sample(i) for i in range(50)]
    assert all(len(w) == 30 and " " not in w for w in words)


# -- what lines hold ------------------------------------------------------------------------------


def test_every_kind_appears(english: list[str]) -> None:
    joined = "\n".join(english)
    for kind in KINDS:
        hits = sum(bool(KIND_PATTERNS[kind].search(t)) for t in english)
        assert hits >= 10, f"{kind} appears in only {hits} of {N} lines"
    for mark in ",.;:!?'\"()-":
        assert mark in joined, f"punctuation {mark!r} never appears"
    assert re.search(r"\b\d{1,3}(?:,\d{3})+\b", joined)  # thousands separators
    assert re.search(r"\b\d+\.\d+\b", joined)  # decimals
    assert "€" in joined and "$" in joined


def test_casing_variants(english: list[str]) -> None:
    words = [w.strip(",.;:!?'\"()") for t in english for w in t.split()]
    alpha = [w for w in words if w.isalpha() and len(w) > 1]
    assert sum(w.islower() for w in alpha) > len(alpha) / 2
    assert sum(w.istitle() for w in alpha) > 50
    assert sum(w.isupper() for w in alpha) > 20


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "word"])
def test_single_kind_mix(kind: str) -> None:
    source = WordfreqText("en", seed=4, mix={kind: 1.0}, min_chars=5, max_chars=40)
    texts = [source.sample(i) for i in range(100)]
    _assert_clean(texts, 5, 40)
    for text in texts:
        assert KIND_PATTERNS[kind].search(text), (kind, text)


def test_prose_only_mix_has_no_digits() -> None:
    source = WordfreqText("en", seed=4, mix={"word": 1.0})
    assert not any(re.search(r"\d", source.sample(i)) for i in range(300))


def test_bad_mix() -> None:
    with pytest.raises(DataError, match=r"unknown text kind\(s\) \['emoji'\]"):
        WordfreqText("en", mix={"emoji": 1.0})
    with pytest.raises(DataError, match="positive sum"):
        WordfreqText("en", mix={"word": 0.0})
    with pytest.raises(DataError, match="must be >= 0"):
        WordfreqText("en", mix={"word": 1.0, "url": -1.0})
    assert set(DEFAULT_MIX) == set(KINDS)


def test_unknown_language() -> None:
    with pytest.raises(DataError, match="no word list for language 'xx'"):
        WordfreqText("xx")


def test_other_latin_script_language() -> None:
    source = WordfreqText("de", seed=0, mix={"word": 1.0})
    joined = " ".join(source.sample(i) for i in range(300))
    assert set("äöüß") & set(joined.lower())


# -- charsets ------------------------------------------------------------------------------------


def test_charset_restricts_output_to_what_it_encodes() -> None:
    latin = Charset.preset("latin")
    source = WordfreqText("en", seed=0, charset=latin)
    texts = [source.sample(i) for i in range(N)]
    assert all(not latin.missing(t) for t in texts)
    assert not any("€" in t or "£" in t for t in texts)  # those prices are drawn again
    assert any("$" in t for t in texts)
    _assert_clean(texts, 1, 40)


def test_charset_without_space_needs_words_only() -> None:
    alnum = Charset.preset("alnum36")
    with pytest.raises(DataError, match=r"has no space.*words_only=True"):
        WordfreqText("en", charset=alnum)
    source = WordfreqText("en", seed=0, charset=alnum, words_only=True, max_chars=20)
    words = [source.sample(i) for i in range(300)]
    assert all(alnum.encode(w) for w in words)  # every word encodes (and is non-empty)


# -- Japanese -------------------------------------------------------------------------------------

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def test_japanese_lines() -> None:
    source = WordfreqText("ja", seed=0, max_chars=30)
    texts = [source.sample(i) for i in range(N)]
    _assert_clean(texts, 1, 30)
    # Only the shortest lines, a single time or code, lack Japanese script.
    assert sum(bool(JAPANESE.search(t)) for t in texts) > 0.9 * N
    # Words run together: no space between two Japanese characters.
    assert not any(
        re.search(r"[\u3040-\u30ff\u4e00-\u9fff] [\u3040-\u30ff\u4e00-\u9fff]", t) for t in texts
    )
    joined = "".join(texts)
    assert "、" in joined and "。" in joined and "「" in joined
    assert re.search(r"\d+年\d+月\d+日", joined) and "円" in joined


def test_japanese_with_charset_encodes_every_line() -> None:
    ja = Charset.preset("ja")
    source = WordfreqText("ja", seed=1, max_chars=25, charset=ja)
    for i in range(500):
        text = source.sample(i)
        assert ja.decode(ja.encode(text, sample=f"ja:{i}")) == ja.normalize(text)


def test_japanese_words_only() -> None:
    source = WordfreqText("ja", seed=0, words_only=True, max_chars=8)
    words = [source.sample(i) for i in range(300)]
    _assert_clean(words, 1, 8)
    assert all(" " not in w for w in words)


def test_unigram_frequencies() -> None:
    freqs = unigram_frequencies("en", 1000)
    assert len(freqs) <= 1000 and max(freqs, key=freqs.get) == "the"
    assert all(f > 0 for f in freqs.values())
    assert not any(re.search(r"\d", w) for w in freqs)
    ja = unigram_frequencies("ja", 500)
    assert "の" in ja and all(JAPANESE.search(w) for w in ja)


# -- corpus files --------------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    lines = [f"line number {i} of the corpus" for i in range(20)]
    path.write_text("\n".join(lines[:10]) + "\n\n   \n" + "\n".join(lines[10:]) + "\n", "utf-8")
    return path, lines


def test_corpus_is_deterministic_and_seeded(corpus) -> None:
    path, lines = corpus
    a, b, c = CorpusText(path, seed=0), CorpusText(path, seed=0), CorpusText(path, seed=1)
    assert len(a) == 20  # empty and blank lines skipped
    first = [a.sample(i) for i in range(20)]
    assert first == [b(i) for i in range(20)]
    assert first != [c.sample(i) for i in range(20)]
    assert sorted(first) == sorted(lines)  # one pass visits every line once
    second = [a.sample(i) for i in range(20, 40)]
    assert sorted(second) == sorted(lines) and second != first
    assert [a.sample(i) for i in (35, 3, 21)] == [second[15], first[3], second[1]]


def test_corpus_unshuffled_keeps_file_order(corpus) -> None:
    path, lines = corpus
    source = CorpusText(path, shuffle=False)
    assert [source.sample(i) for i in range(22)] == lines + lines[:2]


def test_corpus_windows_at_word_boundaries(tmp_path) -> None:
    path = tmp_path / "long.txt"
    words = [f"w{i:03d}" for i in range(100)]
    path.write_text(
        " ".join(words) + "\n" + "x" * 25 + "\n" + "日本語の長い行" * 5 + "\n", encoding="utf-8"
    )
    source = CorpusText(path, max_chars=18, shuffle=False)
    windows = source.windows
    assert all(1 <= len(w) <= 18 for w in windows)
    spaced = [w for w in windows if w.startswith("w")]
    assert " ".join(spaced).split() == words  # every word kept whole, in order
    assert all(len(w) >= 14 for w in spaced[:-1])  # packed greedily
    assert "x" * 18 in windows and "x" * 7 in windows  # an over-long word is cut
    assert "".join(w for w in windows if JAPANESE.search(w)) == "日本語の長い行" * 5


def test_corpus_min_chars_and_whitespace(tmp_path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("\ufeffa\n  several   spaced\twords  \nok\r\n", encoding="utf-8")
    source = CorpusText(path, min_chars=2, shuffle=False)
    assert source.windows == ["several spaced words", "ok"]


def test_corpus_errors(tmp_path) -> None:
    with pytest.raises(DataError, match=r"absent\.txt: file not found"):
        CorpusText(tmp_path / "absent.txt")
    with pytest.raises(DataError, match="is a directory"):
        CorpusText(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.txt: corpus has no non-empty lines"):
        CorpusText(empty)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\t\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"blank\.txt: corpus has no non-empty lines"):
        CorpusText(blank)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("ok\nstill ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt:3: not valid UTF-8"):
        CorpusText(latin1)
    short = tmp_path / "short.txt"
    short.write_text("ab\ncd\n", encoding="utf-8")
    with pytest.raises(DataError, match="at least 5 chars"):
        CorpusText(short, min_chars=5)


def test_read_text_lines(tmp_path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\n\nthree")
    assert list(read_text_lines(path)) == ["one", "two", "", "three"]


# -- specs ---------------------------------------------------------------------------------------


def test_make_text_source_wordfreq() -> None:
    source = make_text_source("wordfreq:en", seed=3)
    assert isinstance(source, WordfreqText) and source.lang == "en" and source.seed == 3
    assert source.sample(5) == WordfreqText("en", seed=3).sample(5)
    ja = make_text_source("wordfreq:ja,max_chars=12,words_only=true")
    assert isinstance(ja, WordfreqText)
    assert (ja.lang, ja.max_chars, ja.words_only, ja.seed) == ("ja", 12, True, 0)
    assert make_text_source("wordfreq").lang == "en"  # type: ignore[attr-defined]
    mixed = make_text_source("wordfreq:en,mix=word:0.5;price:0.5,seed=9", seed=1)
    assert mixed.mix == {"word": 0.5, "price": 0.5} and mixed.seed == 9  # type: ignore[attr-defined]


def test_make_text_source_corpus_and_dict(corpus) -> None:
    path, _ = corpus
    source = make_text_source(f"corpus:{path},max_chars=10,shuffle=false", seed=2)
    assert isinstance(source, CorpusText)
    assert source.max_chars == 10 and not source.shuffle and source.seed == 2
    from_dict = make_text_source({"kind": "corpus", "path": str(path)}, seed=2)
    assert from_dict.sample(4) == CorpusText(path, seed=2).sample(4)
    as_dict = make_text_source({"kind": "wordfreq", "lang": "de", "max_chars": 20})
    assert isinstance(as_dict, WordfreqText) and as_dict.lang == "de"


def test_make_text_source_passes_charset() -> None:
    latin = Charset.preset("latin")
    source = make_text_source("wordfreq:en", charset=latin)
    assert source.charset is latin  # type: ignore[attr-defined]


def test_make_text_source_passthrough_and_protocol() -> None:
    source = WordfreqText("en")
    assert make_text_source(source) is source
    assert isinstance(source, TextSource)

    def stand_in(i: int) -> str:  # a plain function has no .sample: not a TextSource
        return str(i)

    assert not isinstance(stand_in, TextSource)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("books:en", "unknown text source 'books'"),
        ("wordfreq:en,lenght=3", "unknown option"),
        ("wordfreq:en,max_chars", "expected key=value"),
        ("corpus", "give the corpus path"),
        ("wordfreq:en,mix=word", "mix must look like"),
        ({"lang": "en"}, "unknown text source ''"),
    ],
)
def test_make_text_source_errors(spec, message: str) -> None:
    with pytest.raises(DataError, match=message):
        make_text_source(spec)


def test_all_printable_ascii_is_reachable(english: list[str]) -> None:
    # Sanity check on the mix: letters of both cases and every digit occur.
    joined = "".join(english)
    assert set(string.ascii_lowercase + string.digits) <= set(joined)
    assert len(set(string.ascii_uppercase) & set(joined)) >= 24
