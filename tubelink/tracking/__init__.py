"""Association of tubes across subclips: the tracker interface, similarities and the trackers."""

from .base import Tracker, TrackMemory, TubeDetections
from .trackers import HungarianQueryTracker, MemoryTracker, QuasiDenseTracker, build_tracker

__all__ = [
    "Tracker",
    "TrackMemory",
    "TubeDetections",
    "MemoryTracker",
    "QuasiDenseTracker",
    "HungarianQueryTracker",
    "build_tracker",
]
