"""The tracker interface and its input, one linked tube set per subclip.

A tracker sees the tubes of one subclip at a time (`update`) and returns one persistent identity per tube, so
video-level identities come from chaining subclips near-online. `reset` starts a new video.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import List, Optional

import torch

__all__ = ["TubeDetections", "Tracker", "TrackMemory"]


@dataclass
class TubeDetections:
    """The tubes of one subclip that are candidates for tracking (compact: one row per tube).

    Attributes:
        embeds: (N, D) association embeddings.
        scores: (N,) tube-level class confidences in [0, 1].
        labels: (N,) int64 contiguous class ids.
        frame_index: index in the video of the subclip's first frame.
        masks: optional bool (N, n, H, W) tube masks, used to remove duplicate tubes; leave None where tubes cannot
            overlap (panoptic segments) or are all kept (`track_all`).
        track_all: every tube gets an identity, whatever its score and overlaps, matched one-to-one (VIS: the
            top-k instances are all kept, as Mask2Former-VIS and the original, since AP needs the low-scored ones).
        num_frames: n, frames of the subclip (default: the masks' second dimension, else 1).
        first_frame_masks / last_frame_masks: optional bool (N, H, W), each tube's mask where it meets the previous
            subclip (its first frame; with overlapping windows, the previous subclip's last frame) and in its last
            frame: the overlap cue of trackers with MODEL.TRACKER.MASK_IOU_WEIGHT > 0 (`Tracker.uses_masks`) compares
            a track's last mask with a tube's first.
    """

    embeds: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    frame_index: int
    masks: Optional[torch.Tensor] = None
    track_all: bool = False
    num_frames: Optional[int] = None
    first_frame_masks: Optional[torch.Tensor] = None
    last_frame_masks: Optional[torch.Tensor] = None

    def __post_init__(self) -> None:
        n = self.embeds.shape[0]
        if self.embeds.ndim != 2 or self.scores.shape != (n,) or self.labels.shape != (n,):
            raise ValueError(
                f"TubeDetections: embeds (N, D), scores (N,), labels (N,) expected, got {tuple(self.embeds.shape)}, "
                f"{tuple(self.scores.shape)}, {tuple(self.labels.shape)}"
            )
        if self.masks is not None and self.masks.shape[0] != n:
            raise ValueError(f"TubeDetections: masks must have N={n} rows, got {tuple(self.masks.shape)}")
        for name in ("first_frame_masks", "last_frame_masks"):
            m = getattr(self, name)
            if m is not None and (m.ndim != 3 or m.shape[0] != n or m.dtype != torch.bool):
                raise ValueError(f"TubeDetections: {name} must be bool (N={n}, H, W), got {m.dtype} {tuple(m.shape)}")
        if (self.first_frame_masks is None) != (self.last_frame_masks is None):
            raise ValueError("TubeDetections: first_frame_masks and last_frame_masks come together")
        if self.first_frame_masks is not None and self.first_frame_masks.shape != self.last_frame_masks.shape:
            raise ValueError("TubeDetections: first_frame_masks and last_frame_masks must have one shape")
        if self.num_frames is None:
            self.num_frames = self.masks.shape[1] if self.masks is not None else 1

    def __len__(self) -> int:
        return self.embeds.shape[0]


class TrackMemory:
    """Tracks by id with momentum-updated embeddings and a lifetime in frames, held as stacked rows; optionally each
    track's mask in the last frame it was seen (for the overlap cue)."""

    def __init__(self, momentum: float, lifetime_frames: int) -> None:
        """momentum: weight of the new embedding in an update; lifetime_frames: frames a track survives unmatched."""
        self.momentum = momentum
        self.lifetime_frames = lifetime_frames
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart ids at 0."""
        self._ids: List[int] = []  # row -> track id, in insertion order
        self._embeds: Optional[torch.Tensor] = None  # (M, D) float32
        self._labels = torch.zeros(0, dtype=torch.int64)
        self._last_frame = torch.zeros(0, dtype=torch.int64)
        self._last_masks: Optional[torch.Tensor] = None  # (M, H, W) bool once any update carried masks
        self._next_id = 0

    def new_id(self) -> int:
        """A fresh identity, never reused within a video."""
        self._next_id += 1
        return self._next_id - 1

    def ids(self) -> List[int]:
        """Ids currently in memory (insertion order)."""
        return list(self._ids)

    def stacked(self) -> tuple:
        """(embeds (M, D), labels (M,), ids list) of the memory; (None, None, []) when empty."""
        if not self._ids:
            return None, None, []
        return self._embeds, self._labels, self.ids()

    def last_masks(self) -> Optional[torch.Tensor]:
        """bool (M, H, W): each track's mask in the last frame it was seen (empty for tracks stored without one);
        None until an update carries masks."""
        return self._last_masks if self._ids else None

    def update_many(
        self,
        track_ids: List[int],
        embeds: torch.Tensor,
        labels: torch.Tensor,
        frame_index: int,
        last_masks: Optional[torch.Tensor] = None,
    ) -> None:
        """Blend (K, D) `embeds` into the tracks `track_ids` that exist, insert the others (in the given order);
        every one was last seen at `frame_index`, with `last_masks` (K, H, W) there if given (tracks updated without
        masks keep their earlier mask). Ids are distinct."""
        if not track_ids:
            return
        embeds, labels = embeds.detach().float(), labels.to(torch.int64).reshape(-1)
        if last_masks is not None:
            last_masks = last_masks.bool()
            if self._last_masks is None:
                self._last_masks = torch.zeros((len(self._ids), *last_masks.shape[1:]), dtype=torch.bool)
            elif last_masks.shape[1:] != self._last_masks.shape[1:]:
                raise ValueError(
                    f"TrackMemory: masks of {tuple(last_masks.shape[1:])} after {tuple(self._last_masks.shape[1:])} "
                    "in one video (reset between videos)"
                )
        row_of = {tid: r for r, tid in enumerate(self._ids)}
        rows = [row_of.get(tid, -1) for tid in track_ids]
        old = [k for k, r in enumerate(rows) if r >= 0]
        if old:
            index = torch.tensor([rows[k] for k in old])
            blended = (1 - self.momentum) * self._embeds[index] + self.momentum * embeds[old]
            self._embeds = self._embeds.index_put((index,), blended)
            self._labels = self._labels.index_put((index,), labels[old])
            self._last_frame = self._last_frame.index_fill(0, index, frame_index)
            if last_masks is not None:
                self._last_masks = self._last_masks.index_put((index,), last_masks[old])
        new = [k for k, r in enumerate(rows) if r < 0]
        if new:
            self._ids += [track_ids[k] for k in new]
            fresh = embeds[new]
            self._embeds = fresh if self._embeds is None else torch.cat([self._embeds, fresh])
            self._labels = torch.cat([self._labels, labels[new]])
            self._last_frame = torch.cat([self._last_frame, torch.full((len(new),), frame_index)])
            if self._last_masks is not None:
                fresh_masks = (
                    last_masks[new]
                    if last_masks is not None
                    else self._last_masks.new_zeros((len(new), *self._last_masks.shape[1:]))
                )
                self._last_masks = torch.cat([self._last_masks, fresh_masks])

    def update(self, track_id: int, embed: torch.Tensor, label: int, frame_index: int) -> None:
        """Insert a new track or blend `embed` (D,) into an existing one; `frame_index` = last frame it was seen (no
        mask: `update_many` takes masks)."""
        self.update_many([track_id], embed[None], torch.tensor([int(label)]), frame_index)

    def expire(self, frame_index: int) -> None:
        """Before frame `frame_index`: drop tracks unseen for more than `lifetime_frames` frames."""
        alive = frame_index - self._last_frame - 1 <= self.lifetime_frames
        if bool(alive.all()):
            return
        self._ids = [tid for tid, a in zip(self._ids, alive.tolist()) if a]
        self._embeds = self._embeds[alive] if self._ids else None
        self._labels, self._last_frame = self._labels[alive], self._last_frame[alive]
        if self._last_masks is not None:
            self._last_masks = self._last_masks[alive]


class Tracker(abc.ABC):
    """Interface: `reset()` at the start of a video, `update(detections) -> ids` per subclip.

    `association_feature` names the model output the tracker matches on: "pred_embeds" (association embeddings) or
    "pred_queries" (raw decoder queries, MinVIS style); `uses_masks` says whether it also wants each tube's first-
    and last-frame masks.
    """

    association_feature = "pred_embeds"
    uses_masks = False  # True: `update` wants first_frame_masks / last_frame_masks in its detections

    @abc.abstractmethod
    def reset(self) -> None:
        """Start a new video."""

    @abc.abstractmethod
    def update(self, detections: TubeDetections) -> torch.Tensor:
        """int64 (N,) persistent ids for the subclip's tubes; -1 for tubes that are not tracked."""
