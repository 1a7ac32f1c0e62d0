"""Tube-Link's new parts (new checkpoint prefixes): cross-tube linking and the association embedding heads."""

from __future__ import annotations

import torch
from torch import nn

from ..layers.transformer import CrossAttentionLayer, FFNLayer
from ..registry import EMBED_HEAD_REGISTRY

__all__ = ["CrossTubeLink", "TubeEmbeddingHead", "QuasiDenseEmbedHead", "build_embed_head"]


class CrossTubeLink(nn.Module):
    """Tube-Link eq. 4: the queries of one tube attend to (keys and values) the queries of another (multi-head
    attention + residual + LayerNorm), then an FFN (+ residual + LayerNorm). No position encodings: identity must come
    from content."""

    def __init__(self, d_model: int = 256, nhead: int = 8, dim_feedforward: int = 1024) -> None:
        super().__init__()
        self.cross_attn = CrossAttentionLayer(d_model, nhead)
        self.ffn = FFNLayer(d_model, dim_feedforward)

    def forward(self, queries: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """queries (B, Q, D) attend to other (B, Q', D) -> linked queries (B, Q, D)."""
        return self.ffn(self.cross_attn(queries, other))


@EMBED_HEAD_REGISTRY.register()
class TubeEmbeddingHead(nn.Module):
    """`num_fcs` fully connected layers (Linear + LayerNorm + ReLU, the last plain Linear) -> unnormalised
    association embeddings (dot products feed the contrastive loss and the tracker)."""

    def __init__(self, in_dim: int = 256, dim: int = 256, num_fcs: int = 4) -> None:
        super().__init__()
        if num_fcs < 1:
            raise ValueError("MODEL.TUBE_LINK.EMBED.NUM_FCS must be >= 1")
        layers = []
        for i in range(num_fcs - 1):
            layers += [nn.Linear(in_dim if i == 0 else dim, dim), nn.LayerNorm(dim), nn.ReLU(inplace=True)]
        self.fcs = nn.Sequential(*layers)
        self.fc_embed = nn.Linear(dim if num_fcs > 1 else in_dim, dim)
        nn.init.normal_(self.fc_embed.weight, std=0.01)
        nn.init.zeros_(self.fc_embed.bias)

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """(..., in_dim) -> (..., dim)."""
        return self.fc_embed(self.fcs(queries))


class _TrackFCs(nn.Module):
    """The original's `track_head` (QDTrack's embed head without convs): `num_fcs` Linear + ReLU, then `fc_embed`."""

    def __init__(self, in_dim: int, dim: int, num_fcs: int) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(in_dim, in_dim) for _ in range(num_fcs))
        self.fc_embed = nn.Linear(in_dim, dim)
        for fc in self.fcs:
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.fc_embed.weight, std=0.01)
        nn.init.zeros_(self.fc_embed.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fc in self.fcs:
            x = torch.relu(fc(x))
        return self.fc_embed(x)


@EMBED_HEAD_REGISTRY.register()
class QuasiDenseEmbedHead(nn.Module):
    """The original code's embedding head, module for module (its released checkpoints load): `embed_fcs` (Linear
    without bias, LayerNorm, ReLU), `fc_embed` (Linear), then `track_head` (`num_fcs` Linear + ReLU and a Linear to
    `dim`); unnormalised output."""

    def __init__(self, in_dim: int = 256, dim: int = 256, num_fcs: int = 2) -> None:
        super().__init__()
        if num_fcs < 0:
            raise ValueError("MODEL.TUBE_LINK.EMBED.NUM_FCS must be >= 0")
        self.embed_fcs = nn.ModuleList([nn.Linear(in_dim, in_dim, bias=False), nn.LayerNorm(in_dim), nn.ReLU()])
        self.fc_embed = nn.Linear(in_dim, in_dim)
        self.track_head = _TrackFCs(in_dim, dim, num_fcs)

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """(..., in_dim) -> (..., dim)."""
        x = queries
        for layer in self.embed_fcs:
            x = layer(x)
        return self.track_head(self.fc_embed(x))


def build_embed_head(cfg) -> nn.Module:
    """The head named by MODEL.TUBE_LINK.EMBED.NAME; NUM_FCS counts all its linear layers (TubeEmbeddingHead) or the
    hidden layers of the original's track head (QuasiDenseEmbedHead, 2 in the original)."""
    e = cfg.MODEL.TUBE_LINK.EMBED
    try:
        cls = EMBED_HEAD_REGISTRY.get(e.NAME)
    except KeyError:
        known = sorted(k for k, _ in EMBED_HEAD_REGISTRY)
        raise KeyError(f"MODEL.TUBE_LINK.EMBED.NAME: unknown embedding head {e.NAME!r}; known: {known}") from None
    return cls(cfg.MODEL.MASK_FORMER.HIDDEN_DIM, e.DIM, e.NUM_FCS)
