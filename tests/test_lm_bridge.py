"""The LM bridge with tiny random GPT-2- and Llama-style LMs built and saved in-process."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import save_tiny_lm

from ocrlab.errors import OcrlabError
from ocrlab.models.config import LMConfig
from ocrlab.models.lm import IGNORE_INDEX, LMBridge

H = 24  # Q-Former width
CHARS = string.printable[:95]  # the latin preset's characters


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def lm_dir(request, tmp_path_factory) -> Path:
    return save_tiny_lm(request.param, tmp_path_factory.mktemp(request.param))


def make_bridge(lm_dir: Path, **kw) -> LMBridge:
    torch.manual_seed(1)
    return LMBridge(LMConfig(name_or_path=str(lm_dir), **kw), qformer_hidden=H)


def test_forward_shapes_and_labels(lm_dir: Path) -> None:
    bridge = make_bridge(lm_dir)
    texts = ["ab", "hello world", ""]
    out = bridge(torch.randn(3, 4, H), texts)
    tok = bridge.tokenizer
    L = len("hello world") + 1  # + EOS
    assert out.logits.shape == (3, 4 + L, len(tok))
    assert out.labels.shape == (3, 4 + L)
    assert torch.all(out.labels[:, :4] == IGNORE_INDEX)
    expected = [*tok.encode("ab", add_special_tokens=False), tok.eos_token_id]
    assert out.labels[0, 4:7].tolist() == expected
    assert torch.all(out.labels[0, 7:] == IGNORE_INDEX)  # padding
    assert out.labels[2, 4].item() == tok.eos_token_id  # an empty text is just EOS
    assert torch.isfinite(out.loss)


def test_loss_is_the_shifted_next_token_loss(lm_dir: Path) -> None:
    """The LM shifts the labels itself: logits at t score labels[t + 1], so the last query
    predicts the first character."""
    bridge = make_bridge(lm_dir)
    out = bridge(torch.randn(2, 3, H), ["abc", "a b"])
    V = out.logits.shape[-1]
    manual = F.cross_entropy(
        out.logits[:, :-1].reshape(-1, V), out.labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
    )
    torch.testing.assert_close(out.loss, manual)


def test_max_text_tokens_cuts_without_eos(lm_dir: Path) -> None:
    bridge = make_bridge(lm_dir, max_text_tokens=4)
    out = bridge(torch.randn(1, 2, H), ["abcdefgh"])
    assert out.labels.shape == (1, 2 + 4)
    assert bridge.tokenizer.eos_token_id not in out.labels[0].tolist()


def test_lm_frozen_and_kept_in_eval(lm_dir: Path) -> None:
    bridge = make_bridge(lm_dir)
    bridge.train()
    assert bridge.training and bridge.language_projection.training
    assert not bridge.lm.training
    assert not any(p.requires_grad for p in bridge.lm.parameters())

    before = {k: v.clone() for k, v in bridge.lm.state_dict().items()}
    proj_before = bridge.language_projection.weight.clone()
    queries = torch.randn(2, 4, H, requires_grad=True)  # stands in for the Q-Former output
    optimizer = torch.optim.AdamW(bridge.parameters(), lr=1e-2)
    bridge(queries, ["abc", "xyz 12"]).loss.backward()
    assert all(p.grad is None for p in bridge.lm.parameters())
    assert bridge.language_projection.weight.grad is not None
    assert queries.grad is not None and queries.grad.abs().sum() > 0  # flows to the Q-Former
    optimizer.step()
    for k, v in bridge.lm.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(bridge.language_projection.weight, proj_before)


# the positions of a 4-query prompt and the text after it, by layout (spread: max_text_tokens
# of make_bridge's LM config, 64, so the three spread queries sit at 1, 1 + round(31.5) = 33, 64)
PROMPT = {"sequential": [0, 1, 2, 3], "shared": [0, 0, 0, 0], "spread": [1, 33, 64, 0]}


@pytest.mark.parametrize("layout", ["sequential", "shared", "spread"])
def test_generate_is_the_greedy_reading_of_the_soft_prompt(lm_dir: Path, layout: str) -> None:
    """generate() against an independent greedy loop over the LM's own forward pass: the
    argmax token after [prompt; tokens so far] at the layout's positions (sequential: 0, 1, ...;
    shared: the queries all at 0, the text from 1; spread: the queries over the text's
    positions, the last at 0, the text from 1), stopping at EOS or after 6 tokens."""
    bridge = make_bridge(lm_dir, prompt_positions=layout)
    torch.manual_seed(3)
    queries = torch.randn(2, 4, H)
    texts = bridge.generate(queries, max_new_tokens=6)
    eos = bridge.tokenizer.eos_token_id
    embed = bridge.lm.get_input_embeddings()
    with torch.no_grad():
        for b, text in enumerate(texts):
            inputs = bridge.project(queries[b : b + 1])  # (1, Q, D)
            ids: list[int] = []
            for _ in range(6):
                n = inputs.shape[1]
                after = range(4, n) if layout == "sequential" else range(1, n - 3)  # the text
                pos = torch.tensor(PROMPT[layout] + list(after))
                logits = bridge.lm(inputs_embeds=inputs, position_ids=pos[None]).logits
                nxt = int(logits[0, -1].argmax())
                if nxt == eos:
                    break
                ids.append(nxt)
                inputs = torch.cat([inputs, embed(torch.tensor([[nxt]]))], dim=1)
            assert text == bridge.tokenizer.decode(ids, skip_special_tokens=True)
    assert bridge.generate(queries, max_new_tokens=6) == texts  # greedy: deterministic


def test_shared_positions_put_the_text_where_the_lm_learned_it(lm_dir: Path) -> None:
    """``prompt_positions: shared``: the queries at position 0 (BOS's slot), the text at 1, 2,
    ...; with the BOS embedding as a one-query prompt the LM scores the text exactly as it does
    ``<bos> text <eos>`` from its own token ids. The sequential layout numbers straight on."""
    bridge = make_bridge(lm_dir, prompt_positions="shared")
    assert bridge.position_ids(2, 3, 4, torch.device("cpu")).tolist() == [[0, 0, 0, 1, 2, 3, 4]] * 2
    seq = make_bridge(lm_dir)
    assert seq.position_ids(1, 3, 2, torch.device("cpu")).tolist() == [[0, 1, 2, 3, 4]]
    spread = make_bridge(lm_dir, prompt_positions="spread")
    assert spread.position_ids(1, 4, 2, torch.device("cpu")).tolist() == [[1, 33, 64, 0, 1, 2]]
    assert spread.position_ids(1, 1, 2, torch.device("cpu")).tolist() == [[0, 1, 2]]

    tok = bridge.tokenizer
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    texts = ["hello world", "ab"]
    with torch.no_grad():
        prompt = bridge.lm.get_input_embeddings()(torch.tensor([[bos]] * 2))  # (2, 1, D)
        out = bridge.score_prompt(prompt, texts)
        ids, mask = bridge.tokenize(texts)
        native = bridge.lm(
            input_ids=torch.cat([torch.tensor([[bos]] * 2), ids], dim=1),
            attention_mask=torch.cat([torch.ones(2, 1, dtype=torch.long), mask], dim=1),
            labels=torch.cat(
                [torch.full((2, 1), IGNORE_INDEX), ids.masked_fill(mask == 0, IGNORE_INDEX)], 1
            ),
        )
    torch.testing.assert_close(out.loss, native.loss)


def test_unknown_prompt_positions(lm_dir: Path) -> None:
    with pytest.raises(OcrlabError, match="prompt_positions='middle'; choose one of"):
        make_bridge(lm_dir, prompt_positions="middle")


def test_generate_stops_at_eos(tmp_path: Path) -> None:
    """A GPT-2 whose final LayerNorm always outputs the EOS embedding predicts EOS first."""
    bridge = make_bridge(save_tiny_lm("gpt2", tmp_path / "gpt2"))
    lm, eos = bridge.lm, bridge.tokenizer.eos_token_id
    with torch.no_grad():
        wte = lm.get_input_embeddings().weight  # tied with the output layer
        wte[eos] *= 10
        lm.transformer.ln_f.weight.zero_()
        lm.transformer.ln_f.bias.copy_(wte[eos])
    assert bridge.generate(torch.randn(3, 4, H), max_new_tokens=20) == ["", "", ""]


def test_missing_lm_names_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-lm"
    with pytest.raises(OcrlabError, match="ocrlab lm pretrain") as info:
        LMBridge(LMConfig(name_or_path=str(missing)), qformer_hidden=H)
    assert str(missing) in str(info.value)


def test_directory_without_lm(tmp_path: Path) -> None:
    with pytest.raises(OcrlabError, match="holds no loadable"):
        LMBridge(LMConfig(name_or_path=str(tmp_path)), qformer_hidden=H)
