"""The tracker interface and its input, one linked tube set per subclip.

A tracker sees the tubes of one subclip at a time (`update`) and returns one persistent identity per tube, so
video-level identities come from chaining subclips near-online. `reset` starts a new video.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch

__all__ = ["TubeDetections", "Tracker", "TrackMemory"]


@dataclass
class TubeDetections:
    """The tubes of one subclip that are candidates for tracking.

    Attributes:
        embeds: (N, D) association embeddings.
        scores: (N,) tube-level class confidences in [0, 1].
        labels: (N,) int64 contiguous class ids.
        frame_index: index in the video of the subclip's first frame.
        masks: optional bool (N, n, H, W) tube masks, used to remove duplicate tubes.
        track_all: every tube gets an identity, whatever its score and overlaps, matched one-to-one (VIS: the
            top-k instances are all kept, as Mask2Former-VIS and the original, since AP needs the low-scored ones).
    """

    embeds: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    frame_index: int
    masks: Optional[torch.Tensor] = None
    track_all: bool = False

    def __post_init__(self) -> None:
        n = self.embeds.shape[0]
        if self.embeds.ndim != 2 or self.scores.shape != (n,) or self.labels.shape != (n,):
            raise ValueError(
                f"TubeDetections: embeds (N, D), scores (N,), labels (N,) expected, got {tuple(self.embeds.shape)}, "
                f"{tuple(self.scores.shape)}, {tuple(self.labels.shape)}"
            )
        if self.masks is not None and self.masks.shape[0] != n:
            raise ValueError(f"TubeDetections: masks must have N={n} rows, got {tuple(self.masks.shape)}")

    def __len__(self) -> int:
        return self.embeds.shape[0]


@dataclass
class _Track:
    embed: torch.Tensor
    label: int
    last_frame: int


class TrackMemory:
    """Tracks by id with momentum-updated embeddings and a lifetime in frames."""

    def __init__(self, momentum: float, lifetime_frames: int) -> None:
        """momentum: weight of the new embedding in an update; lifetime_frames: frames a track survives unmatched."""
        self.momentum = momentum
        self.lifetime_frames = lifetime_frames
        self.tracks: Dict[int, _Track] = {}
        self._next_id = 0

    def reset(self) -> None:
        """Forget every track and restart ids at 0."""
        self.tracks.clear()
        self._next_id = 0

    def new_id(self) -> int:
        """A fresh identity, never reused within a video."""
        self._next_id += 1
        return self._next_id - 1

    def ids(self) -> List[int]:
        """Ids currently in memory (insertion order)."""
        return list(self.tracks)

    def stacked(self) -> tuple:
        """(embeds (M, D), labels (M,), ids list) of the memory, M may be 0."""
        ids = self.ids()
        if not ids:
            return None, None, ids
        embeds = torch.stack([self.tracks[i].embed for i in ids])
        labels = torch.tensor([self.tracks[i].label for i in ids], dtype=torch.int64)
        return embeds, labels, ids

    def update(self, track_id: int, embed: torch.Tensor, label: int, frame_index: int) -> None:
        """Insert a new track or blend `embed` into an existing one; `frame_index` = last frame it was seen."""
        embed = embed.detach().float()
        if track_id in self.tracks:
            old = self.tracks[track_id]
            embed = (1 - self.momentum) * old.embed + self.momentum * embed
        self.tracks[track_id] = _Track(embed, int(label), frame_index)

    def expire(self, frame_index: int) -> None:
        """Before frame `frame_index`: drop tracks unseen for more than `lifetime_frames` frames."""
        for tid in [t for t, tr in self.tracks.items() if frame_index - tr.last_frame - 1 > self.lifetime_frames]:
            del self.tracks[tid]


class Tracker(abc.ABC):
    """Interface: `reset()` at the start of a video, `update(detections) -> ids` per subclip.

    `association_feature` names the model output the tracker matches on: "pred_embeds" (association embeddings) or
    "pred_queries" (raw decoder queries, MinVIS style).
    """

    association_feature = "pred_embeds"

    @abc.abstractmethod
    def reset(self) -> None:
        """Start a new video."""

    @abc.abstractmethod
    def update(self, detections: TubeDetections) -> torch.Tensor:
        """int64 (N,) persistent ids for the subclip's tubes; -1 for tubes that are not tracked."""
