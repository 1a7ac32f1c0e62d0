"""Mask and classification losses and the matching costs built from them (pure functions, float32 inside)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

__all__ = [
    "sigmoid_ce_loss",
    "dice_loss",
    "pairwise_sigmoid_ce",
    "pairwise_dice",
    "multi_positive_contrastive_loss",
    "cosine_l2_loss",
]


def sigmoid_ce_loss(
    logits: torch.Tensor, targets: torch.Tensor, num_masks: float, weights: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Binary cross-entropy of (M, P) point logits against (M, P) targets, mean over points, sum / num_masks.

    weights (M, P) in {0, 1} drop points (ignored pixels); the mean then runs over the kept points.
    """
    loss = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    if weights is None:
        return loss.mean(1).sum() / num_masks
    w = weights.float()
    return ((loss * w).sum(1) / w.sum(1).clamp(min=1)).sum() / num_masks


def dice_loss(
    logits: torch.Tensor, targets: torch.Tensor, num_masks: float, weights: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """1 - (2 sum(p t) + 1) / (sum p + sum t + 1) per mask (Mask2Former's dice), sum / num_masks. Shapes (M, P)."""
    p = logits.float().sigmoid()
    t = targets.float()
    if weights is not None:
        p, t = p * weights, t * weights
    return (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).sum() / num_masks


def pairwise_sigmoid_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean BCE of every prediction (N, P) against every target (M, P) -> (N, M)."""
    logits, targets = logits.float(), targets.float()
    pos = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
    neg = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none")
    return (pos @ targets.t() + neg @ (1 - targets).t()) / logits.shape[1]


def pairwise_dice(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss of every prediction (N, P) against every target (M, P) -> (N, M)."""
    p = logits.float().sigmoid()
    t = targets.float()
    return 1 - (2 * p @ t.t() + 1) / (p.sum(1)[:, None] + t.sum(1)[None, :] + 1)


def multi_positive_contrastive_loss(
    embed_a: torch.Tensor, embed_b: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Tube-Link eq. 2: mean over rows with a positive of log(1 + sum_pos sum_neg exp(d_neg - d_pos)).

    Args:
        embed_a: (Na, D), embed_b: (Nb, D) embeddings; d = embed_a @ embed_b.T (no temperature).
        targets: (Na, Nb) 1 for positive pairs, 0 for negatives (rows without a positive are skipped).
    Returns:
        scalar; 0 (with a graph) when no row has a positive.
    """
    d = embed_a.float() @ embed_b.float().t()
    pos, neg = targets > 0, targets <= 0
    rows = pos.any(1)  # a row without negatives contributes log(1 + 0) = 0 but still counts, as the original
    if not rows.any():
        return d.sum() * 0
    # log(1 + sum_{j pos} sum_{k neg} exp(d_k - d_j)) = softplus(logsumexp_neg(d) + logsumexp_pos(-d))
    very_neg = torch.finfo(d.dtype).min
    lse_neg = torch.where(neg, d, very_neg).logsumexp(1)
    lse_pos = torch.where(pos, -d, very_neg).logsumexp(1)
    return F.softplus(lse_neg + lse_pos)[rows].mean()


def cosine_l2_loss(
    embed_a: torch.Tensor,
    embed_b: torch.Tensor,
    targets: torch.Tensor,
    neg_margin: float = 0.0,
    hard_negative_ratio: int = 0,
) -> torch.Tensor:
    """Tube-Link eq. 3: mean of (cos(a, b) - target)^2 over pairs.

    The original code's variant: negatives' cosines are shifted by -neg_margin, values clamped to [0, 1], and with
    hard_negative_ratio r > 0 only the r * #positives hardest negatives are kept. Defaults give the paper's form.
    """
    cos = F.normalize(embed_a.float(), dim=1) @ F.normalize(embed_b.float(), dim=1).t()
    t = (targets > 0).float()
    if neg_margin > 0 or hard_negative_ratio > 0:
        cos = torch.where(t > 0, cos, cos - neg_margin).clamp(0, 1)
    err = (cos - t) ** 2
    if hard_negative_ratio > 0:
        num_pos = int(t.sum())
        neg_err = err[t == 0]
        keep = min(neg_err.numel(), hard_negative_ratio * max(num_pos, 1))
        if num_pos == 0 and neg_err.numel() == 0:
            return err.sum() * 0
        kept = torch.cat([err[t > 0], neg_err.topk(keep).values])
        return kept.mean() if kept.numel() else err.sum() * 0
    return err.mean() if err.numel() else err.sum() * 0
