"""Exponential moving average of the model's weights (MODEL_EMA), the model that is evaluated and saved.

After every optimizer step, each floating-point parameter and buffer of the averaged copy moves towards the trained
model's: ``avg = d * avg + (1 - d) * w``, with the decay warmed up as TensorFlow's ExponentialMovingAverage
(``d = min(DECAY, (1 + t) / (10 + t))`` after t updates), so that the random initialisation is forgotten on short
schedules. Integer buffers are copied. The average only reads the trained weights; it never changes them, so
training itself is the same with and without it.
"""

from __future__ import annotations

import copy
from typing import Dict

import torch
from torch import nn

from ..utils.errors import InputError

__all__ = ["ModelEMA", "ema_decay"]


def ema_decay(decay: float, num_updates: int) -> float:
    """The decay of update number `num_updates` (1-based): the warmed-up ``min(decay, (1 + t) / (10 + t))``."""
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates))


class ModelEMA:
    """An averaged copy of `model` (in eval mode, no gradients); `update(model)` after each optimizer step.

    `module` is the averaged model, to evaluate or save; with `num_updates` it is all a checkpoint needs (`load`), so
    a resumed run averages exactly as an uninterrupted one.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise InputError("MODEL_EMA.DECAY", f"must lie in [0, 1), got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> float:
        """Move the average towards `model`'s current weights; returns the decay used."""
        self.num_updates += 1
        d = ema_decay(self.decay, self.num_updates)
        current = model.state_dict()
        for name, avg in self.module.state_dict().items():
            value = current[name].detach()
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(value.to(avg.dtype), alpha=1.0 - d)
            else:
                avg.copy_(value)
        return d

    def load(self, weights: Dict[str, torch.Tensor], num_updates: int) -> None:
        """Restore the average from a checkpoint: its weights and how many updates made it."""
        self.module.load_state_dict(weights)
        self.num_updates = int(num_updates)
