"""Weight-space interpolation of two checkpoints (ocrlab.models.soup)."""

from __future__ import annotations

import copy

import pytest
import torch
from test_model import tiny_config

from ocrlab.charset import Charset
from ocrlab.models import CheckpointError, OCRModel
from ocrlab.models.soup import interpolate


def _pair(tiny_lm):
    torch.manual_seed(0)
    a = OCRModel(tiny_config(tiny_lm)).eval()
    torch.manual_seed(1)
    b = OCRModel(tiny_config(tiny_lm)).eval()
    # BatchNorm statistics differ too, as they do between two trained models
    for m, v in ((a, 0.5), (b, 2.0)):
        for name, t in m.state_dict().items():
            if name.endswith("running_var"):
                t.fill_(v)
    return a, b


def test_ends_and_midpoint_of_the_ctc_path(tiny_lm):
    a, b = _pair(tiny_lm)
    sa, sb = ({k: v.clone() for k, v in m.state_dict().items()} for m in (a, b))
    images, widths = torch.rand(2, 1, 32, 48), torch.tensor([48, 40])
    with torch.no_grad():
        logits_b = b(images, widths).ctc_logits

    mid = interpolate(copy.deepcopy(a), b, 0.5)
    for name, value in mid.state_dict().items():
        if name.startswith(("encoder.", "ctc_head.")) and value.is_floating_point():
            torch.testing.assert_close(value, (sa[name] + sb[name]) / 2)
        elif name.startswith(("encoder.", "ctc_head.")):  # BatchNorm's step counter
            assert torch.equal(value, sa[name])
        else:  # the Q-Former, projection and LM stay the base's
            assert torch.equal(value, sa[name]), name
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if k.startswith("qformer.")), (
        "the two models must differ where the base is kept"
    )

    at_one = interpolate(a, b, 1.0)
    with torch.no_grad():
        torch.testing.assert_close(at_one(images, widths).ctc_logits, logits_b)
    assert all(torch.equal(at_one.state_dict()[k], sa[k]) for k in sa if k.startswith("qformer."))


def test_bad_alpha_other_charset_and_other_shapes(tiny_lm):
    a, b = _pair(tiny_lm)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 1.5"):
        interpolate(a, b, 1.5)
    other = OCRModel(tiny_config(None), Charset.preset("alnum36"))
    with pytest.raises(CheckpointError, match="different charsets"):
        interpolate(OCRModel(tiny_config(None)), other, 0.5)
    wider = tiny_config(None)
    wider.encoder.d_model *= 2
    with pytest.raises(CheckpointError, match="different architectures"):
        interpolate(OCRModel(tiny_config(None)), OCRModel(wider), 0.5)
    with pytest.raises(ValueError, match="no floating-point weights start with"):
        interpolate(a, b, 0.5, prefixes=("nothing.",))
