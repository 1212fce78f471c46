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


def test_generate_is_the_greedy_reading_of_the_soft_prompt(lm_dir: Path) -> None:
    """generate() against an independent greedy loop over the LM's own forward pass: the
    argmax token after [prompt; tokens so far], stopping at EOS or after 6 tokens."""
    bridge = make_bridge(lm_dir)
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
                nxt = int(bridge.lm(inputs_embeds=inputs).logits[0, -1].argmax())
                if nxt == eos:
                    break
                ids.append(nxt)
                inputs = torch.cat([inputs, embed(torch.tensor([[nxt]]))], dim=1)
            assert text == bridge.tokenizer.decode(ids, skip_special_tokens=True)
    assert bridge.generate(queries, max_new_tokens=6) == texts  # greedy: deterministic


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
