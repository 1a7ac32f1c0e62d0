"""Multi-scale deformable attention (Deformable DETR) in pure PyTorch.

Both kernels sample bilinearly with zero padding at the CUDA kernel's `location * size - 0.5` convention
(grid_sample's align_corners=False) and compute the same function; `ms_deform_attn_core` picks by whether a
gradient is needed:
- inference: one `F.embedding_bag` gathers and sums each (query, head)'s L * P * 4 corner rows of the value, read in
  place as a (B * S * heads, head_dim) table with a zero border per level, weighted by bilinear x attention weights:
  no per-level value permutes and no (B * heads, head_dim, Q, P) sample buffers (1.6x faster pixel decoder on CPU);
- training: one `F.grid_sample` per level, whose backward is about 20 % faster than embedding_bag's.
Under autocast the value and output projections run in the autocast dtype; the sampling locations, attention
weights and sampling stay in float32 (or float64): locations need the precision. Parameter names follow
Mask2Former's MSDeformAttn (`sampling_offsets`, `attention_weights`, `value_proj`, `output_proj`) so COCO
checkpoints load.
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
    """Weighted sum of bilinear samples over levels and points (the kernel of the module docstring).

    Args:
        value: (B, S, M, D) per-head values of all levels flattened, S = sum_l H_l * W_l.
        spatial_shapes: [(H_l, W_l)] per level, in the order of `value`.
        sampling_locations: (B, Q, M, L, P, 2) normalised (x, y) in [0, 1].
        attention_weights: (B, Q, M, L, P), normalised over L * P.
    Returns:
        (B, Q, M * D).
    """
    if sum(h * w for h, w in spatial_shapes) != value.shape[1]:
        raise ValueError(f"spatial shapes {list(spatial_shapes)} do not cover the {value.shape[1]} value tokens")
    needs_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (value, sampling_locations, attention_weights)
    )
    kernel = _core_grid_sample if needs_grad else _core_embedding_bag
    return kernel(value, spatial_shapes, sampling_locations, attention_weights)


def _core_grid_sample(value, spatial_shapes, sampling_locations, attention_weights) -> torch.Tensor:
    """`ms_deform_attn_core` with one grid_sample per level, accumulated level by level."""
    b, _, m, d = value.shape
    q, p = sampling_locations.shape[1], sampling_locations.shape[4]
    grids = 2 * sampling_locations - 1  # grid_sample's [-1, 1]
    out = value.new_zeros(b * m, d, q)
    start = 0
    for level, (h, w) in enumerate(spatial_shapes):
        v = value[:, start : start + h * w].permute(0, 2, 3, 1).reshape(b * m, d, h, w)
        start += h * w
        grid = grids[:, :, :, level].transpose(1, 2).reshape(b * m, q, p, 2)
        sampled = F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (BM, D, Q, P)
        weight = attention_weights[:, :, :, level].transpose(1, 2).reshape(b * m, 1, q, p)
        out = out + (sampled * weight).sum(-1)
    return out.view(b, m * d, q).transpose(1, 2)


def _core_embedding_bag(value, spatial_shapes, sampling_locations, attention_weights) -> torch.Tensor:
    """`ms_deform_attn_core` as one weighted embedding_bag over a zero-bordered value table."""
    b, _, m, d = value.shape
    q, num_levels, num_points = sampling_locations.shape[1], sampling_locations.shape[3], sampling_locations.shape[4]
    dev, dtype = value.device, sampling_locations.dtype
    # Zero padding as data: each level's map gets a zero border (1 before, 2 after), coordinates are clamped into
    # [-1, size], so every corner of every point is a row of the padded table and off-map corners read zeros.
    padded = [(h + 3, w + 3) for h, w in spatial_shapes]
    table = value.new_zeros(b, sum(ph * pw for ph, pw in padded), m * d)
    start = padded_start = 0
    starts = []
    for (h, w), (ph, pw) in zip(spatial_shapes, padded):
        level = table[:, padded_start : padded_start + ph * pw].view(b, ph, pw, m * d)
        level[:, 1 : h + 1, 1 : w + 1] = value[:, start : start + h * w].reshape(b, h, w, m * d)
        starts.append(padded_start + pw + 1)  # the row of pixel (0, 0)
        start, padded_start = start + h * w, padded_start + ph * pw

    # per-(level, point) constants, laid out like the trailing (L, P) dims so every op below runs on contiguous data
    def per_level(values, dt):
        return torch.tensor(values, dtype=dt, device=dev)[:, None].expand(num_levels, num_points).contiguous()

    width, height = per_level([w for _, w in spatial_shapes], dtype), per_level([h for h, _ in spatial_shapes], dtype)
    idx = torch.int32 if b * padded_start * m < 2**31 else torch.int64
    frac, corner = [], []
    for axis, extent in ((0, width), (1, height)):
        # pixel coordinates, the CUDA kernel's (and grid_sample's align_corners=False) `location * size - 0.5`
        coord = torch.addcmul(value.new_tensor(-0.5, dtype=dtype), sampling_locations[..., axis], extent)
        coord = torch.clamp(coord, min=value.new_tensor(-1.0, dtype=dtype), max=extent)
        low = coord.floor()
        frac.append(coord.sub_(low))
        corner.append(low.to(idx))
    # a corner's row in the table seen as (B * rows * M, D): ((b * rows + level's (0, 0) + y * Wp + x) * M + head
    pitch = per_level([pw * m for _, pw in padded], idx)
    base = torch.tensor(starts, dtype=idx, device=dev) + torch.arange(b, dtype=idx, device=dev)[:, None] * padded_start
    base = (base[:, None, :] * m + torch.arange(m, dtype=idx, device=dev)[:, None])[:, None, :, :, None]
    low_row = corner[1].mul_(pitch).add_(corner[0], alpha=m).add_(base)  # (B, Q, M, L, P)
    (fx, fy), a = frac, attention_weights.to(dtype)
    # corners (y, x) in (0, 0), (0, 1), (1, 0), (1, 1) order: row offsets and bilinear x attention weights
    shift = torch.stack((torch.zeros_like(pitch), torch.full_like(pitch, m), pitch, pitch + m))  # (4, L, P)
    rows = low_row[:, :, :, None] + shift  # (B, Q, M, 4, L, P)
    wy1 = fy * a
    wy, wx = torch.stack((a - wy1, wy1), 3), torch.stack((1 - fx, fx), 3)  # (B, Q, M, 2, L, P)
    weights = wy[:, :, :, :, None] * wx[:, :, :, None]  # (B, Q, M, 2, 2, L, P)
    # one weighted gather-sum per (query, head) over its 4 * L * P corners: no per-level copies of the value, no
    # (B * M, D, Q, P) sample buffers
    out = F.embedding_bag(
        rows.view(b * q * m, -1), table.view(-1, d), mode="sum", per_sample_weights=weights.view(b * q * m, -1)
    )
    return out.view(b, q, m * d)


def _softmax_short_rows(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim, the same math as `x.softmax(-1)`: torch's CPU softmax is ~6x slower than this on
    rows as short as the L * P = 12 attention weights. The max is detached: softmax is shift-invariant."""
    e = (x - x.detach().amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


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
            weights = self.attention_weights(query).view(b, q, self.n_heads, self.n_levels * self.n_points)
            weights = _softmax_short_rows(weights).view(b, q, self.n_heads, self.n_levels, self.n_points)
            # offsets are in pixels of each level: normalise by (W_l, H_l), laid out flat like the offsets (a
            # broadcast with a size-2 inner dim is ~7x slower on CPU)
            normalizer = torch.tensor([[w, h] for h, w in spatial_shapes], dtype=dtype, device=query.device)
            normalizer = normalizer[None, :, None].expand(self.n_heads, -1, self.n_points, -1).reshape(-1)
            offsets = (self.sampling_offsets(query) / normalizer).view(
                b, q, self.n_heads, self.n_levels, self.n_points, 2
            )
            locations = reference_points[:, :, None, :, None, :] + offsets
            out = ms_deform_attn_core(v, spatial_shapes, locations, weights)
        return self.output_proj(out)
