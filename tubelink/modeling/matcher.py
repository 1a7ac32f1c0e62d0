"""Hungarian matching of predicted tubes to ground-truth tubes (whole tubes: all n frames at once)."""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from scipy.optimize import linear_sum_assignment

from .losses import pairwise_dice, pairwise_sigmoid_ce
from .point_sampling import point_sample, tube_to_long_image

__all__ = ["TubeHungarianMatcher", "tube_matching_cost"]


def tube_matching_cost(
    logits: torch.Tensor,
    masks: torch.Tensor,
    gt_classes: torch.Tensor,
    gt_masks: torch.Tensor,
    coords: torch.Tensor,
    cost_class: float,
    cost_mask: float,
    cost_dice: float,
) -> torch.Tensor:
    """Matching cost (Q, G) of one subclip.

    Args:
        logits: (Q, C+1) class logits; masks: (Q, n, h, w) mask logits.
        gt_classes: (G,) ids; gt_masks: (G, n, H, W) binary tubes.
        coords: (1, P, 2) point coordinates in [0, 1] on the long image, shared by predictions and targets.
    Returns:
        cost_class * (-p(class)) + cost_mask * mean BCE + cost_dice * dice, over the sampled points.
    """
    prob = logits.float().softmax(-1)[:, gt_classes]
    pred = point_sample(tube_to_long_image(masks.float()), coords.expand(masks.shape[0], -1, -1))[:, 0]
    tgt = point_sample(tube_to_long_image(gt_masks.float()), coords.expand(gt_masks.shape[0], -1, -1))[:, 0]
    return cost_mask * pairwise_sigmoid_ce(pred, tgt) - cost_class * prob + cost_dice * pairwise_dice(pred, tgt)


class TubeHungarianMatcher(torch.nn.Module):
    """One-to-one assignment of queries to ground-truth tubes minimising `tube_matching_cost`."""

    def __init__(
        self, cost_class: float = 2.0, cost_mask: float = 5.0, cost_dice: float = 5.0, num_points: int = 12544
    ) -> None:
        super().__init__()
        self.cost_class, self.cost_mask, self.cost_dice, self.num_points = cost_class, cost_mask, cost_dice, num_points

    @torch.no_grad()
    def forward(
        self, outputs: Dict[str, torch.Tensor], targets: List[Dict[str, torch.Tensor]]
    ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """outputs: {"pred_logits": (B, Q, C+1), "pred_masks": (B, Q, n, h, w)}; targets[b]: {"labels": (G,),
        "masks": (G, n, H, W)} -> per batch element (query indices int64 (K,), target indices int64 (K,))."""
        indices = []
        for b, tgt in enumerate(targets):
            if len(tgt["labels"]) == 0:
                empty = torch.zeros(0, dtype=torch.int64)
                indices.append((empty, empty))
                continue
            coords = torch.rand(1, self.num_points, 2, device=outputs["pred_masks"].device)
            cost = tube_matching_cost(
                outputs["pred_logits"][b],
                outputs["pred_masks"][b],
                tgt["labels"],
                tgt["masks"],
                coords,
                self.cost_class,
                self.cost_mask,
                self.cost_dice,
            )
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
            indices.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return indices
