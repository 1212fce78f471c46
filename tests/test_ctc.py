"""CTC head, loss, feasibility, greedy and beam decoding, the character and word LMs."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from ocrlab.charset import Charset
from ocrlab.errors import OcrlabError
from ocrlab.models.ctc import (
    DECODERS,
    EOS,
    CharNgramLM,
    CTCHead,
    WordFreqLM,
    beam_search,
    ctc_feasible,
    ctc_loss,
    forced_align,
    greedy_decode,
    make_decoder,
)

CS = Charset("abcehtz ")  # ids: a=1 b=2 c=3 e=4 h=5 t=6 z=7 space=8


def frames(*rows: dict[str, float]) -> torch.Tensor:
    """(T, C) log-probs from per-frame {char: prob} dicts; "_" is the blank; the rest of each
    frame's mass is spread evenly over the unnamed classes."""
    C = len(CS)
    out = torch.empty(len(rows), C)
    for t, row in enumerate(rows):
        ids = {0 if ch == "_" else CS.index(ch): p for ch, p in row.items()}
        rest = (1.0 - sum(ids.values())) / (C - len(ids))
        out[t] = torch.tensor([ids.get(i, rest) for i in range(C)])
    return out.log()


def path(s: str, p: float = 0.9) -> torch.Tensor:
    return frames(*({ch: p} for ch in s))


def test_head_shapes() -> None:
    head = CTCHead(32, len(CS))
    logits = head(torch.randn(2, 7, 32))
    assert logits.shape == (2, 7, len(CS))
    torch.testing.assert_close(CTCHead.log_probs(logits).exp().sum(-1), torch.ones(2, 7))


def test_loss_finite_and_mean_is_per_target_length() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 20, len(CS), requires_grad=True)
    lp = logits.log_softmax(-1)
    targets = torch.tensor([1, 2, 3, 6, 5, 4, 8, 1])
    lengths = torch.tensor([3, 3, 2])
    frames_ = torch.tensor([20, 15, 9])
    loss = ctc_loss(lp, frames_, targets, lengths)
    assert torch.isfinite(loss)
    per_line = ctc_loss(lp, frames_, targets, lengths, reduction="none")
    # "mean": each line's negative log-likelihood per target character, averaged over lines
    # (an independent statement of the unit, checked against brute force in the tests below)
    assert loss.item() == pytest.approx(
        sum(per_line[i].item() / lengths[i].item() for i in range(3)) / 3, rel=1e-6
    )
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    padded = torch.tensor([[1, 2, 3], [6, 5, 4], [8, 1, 0]])
    torch.testing.assert_close(ctc_loss(lp, frames_, padded, lengths), loss)


def test_infeasible_target_is_flagged_and_zeroed() -> None:
    # "aa" needs a blank between the a's: 3 frames; "ab" fits in 2; "aab" needs 4.
    targets = torch.tensor([1, 1, 1, 2, 1, 1, 2, 1, 1])
    lengths = torch.tensor([2, 2, 3, 2])
    T = torch.tensor([2, 2, 3, 3])
    assert ctc_feasible(T, targets, lengths).tolist() == [False, True, False, True]
    assert ctc_feasible(T + 1, targets, lengths).tolist() == [True, True, True, True]
    lp = torch.randn(4, 3, len(CS)).log_softmax(-1)
    losses = ctc_loss(lp, T, targets, lengths, reduction="none")
    assert torch.isfinite(losses).all() and losses[0] == 0 and losses[2] == 0
    padded = torch.tensor([[1, 1, 0], [1, 2, 0], [1, 1, 2], [1, 1, 0]])
    assert ctc_feasible(T, padded, lengths).tolist() == [False, True, False, True]


def test_greedy_repeats_blanks_spans_and_confidences() -> None:
    lp = frames(
        {"a": 0.9}, {"a": 0.6}, {"_": 0.9}, {"a": 0.7}, {"b": 0.8}, {"b": 0.95},
        {"_": 0.9}, {"_": 0.9}, {"c": 0.5},
    )  # fmt: skip
    (d,) = greedy_decode(lp, None, CS)
    assert d.text == "aabc"  # the blank separates the two a's; "bb" collapses
    assert d.ids == [1, 1, 2, 3]
    assert d.spans == [(0, 1), (3, 3), (4, 5), (8, 8)]
    assert d.char_confidences == pytest.approx([0.9, 0.7, 0.95, 0.5])
    assert d.confidence == pytest.approx(0.9 * 0.7 * 0.95 * 0.5)
    assert d.score == pytest.approx(lp.max(-1).values.sum().item(), abs=1e-5)


def test_greedy_batch_respects_lengths() -> None:
    lp = torch.stack([path("ab_c"), path("a_bb")])
    out = greedy_decode(lp, torch.tensor([4, 2]), CS)
    assert [d.text for d in out] == ["abc", "a"]
    assert out[1].spans == [(0, 0)]
    assert greedy_decode(lp, torch.tensor([0, 4]), CS)[0].text == ""
    assert greedy_decode(lp, torch.tensor([0, 4]), CS)[0].confidence == 1.0


def reference_greedy(lp: torch.Tensor, length: int) -> tuple[str, list[tuple[int, int]]]:
    best = lp[:length].argmax(-1).tolist()
    text, spans, prev = [], [], 0
    for t, c in enumerate(best):
        if c and c == prev:
            spans[-1] = (spans[-1][0], t)
        elif c:
            text.append(CS.chars[c - 1])
            spans.append((t, t))
        prev = c
    return "".join(text), spans


def test_greedy_matches_a_frame_loop_on_random_batches() -> None:
    torch.manual_seed(0)
    lp = (torch.randn(6, 30, len(CS)) * 2).log_softmax(-1)
    lengths = torch.tensor([30, 29, 1, 17, 0, 5])
    for d, x, n in zip(greedy_decode(lp, lengths, CS), lp, lengths.tolist(), strict=True):
        assert (d.text, d.spans) == reference_greedy(x, n)


def test_beam_width_1_equals_greedy() -> None:
    torch.manual_seed(1)
    lp = (torch.randn(4, 25, len(CS)) * 3).log_softmax(-1)
    lengths = torch.tensor([25, 20, 3, 11])
    greedy = greedy_decode(lp, lengths, CS)
    assert [d.text for d in beam_search(lp, lengths, CS, beam_width=1)] == [d.text for d in greedy]


def test_beam_finds_a_better_label_than_greedy() -> None:
    # Every frame prefers blank (0.6), but "a" over 2 frames has 0.4*0.6 + 0.6*0.4 + 0.4*0.4.
    lp = frames({"_": 0.6, "a": 0.4}, {"_": 0.6, "a": 0.4})
    assert greedy_decode(lp, None, CS)[0].text == ""
    (d,) = beam_search(lp, None, CS, beam_width=4)
    assert d.text == "a"
    assert d.score == pytest.approx(math.log(0.64), abs=1e-5)
    assert d.spans == [(0, 0)] or d.spans == [(1, 1)]


def test_beam_matches_brute_force_and_ctc_loss() -> None:
    cs3 = Charset("ab")
    torch.manual_seed(3)
    for _ in range(3):
        lp = (torch.randn(5, 3) * 1.5).log_softmax(-1)
        (d,) = beam_search(lp, None, cs3, beam_width=16)
        text, logp = brute_force_best(lp, cs3)
        assert d.text == text
        assert d.score == pytest.approx(logp, abs=1e-5)
        if d.ids:  # the score is the CTC probability of the text: exp(-loss)
            nll = ctc_loss(lp[None], torch.tensor([5]), torch.tensor(d.ids),
                           torch.tensor([len(d.ids)]), reduction="sum")  # fmt: skip
            assert d.score == pytest.approx(-nll.item(), abs=1e-4)


def brute_force_best(lp: torch.Tensor, cs: Charset) -> tuple[str, float]:
    """The label sequence with the highest CTC probability, by enumerating every path."""
    T, C = lp.shape
    total: dict[tuple[int, ...], float] = {}
    for p in itertools.product(range(C), repeat=T):
        label = tuple(c for i, c in enumerate(p) if c and (i == 0 or c != p[i - 1]))
        prob = math.exp(sum(lp[t, c].item() for t, c in enumerate(p)))
        total[label] = total.get(label, 0.0) + prob
    label = max(total, key=total.get)
    return cs.decode(label), math.log(total[label])


def test_forced_align_spans() -> None:
    lp = path("_aa_a_bb")
    assert forced_align(lp, [1, 1, 2]) == [(1, 2), (4, 4), (6, 7)]
    with pytest.raises(OcrlabError, match="cannot hold"):
        forced_align(path("ab"), [1, 1])


AMBIGUOUS = ({"t": 0.9}, {"b": 0.5, "h": 0.4}, {"e": 0.9})  # acoustically "tbe", "the" close


def test_char_ngram_lm_changes_the_decision() -> None:
    lp = frames(*AMBIGUOUS)
    assert beam_search(lp, None, CS, beam_width=8)[0].text == "tbe"
    lm = CharNgramLM.from_texts(["the cat", "the hat", "then the", "at the", "the"], order=3)
    assert lm.log_prob("the") > lm.log_prob("tbe")
    (d,) = beam_search(lp, None, CS, beam_width=8, lm=lm, lm_weight=0.5)
    assert d.text == "the"
    assert d.char_confidences == pytest.approx([0.9, 0.4, 0.9], abs=1e-5)


def test_char_ngram_lm_is_a_distribution() -> None:
    lm = CharNgramLM.from_texts(["abcab", "bca", "cab cab"], order=4)
    for prefix in ["", "ab", "zzz", "cab c"]:
        mass = sum(math.exp(lm.score(prefix, c)) for c in lm.vocab)  # includes EOS
        mass += math.exp(lm.score(prefix, "\u2603"))  # the one unknown-character share
        assert mass == pytest.approx(1.0, abs=1e-9), prefix
    assert EOS in lm.vocab
    with pytest.raises(OcrlabError):
        CharNgramLM.from_texts([])


def test_word_freq_lm_changes_the_decision() -> None:
    lp = frames(*AMBIGUOUS, {" ": 0.9}, *({ch: 0.9} for ch in "cat"))
    assert beam_search(lp, None, CS, beam_width=8)[0].text == "tbe cat"
    lm = WordFreqLM("en")
    assert lm.score("the", " ") > lm.score("tbe", " ")
    assert lm.score("th", "e") == 0.0
    (d,) = beam_search(lp, None, CS, beam_width=8, lm=lm, lm_weight=0.3, word_bonus=2.0)
    assert d.text == "the cat"


def test_decoder_specs() -> None:
    lp = frames(*AMBIGUOUS, {" ": 0.9}, *({ch: 0.9} for ch in "cat"))
    assert make_decoder("greedy") is greedy_decode and make_decoder(None) is greedy_decode
    assert make_decoder("beam:width=8,lm=none")(lp, None, CS)[0].text == "tbe cat"
    spelled = make_decoder("beam:width=8,lm=words,lm_weight=0.3,word_bonus=2")
    assert spelled(lp, None, CS)[0].text == "the cat"
    assert make_decoder("beam").spec == DECODERS["beam"]
    assert make_decoder("beam")(lp, None, CS)[0].text == "the cat"
    # width 1 without an LM is best-path decoding
    rnd = torch.randn(2, 9, len(CS)).log_softmax(-1)
    one = make_decoder("beam:width=1")(rnd, None, CS)
    assert [d.text for d in one] == [d.text for d in greedy_decode(rnd, None, CS)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("viterbi", "expected 'greedy', 'beam'"),
        ("beam:depth=3", "bad option 'depth=3'"),
        ("beam:width", "bad option 'width'"),
        ("beam:width=ten", "invalid literal"),
        ("beam:width=0", "width must be >= 1"),
        ("beam:lm=kenlm", "unknown lm 'kenlm'"),
    ],
)
def test_bad_decoder_spec_says_what_is_wrong(spec, message) -> None:
    with pytest.raises(OcrlabError, match=message):
        make_decoder(spec)


def test_charset_mismatch_is_an_error() -> None:
    with pytest.raises(OcrlabError, match="charset"):
        greedy_decode(torch.zeros(1, 4, 3), None, CS)
    with pytest.raises(OcrlabError, match="beam_width"):
        beam_search(torch.zeros(1, 4, len(CS)), None, CS, beam_width=0)


def _collapse(p: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(c for i, c in enumerate(p) if c and (i == 0 or c != p[i - 1]))


def brute_force_prob(lp: torch.Tensor, label: tuple[int, ...]) -> float:
    """P(label | frames): the sum over every frame path that collapses to ``label``."""
    T, C = lp.shape
    return sum(
        math.exp(sum(lp[t, c].item() for t, c in enumerate(p)))
        for p in itertools.product(range(C), repeat=T)
        if _collapse(p) == label
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ctc_loss_is_the_brute_force_likelihood_of_any_label(seed: int) -> None:
    """Arbitrary labels (repeats included), lines shorter than the batch's T: the loss of each
    line is -log of the summed probability of its paths over its own frames only."""
    torch.manual_seed(seed)
    C, T = 3, 6
    lp = (torch.randn(4, T, C) * 1.5).log_softmax(-1)
    labels = [(1,), (1, 1), (2, 1, 2), (2,)]
    frames_ = torch.tensor([6, 5, 6, 3])  # input_lengths < T for two lines
    targets = torch.tensor([c for lab in labels for c in lab])
    lengths = torch.tensor([len(lab) for lab in labels])
    # garbage in the frames past each line's length must not matter
    lp[1, 5:] = torch.tensor([0.0, -50.0, -50.0])
    lp[3, 3:] = torch.tensor([-50.0, 0.0, -50.0])
    per_line = ctc_loss(lp, frames_, targets, lengths, reduction="none")
    for i, lab in enumerate(labels):
        expected = -math.log(brute_force_prob(lp[i, : frames_[i]], lab))
        assert per_line[i].item() == pytest.approx(expected, rel=1e-4), lab
    total = ctc_loss(lp, frames_, targets, lengths, reduction="sum")
    assert total.item() == pytest.approx(per_line.sum().item(), rel=1e-6)


@pytest.mark.parametrize("seed", [4, 5])
def test_beam_search_with_lengths_finds_the_brute_force_best(seed: int) -> None:
    cs3 = Charset("ab")
    torch.manual_seed(seed)
    lp = (torch.randn(3, 6, 3) * 1.5).log_softmax(-1)
    lengths = torch.tensor([6, 4, 2])
    out = beam_search(lp, lengths, cs3, beam_width=32)
    for d, x, n in zip(out, lp, lengths.tolist(), strict=True):
        text, logp = brute_force_best(x[:n], cs3)
        assert d.text == text
        assert d.score == pytest.approx(logp, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_forced_align_follows_the_best_path_that_emits_the_label(seed: int) -> None:
    torch.manual_seed(seed)
    T, C = 6, 3
    lp = (torch.randn(T, C) * 2).log_softmax(-1)
    for ids in [(1, 2), (1, 1), (2, 1, 2)]:
        best = max(
            (p for p in itertools.product(range(C), repeat=T) if _collapse(p) == ids),
            key=lambda p: sum(lp[t, c].item() for t, c in enumerate(p)),
        )
        spans: list[tuple[int, int]] = []
        for t, c in enumerate(best):
            if c and t > 0 and c == best[t - 1]:
                spans[-1] = (spans[-1][0], t)
            elif c:
                spans.append((t, t))
        assert forced_align(lp, list(ids)) == spans, ids
