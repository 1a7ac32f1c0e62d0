"""One geometric augmentation per clip, applied identically to every frame and mask (fvcore transforms).

The transform is drawn once from the clip's frame size and returned as a `TransformList`, so frames, masks and
the ignore map of all frames go through exactly the same resize, crop, padding and flip. A clip made from a single
image (an image data set used as pseudo-video) instead gets one scale and crop per frame (`pseudo_video`).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
from fvcore.transforms.transform import (
    CropTransform,
    HFlipTransform,
    PadTransform,
    ScaleTransform,
    Transform,
    TransformList,
)

__all__ = ["ClipAugmentation", "apply_to_image", "apply_to_masks", "valid_region"]


class ClipAugmentation:
    """Multi-scale resize (short side = base * r, r ~ U[ratio_range]), crop (padded when the image is smaller)
    and horizontal flip, drawn once per clip."""

    def __init__(
        self,
        min_sizes: Sequence[int],
        max_size: int,
        ratio_range: Tuple[float, float],
        crop_size: Tuple[int, int] | None,
        flip: bool,
    ) -> None:
        """min_sizes: base short sides to choose from (0 = the frame's own short side); max_size caps the long side;
        crop_size: (h, w) or None; flip: horizontal flip with probability 0.5."""
        if ratio_range[0] <= 0 or ratio_range[0] > ratio_range[1]:
            raise ValueError(f"INPUT.RESIZE_RATIO_RANGE must be 0 < low <= high, got {list(ratio_range)}")
        self.min_sizes = list(min_sizes)
        self.max_size = max_size
        self.ratio_range = ratio_range
        self.crop_size = crop_size
        self.flip = flip

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> "ClipAugmentation":
        """Training augmentation from INPUT.*; at test time a deterministic resize only."""
        inp = cfg.INPUT
        if not is_train:
            return cls([inp.MIN_SIZE_TEST], inp.MAX_SIZE_TEST, (1.0, 1.0), None, False)
        if inp.RANDOM_FLIP not in ("horizontal", "none"):
            raise ValueError(f"INPUT.RANDOM_FLIP: expected 'horizontal' or 'none', got {inp.RANDOM_FLIP!r}")
        crop = tuple(inp.CROP.SIZE) if inp.CROP.ENABLED else None
        if inp.CROP.ENABLED and inp.CROP.TYPE != "absolute":
            raise ValueError(f"INPUT.CROP.TYPE: only 'absolute' crops are supported, got {inp.CROP.TYPE!r}")
        return cls(
            inp.MIN_SIZE_TRAIN, inp.MAX_SIZE_TRAIN, tuple(inp.RESIZE_RATIO_RANGE), crop, inp.RANDOM_FLIP == "horizontal"
        )

    def __call__(self, height: int, width: int, rng: np.random.Generator, flip: Optional[bool] = None) -> TransformList:
        """Draw the clip's transform for frames of size (height, width); `flip` forces the flip decision."""
        tfms: list[Transform] = []
        base = self.min_sizes[int(rng.integers(len(self.min_sizes)))] or min(height, width)
        ratio = rng.uniform(*self.ratio_range) if self.ratio_range[1] > self.ratio_range[0] else self.ratio_range[0]
        scale = base * ratio / min(height, width)
        scale = min(scale, self.max_size / max(height, width))
        new_h, new_w = max(1, int(round(height * scale))), max(1, int(round(width * scale)))
        if (new_h, new_w) != (height, width):
            tfms.append(ScaleTransform(height, width, new_h, new_w, interp="bilinear"))
        h, w = new_h, new_w
        if self.crop_size is not None:
            ch, cw = self.crop_size
            y0 = int(rng.integers(0, max(h - ch, 0) + 1))
            x0 = int(rng.integers(0, max(w - cw, 0) + 1))
            if (min(ch, h), min(cw, w)) != (h, w):
                tfms.append(CropTransform(x0, y0, min(cw, w), min(ch, h), w, h))
            if ch > h or cw > w:  # smaller than the crop: pad; padded pixels are marked ignore
                tfms.append(PadTransform(0, 0, max(cw - w, 0), max(ch - h, 0), min(cw, w), min(ch, h)))
            h, w = ch, cw
        if flip if flip is not None else (self.flip and rng.random() < 0.5):
            tfms.append(HFlipTransform(w))
        return TransformList(tfms)

    def pseudo_video(self, height: int, width: int, num_frames: int, rng: np.random.Generator) -> List[TransformList]:
        """One transform per frame for a clip made from a single image: an independent scale and crop per frame
        (simulated camera motion; entities keep their ids), one flip decision for the whole clip."""
        flip = self.flip and rng.random() < 0.5
        return [self(height, width, rng, flip=flip) for _ in range(num_frames)]


def apply_to_image(tfm: TransformList, image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> transformed uint8 (H', W', 3) (bilinear)."""
    return tfm.apply_image(image)


def apply_to_masks(tfm: TransformList, masks: np.ndarray) -> np.ndarray:
    """bool (S, H, W) -> bool (S, H', W') with nearest interpolation; padding is False."""
    if masks.shape[0] == 0:
        h, w = valid_region(tfm, masks.shape[1:]).shape
        return np.zeros((0, h, w), bool)
    stacked = np.ascontiguousarray(masks.transpose(1, 2, 0).astype(np.uint8))
    out = tfm.apply_segmentation(stacked)
    if out.ndim == 2:
        out = out[..., None]
    return out.transpose(2, 0, 1).astype(bool)


def valid_region(tfm: TransformList, size: Tuple[int, int]) -> np.ndarray:
    """bool (H', W'): pixels that come from the image (False on padding)."""
    ones = np.ones(tuple(size), np.uint8)
    return tfm.apply_segmentation(ones).astype(bool)
