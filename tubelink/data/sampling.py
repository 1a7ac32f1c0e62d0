"""Which frames form a training clip: neighbouring subclips of n frames (pure, explicit RNG)."""

from __future__ import annotations

from typing import List

import numpy as np

__all__ = ["sample_subclip_indices"]


def sample_subclip_indices(
    length: int, num_subclips: int, frames_per_subclip: int, stride: int, max_gap: int, rng: np.random.Generator
) -> List[List[int]]:
    """Frame indices of `num_subclips` neighbouring subclips, in time order.

    Each subclip has `frames_per_subclip` frames `stride` apart; the gap between the end of one subclip and the
    start of the next is drawn from [0, max_gap] frames (0 = contiguous). Gaps shrink when the video is too short;
    a video shorter than even the contiguous clip repeats its last frame (indices are clamped to length - 1), so
    every video can be sampled.

    Returns:
        num_subclips lists of frames_per_subclip indices in [0, length).
    """
    if length < 1:
        raise ValueError("cannot sample a clip from an empty video")
    if min(num_subclips, frames_per_subclip, stride) < 1 or max_gap < 0:
        raise ValueError(
            f"need num_subclips, frames_per_subclip, stride >= 1 and max_gap >= 0, got "
            f"{num_subclips}, {frames_per_subclip}, {stride}, {max_gap}"
        )
    step = frames_per_subclip * stride  # start-to-start distance of contiguous subclips
    span = num_subclips * step - (stride - 1)
    gaps = rng.integers(0, max_gap + 1, size=num_subclips - 1) if num_subclips > 1 else np.zeros(0, int)
    while span + gaps.sum() > length and gaps.sum() > 0:
        gaps[int(np.argmax(gaps))] -= 1
    start = int(rng.integers(0, max(length - span - int(gaps.sum()), 0) + 1))
    subclips, offset = [], start
    for k in range(num_subclips):
        subclips.append([min(offset + i * stride, length - 1) for i in range(frames_per_subclip)])
        offset += step + (int(gaps[k]) if k < num_subclips - 1 else 0)
    return subclips
