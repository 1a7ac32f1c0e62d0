"""Video Panoptic Quality exactly as VIPSeg's official `eval_vpq_vspw.py` computes it (pure functions).

For each window length k and every start of a video, the k frames are concatenated; a segment id recurring in
the window is one tube. Per window (official conventions, see metrics-reference.md §1):
  - GT tube area = sum of the GT annotation's areas (trusted, not recounted); predicted area = pixel count;
  - a tube's category (and crowd flag) is the one of the first frame of the window in which it occurs;
  - (gt, pred) of the same category, GT not crowd, with IoU = inter / (|p| + |g| - inter - |p ∩ void|) > 0.5 is
    a TP; unmatched non-crowd GT tubes are FN; an unmatched predicted tube is an FP unless more than half of it
    lies on void or on the (last-listed) crowd segment of its category.
Statistics (IoU sum, TP, FP, FN per category) are summed over windows and videos; PQ per category
IoU / (TP + FP/2 + FN/2), averaged over the categories with TP + FP + FN > 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

__all__ = [
    "PanopticFrame",
    "PQStats",
    "frame_overlaps",
    "vpq_video_stats",
    "VPQAccumulator",
    "merge_window_stats",
    "pq_from_stats",
    "vpq_summary",
    "DEFAULT_WINDOWS",
    "PAPER_WINDOWS",
]

DEFAULT_WINDOWS = (1, 2, 4, 6, 8)  # what the official script evaluates (vpq-final.txt = their mean)
PAPER_WINDOWS = (1, 2, 4, 6)  # what the papers report as VPQ (VIPSeg, Tube-Link Table 3)


@dataclass
class PanopticFrame:
    """One frame of panoptic labels.

    Attributes:
        ids: int (H, W) segment ids; 0 = void (GT) / unlabelled (prediction).
        segments: segment id -> (category, iscrowd, area). For GT the area is trusted as given (the official tool
            uses the JSON areas); for predictions it is ignored and recounted from `ids`.
    """

    ids: np.ndarray
    segments: Dict[int, Tuple[int, bool, int]]


@dataclass
class PQStats:
    """Per-category sufficient statistics (arrays of length num_categories); add with `+`."""

    iou: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    @classmethod
    def zeros(cls, num_categories: int) -> "PQStats":
        return cls(np.zeros(num_categories), *(np.zeros(num_categories, np.int64) for _ in range(3)))

    def __add__(self, other: "PQStats") -> "PQStats":
        return PQStats(self.iou + other.iou, self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


@dataclass
class _FrameOverlap:
    joint: Dict[Tuple[int, int], int]  # (gt id, pred id) -> pixel count
    pred_area: Dict[int, int]
    gt: Dict[int, Tuple[int, bool, int]]
    pred_category: Dict[int, int] = field(default_factory=dict)


def frame_overlaps(gt: PanopticFrame, pred: PanopticFrame, where: str = "prediction") -> _FrameOverlap:
    """Joint (gt id, pred id) pixel counts of one frame, validating the prediction as the official tool does.

    Raises:
        ValueError: shapes differ, or a predicted id appears in the map but not in `pred.segments` (or vice versa).
    """
    if gt.ids.shape != pred.ids.shape:
        raise ValueError(f"{where}: prediction is {pred.ids.shape}, ground truth {gt.ids.shape}")
    g = gt.ids.astype(np.int64).ravel()
    p = pred.ids.astype(np.int64).ravel()
    offset = int(max(p.max(initial=0), 0)) + 1
    combined, counts = np.unique(g * offset + p, return_counts=True)
    gt_ids, pred_ids = combined // offset, combined % offset
    joint = {(int(a), int(b)): int(c) for a, b, c in zip(gt_ids, pred_ids, counts)}
    pred_area: Dict[int, int] = {}
    for b, c in zip(pred_ids.tolist(), counts.tolist()):
        pred_area[b] = pred_area.get(b, 0) + c
    pred_area.pop(0, None)
    unknown = sorted(set(pred_area) - set(pred.segments))
    if unknown:
        raise ValueError(f"{where}: segment ids {unknown[:10]} are in the map but have no segment info")
    missing = sorted(set(pred.segments) - set(pred_area))
    if missing:
        raise ValueError(f"{where}: segment ids {missing[:10]} have segment info but no pixel in the map")
    return _FrameOverlap(joint, pred_area, dict(gt.segments), {k: v[0] for k, v in pred.segments.items()})


def _window_stats(frames: Sequence[_FrameOverlap], num_categories: int) -> PQStats:
    gt_cat: Dict[int, Tuple[int, bool]] = {}
    gt_area: Dict[int, int] = {}
    pred_cat: Dict[int, int] = {}
    pred_area: Dict[int, int] = {}
    joint: Dict[Tuple[int, int], int] = {}
    for f in frames:
        for sid, (cat, crowd, area) in f.gt.items():
            gt_cat.setdefault(sid, (cat, crowd))
            gt_area[sid] = gt_area.get(sid, 0) + area
        for sid, cat in f.pred_category.items():
            pred_cat.setdefault(sid, cat)
            pred_area[sid] = pred_area.get(sid, 0) + f.pred_area[sid]
        for key, n in f.joint.items():
            joint[key] = joint.get(key, 0) + n
    stats = PQStats.zeros(num_categories)
    gt_matched, pred_matched = set(), set()
    for (g, p), inter in joint.items():
        if g not in gt_cat or p not in pred_cat or gt_cat[g][1] or gt_cat[g][0] != pred_cat[p]:
            continue
        union = pred_area[p] + gt_area[g] - inter - joint.get((0, p), 0)
        iou = inter / union
        if iou > 0.5:
            stats.tp[gt_cat[g][0]] += 1
            stats.iou[gt_cat[g][0]] += iou
            gt_matched.add(g)
            pred_matched.add(p)
    crowd_of_category: Dict[int, int] = {}
    for g, (cat, crowd) in gt_cat.items():
        if g in gt_matched:
            continue
        if crowd:
            crowd_of_category[cat] = g  # the official tool keeps the last crowd segment of a category
            continue
        stats.fn[cat] += 1
    for p, cat in pred_cat.items():
        if p in pred_matched:
            continue
        ignored = joint.get((0, p), 0)
        if cat in crowd_of_category:
            ignored += joint.get((crowd_of_category[cat], p), 0)
        if ignored / pred_area[p] > 0.5:
            continue
        stats.fp[cat] += 1
    return stats


def vpq_video_stats(
    gt_frames: Sequence[PanopticFrame],
    pred_frames: Sequence[PanopticFrame],
    num_categories: int,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    video_id: str = "",
) -> Dict[int, PQStats]:
    """Per-window-length statistics of one video: {k: PQStats summed over all windows of k frames}.

    A video shorter than k contributes nothing for k. Frames are paired by position.
    """
    if len(gt_frames) != len(pred_frames):
        raise ValueError(f"video {video_id!r}: {len(gt_frames)} ground-truth frames but {len(pred_frames)} predicted")
    overlaps = [
        frame_overlaps(g, p, f"video {video_id!r} frame {t}") for t, (g, p) in enumerate(zip(gt_frames, pred_frames))
    ]
    out = {}
    for k in windows:
        stats = PQStats.zeros(num_categories)
        for start in range(len(overlaps) - k + 1):
            stats = stats + _window_stats(overlaps[start : start + k], num_categories)
        out[k] = stats
    return out


def pq_from_stats(stats: PQStats, category_mask: np.ndarray | None = None) -> Tuple[float, int]:
    """(mean PQ over categories with TP + FP + FN > 0 among `category_mask`, number of such categories).

    Returns PQ 0.0 with count 0 when no category qualifies (the official tool divides by zero there).
    """
    present = (stats.tp + stats.fp + stats.fn) > 0
    if category_mask is not None:
        present &= category_mask
    n = int(present.sum())
    if n == 0:
        return 0.0, 0
    denom = stats.tp + 0.5 * stats.fp + 0.5 * stats.fn
    pq = np.where(present, stats.iou / np.where(present, denom, 1.0), 0.0)
    return float(pq.sum() / n), n


def vpq_summary(stats_by_window: Mapping[int, PQStats], is_thing: Sequence[bool]) -> Dict[str, float]:
    """Percentages: VPQ@k, VPQ_thing@k, VPQ_stuff@k for every window length, "VPQ" (mean over the papers' windows
    1, 2, 4, 6 that were evaluated) and "VPQ_official" (mean over all evaluated windows, vpq-final.txt)."""
    things = np.asarray(is_thing, bool)
    out: Dict[str, float] = {}
    for k, stats in sorted(stats_by_window.items()):
        out[f"VPQ@{k}"] = 100 * pq_from_stats(stats)[0]
        out[f"VPQ_thing@{k}"] = 100 * pq_from_stats(stats, things)[0]
        out[f"VPQ_stuff@{k}"] = 100 * pq_from_stats(stats, ~things)[0]
    for name, ks in (
        ("VPQ", [k for k in PAPER_WINDOWS if k in stats_by_window]),
        ("VPQ_official", sorted(stats_by_window)),
    ):
        if ks:
            for part in ("", "_thing", "_stuff"):
                out[f"{name}{part}"] = float(np.mean([out[f"VPQ{part}@{k}"] for k in ks]))
    return out


def merge_window_stats(items: List[Dict[int, PQStats]]) -> Dict[int, PQStats]:
    """Sum per-video (or per-process) statistics."""
    out: Dict[int, PQStats] = {}
    for item in items:
        for k, s in item.items():
            out[k] = out[k] + s if k in out else s
    return out


class VPQAccumulator:
    """Streaming VPQ of one video: `add(gt, pred)` frame by frame keeps only the last max(windows) frames' overlaps,
    adding every window that ends at the new frame; `stats` equals `vpq_video_stats` on the whole video."""

    def __init__(self, num_categories: int, windows: Sequence[int] = DEFAULT_WINDOWS, video_id: str = "") -> None:
        self.num_categories = num_categories
        self.windows = tuple(windows)
        self.video_id = video_id
        self.stats = {k: PQStats.zeros(num_categories) for k in self.windows}
        self._recent: List[_FrameOverlap] = []
        self._frames = 0

    def add(self, gt: PanopticFrame, pred: PanopticFrame) -> None:
        """Add the next frame of the video."""
        self._recent.append(frame_overlaps(gt, pred, f"video {self.video_id!r} frame {self._frames}"))
        self._frames += 1
        self._recent = self._recent[-max(self.windows) :]
        for k in self.windows:
            if len(self._recent) >= k:
                self.stats[k] = self.stats[k] + _window_stats(self._recent[-k:], self.num_categories)
