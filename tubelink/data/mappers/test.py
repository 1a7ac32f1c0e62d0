"""Test-time streaming of a video: one frame at a time, never the whole video in memory."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ..clip_transforms import ClipAugmentation, apply_to_image
from ..datasets.common import read_rgb

__all__ = ["iter_test_frames"]


def iter_test_frames(video: dict, augmentation: ClipAugmentation) -> Iterator[dict]:
    """Yield {"image": uint8 (3, H', W'), "frame_index", "height", "width", "file_name", "video_id"} per frame.

    The test resize (INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST; 0 keeps the size) is drawn once for the video. A missing
    or corrupt frame raises an error naming its file.
    """
    rng = np.random.default_rng(0)  # the test augmentation is deterministic; the generator is only a formality
    tfm = None
    for t, path in enumerate(video["file_names"]):
        img = read_rgb(path)
        if tfm is None:
            tfm = augmentation(img.shape[0], img.shape[1], rng)
        out = apply_to_image(tfm, img)
        yield {
            "image": torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))),
            "frame_index": t,
            "height": img.shape[0],
            "width": img.shape[1],
            "file_name": path,
            "video_id": video["video_id"],
        }
