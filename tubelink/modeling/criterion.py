"""The tube set criterion: Hungarian-matched class, mask BCE and dice losses per subclip, with deep supervision.

Interface (detectron2 / Mask2Former convention): `criterion(outputs, targets) -> {name: unweighted loss}` with
names `loss_ce`, `loss_mask`, `loss_dice` for the last prediction and `loss_*_{i}` for aux prediction i; the
caller multiplies by `weight_dict`. `criterion.last_indices` holds the last prediction's matching for TCL.
targets[b] = {"labels": int64 (G,), "masks": bool (G, n, H, W), "ignore": optional bool (n, H, W)}.
"""

from __future__ import annotations

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import comm
from .losses import dice_loss, sigmoid_ce_loss
from .matcher import TubeHungarianMatcher
from .point_sampling import point_sample, tube_to_long_image, uncertain_point_coords

__all__ = ["TubeSetCriterion"]


class TubeSetCriterion(nn.Module):
    """See the module docstring. `empty_weight` is derived from the config, so it is not saved in checkpoints."""

    def __init__(
        self,
        num_classes: int,
        matcher: TubeHungarianMatcher,
        weight_dict: Dict[str, float],
        eos_coef: float = 0.1,
        num_points: int = 12544,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = weight_dict
        self.num_points, self.oversample_ratio, self.importance_sample_ratio = (
            num_points,
            oversample_ratio,
            importance_sample_ratio,
        )
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight, persistent=False)
        self.last_indices = None

    def _loss_labels(self, logits, targets, indices) -> torch.Tensor:
        target_classes = torch.full(logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device)
        for b, (src, tgt) in enumerate(indices):
            target_classes[b, src] = targets[b]["labels"][tgt]
        return F.cross_entropy(logits.float().transpose(1, 2), target_classes, self.empty_weight)

    def _loss_masks(self, masks, targets, indices, num_masks) -> Dict[str, torch.Tensor]:
        src = torch.cat([masks[b, s] for b, (s, _) in enumerate(indices)])  # (K, n, h, w)
        if src.shape[0] == 0:
            zero = masks.sum() * 0
            return {"loss_mask": zero, "loss_dice": zero}
        tgt = torch.cat([targets[b]["masks"][t] for b, (_, t) in enumerate(indices)]).float()  # (K, n, H, W)
        src_long = tube_to_long_image(src.float())
        with torch.no_grad():
            coords = uncertain_point_coords(
                src_long, self.num_points, self.oversample_ratio, self.importance_sample_ratio
            )
            point_labels = point_sample(tube_to_long_image(tgt), coords)[:, 0]
            weights = None
            if all("ignore" in t for t in targets):
                ignore = torch.cat(
                    [targets[b]["ignore"][None].expand(len(t), -1, -1, -1) for b, (_, t) in enumerate(indices)]
                ).float()
                weights = point_sample(tube_to_long_image(ignore), coords)[:, 0] < 0.5
        point_logits = point_sample(src_long, coords)[:, 0]
        return {
            "loss_mask": sigmoid_ce_loss(point_logits, point_labels, num_masks, weights),
            "loss_dice": dice_loss(point_logits, point_labels, num_masks, weights),
        }

    def _losses(self, outputs, targets, indices, num_masks) -> Dict[str, torch.Tensor]:
        losses = {"loss_ce": self._loss_labels(outputs["pred_logits"], targets, indices)}
        losses.update(self._loss_masks(outputs["pred_masks"], targets, indices, num_masks))
        return losses

    def forward(self, outputs: Dict, targets: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
        """outputs: the tube decoder's dict (pred_logits (B, Q, C+1), pred_masks (B, Q, n, h, w), aux_outputs)."""
        num_masks = float(sum(len(t["labels"]) for t in targets))
        num_masks = max(comm.reduce_sum_scalar(num_masks) / comm.get_world_size(), 1.0)
        indices = self.matcher(outputs, targets)
        self.last_indices = indices
        losses = self._losses(outputs, targets, indices, num_masks)
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_losses = self._losses(aux, targets, self.matcher(aux, targets), num_masks)
            losses.update({f"{k}_{i}": v for k, v in aux_losses.items()})
        return losses
