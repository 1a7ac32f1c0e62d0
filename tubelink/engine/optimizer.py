"""Optimizer and learning-rate schedule from the config (Mask2Former's recipe, detectron2's key names).

- AdamW (or SGD) over parameter groups: the backbone's learning rate is scaled by SOLVER.BACKBONE_MULTIPLIER;
  normalisation layers get SOLVER.WEIGHT_DECAY_NORM, learned embeddings (queries, level embeddings) and Swin's
  relative position tables get SOLVER.WEIGHT_DECAY_EMBED. Parameters with equal settings share one group, so
  the fused (or multi-tensor) kernel updates them in one call instead of one small call per tensor.
- Gradients are clipped over the full model (one global norm), as Mask2Former and the original Tube-Link do.
- The schedule is an fvcore ParamScheduler (warmup, then multi-step or poly decay) wrapped as a torch LR
  scheduler that multiplies each group's initial learning rate.
"""

from __future__ import annotations

from typing import Dict, Iterable, List

import torch
from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    LinearParamScheduler,
    MultiStepParamScheduler,
    ParamScheduler,
    PolynomialDecayParamScheduler,
)

__all__ = [
    "build_optimizer",
    "build_lr_scheduler",
    "param_groups",
    "merge_param_groups",
    "clip_grad_norm_",
    "LRMultiplier",
]

_NORM_TYPES = (
    torch.nn.BatchNorm1d,
    torch.nn.BatchNorm2d,
    torch.nn.BatchNorm3d,
    torch.nn.SyncBatchNorm,
    torch.nn.GroupNorm,
    torch.nn.InstanceNorm2d,
    torch.nn.LayerNorm,
    torch.nn.LocalResponseNorm,
)
# Parameters that are embeddings rather than weights: decaying them towards zero only hurts.
_EMBED_NAMES = ("query_feat", "query_embed", "level_embed", "relative_position_bias_table", "absolute_pos_embed")


def _is_norm(module: torch.nn.Module) -> bool:
    # FrozenBatchNorm2d has no parameters; other norms from timm/torchvision subclass the torch ones or are named so.
    return isinstance(module, _NORM_TYPES) or "norm" in type(module).__name__.lower()


def param_groups(
    model: torch.nn.Module,
    base_lr: float,
    weight_decay: float,
    weight_decay_norm: float,
    weight_decay_embed: float,
    backbone_multiplier: float,
) -> List[Dict]:
    """One optimizer group per trainable parameter, with its own lr and weight decay.

    Args:
        model: the model; parameters under a child named `backbone` get lr * backbone_multiplier.
    Returns:
        list of {"params": [p], "lr": float, "weight_decay": float, "name": str}; shared parameters appear once.
    """
    groups, seen = [], set()
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            full_name = f"{module_name}.{name}" if module_name else name
            lr = base_lr * (backbone_multiplier if full_name.split(".")[0] == "backbone" else 1.0)
            if _is_norm(module):
                wd = weight_decay_norm
            elif isinstance(module, torch.nn.Embedding) or any(key in full_name for key in _EMBED_NAMES):
                wd = weight_decay_embed
            else:
                wd = weight_decay
            groups.append({"params": [param], "lr": lr, "weight_decay": wd, "name": full_name})
    return groups


def merge_param_groups(groups: List[Dict]) -> List[Dict]:
    """Merge per-parameter groups (`param_groups`) whose hyper-parameters are equal, in order of first appearance.

    Args:
        groups: list of {"params": [p], "name": str, <hyper-parameters>}.
    Returns:
        list of {"params": [p, ...], "names": [str, ...], <hyper-parameters>}; every parameter keeps its settings.
    """
    merged: Dict[tuple, Dict] = {}
    for group in groups:
        settings = {k: v for k, v in group.items() if k not in ("params", "name")}
        key = tuple(sorted(settings.items()))
        target = merged.setdefault(key, {"params": [], "names": [], **settings})
        target["params"].extend(group["params"])
        target["names"].append(group["name"])
    return list(merged.values())


def _multi_tensor_kernels_supported(params: Iterable[torch.Tensor]) -> bool:
    # torch's fused AdamW and foreach norms run on CPU and CUDA floating-point tensors; elsewhere the default path.
    return all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)


def build_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    """AdamW (SOLVER.OPTIMIZER "ADAMW", fused kernel where supported) or SGD over the merged `param_groups`."""
    s = cfg.SOLVER
    groups = merge_param_groups(
        param_groups(model, s.BASE_LR, s.WEIGHT_DECAY, s.WEIGHT_DECAY_NORM, s.WEIGHT_DECAY_EMBED, s.BACKBONE_MULTIPLIER)
    )
    kind = s.OPTIMIZER.upper()
    if kind == "ADAMW":
        fused = _multi_tensor_kernels_supported(p for g in groups for p in g["params"]) or None
        return torch.optim.AdamW(groups, lr=s.BASE_LR, betas=(0.9, 0.999), eps=1e-8, fused=fused)
    if kind == "SGD":
        return torch.optim.SGD(groups, lr=s.BASE_LR, momentum=s.MOMENTUM, nesterov=s.NESTEROV)
    raise ValueError(f"SOLVER.OPTIMIZER: unknown optimizer {s.OPTIMIZER!r}; use 'ADAMW' or 'SGD'")


def clip_grad_norm_(parameters: Iterable[torch.nn.Parameter], cfg) -> torch.Tensor | None:
    """Clip gradients over all `parameters` to SOLVER.CLIP_GRADIENTS.CLIP_VALUE (full-model norm).

    Returns the total norm before clipping (a scalar tensor), or None when clipping is disabled.
    """
    c = cfg.SOLVER.CLIP_GRADIENTS
    if not c.ENABLED:
        return None
    if c.CLIP_TYPE != "full_model":
        raise ValueError(f"SOLVER.CLIP_GRADIENTS.CLIP_TYPE: only 'full_model' is supported, got {c.CLIP_TYPE!r}")
    params = [p for p in parameters if p.grad is not None]
    # foreach: one multi-tensor norm rather than one per parameter (torch's default enables it on CUDA only)
    foreach = _multi_tensor_kernels_supported(params) or None
    return torch.nn.utils.clip_grad_norm_(params, c.CLIP_VALUE, norm_type=c.NORM_TYPE, foreach=foreach)


def build_schedule(cfg) -> ParamScheduler:
    """The lr multiplier as a function of training progress in [0, 1): warmup, then multi-step or poly decay."""
    s = cfg.SOLVER
    max_iter = s.MAX_ITER
    if s.LR_SCHEDULER_NAME == "WarmupMultiStepLR":
        bad = [x for x in s.STEPS if not 0 < x < max_iter]  # a step at MAX_ITER would never take effect
        if bad:
            raise ValueError(f"SOLVER.STEPS: steps {bad} are outside (0, SOLVER.MAX_ITER={max_iter})")
        if list(s.STEPS) != sorted(set(s.STEPS)):
            raise ValueError(f"SOLVER.STEPS: {list(s.STEPS)} must be strictly increasing")
        main = MultiStepParamScheduler(
            values=[s.GAMMA**k for k in range(len(s.STEPS) + 1)], milestones=list(s.STEPS), num_updates=max_iter
        )
    elif s.LR_SCHEDULER_NAME == "WarmupPolyLR":
        main = PolynomialDecayParamScheduler(1.0, s.POLY_LR_POWER)
    elif s.LR_SCHEDULER_NAME == "WarmupConstantLR":
        main = ConstantParamScheduler(1.0)
    else:
        raise ValueError(
            f"SOLVER.LR_SCHEDULER_NAME: unknown scheduler {s.LR_SCHEDULER_NAME!r}; "
            "use WarmupMultiStepLR, WarmupPolyLR or WarmupConstantLR"
        )
    warmup = min(s.WARMUP_ITERS / max(max_iter, 1), 1.0)
    if warmup <= 0:
        return main
    if s.WARMUP_METHOD == "linear":
        ramp = LinearParamScheduler(s.WARMUP_FACTOR * main(0.0), main(warmup))
    elif s.WARMUP_METHOD == "constant":
        ramp = ConstantParamScheduler(s.WARMUP_FACTOR * main(0.0))
    else:
        raise ValueError(f"SOLVER.WARMUP_METHOD: unknown method {s.WARMUP_METHOD!r}; use 'linear' or 'constant'")
    # "rescaled" would stretch the main schedule; "fixed" keeps its milestones at their absolute iterations.
    return CompositeParamScheduler([ramp, main], [warmup, 1 - warmup], ["rescaled", "fixed"])


class LRMultiplier(torch.optim.lr_scheduler.LRScheduler):
    """torch LR scheduler setting each group's lr to its initial lr times `schedule(iter / max_iter)`."""

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: ParamScheduler, max_iter: int, last_iter: int = -1):
        self._schedule = schedule
        self._max_iter = max_iter
        super().__init__(optimizer, last_epoch=last_iter)

    def state_dict(self) -> Dict:
        """Only the position: the schedule itself is rebuilt from the config."""
        return {"base_lrs": self.base_lrs, "last_epoch": self.last_epoch}

    def get_lr(self) -> List[float]:
        multiplier = self._schedule(min(self.last_epoch / self._max_iter, 1.0 - 1e-9))
        return [base_lr * multiplier for base_lr in self.base_lrs]


def build_lr_scheduler(cfg, optimizer: torch.optim.Optimizer) -> LRMultiplier:
    """Warmup + decay schedule of SOLVER.* stepped once per iteration."""
    return LRMultiplier(optimizer, build_schedule(cfg), cfg.SOLVER.MAX_ITER)
