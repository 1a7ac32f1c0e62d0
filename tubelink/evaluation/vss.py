"""Video semantic segmentation metrics as VSPW's official tools compute them (pure functions).

- mIoU (`evaluator_test.py` + `utils.Evaluator`): a confusion matrix over pixels whose GT label is a class
  (0 <= gt < C; void excluded); IoU_c = TP / (row + col - TP); the mean runs over classes with GT pixels only
  (a class that is only predicted is excluded, though its pixels still cost the true class).
- mVC_c (`VC_perclip.py`): per video of T > c frames and clip start i in range(T - c) (the last possible start is
  omitted, as the official script does), the pixels whose GT label is constant over frames i..i+c-1 (void
  compared like any label) and whose prediction is also constant there; accuracy = |both| / |GT constant|.
  mVC = nanmean over all clips of all videos. The GT only selects pixels; class correctness is not involved.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

__all__ = ["confusion_matrix", "miou_from_confusion", "video_consistency_accuracies", "mvc_from_accuracies"]


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int, misses: bool = False) -> np.ndarray:
    """int64 counts over pixels with 0 <= gt < C, rows = GT class: (C, C), or with `misses` (C, C + 1) where the
    last column counts predictions outside [0, C) (wrong for the pixel's class, no class's prediction).

    Raises:
        ValueError: shapes differ, or (without `misses`) a prediction on a counted pixel lies outside [0, C).
    """
    if gt.shape != pred.shape:
        raise ValueError(f"prediction is {pred.shape}, ground truth {gt.shape}")
    valid = (gt >= 0) & (gt < num_classes)
    p = pred[valid].astype(np.int64)
    outside = (p < 0) | (p >= num_classes)
    if outside.any() and not misses:
        raise ValueError(f"predicted classes must lie in [0, {num_classes}), got [{p.min()}, {p.max()}]")
    columns = num_classes + int(misses)
    idx = gt[valid].astype(np.int64) * columns + np.where(outside, num_classes, p)
    return np.bincount(idx, minlength=num_classes * columns).reshape(num_classes, columns)


def miou_from_confusion(confusion: np.ndarray) -> Dict[str, float]:
    """{"mIoU", "pixel_acc", "mean_class_acc", "fwIoU"} (fractions) from a (C, C) or (C, C + 1) confusion (see
    `confusion_matrix`), VSPW's definitions."""
    conf = confusion.astype(np.float64)
    num_classes = conf.shape[0]
    tp = np.diag(conf[:, :num_classes])
    rows, cols = conf.sum(1), conf.sum(0)[:num_classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (rows + cols - tp)
        class_acc = tp / rows
    has_gt = rows > 0
    total = conf.sum()
    freq = rows / total if total else rows
    return {
        "mIoU": float(np.nansum(iou * has_gt) / has_gt.sum()) if has_gt.any() else 0.0,
        "pixel_acc": float(tp.sum() / total) if total else 0.0,
        "mean_class_acc": float(np.nanmean(class_acc)) if has_gt.any() else 0.0,
        "fwIoU": float((freq[freq > 0] * iou[freq > 0]).sum()),
    }


def video_consistency_accuracies(gt: Sequence[np.ndarray], pred: Sequence[np.ndarray], clip: int) -> List[float]:
    """Per-clip accuracies of one video for mVC_clip (empty when the video has <= clip frames).

    Args:
        gt, pred: T label maps (H, W) each, in frame order (any integer labels; void compared like a label).
    """
    if len(gt) != len(pred):
        raise ValueError(f"{len(gt)} ground-truth frames but {len(pred)} predicted")
    if len(gt) <= clip:
        return []
    accs = []
    for i in range(len(gt) - clip):
        gt_const = np.ones(gt[i].shape, bool)
        pred_const = np.ones(gt[i].shape, bool)
        for j in range(1, clip):
            gt_const &= gt[i] == gt[i + j]
            pred_const &= pred[i] == pred[i + j]
        denom = gt_const.sum()
        accs.append(float((gt_const & pred_const).sum() / denom) if denom else float("nan"))
    return accs


def mvc_from_accuracies(accuracies: Sequence[float]) -> float:
    """nanmean over clips (NaN when there is no clip)."""
    values = np.asarray(accuracies, np.float64)
    return float(np.nanmean(values)) if values.size and not np.isnan(values).all() else float("nan")
