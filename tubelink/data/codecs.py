"""Pixel encodings of the benchmarks' label PNGs, as pure numpy functions (one copy for writers and readers).

- COCO / VIPSeg panoptic RGB: segment id = R + 256*G + 256**2*B (0 = void).
- KITTI-STEP panoptic PNG: R = semantic train id (255 = void), instance id = G*256 + B (0 = no instance / crowd).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["rgb2id", "id2rgb", "kitti_step_decode", "kitti_step_encode"]


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) int64 segment ids, id = R + 256*G + 256**2*B."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W) integer segment ids in [0, 256**3) -> (H, W, 3) uint8 RGB (inverse of `rgb2id`)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= 256**3):
        raise ValueError(f"segment ids must lie in [0, 2**24), got [{ids.min()}, {ids.max()}]")
    return np.stack([ids % 256, (ids // 256) % 256, ids // (256 * 256)], axis=-1).astype(np.uint8)


def kitti_step_decode(rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 KITTI-STEP panoptic PNG -> (semantic (H, W) int64, instance (H, W) int64)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) KITTI-STEP panoptic array, got shape {rgb.shape}")
    rgb = rgb.astype(np.int64)
    return rgb[..., 0], rgb[..., 1] * 256 + rgb[..., 2]


def kitti_step_encode(semantic: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """semantic (H, W) in [0, 255], instance (H, W) in [0, 65535] -> (H, W, 3) uint8 KITTI-STEP PNG array."""
    semantic = np.asarray(semantic, dtype=np.int64)
    instance = np.asarray(instance, dtype=np.int64)
    if semantic.shape != instance.shape:
        raise ValueError(f"semantic {semantic.shape} and instance {instance.shape} shapes differ")
    if semantic.size and (semantic.min() < 0 or semantic.max() > 255):
        raise ValueError("KITTI-STEP semantic ids must lie in [0, 255]")
    if instance.size and (instance.min() < 0 or instance.max() > 65535):
        raise ValueError("KITTI-STEP instance ids must lie in [0, 65535]")
    return np.stack([semantic, instance // 256, instance % 256], axis=-1).astype(np.uint8)
