"""Turning one subclip's tube predictions into task outputs (pure functions).

Inputs everywhere: `pred_logits` (Q, C+1) tube class logits (last column = no object) shared by the tube's frames,
and `pred_masks` (Q, n, H, W) mask logits at output resolution: a tensor, or a `TubeMaskLogits` that computes the
rows it is indexed with. Each function selects its queries from the class scores first and indexes only those.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch

__all__ = ["panoptic_fusion", "semantic_inference", "instance_inference"]


def panoptic_fusion(
    pred_logits: torch.Tensor,
    pred_masks: torch.Tensor,
    is_thing: Sequence[bool],
    object_mask_threshold: float = 0.8,
    overlap_threshold: float = 0.8,
) -> Tuple[torch.Tensor, List[Dict]]:
    """Mask2Former's panoptic rules applied to whole tubes, so a segment keeps one id over the subclip.

    A query is kept when its best class is not "no object" and its probability exceeds `object_mask_threshold`.
    Each pixel goes to the kept query with the highest `score * sigmoid(mask)`; a query's segment is the pixels it
    wins that its own mask also covers (sigmoid >= 0.5), dropped when empty or when it keeps less than
    `overlap_threshold` of the pixels its mask covers. Stuff segments of one class are merged.

    Args:
        pred_logits: (Q, C+1) class logits.
        pred_masks: (Q, n, H, W) mask logits.
        is_thing: length-C flags, True for thing classes.
    Returns:
        panoptic: int32 (n, H, W) segment ids, 0 = void (no segment); segments never overlap.
        segments: list of {"id": int >= 1, "category_id": int, "isthing": bool, "score": float,
            "query_index": int (the first query of a merged stuff segment), "area": int (pixels over the tube)}.
    """
    num_classes = pred_logits.shape[-1] - 1
    if len(is_thing) != num_classes:
        raise ValueError(f"is_thing has {len(is_thing)} entries for {num_classes} classes")
    scores, labels = pred_logits.float().softmax(-1).max(-1)
    keep = (labels != num_classes) & (scores > object_mask_threshold)
    kept_idx = torch.nonzero(keep).flatten()
    panoptic = torch.zeros(pred_masks.shape[1:], dtype=torch.int32, device=pred_masks.device)
    segments: List[Dict] = []
    if kept_idx.numel() == 0:
        return panoptic, segments
    mask_probs = pred_masks[kept_idx].float().sigmoid()  # (K, n, H, W)
    owner = (scores[kept_idx].view(-1, 1, 1, 1) * mask_probs).argmax(0)  # (n, H, W)
    stuff_segment_of_class: Dict[int, int] = {}
    for k, q in enumerate(kept_idx.tolist()):
        category = int(labels[q])
        own = mask_probs[k] >= 0.5
        won = owner == k
        segment = won & own
        own_area, won_area = int(own.sum()), int(won.sum())
        if own_area == 0 or won_area == 0 or not segment.any():
            continue
        if won_area / own_area < overlap_threshold:
            continue
        thing = bool(is_thing[category])
        if not thing and category in stuff_segment_of_class:
            seg_id = stuff_segment_of_class[category]
            panoptic[segment] = seg_id
            segments[seg_id - 1]["area"] += int(segment.sum())
            continue
        seg_id = len(segments) + 1
        if not thing:
            stuff_segment_of_class[category] = seg_id
        panoptic[segment] = seg_id
        segments.append(
            {
                "id": seg_id,
                "category_id": category,
                "isthing": thing,
                "score": float(scores[q]),
                "query_index": q,
                "area": int(segment.sum()),
            }
        )
    return panoptic, segments


def semantic_inference(pred_logits: torch.Tensor, pred_masks: torch.Tensor) -> torch.Tensor:
    """MaskFormer semantic inference: argmax over classes of sum_q p(class|q) * sigmoid(mask_q).

    Args:
        pred_logits: (Q, C+1); pred_masks: (Q, n, H, W).
    Returns:
        int64 (n, H, W) class map; every pixel gets one of the C real classes.
    """
    class_probs = pred_logits.float().softmax(-1)[:, :-1]  # (Q, C)
    scores = torch.einsum("qc,qthw->cthw", class_probs, pred_masks[:].float().sigmoid())  # every query counts
    return scores.argmax(0)


def instance_inference(
    pred_logits: torch.Tensor,
    pred_masks: torch.Tensor,
    top_k: int,
    allowed_classes: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k (query, class) pairs as instances, Mask2Former's instance inference over tubes.

    Args:
        pred_logits: (Q, C+1); pred_masks: (Q, n, H, W); top_k: number of instances kept.
        allowed_classes: optional bool (C,); other classes (stuff of a panoptic model) are never instances.
            They are excluded before the top-k, so they do not take the places of thing instances.
    Returns:
        scores (K,) = class probability x mean mask probability inside the binary mask, labels int64 (K,),
        masks bool (K, n, H, W) (logit > 0), query_indices int64 (K,), sorted by descending score.
    """
    num_classes = pred_logits.shape[-1] - 1
    class_probs = pred_logits.float().softmax(-1)[:, :-1]
    if allowed_classes is not None:
        class_probs = class_probs * allowed_classes.to(class_probs.device, class_probs.dtype)
    class_probs = class_probs.flatten()
    k = min(top_k, class_probs.numel())
    top_scores, flat_idx = class_probs.topk(k)
    queries = torch.div(flat_idx, num_classes, rounding_mode="floor")
    labels = flat_idx % num_classes
    # a query in the top-k with several classes: its mask is computed once
    unique_queries, row = torch.unique(queries, return_inverse=True)
    mask_logits = pred_masks[unique_queries].float()[row]
    masks = mask_logits > 0
    mask_probs = mask_logits.sigmoid()
    area = masks.flatten(1).sum(1)
    mask_score = (mask_probs * masks).flatten(1).sum(1) / area.clamp(min=1)
    scores = top_scores * mask_score
    order = scores.argsort(descending=True, stable=True)
    return scores[order], labels[order], masks[order], queries[order]
