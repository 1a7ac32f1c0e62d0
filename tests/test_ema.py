"""MODEL_EMA: the weight average's arithmetic, that it is what training saves and evaluates, and exact resume."""

import os

import pytest
import torch
from torch import nn

from tubelink.engine.defaults import seed_all
from tubelink.engine.ema import ModelEMA, ema_decay
from tubelink.engine.trainer import Trainer
from tubelink.utils.errors import InputError

from test_trainer import tiny_cfg, train_until_killed_at_iteration_4


def test_decay_warms_up_to_its_cap():
    assert ema_decay(0.999, 1) == pytest.approx(2 / 11)
    assert ema_decay(0.999, 90) == pytest.approx(91 / 100)
    assert ema_decay(0.999, 100000) == 0.999
    assert ema_decay(0.0, 5) == 0.0  # decay 0: the average is the latest weights


def test_update_averages_floats_and_copies_integer_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = ModelEMA(model, decay=0.5)
    start = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model.train()(torch.randn(4, 3))  # BatchNorm: running stats move, num_batches_tracked becomes 1
    d = ema.update(model)
    assert d == pytest.approx(2 / 11)  # the warm-up, not the cap, on the first update
    now = model.state_dict()
    averaged = ema.module.state_dict()
    for key in ("0.weight", "0.bias", "1.running_mean", "1.running_var"):
        assert torch.allclose(averaged[key], d * start[key] + (1 - d) * now[key])
    assert not torch.equal(averaged["0.weight"], now["0.weight"])  # an average, not a copy
    assert averaged["1.num_batches_tracked"].item() == 1
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert not ema.module.training


def test_decay_outside_unit_interval_names_the_key():
    with pytest.raises(InputError, match="MODEL_EMA.DECAY"):
        ModelEMA(nn.Linear(1, 1), decay=1.0)


def _ema_cfg(output_dir):
    cfg = tiny_cfg(output_dir)
    cfg.MODEL_EMA.ENABLED = True
    cfg.MODEL_EMA.DECAY = 0.9
    return cfg


def test_training_saves_and_evaluates_the_average_and_resumes_it_exactly(datasets_root, monkeypatch):
    evaluated = []
    monkeypatch.setattr("tubelink.engine.trainer.evaluate_model", lambda cfg, model: evaluated.append(model) or {})
    seed_all(3)
    cfg = _ema_cfg(datasets_root / "full")
    cfg.DATASETS.TEST = ("synthetic_vipseg_val",)  # evaluate_model is replaced: only which model it gets matters
    full = Trainer(cfg)
    full.train()
    assert evaluated == [full.ema.module]
    final = torch.load(datasets_root / "full" / "model_final.pth", weights_only=True)
    assert final["ema_num_updates"] == 6
    for key, value in full.ema.module.state_dict().items():
        assert torch.equal(final["model"][key], value)
        assert torch.equal(final["trained_model"][key], full.model.state_dict()[key])
    trained = final["trained_model"]
    moved = [k for k, v in final["model"].items() if v.is_floating_point() and not torch.equal(v, trained[k])]
    assert len(moved) > len(final["model"]) // 2  # the saved model is the average, not the trained weights

    # Interrupted after the checkpoint at iteration 3, then resumed: the same trained weights and the same average.
    train_until_killed_at_iteration_4(_ema_cfg(datasets_root / "resumed"), monkeypatch)
    seed_all(12345)
    resumed = Trainer(_ema_cfg(datasets_root / "resumed"), resume=True)
    assert resumed.start_iter == 3 and resumed.ema.num_updates == 3
    resumed.train()
    again = torch.load(datasets_root / "resumed" / "model_final.pth", weights_only=True)
    for key in final["model"]:
        assert torch.equal(again["model"][key], final["model"][key]), key
        assert torch.equal(again["trained_model"][key], final["trained_model"][key]), key


def test_without_ema_the_trained_weights_are_saved_alone(datasets_root):
    trainer = Trainer(tiny_cfg(datasets_root / "plain", max_iter=2))
    trainer.train()
    final = torch.load(os.path.join(datasets_root, "plain", "model_final.pth"), weights_only=True)
    assert trainer.ema is None and "trained_model" not in final
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(final["model"][key], value)
