"""Encoder: shapes, stage strides, masks, padding invariance, FLOP budget of the presets."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ocrlab.errors import OcrlabError
from ocrlab.models.encoder import Encoder, StageInfo, count_flops, encoder_preset


def tiny(context: str = "bilstm") -> Encoder:
    torch.manual_seed(0)
    return Encoder(replace(encoder_preset("tiny"), context=context)).eval()


@pytest.mark.parametrize("context", ["none", "bilstm", "transformer"])
@pytest.mark.parametrize("W", [4, 32, 100, 256])
def test_shapes_for_several_widths(context: str, W: int) -> None:
    enc = tiny(context)
    out = enc(torch.rand(2, 1, 32, W), torch.tensor([W, max(1, W // 2)]))
    assert out.features.shape == (2, W // 4, 32)
    assert out.mask.shape == (2, W // 4)
    assert list(out.stages) == list(enc.stages)
    for name, info in enc.stages.items():
        assert out.stages[name].shape == (2, W // info.stride, info.channels), name
        assert out.stage_masks[name].shape == (2, W // info.stride)
    assert torch.equal(out.features, out.stages[list(enc.stages)[-1]])
    assert W // enc.output_stride == out.features.shape[1]


def test_stage_strides_and_channels() -> None:
    cfg = encoder_preset("tiny")
    assert tiny().stages == {
        "stage1": StageInfo(2, cfg.channels[0]),
        "stage2": StageInfo(4, cfg.channels[1]),
        "stage3": StageInfo(4, cfg.channels[2]),
        "cnn": StageInfo(4, cfg.d_model),
        "context": StageInfo(4, cfg.d_model),
    }
    assert "context" not in tiny("none").stages


def test_masks_follow_true_widths_and_padding_is_zero() -> None:
    enc = tiny()
    out = enc(torch.rand(3, 1, 32, 64), torch.tensor([64, 30, 1]))
    assert out.mask.sum(1).tolist() == [16, 8, 1]  # ceil(w / 4)
    assert out.stage_masks["stage1"].sum(1).tolist() == [32, 15, 1]  # ceil(w / 2)
    for name, x in out.stages.items():
        assert torch.all(x[~out.stage_masks[name]] == 0), name


def test_positions_to_pixels() -> None:
    enc = tiny()
    assert enc.positions_to_pixels("cnn", 3).tolist() == [2.0, 6.0, 10.0]
    assert enc.positions_to_pixels("stage1", 2).tolist() == [1.0, 3.0]
    with pytest.raises(OcrlabError, match="unknown encoder stage"):
        enc.positions_to_pixels("nope", 3)


@pytest.mark.parametrize("context", ["none", "bilstm", "transformer"])
def test_padding_does_not_change_real_positions(context: str) -> None:
    enc = tiny(context)
    torch.manual_seed(1)
    line = torch.rand(1, 1, 32, 60)
    alone = enc(line, torch.tensor([60]))
    # Batched with a wider line; the padding holds junk, not zeros, to make leaks visible.
    batch = torch.rand(2, 1, 32, 132)
    batch[0, :, :, :60] = line[0]
    together = enc(batch, torch.tensor([60, 132]))
    for name, x in alone.stages.items():
        T = x.shape[1]
        torch.testing.assert_close(together.stages[name][0, :T], x[0], atol=1e-5, rtol=0)
        assert torch.all(together.stages[name][0, T:] == 0)


def test_true_width_not_multiple_of_4() -> None:
    enc = tiny()
    line = torch.rand(1, 1, 32, 64)
    line[..., 58:] = 0.5  # padding up to a multiple of 4
    a = enc(line, torch.tensor([58]))
    b = enc(torch.cat([line, torch.rand(1, 1, 32, 64)], -1), torch.tensor([58]))
    torch.testing.assert_close(b.features[0, :15], a.features[0, :15], atol=1e-5, rtol=0)


def test_train_mode_backward() -> None:
    enc = tiny("transformer").train()
    out = enc(torch.rand(2, 1, 32, 48), torch.tensor([48, 20]))
    out.features.sum().backward()
    assert all(p.grad is not None for p in enc.parameters())


def test_bad_input_and_config() -> None:
    enc = tiny()
    with pytest.raises(OcrlabError, match="multiple of 4"):
        enc(torch.rand(1, 1, 32, 30))
    with pytest.raises(OcrlabError, match=r"\(B, 1, 32, W\)"):
        enc(torch.rand(1, 1, 48, 32))
    with pytest.raises(OcrlabError, match="widths"):
        enc(torch.rand(2, 1, 32, 32), torch.tensor([32, 36]))
    with pytest.raises(
        OcrlabError, match="unknown EncoderConfig preset 'huge'; choose one of tiny"
    ):
        encoder_preset("huge")
    with pytest.raises(OcrlabError, match="context"):
        Encoder(replace(encoder_preset("tiny"), context="gru"))


def test_small_preset_flop_budget() -> None:
    gflop = count_flops(Encoder(encoder_preset("small")), width=128)
    print(f"small preset: {gflop:.3f} GFLOP per 32x128")
    assert 0.3 <= gflop <= 0.8
    assert encoder_preset("small").d_model == 512
    # FLOPs scale with width; the LSTM is counted (FlopCounterMode alone would miss it).
    enc = tiny()
    assert count_flops(enc, 256) == pytest.approx(2 * count_flops(enc, 128), rel=0.02)
    assert count_flops(enc) > count_flops(tiny("none"))
