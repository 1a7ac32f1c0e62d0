"""Near-online trackers on tube embeddings: QDTrack-style quasi-dense matching and MinVIS-style Hungarian matching.

Both share one life cycle per subclip (`MemoryTracker.update`):
  1. candidates: tubes with score >= OBJ_SCORE_THR, by descending score, minus duplicates (tube-mask IoU above
     NMS_IOU_THR with a higher-scored candidate);
  2. matching candidates to the track memory (the only step that differs); with MASK_IOU_WEIGHT w > 0 the overlap
     cue adds w * IoU(the track's mask in its last frame, the tube's mask in its first frame) to the similarity of
     the pairs that pass MATCH_SCORE_THR, in the objective the matching optimises (greedy per candidate or Hungarian),
     as MaskTrack R-CNN adds box overlap to appearance: look-alike twins have near-equal embeddings and are told
     apart by where they are; acceptance stays on similarity alone, and a candidate most similar to a backdrop stays
     untracked;
  3. unmatched candidates with score >= INIT_SCORE_THR start new tracks;
  4. matched and new tracks update the memory (momentum on embeddings); tracks unseen for more than
     MEMORY_FRAMES frames are retired, so an occlusion shorter than the memory keeps the identity.
A `track_all` detection set (VIS's top-k) skips the thresholds and duplicate removal of 1 and 3 and is matched
one-to-one (Hungarian on cosine similarity, plus the overlap cue) by every tracker.
"""

from __future__ import annotations

import abc
from typing import List, Optional, Tuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..modeling.registry import TRACKER_REGISTRY
from .base import Tracker, TrackMemory, TubeDetections
from .similarity import bisoftmax_similarity, cosine_similarity, mask_iou_matrix

__all__ = ["MemoryTracker", "QuasiDenseTracker", "HungarianQueryTracker", "build_tracker"]


class MemoryTracker(Tracker):
    """Shared candidate selection, track birth, memory update and expiry; subclasses implement `match`."""

    def __init__(
        self,
        match_score_thr: float = 0.5,
        init_score_thr: float = 0.5,
        obj_score_thr: float = 0.3,
        nms_iou_thr: float = 0.7,
        memory_momentum: float = 0.8,
        memory_frames: int = 10,
        with_category: bool = True,
        mask_iou_weight: float = 0.0,
    ) -> None:
        """Thresholds as MODEL.TRACKER.*; see the module docstring for their roles."""
        if mask_iou_weight < 0:
            raise ValueError(f"MODEL.TRACKER.MASK_IOU_WEIGHT: expected >= 0, got {mask_iou_weight}")
        if match_score_thr < -1:
            # similarities lie in [-1, 1]; the category gate and a track already taken both sit at -1, below any
            # threshold that can be met, so a lower one would accept cross-class matches and match a track twice
            raise ValueError(f"MODEL.TRACKER.MATCH_SCORE_THR: expected >= -1 (a similarity), got {match_score_thr}")
        self.mask_iou_weight = float(mask_iou_weight)
        self.match_score_thr = match_score_thr
        self.init_score_thr = init_score_thr
        self.obj_score_thr = obj_score_thr
        self.nms_iou_thr = nms_iou_thr
        self.with_category = with_category
        self.memory = TrackMemory(memory_momentum, memory_frames)

    @classmethod
    def config_kwargs(cls, cfg) -> dict:
        """Constructor arguments from MODEL.TRACKER.*."""
        t = cfg.MODEL.TRACKER
        return dict(
            match_score_thr=t.MATCH_SCORE_THR,
            init_score_thr=t.INIT_SCORE_THR,
            obj_score_thr=t.OBJ_SCORE_THR,
            nms_iou_thr=t.NMS_IOU_THR,
            memory_momentum=t.MEMORY_MOMENTUM,
            memory_frames=t.MEMORY_FRAMES,
            with_category=t.WITH_CATEGORY,
            mask_iou_weight=t.MASK_IOU_WEIGHT,
        )

    @property
    def uses_masks(self) -> bool:
        """Whether `update` wants the tubes' first- and last-frame masks (the overlap cue is on)."""
        return self.mask_iou_weight > 0

    @classmethod
    def from_config(cls, cfg) -> "MemoryTracker":
        """Build from MODEL.TRACKER.*."""
        return cls(**cls.config_kwargs(cfg))

    def reset(self) -> None:
        """Start a new video: empty memory, ids from 0."""
        self.memory.reset()

    def candidates(self, det: TubeDetections) -> List[int]:
        """Indices of tubes to track, by descending score, without low scores and duplicates (all of them with
        `det.track_all`)."""
        order = torch.argsort(det.scores, descending=True, stable=True)
        if det.track_all:
            return order.tolist()
        order = order[det.scores[order] >= self.obj_score_thr]
        if det.masks is None or len(order) < 2:
            return order.tolist()
        iou = mask_iou_matrix(det.masks[order], det.masks[order])
        # greedy NMS in score order: a tube survives unless it overlaps a surviving higher-scored one
        kept_rows: List[int] = []
        for row in range(len(order)):
            if not kept_rows or bool((iou[row, kept_rows] <= self.nms_iou_thr).all()):
                kept_rows.append(row)
        return order[kept_rows].tolist()

    @abc.abstractmethod
    def match(
        self, embeds: torch.Tensor, labels: torch.Tensor, overlap: Optional[torch.Tensor] = None
    ) -> List[Tuple[int, int]]:
        """Match candidates (embeds (K, D), labels (K,)) to memory rows; returns [(candidate row, memory row)].
        overlap: optional (K, M) mask IoU of each candidate's first frame with each track's last (the overlap cue)."""

    def match_one_to_one(
        self, embeds: torch.Tensor, labels: torch.Tensor, overlap: Optional[torch.Tensor] = None
    ) -> List[Tuple[int, int]]:
        """Optimal one-to-one assignment maximising total cosine similarity (label-gated; plus the overlap cue),
        accepted above MATCH_SCORE_THR: MinVIS's matching, and every tracker's for `track_all` sets (all top-k tubes
        kept, so near-duplicate tubes are expected and would split a greedy bi-softmax).

        A pair at or below the threshold counts as the threshold itself, whatever its similarity (the cost limit of
        lapjv as ByteTrack uses it): it is rejected anyway, so it must not pull an acceptable pair out of the
        assignment by making the total larger."""
        memory_embeds, memory_labels, _ = self.memory.stacked()
        sim = self._label_gate(cosine_similarity(embeds, memory_embeds), labels, memory_labels)
        acceptable = sim > self.match_score_thr
        objective = self._with_overlap(sim, overlap, acceptable).masked_fill(~acceptable, self.match_score_thr)
        rows, cols = linear_sum_assignment(-objective.numpy().astype(np.float64))
        return [(int(r), int(c)) for r, c in zip(rows, cols) if acceptable[r, c]]

    def _with_overlap(
        self, sim: torch.Tensor, overlap: Optional[torch.Tensor], acceptable: torch.Tensor
    ) -> torch.Tensor:
        """The matching objective: `sim` plus MASK_IOU_WEIGHT * overlap on the `acceptable` pairs (bool, those that
        pass MATCH_SCORE_THR), so the overlap reorders acceptable pairs and never makes an unacceptable one win."""
        if overlap is None or self.mask_iou_weight == 0:
            return sim
        return sim + self.mask_iou_weight * overlap.to(sim.dtype) * acceptable.to(sim.dtype)

    def _label_gate(self, sim: torch.Tensor, labels: torch.Tensor, memory_labels: torch.Tensor) -> torch.Tensor:
        if not self.with_category:
            return sim
        return torch.where(labels[:, None] == memory_labels[None, :], sim, torch.full_like(sim, -1.0))

    def update(self, det: TubeDetections) -> torch.Tensor:
        """Assign persistent ids to the subclip's tubes (int64 (N,), -1 = not tracked)."""
        ids, _ = self._update(det)
        return ids

    def _update(self, det: TubeDetections) -> Tuple[torch.Tensor, List[int]]:
        """`update`, also returning the candidates (computed once per subclip)."""
        last_frame = det.frame_index + det.num_frames - 1
        self.memory.expire(det.frame_index)
        ids = torch.full((len(det),), -1, dtype=torch.int64)
        cands = self.candidates(det)
        memory_ids = self.memory.ids()
        with_masks = self.uses_masks and det.first_frame_masks is not None
        if cands and memory_ids:
            match = self.match_one_to_one if det.track_all else self.match
            overlap = None
            if with_masks and self.memory.last_masks() is not None:
                overlap = mask_iou_matrix(det.first_frame_masks[cands], self.memory.last_masks())
            for row, mem_row in match(det.embeds[cands], det.labels[cands], overlap):
                ids[cands[row]] = memory_ids[mem_row]
        cand_ids = ids[cands].tolist()
        for k, i in enumerate(cands):
            if cand_ids[k] < 0 and (det.track_all or bool(det.scores[i] >= self.init_score_thr)):
                cand_ids[k] = ids[i] = self.memory.new_id()
        tracked = [k for k, tid in enumerate(cand_ids) if tid >= 0]
        if tracked:
            rows = [cands[k] for k in tracked]
            self.memory.update_many(
                [cand_ids[k] for k in tracked],
                det.embeds[rows],
                det.labels[rows],
                last_frame,
                det.last_frame_masks[rows] if with_masks else None,
            )
        return ids, cands


@TRACKER_REGISTRY.register()
class QuasiDenseTracker(MemoryTracker):
    """QDTrack-style: bi-softmax similarity against tracks and backdrops, greedy in score order.

    Backdrops are the embeddings of the previous subclip's candidates that started no track; they only enlarge the
    softmax denominator (quasi-dense negatives), so a detection resembling background is not forced onto a track.
    """

    def __init__(self, *args, match_metric: str = "bisoftmax", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if match_metric not in ("bisoftmax", "cosine"):
            raise ValueError(f"MODEL.TRACKER.MATCH_METRIC: expected 'bisoftmax' or 'cosine', got {match_metric!r}")
        self.match_metric = match_metric
        self.backdrops: torch.Tensor | None = None

    @classmethod
    def config_kwargs(cls, cfg) -> dict:
        """Constructor arguments from MODEL.TRACKER.*, including MATCH_METRIC."""
        return dict(super().config_kwargs(cfg), match_metric=cfg.MODEL.TRACKER.MATCH_METRIC)

    def reset(self) -> None:
        """Start a new video."""
        super().reset()
        self.backdrops = None

    def match(
        self, embeds: torch.Tensor, labels: torch.Tensor, overlap: Optional[torch.Tensor] = None
    ) -> List[Tuple[int, int]]:
        """Greedy matching on bi-softmax (or cosine) scores (plus the overlap cue among acceptable tracks); each
        track takes at most one candidate."""
        memory_embeds, memory_labels, _ = self.memory.stacked()
        num_tracks = memory_embeds.shape[0]
        keys = memory_embeds if self.backdrops is None else torch.cat([memory_embeds, self.backdrops])
        if self.match_metric == "bisoftmax":
            sim = bisoftmax_similarity(embeds, keys)
        else:
            sim = cosine_similarity(embeds, keys)
        sim = sim.clone()
        sim[:, :num_tracks] = self._label_gate(sim[:, :num_tracks], labels, memory_labels)
        objective = sim  # the similarity itself, unless the overlap cue reorders acceptable tracks
        if overlap is not None:
            objective = sim.clone()
            tracks = sim[:, :num_tracks]
            objective[:, :num_tracks] = self._with_overlap(tracks, overlap, tracks > self.match_score_thr)
        pairs = []
        for row in range(sim.shape[0]):
            if num_tracks == 0 or int(sim[row].argmax()) >= num_tracks:
                continue  # most similar to a backdrop: not forced onto a track, whatever the overlap
            col = int(objective[row, :num_tracks].argmax())
            if sim[row, col] > self.match_score_thr:
                pairs.append((row, col))
                sim[:, col] = objective[:, col] = -1.0  # a track takes one candidate per subclip
        return pairs

    def update(self, det: TubeDetections) -> torch.Tensor:
        """As MemoryTracker.update, then keep this subclip's untracked candidates as backdrops."""
        ids, cands = self._update(det)
        untracked = [i for i in cands if ids[i] < 0]
        self.backdrops = det.embeds[untracked].detach().float() if untracked else None
        return ids


@TRACKER_REGISTRY.register()
class HungarianQueryTracker(MemoryTracker):
    """MinVIS-style: one-to-one Hungarian matching on cosine similarity of the raw decoder queries, accepted above
    MATCH_SCORE_THR."""

    association_feature = "pred_queries"

    def match(
        self, embeds: torch.Tensor, labels: torch.Tensor, overlap: Optional[torch.Tensor] = None
    ) -> List[Tuple[int, int]]:
        """Optimal assignment maximising total cosine similarity (plus the overlap cue)."""
        return self.match_one_to_one(embeds, labels, overlap)


def build_tracker(cfg) -> Tracker:
    """The tracker named by MODEL.TRACKER.NAME, built from MODEL.TRACKER.*."""
    name = cfg.MODEL.TRACKER.NAME
    try:
        cls = TRACKER_REGISTRY.get(name)
    except KeyError:
        raise KeyError(f"MODEL.TRACKER.NAME: unknown tracker {name!r}; known: {sorted(k for k, _ in TRACKER_REGISTRY)}")
    return cls.from_config(cfg)
