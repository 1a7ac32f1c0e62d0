"""Parameter-free sine position encodings (DETR / Mask2Former), 2-D and with a time term for tubes."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PositionEmbeddingSine", "PositionEmbeddingSine3D"]


class PositionEmbeddingSine(nn.Module):
    """2-D sine encoding with `num_pos_feats` frequencies per axis, normalised to [0, 2*pi] (no parameters)."""

    def __init__(self, num_pos_feats: int = 128, temperature: int = 10000, normalize: bool = True) -> None:
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi

    def _frequencies(self, device) -> torch.Tensor:
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=device)
        return self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats)

    def encode(self, positions: torch.Tensor) -> torch.Tensor:
        """positions (...,) float -> (..., num_pos_feats) interleaved sin/cos."""
        pos = positions[..., None] / self._frequencies(positions.device)
        return torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=-1).flatten(-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> (B, 2*num_pos_feats, H, W) encoding of pixel positions (y first, then x)."""
        b, _, h, w = x.shape
        y = torch.arange(1, h + 1, dtype=torch.float32, device=x.device)[:, None].expand(h, w)
        xx = torch.arange(1, w + 1, dtype=torch.float32, device=x.device)[None, :].expand(h, w)
        if self.normalize:
            eps = 1e-6
            y = y / (h + eps) * self.scale
            xx = xx / (w + eps) * self.scale
        pos = torch.cat((self.encode(y), self.encode(xx)), dim=-1).permute(2, 0, 1)
        return pos[None].expand(b, -1, -1, -1).to(x.dtype)


class PositionEmbeddingSine3D(PositionEmbeddingSine):
    """Tube encoding: the 2-D (y, x) sine encoding plus a time term with 2*num_pos_feats frequencies.

    t is normalised by the subclip length n when `normalize_time` (the original Tube-Link code: a frame's temporal
    code then depends on n), else by a fixed `time_scale` frames.
    """

    def __init__(
        self,
        num_pos_feats: int = 128,
        temperature: int = 10000,
        normalize: bool = True,
        normalize_time: bool = True,
        time_scale: int = 8,
    ) -> None:
        super().__init__(num_pos_feats, temperature, normalize)
        self.normalize_time = normalize_time
        self.time_scale = time_scale
        self._time = PositionEmbeddingSine(2 * num_pos_feats, temperature, normalize)

    def forward_tube(self, num_frames: int, x: torch.Tensor) -> torch.Tensor:
        """x (B*n, C, H, W) of one level -> (B*n, 2*num_pos_feats, H, W): spatial PE + the frame's time PE."""
        spatial = super().forward(x)
        t = torch.arange(1, num_frames + 1, dtype=torch.float32, device=x.device)
        t = t / ((num_frames if self.normalize_time else self.time_scale) + 1e-6) * self.scale
        time = self._time.encode(t)  # (n, 2*num_pos_feats)
        time = time.repeat(x.shape[0] // num_frames, 1)  # (B*n, C), frames of a clip consecutive
        return spatial + time[:, :, None, None].to(spatial.dtype)
