"""Multi-scale deformable attention (Deformable DETR) in pure PyTorch.

The core samples each level with `F.grid_sample` (bilinear, zero padding, align_corners=False, which is the
CUDA kernel's `location * size - 0.5` convention) and accumulates the weighted samples level by level, so the
transient memory is one level's samples rather than all levels stacked. Under autocast the value and output
projections run in the autocast dtype; the sampling locations, attention weights and sampling stay in float32 (or
float64): locations need the precision. Parameter names follow Mask2Former's MSDeformAttn
(`sampling_offsets`, `attention_weights`, `value_proj`, `output_proj`) so COCO checkpoints load.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ms_deform_attn_core", "MSDeformAttn"]


def ms_deform_attn_core(
    value: torch.Tensor,
    spatial_shapes: Sequence[Tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Weighted sum of bilinear samples over levels and points.

    Args:
        value: (B, S, M, D) per-head values of all levels flattened, S = sum_l H_l * W_l.
        spatial_shapes: [(H_l, W_l)] per level, in the order of `value`.
        sampling_locations: (B, Q, M, L, P, 2) normalised (x, y) in [0, 1].
        attention_weights: (B, Q, M, L, P), normalised over L * P.
    Returns:
        (B, Q, M * D).
    """
    b, s, m, d = value.shape
    _, q, _, num_levels, p, _ = sampling_locations.shape
    if sum(h * w for h, w in spatial_shapes) != s:
        raise ValueError(f"spatial shapes {list(spatial_shapes)} do not cover the {s} value tokens")
    grids = 2 * sampling_locations - 1  # grid_sample's [-1, 1]
    out = value.new_zeros(b * m, d, q)
    start = 0
    for level, (h, w) in enumerate(spatial_shapes):
        v = value[:, start : start + h * w].permute(0, 2, 3, 1).reshape(b * m, d, h, w)
        start += h * w
        grid = grids[:, :, :, level].transpose(1, 2).reshape(b * m, q, p, 2)
        sampled = F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (BM, D, Q, P)
        weight = attention_weights[:, :, :, level].transpose(1, 2).reshape(b * m, 1, q, p)
        if torch.is_grad_enabled():
            out = out + (sampled * weight).sum(-1)
        else:  # inference: the same sums, without a second (BM, D, Q, P) buffer per level
            out.add_(sampled.mul_(weight).sum(-1))
    return out.view(b, m * d, q).transpose(1, 2)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention module (d_model channels, n_heads heads, n_levels x n_points samples)."""

    def __init__(self, d_model: int = 256, n_levels: int = 3, n_heads: int = 8, n_points: int = 4) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} must be divisible by n_heads {n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR's initialisation: offsets start on a ring of directions, growing with the point index."""
        nn.init.constant_(self.sampling_offsets.weight, 0.0)
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid = torch.stack([angles.cos(), angles.sin()], -1)
        grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(self.n_heads, 1, 1, 2)
        grid = grid.repeat(1, self.n_levels, self.n_points, 1)
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.view(-1))
        nn.init.constant_(self.attention_weights.weight, 0.0)
        nn.init.constant_(self.attention_weights.bias, 0.0)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.constant_(self.value_proj.bias, 0.0)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.constant_(self.output_proj.bias, 0.0)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        value: torch.Tensor,
        spatial_shapes: Sequence[Tuple[int, int]],
    ) -> torch.Tensor:
        """
        Args:
            query: (B, Q, C) queries (with position encoding added).
            reference_points: (B, Q, L, 2) normalised (x, y) reference per level.
            value: (B, S, C) flattened multi-level features.
            spatial_shapes: [(H_l, W_l)] per level.
        Returns:
            (B, Q, C).
        """
        b, q, _ = query.shape
        # Under autocast the value and output projections run in the low-precision dtype; the sampling locations
        # (offsets, attention weights) and the bilinear sampling itself stay in fp32, where they need the precision.
        v = self.value_proj(value)
        dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=query.device.type, enabled=False):
            query, reference_points = query.to(dtype), reference_points.to(dtype)
            v = v.to(dtype).view(b, value.shape[1], self.n_heads, self.d_model // self.n_heads)
            offsets = self.sampling_offsets(query).view(b, q, self.n_heads, self.n_levels, self.n_points, 2)
            weights = self.attention_weights(query).view(b, q, self.n_heads, self.n_levels * self.n_points)
            weights = weights.softmax(-1).view(b, q, self.n_heads, self.n_levels, self.n_points)
            # offsets are in pixels of each level: normalise by (W_l, H_l)
            normalizer = torch.tensor([[w, h] for h, w in spatial_shapes], dtype=dtype, device=query.device)
            locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
            out = ms_deform_attn_core(v, spatial_shapes, locations, weights)
        return self.output_proj(out)
