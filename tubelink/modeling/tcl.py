"""Tube-level temporal contrastive learning (Tube-Link §3.3): which queries of two subclips are the same entity.

Query assignment (per subclip, one label per query): a GT index (>= 0), NEGATIVE (-1) or IGNORED (-2).
  - "iou" (the paper): a query whose best tube-mask IoU with a GT tube exceeds pos_iou takes that GT; below neg_iou
    it is a negative; in between it is ignored.
  - "hungarian" (the original code): the segmentation matcher's pairs; every other query is ignored.
Targets: key query i (assigned) and reference query j (assigned or negative) are a positive pair iff their GT
tubes carry the same track id.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

from .losses import cosine_l2_loss, multi_positive_contrastive_loss

__all__ = ["NEGATIVE", "IGNORED", "assign_queries_by_iou", "assign_queries_by_matching", "tcl_targets", "tcl_losses"]

NEGATIVE, IGNORED = -1, -2


def tube_iou(pred_masks: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """IoU (Q, G) of binarised predicted tubes (Q, n, h, w) logits with GT tubes (G, n, H, W), at the prediction's
    resolution (GT resized bilinearly and thresholded at 0.5)."""
    q, n, h, w = pred_masks.shape
    pred = (pred_masks.detach().float() > 0).reshape(q, -1).float()
    gt = F.interpolate(gt_masks.float(), size=(h, w), mode="bilinear", align_corners=False) >= 0.5
    gt = gt.reshape(gt_masks.shape[0], -1).float()
    inter = pred @ gt.t()
    union = pred.sum(1, keepdim=True) + gt.sum(1)[None] - inter
    return inter / union.clamp(min=1)


def assign_queries_by_iou(
    pred_masks: torch.Tensor, gt_masks: torch.Tensor, pos_iou: float = 0.7, neg_iou: float = 0.3
) -> torch.Tensor:
    """int64 (Q,) assignment by tube IoU thresholds (see the module docstring)."""
    q = pred_masks.shape[0]
    if gt_masks.shape[0] == 0:
        return torch.full((q,), NEGATIVE, dtype=torch.int64)
    best_iou, best_gt = tube_iou(pred_masks, gt_masks).max(1)
    out = torch.full((q,), IGNORED, dtype=torch.int64)
    out[best_iou > pos_iou] = best_gt[best_iou > pos_iou].cpu()
    out[best_iou < neg_iou] = NEGATIVE
    return out


def assign_queries_by_matching(num_queries: int, query_idx: torch.Tensor, gt_idx: torch.Tensor) -> torch.Tensor:
    """int64 (Q,) assignment from a Hungarian matching: matched queries take their GT, the others are ignored."""
    out = torch.full((num_queries,), IGNORED, dtype=torch.int64)
    out[query_idx.cpu()] = gt_idx.cpu()
    return out


def tcl_targets(assign_a: torch.Tensor, tracks_a: torch.Tensor, assign_b: torch.Tensor, tracks_b: torch.Tensor):
    """Rows (key queries with a GT), columns (reference queries not ignored) and targets (rows, cols) in {0, 1}.

    Args:
        assign_a, assign_b: (Qa,), (Qb,) assignments; tracks_a, tracks_b: (Ga,), (Gb,) GT track ids.
    """
    rows = torch.nonzero(assign_a >= 0).flatten()
    cols = torch.nonzero(assign_b != IGNORED).flatten()
    track_a = tracks_a.cpu()[assign_a[rows]]
    col_assign = assign_b[cols]
    track_b = torch.where(col_assign >= 0, tracks_b.cpu()[col_assign.clamp(min=0)], torch.full_like(col_assign, -1))
    targets = (track_a[:, None] == track_b[None, :]) & (col_assign[None, :] >= 0)
    return rows, cols, targets.float()


def tcl_losses(
    embed_a: torch.Tensor,
    embed_b: torch.Tensor,
    assign_a: torch.Tensor,
    tracks_a: torch.Tensor,
    assign_b: torch.Tensor,
    tracks_b: torch.Tensor,
    aux_neg_margin: float = 0.0,
    aux_hard_neg_ratio: int = 0,
) -> Dict[str, torch.Tensor]:
    """{"loss_tcl": eq. 2, "loss_tcl_aux": eq. 3} between key embeddings (Qa, D) and reference embeddings (Qb, D);
    both exactly 0 (keeping the graph) when no key query has a positive in the reference subclip."""
    rows, cols, targets = tcl_targets(assign_a, tracks_a, assign_b, tracks_b)
    zero = (embed_a.sum() + embed_b.sum()) * 0
    if targets.numel() == 0 or not targets.any():
        return {"loss_tcl": zero, "loss_tcl_aux": zero}
    ea, eb = embed_a[rows.to(embed_a.device)], embed_b[cols.to(embed_b.device)]
    targets = targets.to(embed_a.device)
    return {
        "loss_tcl": multi_positive_contrastive_loss(ea, eb, targets),
        "loss_tcl_aux": cosine_l2_loss(ea, eb, targets, aux_neg_margin, aux_hard_neg_ratio),
    }
