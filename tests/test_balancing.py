"""Loss balancing: the fixed weighting every run without a balancer uses, the weights each
automatic method chooses on toy problems with known answers, and its state surviving a kill and
resume of a training run."""

from __future__ import annotations

import json

import pytest
import torch

from ocrlab.balancing import (
    BalanceConfig,
    Balancer,
    GradNorm,
    UncertaintyWeighting,
    make_balancer,
)
from ocrlab.config import ConfigError


def test_fixed_weights_are_the_scheduled_weights():
    bal = make_balancer(BalanceConfig())
    assert type(bal) is Balancer and bal.kind == "none"
    ctc, lm = torch.tensor(2.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    total = bal.combine(ctc, lm, 0.1, 2.0, step=0)
    assert total.item() == pytest.approx(0.1 * 2.0 + 2.0 * 3.0)
    total.backward()
    assert (ctc.grad.item(), lm.grad.item()) == pytest.approx((0.1, 2.0))
    assert bal.weights == {"ctc": 0.1, "lm": 2.0}
    # a step without an LM loss (its weight was 0, so it was not computed): CTC alone
    assert bal.combine(torch.tensor(2.0), None, 1.0, 0.0, step=1).item() == pytest.approx(2.0)
    assert bal.state_dict() == {} and bal.log_values() == {"w_ctc": 1.0, "w_lm": 0.0}


def test_uncertainty_weighting_learns_inverse_loss_weights():
    # d/ds (exp(-s) L + s) = 0 at s = log L: the weight exp(-s) goes to 1 / L for a steady loss
    bal = UncertaintyWeighting(lr=0.05)
    ctc, lm = torch.tensor(4.0), torch.tensor(0.25)
    for step in range(3000):
        total = bal.combine(ctc, lm, 1.0, 1.0, step)
        total.backward()
        bal.step()
    assert bal.weights["ctc"] == pytest.approx(0.25, rel=0.05)
    assert bal.weights["lm"] == pytest.approx(4.0, rel=0.05)
    assert bal.log_values()["log_var_ctc"] == pytest.approx(torch.log(ctc).item(), abs=0.05)


def test_uncertainty_weighting_respects_a_zero_schedule():
    bal = UncertaintyWeighting()
    total = bal.combine(torch.tensor(2.0), torch.tensor(3.0), 1.0, 0.0, 0)
    assert total.item() == pytest.approx(2.0)  # exp(0) * 2 + 0; the LM term is switched off
    assert bal.weights["lm"] == 0.0


def test_gradnorm_equalizes_gradient_norms_on_the_shared_layer():
    # two losses on one shared vector, gradient norms 10x apart, equal training rates (the
    # losses do not change): GradNorm settles where w_1 |g_1| = w_2 |g_2| with w_1 + w_2 = 2
    W = torch.nn.Parameter(torch.ones(3))
    bal = GradNorm([W], lr=0.02, alpha=1.5)
    for step in range(1500):
        l1, l2 = 10 * W.sum(), W.sum()
        total = bal.combine(l1, l2, 1.0, 1.0, step)
        total.backward()
        W.grad = None  # W is held fixed, so the rates stay equal
        bal.step()
    assert bal.weights["ctc"] == pytest.approx(2 / 11, rel=0.05)
    assert bal.weights["lm"] == pytest.approx(20 / 11, rel=0.05)
    assert sum(bal.weights.values()) == pytest.approx(2.0)
    assert bal.log_values()["gn_norm_ctc"] == pytest.approx(10 * 3**0.5, rel=1e-4)


def test_gradnorm_favours_the_loss_that_trains_slower():
    # equal gradient norms, but loss 2 has not dropped while loss 1 halved: alpha > 0 gives
    # loss 2 the larger weight
    W = torch.nn.Parameter(torch.ones(2))
    bal = GradNorm([W], lr=0.02, alpha=1.0)
    bal.combine(W.sum(), W.sum(), 1.0, 1.0, 0)  # records the initial losses (2, 2)
    bal.step()
    for step in range(1, 800):
        total = bal.combine(W.sum() - 1.0, W.sum(), 1.0, 1.0, step)  # values 1 and 2
        total.backward()
        W.grad = None
        bal.step()
    # rates 0.5 and 1 -> relative rates 2/3 and 4/3 -> target norms 1:2 with equal |g|
    assert bal.weights["lm"] / bal.weights["ctc"] == pytest.approx(2.0, rel=0.05)


def test_balance_config_is_checked():
    with pytest.raises(ConfigError, match="choose one of"):
        BalanceConfig(kind="magic")
    with pytest.raises(ConfigError, match="lr > 0"):
        BalanceConfig(kind="gradnorm", lr=0)
    with pytest.raises(ConfigError, match="trainable shared"):
        make_balancer(BalanceConfig(kind="gradnorm"), [])


@pytest.mark.parametrize("kind", ["uncertainty", "gradnorm"])
def test_balanced_training_logs_weights_and_resumes_exactly(tmp_path, tiny_lm, kind):
    from test_train import tiny, weights

    from ocrlab.train import train

    config = tiny(
        tiny_lm, "train.max_steps=8", "train.save_every=4", f"loss.balance.kind={kind}",
        "loss.lm_weight.value=1.0",
    )  # fmt: skip
    full = train(config, tmp_path / "full", progress=False)
    train(config, tmp_path / "split", progress=False, stop_after=5)
    train(config, tmp_path / "split", progress=False, resume=True)
    a, b = weights(tmp_path / "full"), weights(tmp_path / "split")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    records = [json.loads(x) for x in (full.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_recs = [r for r in records if r["kind"] == "train"]
    w_lm = [r["w_lm"] for r in train_recs]
    assert len(set(w_lm)) > 1, "the balancer changed the LM weight during training"
    key = "log_var_lm" if kind == "uncertainty" else "gn_norm_lm"
    assert all(key in r for r in train_recs[1:])
