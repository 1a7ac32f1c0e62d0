"""Tube-level temporal contrastive learning (Tube-Link §3.2, eqs. 2-3): which queries of two subclips are the same
thing, and the losses on their association embeddings.

Only thing tubes take part (stuff is never tracked), as in the original code. Query assignment (per subclip, one label
per query): a thing-GT index (>= 0), NEGATIVE (-1) or IGNORED (-2).
  - "iou" (the paper): the "sparse set of matched global queries" -- the segmentation matcher's query of every thing
    tube -- is always a positive of its tube, so TCL has positives from the first iteration; any other query whose
    tube-mask IoU with a thing tube exceeds pos_iou (alpha_1) is a positive of that tube too; a query whose best IoU is
    below neg_iou (alpha_2) is a negative; the rest are ignored.
  - "hungarian" (the original code): only the matched queries of thing tubes take part; every other query is ignored.
Targets: key query i (assigned) and reference query j (not ignored) are a positive pair iff their GT tubes carry the
same track id; all other pairs are negatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import torch
import torch.nn.functional as F

from .losses import cosine_l2_loss, multi_positive_contrastive_loss

__all__ = [
    "NEGATIVE",
    "IGNORED",
    "ASSIGNMENTS",
    "tube_iou",
    "assign_thing_queries",
    "tcl_targets",
    "tcl_losses",
    "TemporalContrastiveLoss",
]

NEGATIVE, IGNORED = -1, -2
ASSIGNMENTS = ("iou", "hungarian")


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


def assign_thing_queries(
    pred_masks: torch.Tensor,
    gt_masks: torch.Tensor,
    is_thing: torch.Tensor,
    matched: Tuple[torch.Tensor, torch.Tensor],
    mode: str = "iou",
    pos_iou: float = 0.7,
    neg_iou: float = 0.3,
) -> torch.Tensor:
    """int64 (Q,) assignment of one subclip's queries to its thing tubes (see the module docstring).

    Args:
        pred_masks: (Q, n, h, w) last-layer mask logits.
        gt_masks: (G, n, H, W) GT tubes (things and stuff); is_thing: bool (G,).
        matched: (query indices (K,), GT indices (K,)) of the segmentation matcher for this subclip.
    Returns:
        values in [0, G): the GT index (always a thing), or NEGATIVE / IGNORED.
    """
    if mode not in ASSIGNMENTS:
        raise ValueError(f"MODEL.TUBE_LINK.TCL.ASSIGNMENT must be one of {ASSIGNMENTS}, got {mode!r}")
    num_queries = pred_masks.shape[0]
    is_thing = is_thing.cpu().bool()
    out = torch.full((num_queries,), IGNORED, dtype=torch.int64)
    thing_idx = torch.nonzero(is_thing).flatten()
    if mode == "iou":
        if thing_idx.numel() == 0:
            out[:] = NEGATIVE
        else:
            best_iou, best = tube_iou(pred_masks, gt_masks[thing_idx.to(gt_masks.device)]).cpu().max(1)
            out[best_iou > pos_iou] = thing_idx[best[best_iou > pos_iou]]
            out[best_iou < neg_iou] = NEGATIVE
    q_idx, g_idx = matched[0].cpu(), matched[1].cpu()
    thing_pairs = is_thing[g_idx] if g_idx.numel() else torch.zeros(0, dtype=torch.bool)
    out[q_idx[thing_pairs]] = g_idx[thing_pairs]  # the matched query of a thing tube is always its positive
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
    """{"loss_tcl": eq. 2, "loss_tcl_aux": eq. 3 (unweighted), "num_pos", "num_neg": pair counts} between key
    embeddings (Qa, D) and reference embeddings (Qb, D); both losses exactly 0 (keeping the graph) when no key query
    has a positive in the reference subclip."""
    rows, cols, targets = tcl_targets(assign_a, tracks_a, assign_b, tracks_b)
    zero = (embed_a.sum() + embed_b.sum()) * 0
    num_pos = int(targets.sum())
    counts = {"num_pos": num_pos, "num_neg": int(targets.numel()) - num_pos}
    if num_pos == 0:
        return {"loss_tcl": zero, "loss_tcl_aux": zero, **counts}
    ea, eb = embed_a[rows.to(embed_a.device)], embed_b[cols.to(embed_b.device)]
    targets = targets.to(embed_a.device)
    return {
        "loss_tcl": multi_positive_contrastive_loss(ea, eb, targets),
        "loss_tcl_aux": cosine_l2_loss(ea, eb, targets, aux_neg_margin, aux_hard_neg_ratio),
        **counts,
    }


@dataclass
class TemporalContrastiveLoss:
    """TCL between neighbouring subclips, with its settings (MODEL.TUBE_LINK.TCL.*).

    `__call__(key, ref)` -> the unweighted losses and pair counts of one subclip pair; `key` (the rows of eq. 2) and
    `ref` (its columns) are (mask logits (Q, n, h, w), target {"masks", "is_thing", "track_ids"}, matched (query
    indices, GT indices), embeddings (Q, E)).
    """

    assignment: str = "iou"
    pos_iou: float = 0.7
    neg_iou: float = 0.3
    aux_neg_margin: float = 0.0
    aux_hard_neg_ratio: int = 0

    def __post_init__(self) -> None:
        if self.assignment not in ASSIGNMENTS:
            raise ValueError(f"MODEL.TUBE_LINK.TCL.ASSIGNMENT must be one of {ASSIGNMENTS}, got {self.assignment!r}")

    @classmethod
    def from_config(cls, cfg) -> "TemporalContrastiveLoss":
        """From the full config (its MODEL.TUBE_LINK.TCL node)."""
        tcl_cfg = cfg.MODEL.TUBE_LINK.TCL
        return cls(
            tcl_cfg.ASSIGNMENT, tcl_cfg.POS_IOU, tcl_cfg.NEG_IOU, tcl_cfg.AUX_NEG_MARGIN, tcl_cfg.AUX_HARD_NEG_RATIO
        )

    def assign(self, masks: torch.Tensor, target: Dict, matched) -> torch.Tensor:
        """(Q,) assignment of one subclip (masks (Q, n, h, w) logits)."""
        return assign_thing_queries(
            masks, target["masks"], target["is_thing"], matched, self.assignment, self.pos_iou, self.neg_iou
        )

    def __call__(self, key: tuple, ref: tuple) -> Dict[str, torch.Tensor]:
        key_masks, key_target, key_matched, key_embeds = key
        ref_masks, ref_target, ref_matched, ref_embeds = ref
        return tcl_losses(
            key_embeds,
            ref_embeds,
            self.assign(key_masks, key_target, key_matched),
            key_target["track_ids"],
            self.assign(ref_masks, ref_target, ref_matched),
            ref_target["track_ids"],
            self.aux_neg_margin,
            self.aux_hard_neg_ratio,
        )
