"""Transformer decoder layers with Mask2Former's parameter names (the only copy in tubelink).

All layers are post-norm and batch-first: queries (B, Q, C), memory (B, L, C).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SelfAttentionLayer", "CrossAttentionLayer", "FFNLayer", "MLP"]


def _with_pos(x: torch.Tensor, pos: Optional[torch.Tensor]) -> torch.Tensor:
    return x if pos is None else x + pos


class SelfAttentionLayer(nn.Module):
    """Query self-attention + residual + LayerNorm (`self_attn`, `norm`)."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tgt: torch.Tensor, query_pos: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tgt (B, Q, C) -> (B, Q, C)."""
        q = k = _with_pos(tgt, query_pos)
        return self.norm(tgt + self.dropout(self.self_attn(q, k, tgt, need_weights=False)[0]))


class CrossAttentionLayer(nn.Module):
    """Queries attend to memory (optionally masked) + residual + LayerNorm (`multihead_attn`, `norm`)."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: Optional[torch.Tensor] = None,
        pos: Optional[torch.Tensor] = None,
        query_pos: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """tgt (B, Q, C), memory (B, L, C), memory_mask bool (B, Q, L) True = blocked, shared by every head ->
        (B, Q, C)."""
        if memory_mask is not None:
            # nn.MultiheadAttention broadcasts a 2-D mask over batch and heads; a 3-D one must list every head.
            if memory_mask.shape[0] == 1:
                memory_mask = memory_mask[0]
            else:
                heads = self.multihead_attn.num_heads
                memory_mask = memory_mask[:, None].expand(-1, heads, -1, -1).flatten(0, 1)
        out = self.multihead_attn(
            _with_pos(tgt, query_pos), _with_pos(memory, pos), memory, attn_mask=memory_mask, need_weights=False
        )[0]
        return self.norm(tgt + self.dropout(out))


class FFNLayer(nn.Module):
    """Linear-ReLU-Linear + residual + LayerNorm (`linear1`, `linear2`, `norm`)."""

    def __init__(self, d_model: int, dim_feedforward: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        """(B, Q, C) -> (B, Q, C)."""
        return self.norm(tgt + self.dropout(self.linear2(self.dropout(F.relu(self.linear1(tgt))))))


class MLP(nn.Module):
    """`num_layers` linear layers with ReLU between them (`layers.i`)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., input_dim) -> (..., output_dim)."""
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x
