"""Segmentation and Tracking Quality, STQ = sqrt(AQ * SQ), as deeplab2's numpy `STQuality` (pure functions).

Per sequence the statistics are exact integer counts (deeplab2 under numpy 1.x and the 2021 copies VIPSeg and
Tube-Link ship; deeplab2 HEAD under numpy 2 sums float32 and differs by ~1e-8):
  - SQ: a (C+1)x(C+1) confusion over semantic classes, void GT/prediction as index C; at the end the void GT row
    is zeroed but the void prediction column is kept, so a prediction labelled void on a valid pixel counts as
    an error and makes "void" a class with IoU 0 in the mean over classes with a non-empty union; pixel-weighted
    over all sequences.
  - AQ: over thing classes only. GT pixels of a thing class with instance 0 are crowd and removed from GT and
    prediction; a tube is one (class, instance) over the whole sequence; intersections need no class agreement.
    AQ = sum_seq sum_g (1/|g|) sum_p |g∩p|^2 / |g∪p| / total number of GT tubes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, Sequence

import numpy as np

__all__ = ["STQStats", "stq_update", "stq_result", "SHIFT"]

SHIFT = 16  # panoptic label = (semantic << SHIFT) + instance, as deeplab2
_MASK = (1 << SHIFT) - 1
_EPSILON = 1e-15


@dataclass
class STQStats:
    """Sufficient statistics of one sequence (mergeable across processes by keeping sequences apart)."""

    confusion: np.ndarray  # int64 (C+1, C+1), rows = GT
    gt_sizes: Dict[int, int] = field(default_factory=dict)
    pred_sizes: Dict[int, int] = field(default_factory=dict)
    intersections: Dict[tuple, int] = field(default_factory=dict)

    @classmethod
    def empty(cls, num_classes: int) -> "STQStats":
        return cls(np.zeros((num_classes + 1, num_classes + 1), np.int64))


def _count_into(stat: Dict, keys: np.ndarray) -> None:
    ids, counts = np.unique(keys, return_counts=True)
    for k, c in zip(ids.tolist(), counts.tolist()):
        stat[k] = stat.get(k, 0) + c


def stq_update(
    stats: STQStats,
    gt_semantic: np.ndarray,
    gt_instance: np.ndarray,
    pred_semantic: np.ndarray,
    pred_instance: np.ndarray,
    is_thing: Sequence[bool],
    void: int = 255,
) -> STQStats:
    """Add one frame to a sequence's statistics (in place; returns `stats`).

    Args:
        gt_semantic, pred_semantic: int (H, W) classes 0..C-1, `void` for unlabelled pixels.
        gt_instance, pred_instance: int (H, W) instance ids (0 on GT thing pixels = crowd).
        is_thing: length-C flags.
    """
    num_classes = len(is_thing)
    if gt_semantic.shape != pred_semantic.shape:
        raise ValueError(f"prediction is {pred_semantic.shape}, ground truth {gt_semantic.shape}")
    gs = np.where(gt_semantic == void, num_classes, gt_semantic).astype(np.int64).ravel()
    ps = np.where(pred_semantic == void, num_classes, pred_semantic).astype(np.int64).ravel()
    if (
        gs.max(initial=0) > num_classes
        or ps.max(initial=0) > num_classes
        or min(gs.min(initial=0), ps.min(initial=0)) < 0
    ):
        raise ValueError(f"semantic labels must lie in [0, {num_classes}) or be void ({void})")
    stats.confusion += np.bincount(gs * (num_classes + 1) + ps, minlength=(num_classes + 1) ** 2).reshape(
        num_classes + 1, num_classes + 1
    )
    thing = np.append(np.asarray(is_thing, bool), False)
    gi, pi = gt_instance.astype(np.int64).ravel(), pred_instance.astype(np.int64).ravel()
    label_mask = thing[gs]
    crowd = label_mask & (gi == 0)
    label_mask &= ~crowd
    pred_mask = thing[ps] & ~crowd
    gt_ids = (gs << SHIFT) + gi
    pred_ids = (ps << SHIFT) + pi
    _count_into(stats.gt_sizes, gt_ids[label_mask])
    _count_into(stats.pred_sizes, pred_ids[pred_mask])
    both = label_mask & pred_mask
    ids, counts = np.unique(np.stack([gt_ids[both], pred_ids[both]]), axis=1, return_counts=True)
    for (g, p), c in zip(ids.T.tolist(), counts.tolist()):
        stats.intersections[(g, p)] = stats.intersections.get((g, p), 0) + c
    return stats


def _mean_iou(confusion: np.ndarray, num_classes: int) -> float:
    conf = confusion.astype(np.float64).copy()
    conf[num_classes, :] = 0  # void GT pixels do not count; the void prediction column stays (deeplab2)
    inter = conf.diagonal()
    union = conf.sum(0) + conf.sum(1) - inter
    n = np.count_nonzero(union)
    return float((inter / np.maximum(union, _EPSILON)).sum() / n) if n else 0.0


def stq_result(sequences: Iterable[STQStats]) -> Dict[str, float]:
    """{"STQ", "AQ", "SQ" (= mean IoU), "num_tubes"} over all sequences, as fractions (not percent)."""
    sequences = list(sequences)
    if not sequences:
        raise ValueError("STQ needs at least one sequence")
    num_classes = sequences[0].confusion.shape[0] - 1
    aq_sum, tubes = 0.0, 0
    total = np.zeros_like(sequences[0].confusion)
    for seq in sequences:
        total += seq.confusion
        tubes += len(seq.gt_sizes)
        by_gt: Dict[int, list] = {}
        for (g, p), inter in seq.intersections.items():
            by_gt.setdefault(g, []).append((p, inter))
        for g, g_size in seq.gt_sizes.items():
            inner = 0.0
            for p, inter in by_gt.get(g, []):
                inner += inter * (inter / (g_size + seq.pred_sizes[p] - inter))
            aq_sum += 1.0 / g_size * inner
    aq = aq_sum / max(tubes, _EPSILON)
    sq = _mean_iou(total, num_classes)
    return {"STQ": float(np.sqrt(aq * sq)), "AQ": float(aq), "SQ": sq, "num_tubes": tubes}
