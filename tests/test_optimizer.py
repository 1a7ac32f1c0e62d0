"""Optimizer parameter groups, full-model gradient clipping and the warmup + decay schedule."""

import pytest
import torch
from torch import nn

from tubelink.config import get_cfg
from tubelink.engine.optimizer import build_lr_scheduler, build_optimizer, clip_grad_norm_, param_groups


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Linear(4, 2)
        self.norm = nn.LayerNorm(2)
        self.query_feat = nn.Embedding(5, 2)


def _head_lr(opt):
    return next(g["lr"] for g in opt.param_groups if "head.weight" in g["names"])


def _cfg(**solver):
    cfg = get_cfg()
    cfg.SOLVER.MAX_ITER = 100
    cfg.SOLVER.WARMUP_ITERS = 10
    cfg.SOLVER.STEPS = (60, 80)
    for k, v in solver.items():
        setattr(cfg.SOLVER, k, v)
    return cfg


def test_param_groups_lr_and_weight_decay():
    groups = param_groups(
        _Toy(), base_lr=1.0, weight_decay=0.05, weight_decay_norm=0.0, weight_decay_embed=0.0, backbone_multiplier=0.1
    )
    by_name = {g["name"]: g for g in groups}
    assert by_name["backbone.0.weight"]["lr"] == pytest.approx(0.1)
    assert by_name["backbone.0.weight"]["weight_decay"] == 0.05
    assert by_name["backbone.1.weight"]["weight_decay"] == 0.0  # norm
    assert by_name["head.weight"]["lr"] == 1.0 and by_name["head.weight"]["weight_decay"] == 0.05
    assert by_name["norm.weight"]["weight_decay"] == 0.0
    assert by_name["query_feat.weight"]["weight_decay"] == 0.0  # embedding


def test_optimizer_merges_equal_groups_and_keeps_every_setting():
    cfg = _cfg(BASE_LR=1.0, WEIGHT_DECAY=0.05, BACKBONE_MULTIPLIER=0.1)
    model = _Toy()
    opt = build_optimizer(cfg, model)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["fused"]  # one fused kernel call per group
    per_param = {g["name"]: g for g in param_groups(model, 1.0, 0.05, 0.0, 0.0, 0.1)}
    assert len(opt.param_groups) == 4  # backbone decayed / backbone norm / head decayed / head no decay
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    for group in opt.param_groups:
        assert len(group["params"]) == len(group["names"])
        for name in group["names"]:
            assert (group["lr"], group["weight_decay"]) == (per_param[name]["lr"], per_param[name]["weight_decay"])


def test_warmup_then_multistep():
    cfg = _cfg(BASE_LR=1.0, WARMUP_FACTOR=0.001)
    opt = build_optimizer(cfg, _Toy())
    sched = build_lr_scheduler(cfg, opt)
    lrs = []
    for _ in range(100):
        lrs.append(_head_lr(opt))
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.001)
    assert lrs[5] == pytest.approx(0.001 + (1 - 0.001) * 0.5)
    assert lrs[10] == pytest.approx(1.0) and lrs[59] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.1) and lrs[80] == pytest.approx(0.01)


def test_poly_and_bad_names():
    cfg = _cfg(BASE_LR=1.0, LR_SCHEDULER_NAME="WarmupPolyLR", WARMUP_ITERS=0, POLY_LR_POWER=1.0)
    opt = build_optimizer(cfg, _Toy())
    sched = build_lr_scheduler(cfg, opt)
    for _ in range(50):
        opt.step()
        sched.step()
    assert _head_lr(opt) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="SOLVER.LR_SCHEDULER_NAME"):
        build_lr_scheduler(_cfg(LR_SCHEDULER_NAME="Nope"), opt)
    with pytest.raises(ValueError, match="SOLVER.STEPS"):
        build_lr_scheduler(_cfg(STEPS=(500,)), opt)
    with pytest.raises(ValueError, match="outside"):  # a step at MAX_ITER never takes effect (and fvcore refuses it)
        build_lr_scheduler(_cfg(STEPS=(_cfg().SOLVER.MAX_ITER,)), opt)
    with pytest.raises(ValueError, match="strictly increasing"):
        build_lr_scheduler(_cfg(STEPS=(80, 60)), opt)
    with pytest.raises(ValueError, match="SOLVER.OPTIMIZER"):
        build_optimizer(_cfg(OPTIMIZER="LAMB"), _Toy())


def test_full_model_clipping():
    model = _Toy()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    total = clip_grad_norm_(model.parameters(), _cfg())
    after = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
    assert total > 1.0 and after == pytest.approx(0.01, rel=1e-4)
