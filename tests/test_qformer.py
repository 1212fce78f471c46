"""The Q-Former wrapper: shapes, attention maps, padding invariance."""

from __future__ import annotations

import pytest
import torch

from ocrlab.models.config import QFormerConfig
from ocrlab.models.qformer import QFormer

C = 24  # encoder width
Q = 5


def make_qformer(layers: int = 2, freq: int = 1, positions: str = "none") -> QFormer:
    torch.manual_seed(0)
    config = QFormerConfig(
        num_queries=Q,
        hidden_size=32,
        num_layers=layers,
        num_heads=4,
        intermediate_size=64,
        cross_attention_frequency=freq,
        positions=positions,
        max_positions=16,
    )
    return QFormer(config, encoder_width=C).eval()


@pytest.mark.parametrize("T", [1, 7, 33])
def test_shapes(T: int) -> None:
    qf = make_qformer()
    out = qf(torch.randn(3, T, C), torch.ones(3, T, dtype=torch.bool))
    assert out.query_output.shape == (3, Q, 32)
    assert len(out.cross_attentions) == 2
    assert all(a.shape == (3, 4, Q, T) for a in out.cross_attentions)
    assert len(out.self_attentions) == 2
    assert all(a.shape == (3, 4, Q, Q) for a in out.self_attentions)
    assert qf.query_tokens.shape == (1, Q, 32)
    assert isinstance(qf.query_tokens, torch.nn.Parameter)


def test_mask_none_means_all_real() -> None:
    qf = make_qformer()
    x = torch.randn(2, 9, C)
    a = qf(x).query_output
    b = qf(x, torch.ones(2, 9, dtype=torch.bool)).query_output
    torch.testing.assert_close(a, b)


def test_attention_rows_sum_to_one_over_real_positions() -> None:
    qf = make_qformer()
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    out = qf(torch.randn(2, 10, C), mask)
    for attn in out.cross_attentions:  # (B, heads, Q, T)
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 4, Q))
        assert torch.all(attn[1, :, :, 6:] == 0)
        assert torch.all(attn[1, :, :, :6] > 0)
    for attn in out.self_attentions:  # (B, heads, Q, Q)
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 4, Q))


def test_padding_does_not_change_query_output() -> None:
    qf = make_qformer()
    x = torch.randn(1, 7, C)
    alone = qf(x, torch.ones(1, 7, dtype=torch.bool))
    # The same line padded to 12 positions (garbage in the padding), next to a full-width line.
    padded = torch.cat([x, 100 * torch.randn(1, 5, C)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 12, C)], dim=0)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, 7:] = False
    together = qf(batch, mask)
    torch.testing.assert_close(together.query_output[:1], alone.query_output, atol=1e-5, rtol=0)
    for a, b in zip(together.cross_attentions, alone.cross_attentions, strict=True):
        torch.testing.assert_close(a[:1, :, :, :7], b, atol=1e-6, rtol=0)


def test_cross_attention_frequency() -> None:
    x = torch.randn(2, 8, C)
    every = make_qformer(layers=4, freq=1)(x)
    every_other = make_qformer(layers=4, freq=2)(x)
    assert len(every.cross_attentions) == 4
    assert len(every_other.cross_attentions) == 2  # layers 0 and 2
    assert len(every_other.self_attentions) == 4


def test_self_and_cross_maps_are_the_right_ones() -> None:
    """With T == Q the shapes cannot tell self from cross maps: compare with hooks."""
    qf = make_qformer(layers=3, freq=2)
    seen: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module, args, output):
            seen[name] = output[1]  # (attn_output, attn_weights)

        return hook

    for i, layer in enumerate(qf.qformer.encoder.layer):
        layer.attention.attention.register_forward_hook(keep(f"self{i}"))
        if layer.has_cross_attention:
            layer.crossattention.attention.register_forward_hook(keep(f"cross{i}"))
    out = qf(torch.randn(2, Q, C))
    for i in range(3):
        torch.testing.assert_close(out.self_attentions[i], seen[f"self{i}"])
    torch.testing.assert_close(out.cross_attentions[0], seen["cross0"])
    torch.testing.assert_close(out.cross_attentions[1], seen["cross2"])


def test_without_attentions_and_gradients() -> None:
    qf = make_qformer().train()
    x = torch.randn(2, 6, C, requires_grad=True)
    out = qf(x, output_attentions=False)
    assert out.cross_attentions == () and out.self_attentions == ()
    out.query_output.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert qf.query_tokens.grad is not None


def test_without_positions_the_queries_read_a_set() -> None:
    """Blip2QFormerModel adds no positions to encoder_hidden_states: permuting the source
    positions permutes each map's columns and leaves the queries' output unchanged."""
    qf = make_qformer(positions="none")
    x = torch.randn(2, 9, C)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(1))
    a, b = qf(x), qf(x[:, perm])
    torch.testing.assert_close(b.query_output, a.query_output, atol=1e-5, rtol=0)
    torch.testing.assert_close(b.cross_attentions[0], a.cross_attentions[0][..., perm])


@pytest.mark.parametrize("kind", ["sinusoidal", "relative", "learned"])
def test_with_positions_order_matters(kind: str) -> None:
    qf = make_qformer(positions=kind)
    if kind == "learned":  # a trained table, not BLIP-2's near-zero initialization
        torch.nn.init.normal_(qf.positions.embedding)
    x = torch.randn(2, 9, C)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(1))
    a, b = qf(x), qf(x[:, perm])
    # a set would give the same output and the map's columns permuted (1e-7 apart)
    assert (a.query_output - b.query_output).abs().max() > 1e-5
    assert (b.cross_attentions[0] - a.cross_attentions[0][..., perm]).abs().max() > 1e-3


@pytest.mark.parametrize("kind", ["sinusoidal", "relative", "learned"])
def test_positions_keep_padding_invariance(kind: str) -> None:
    qf = make_qformer(positions=kind)
    x = torch.randn(1, 7, C)
    alone = qf(x, torch.ones(1, 7, dtype=torch.bool)).query_output
    padded = torch.cat([x, 50 * torch.randn(1, 5, C)], dim=1)
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[0, 7:] = False
    torch.testing.assert_close(qf(padded, mask).query_output, alone, atol=1e-5, rtol=0)


def test_relative_positions_code_the_place_in_the_line_not_the_frame() -> None:
    """A line of 10 real frames and one of 20 (padded to 24): the middle of each gets the same
    code, the same frame index does not; padding stays zero."""
    qf = make_qformer(positions="relative")
    mask = torch.zeros(2, 24, dtype=torch.bool)
    mask[0, :10], mask[1, :20] = True, True
    codes = qf.positions(torch.zeros(2, 24, C), mask)  # (2, 24, C): the codes alone
    torch.testing.assert_close(codes[0, 5], codes[1, 10])  # 5/10 = 10/20 of the line
    assert (codes[0, 5] - codes[1, 5]).abs().max() > 0.1
    assert codes[0, 10:].abs().max() == 0 and codes[1, 20:].abs().max() == 0
    # the first frame of every line is position 0, as with sinusoidal codes
    torch.testing.assert_close(codes[0, 0], codes[1, 0])


def test_learned_positions_past_the_table_reuse_the_last() -> None:
    qf = make_qformer(positions="learned")  # max_positions=16
    out = qf.positions(torch.zeros(1, 20, C), None)  # (1, 20, C)
    torch.testing.assert_close(out[0, 15:], qf.positions.embedding[15].expand(5, C))
    assert qf(torch.randn(2, 20, C)).query_output.shape == (2, Q, 32)


def test_unknown_positions_kind_is_refused() -> None:
    from ocrlab.errors import OcrlabError

    with pytest.raises(OcrlabError, match=r"qformer.positions='rotary'"):
        make_qformer(positions="rotary")


def test_the_guard_fails_when_transformers_records_attention_differently() -> None:
    """QFormer splits Blip2QFormerModel's ``attentions`` (self and cross maps interleaved) by
    layer; if a transformers release records them differently, it must say so, not mislabel."""
    qf = make_qformer(layers=2)

    def self_maps_only(module, args, out):
        out.attentions = tuple(out.attentions[::2])  # as if cross maps were no longer recorded
        return out

    hook = qf.qformer.register_forward_hook(self_maps_only)
    with pytest.raises(RuntimeError, match="transformers version changed how it records"):
        qf(torch.randn(1, 6, C))
    hook.remove()
    assert len(qf(torch.randn(1, 6, C)).cross_attentions) == 2
