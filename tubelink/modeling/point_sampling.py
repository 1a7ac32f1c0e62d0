"""Point sampling of mask logits (PointRend / Mask2Former): uniform and uncertainty-based importance sampling.

Tube masks (n frames) are sampled as one "long image" with the frames stacked vertically, as the original
Tube-Link: a point then lands in one frame, and all frames of a tube share the point budget.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["point_sample", "tube_to_long_image", "uncertain_point_coords"]


def tube_to_long_image(masks: torch.Tensor) -> torch.Tensor:
    """(N, n, H, W) tube masks -> (N, 1, n*H, W) long images (frames stacked vertically)."""
    n_items, n, h, w = masks.shape
    return masks.reshape(n_items, 1, n * h, w)


def point_sample(inputs: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of inputs (N, C, H, W) at coords (N, P, 2) in [0, 1] (x, y) -> (N, C, P)."""
    grid = 2.0 * coords[:, :, None, :] - 1.0
    return F.grid_sample(inputs, grid.to(inputs.dtype), mode="bilinear", align_corners=False).squeeze(3)


def uncertain_point_coords(
    logits: torch.Tensor,
    num_points: int,
    oversample_ratio: float,
    importance_sample_ratio: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Coordinates (N, num_points, 2): the most uncertain (|logit| smallest) of oversampled random points, plus
    random points for the rest.

    Args:
        logits: (N, 1, H, W) mask logits.
    """
    n = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    coords = torch.rand(n, num_sampled, 2, device=logits.device, generator=generator)
    uncertainty = -point_sample(logits.detach(), coords).abs()[:, 0]  # (N, num_sampled)
    num_uncertain = int(importance_sample_ratio * num_points)
    idx = uncertainty.topk(num_uncertain, dim=1, sorted=False).indices  # a set of points: order is irrelevant
    chosen = coords[torch.arange(n, device=coords.device)[:, None], idx]
    num_random = num_points - num_uncertain
    if num_random > 0:
        chosen = torch.cat([chosen, torch.rand(n, num_random, 2, device=logits.device, generator=generator)], 1)
    return chosen
