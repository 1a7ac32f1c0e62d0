"""tools/gradient_share.py: per-family gradient norms, shares and cosines against hand-computed gradients."""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

from gradient_share import gradient_shares, loss_family, median_over_steps  # noqa: E402


def test_deep_supervision_terms_join_their_family():
    assert loss_family("loss_dice_3") == "loss_dice"
    assert loss_family("loss_tcl_aux") == "loss_tcl_aux"  # a name part, not a layer index
    assert loss_family("loss_tcl_aux_12") == "loss_tcl_aux"


def test_shares_match_the_hand_computed_gradients():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    b = torch.nn.Parameter(torch.tensor([0.5]))
    idle = torch.nn.Parameter(torch.tensor([7.0]))  # no term depends on it: zero gradient, not an error
    losses = {
        "loss_mask": 3.0 * w[0],  # d/dw = (3, 0)
        "loss_mask_0": 1.0 * w[0],  # same family: (1, 0); the family's gradient is (4, 0, 0)
        "loss_tcl": w[1] * b[0] * 2.0,  # d/dw1 = 2 b = 1, d/db = 2 w1 = 4: (0, 1, 4)
        "loss_const": torch.tensor(5.0),  # no gradient at all
    }
    out = gradient_shares(losses, [w, b, idle])
    total = torch.tensor([4.0, 1.0, 4.0, 0.0])
    assert out["total"]["norm"] == pytest.approx(float(total.norm()))
    assert out["loss_mask"]["norm"] == pytest.approx(4.0)
    assert out["loss_mask"]["share"] == pytest.approx(4.0 / float(total.norm()))
    assert out["loss_mask"]["cosine"] == pytest.approx(16.0 / (4.0 * float(total.norm())))
    assert out["loss_tcl"]["norm"] == pytest.approx(17**0.5)
    assert out["loss_tcl"]["cosine"] == pytest.approx(17.0 / (17**0.5 * float(total.norm())))
    assert out["loss_const"] == {"norm": 0.0, "share": 0.0, "cosine": 0.0}
    assert "loss_mask_0" not in out


def test_median_over_steps_per_family():
    steps = [{"a": {"norm": v}, "total": {"norm": 10 * v}} for v in (1.0, 5.0, 2.0)] + [{"total": {"norm": 0.0}}]
    med = median_over_steps(steps)
    assert med["a"] == {"norm": 2.0}  # over the three steps that have it
    assert med["total"] == {"norm": 15.0}  # (0, 10, 20, 50)
