"""Tube-Link's new parts (new checkpoint prefixes): cross-tube linking and the association embedding head."""

from __future__ import annotations

import torch
from torch import nn

from ..layers.transformer import CrossAttentionLayer, FFNLayer

__all__ = ["CrossTubeLink", "TubeEmbeddingHead"]


class CrossTubeLink(nn.Module):
    """Queries of one tube attend to the queries of another (multi-head attention + residual + LayerNorm), then an
    FFN (+ residual + LayerNorm). No position encodings: identity must come from content."""

    def __init__(self, d_model: int = 256, nhead: int = 8, dim_feedforward: int = 1024) -> None:
        super().__init__()
        self.cross_attn = CrossAttentionLayer(d_model, nhead)
        self.ffn = FFNLayer(d_model, dim_feedforward)

    def forward(self, queries: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """queries (B, Q, D), other (B, Q', D) -> linked queries (B, Q, D)."""
        return self.ffn(self.cross_attn(queries, other))


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
