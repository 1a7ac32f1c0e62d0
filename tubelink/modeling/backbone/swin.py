"""Swin Transformer with the module names of Mask2Former's D2SwinTransformer, for any input size.

Written here rather than wrapped from timm / torchvision: their stage boundaries, non-persistent position-index
buffers and fixed-resolution masks do not give the key layout of the official Swin checkpoints (the fixture test
checks it), and segmentation needs inputs of any size (padded to the window size inside each block).
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..layers import ShapeSpec
from ..registry import BACKBONE_REGISTRY
from .base import Backbone

__all__ = ["SwinTransformer", "build_swin_backbone"]


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1, self.fc2, self.drop = nn.Linear(dim, hidden), nn.Linear(hidden, dim), nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/ws * W/ws, ws*ws, C)."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """Inverse of `window_partition` -> (B, H, W, C)."""
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window with a learned relative position bias."""

    def __init__(
        self,
        dim: int,
        window_size: int,
        num_heads: int,
        qkv_bias: bool = True,
        qk_scale: Optional[float] = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij"))
        rel = (coords.flatten(1)[:, :, None] - coords.flatten(1)[:, None, :]).permute(1, 2, 0) + window_size - 1
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window_size - 1) + rel[..., 1])
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (B*nW, N, C), mask (nW, N, N) with 0 / -100 -> (B*nW, N, C)."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1)[None]
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.num_heads, n, n) + mask[None, :, None].to(attn.dtype)
            attn = attn.view(bw, self.num_heads, n, n)
        attn = self.attn_drop(attn.softmax(-1))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c)))


class SwinTransformerBlock(nn.Module):
    """(Shifted) window attention + MLP, pre-norm, with stochastic depth."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
        qk_scale,
        drop: float,
        attn_drop: float,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.window_size, self.shift_size, self.drop_path = window_size, shift_size, drop_path
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def _drop_path(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_path == 0.0:
            return x
        keep = 1 - self.drop_path
        return x * x.new_empty(x.shape[0], 1, 1).bernoulli_(keep) / keep

    def forward(self, x: torch.Tensor, h: int, w: int, mask: Optional[torch.Tensor]) -> torch.Tensor:
        """x (B, H*W, C) -> (B, H*W, C); mask for the shifted windows of the padded size."""
        b, _, c = x.shape
        ws = self.window_size
        y = self.norm1(x).view(b, h, w, c)
        pad_b, pad_r = (ws - h % ws) % ws, (ws - w % ws) % ws
        y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = h + pad_b, w + pad_r
        if self.shift_size:
            y = torch.roll(y, (-self.shift_size, -self.shift_size), dims=(1, 2))
        y = window_reverse(self.attn(window_partition(y, ws), mask if self.shift_size else None), ws, hp, wp)
        if self.shift_size:
            y = torch.roll(y, (self.shift_size, self.shift_size), dims=(1, 2))
        x = x + self._drop_path(y[:, :h, :w].reshape(b, h * w, c))
        return x + self._drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 neighbourhood concatenation (4C) -> LayerNorm -> Linear to 2C; halves the resolution."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(B, H*W, C) -> (B, ceil(H/2)*ceil(W/2), 2C)."""
        b, _, c = x.shape
        x = F.pad(x.view(b, h, w, c), (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class BasicLayer(nn.Module):
    """A stage: `depth` blocks alternating plain and shifted windows, then optional patch merging."""

    def __init__(
        self,
        dim,
        depth,
        num_heads,
        window_size,
        mlp_ratio,
        qkv_bias,
        qk_scale,
        drop,
        attn_drop,
        drop_paths,
        downsample: bool,
        use_checkpoint: bool,
    ) -> None:
        super().__init__()
        self.window_size, self.shift_size, self.use_checkpoint = window_size, window_size // 2, use_checkpoint
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(
                dim,
                num_heads,
                window_size,
                0 if i % 2 == 0 else window_size // 2,
                mlp_ratio,
                qkv_bias,
                qk_scale,
                drop,
                attn_drop,
                drop_paths[i],
            )
            for i in range(depth)
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def _shift_mask(self, h: int, w: int, device) -> torch.Tensor:
        ws, s = self.window_size, self.shift_size
        hp, wp = -(-h // ws) * ws, -(-w // ws) * ws
        region = torch.zeros(1, hp, wp, 1, device=device)
        count = 0
        for hs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
            for wsl in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
                region[:, hs, wsl] = count
                count += 1
        windows = window_partition(region, ws)[..., 0]
        mask = windows[:, None, :] - windows[:, :, None]
        return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)

    def forward(self, x: torch.Tensor, h: int, w: int):
        """-> (stage output (B, H*W, C), H, W, downsampled input of the next stage, its H, W)."""
        mask = self._shift_mask(h, w, x.device)
        for block in self.blocks:
            if self.use_checkpoint and self.training:
                x = checkpoint(block, x, h, w, mask, use_reentrant=False)
            else:
                x = block(x, h, w, mask)
        if self.downsample is None:
            return x, h, w, x, h, w
        return x, h, w, self.downsample(x, h, w), (h + 1) // 2, (w + 1) // 2


class SwinTransformer(Backbone):
    """Swin backbone returning res2..res5 (strides 4..32), each through its own LayerNorm `norm{i}`."""

    def __init__(
        self,
        patch_size=4,
        embed_dim=96,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size=7,
        mlp_ratio=4.0,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.2,
        patch_norm=True,
        out_features=("res2", "res3", "res4", "res5"),
        use_checkpoint=False,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, embed_dim, patch_size, stride=patch_size)
        self.patch_embed.norm = nn.LayerNorm(embed_dim) if patch_norm else None
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList()
        self.out_features = list(out_features)
        for i, depth in enumerate(depths):
            dim = embed_dim * 2**i
            self.layers.append(
                BasicLayer(
                    dim,
                    depth,
                    num_heads[i],
                    window_size,
                    mlp_ratio,
                    qkv_bias,
                    qk_scale,
                    drop_rate,
                    attn_drop_rate,
                    rates[sum(depths[:i]) : sum(depths[: i + 1])],
                    i < len(depths) - 1,
                    use_checkpoint,
                )
            )
            self.add_module(f"norm{i}", nn.LayerNorm(dim))
            self._shapes[f"res{i + 2}"] = ShapeSpec(dim, patch_size * 2**i)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(B, 3, H, W) -> {"res2": (B, C, H/4, W/4), ..., "res5": (B, 8C, H/32, W/32)}."""
        p = self.patch_size
        x = F.pad(x, (0, (p - x.shape[-1] % p) % p, 0, (p - x.shape[-2] % p) % p))
        x = self.patch_embed.proj(x)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)
        if self.patch_embed.norm is not None:
            x = self.patch_embed.norm(x)
        out = {}
        for i, layer in enumerate(self.layers):
            y, yh, yw, x, h, w = layer(x, h, w)
            name = f"res{i + 2}"
            if name in self.out_features:
                y = getattr(self, f"norm{i}")(y)
                out[name] = y.view(-1, yh, yw, y.shape[-1]).permute(0, 3, 1, 2).contiguous()
        return out


@BACKBONE_REGISTRY.register()
def build_swin_backbone(cfg) -> SwinTransformer:
    """Swin from MODEL.SWIN.* (Mask2Former's key names)."""
    s = cfg.MODEL.SWIN
    if s.APE:
        raise ValueError(
            "MODEL.SWIN.APE: absolute position embeddings are not supported (no official config uses them)"
        )
    return SwinTransformer(
        s.PATCH_SIZE,
        s.EMBED_DIM,
        s.DEPTHS,
        s.NUM_HEADS,
        s.WINDOW_SIZE,
        s.MLP_RATIO,
        s.QKV_BIAS,
        s.QK_SCALE,
        s.DROP_RATE,
        s.ATTN_DROP_RATE,
        s.DROP_PATH_RATE,
        s.PATCH_NORM,
        s.OUT_FEATURES,
        s.USE_CHECKPOINT,
    )


@BACKBONE_REGISTRY.register()
def D2SwinTransformer(cfg) -> SwinTransformer:  # noqa: N802  (Mask2Former's MODEL.BACKBONE.NAME for Swin)
    """Alias so Mask2Former's Swin YAML (`NAME: "D2SwinTransformer"`) works unchanged."""
    return build_swin_backbone(cfg)
