"""Drawing segmentation results on frames with colours that stay fixed per identity across a video."""

from __future__ import annotations

import colorsys
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

__all__ = ["identity_color", "draw_segments", "draw_semantic"]

_GOLDEN = 0.618033988749895


def identity_color(identity: int) -> tuple:
    """A bright RGB colour for an integer identity; the same identity always gets the same colour."""
    hue = (identity * _GOLDEN) % 1.0
    sat = 0.65 + 0.35 * ((identity * 7919) % 3) / 2
    r, g, b = colorsys.hsv_to_rgb(hue, sat, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def _put_label(canvas: np.ndarray, text: str, mask: np.ndarray, color: tuple) -> None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return
    # Label at the mask pixel closest to the mask's centroid, so it lands on the object even for concave shapes.
    cy, cx = ys.mean(), xs.mean()
    k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    scale = max(0.35, min(canvas.shape[:2]) / 900)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x = int(np.clip(xs[k] - tw // 2, 0, max(canvas.shape[1] - tw, 0)))
    y = int(np.clip(ys[k] + th // 2, th, canvas.shape[0] - base))
    cv2.rectangle(canvas, (x - 1, y - th - 1), (x + tw + 1, y + base), (0, 0, 0), thickness=-1)
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def draw_segments(
    frame: np.ndarray,
    segment_map: np.ndarray,
    segments: Sequence[Dict],
    class_names: Sequence[str],
    class_colors: Optional[Sequence[Sequence[int]]] = None,
    alpha: float = 0.5,
    show_labels: bool = True,
) -> np.ndarray:
    """Overlay panoptic / instance segments on one frame.

    Args:
        frame: uint8 (H, W, 3) RGB.
        segment_map: int (H, W) segment ids (0 = nothing).
        segments: [{"id", "category_id", "isthing", "track_id" (optional)}]; things are coloured by track id
            (stable over the video), stuff by class colour.
        class_names: names of the contiguous classes.
        class_colors: RGB per class (default: derived from the class id).
        show_labels: draw contours and "class #id" labels.
    Returns:
        uint8 (H, W, 3) RGB with translucent masks, contours and "class #id" labels.
    """
    if segment_map.shape != frame.shape[:2]:
        raise ValueError(f"segment map {segment_map.shape} does not match the frame {frame.shape[:2]}")
    canvas = frame.astype(np.float32)
    overlay = frame.copy()
    labels = []
    for seg in segments:
        mask = segment_map == seg["id"]
        if not mask.any():
            continue
        cat = int(seg["category_id"])
        track = seg.get("track_id")
        if seg.get("isthing", False) and track is not None and track >= 0:
            color, text = identity_color(int(track)), f"{class_names[cat]} #{int(track)}"
        else:
            color = tuple(class_colors[cat]) if class_colors is not None else identity_color(10_000 + cat)
            text = class_names[cat]
        overlay[mask] = color
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        labels.append((text, mask, color, contours))
    out = (canvas * (1 - alpha) + overlay.astype(np.float32) * alpha).astype(np.uint8)
    for text, mask, color, contours in labels if show_labels else []:
        cv2.drawContours(out, contours, -1, color, 1, cv2.LINE_AA)
        _put_label(out, text, mask, color)
    return out


def draw_semantic(
    frame: np.ndarray,
    semantic: np.ndarray,
    class_names: Sequence[str],
    class_colors: Optional[Sequence[Sequence[int]]] = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """Overlay a semantic map (int (H, W) contiguous classes, values outside [0, C) left unpainted)."""
    segments = [
        {"id": c + 1, "category_id": c, "isthing": False} for c in np.unique(semantic) if 0 <= c < len(class_names)
    ]
    return draw_segments(
        frame,
        np.where((semantic >= 0) & (semantic < len(class_names)), semantic + 1, 0),
        segments,
        class_names,
        class_colors,
        alpha,
    )
