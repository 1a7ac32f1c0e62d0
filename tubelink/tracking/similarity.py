"""Similarities between detection embeddings and track-memory embeddings (pure functions)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["bisoftmax_similarity", "cosine_similarity", "mask_iou_matrix"]


def bisoftmax_similarity(det_embeds: torch.Tensor, memory_embeds: torch.Tensor) -> torch.Tensor:
    """QDTrack's bi-directional softmax matching score.

    Args:
        det_embeds: (N, D) embeddings of the current detections.
        memory_embeds: (M, D) embeddings of the memory (tracks and backdrops).
    Returns:
        (N, M) scores in [0, 1]: the mean of the softmax over memory entries and the softmax over detections of the
        raw dot products. An entry is high only when the pair prefers each other among all candidates.
    """
    if det_embeds.numel() == 0 or memory_embeds.numel() == 0:
        return det_embeds.new_zeros((det_embeds.shape[0], memory_embeds.shape[0]))
    logits = det_embeds.float() @ memory_embeds.float().t()
    return 0.5 * (logits.softmax(dim=1) + logits.softmax(dim=0))


def cosine_similarity(det_embeds: torch.Tensor, memory_embeds: torch.Tensor) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) cosine similarities in [-1, 1]."""
    if det_embeds.numel() == 0 or memory_embeds.numel() == 0:
        return det_embeds.new_zeros((det_embeds.shape[0], memory_embeds.shape[0]))
    return F.normalize(det_embeds.float(), dim=1) @ F.normalize(memory_embeds.float(), dim=1).t()


def mask_iou_matrix(masks_a: torch.Tensor, masks_b: torch.Tensor) -> torch.Tensor:
    """IoU between two sets of binary (tube) masks.

    Args:
        masks_a: bool (A, ...) masks (any trailing shape, e.g. (n, H, W) tubes).
        masks_b: bool (B, ...) masks with the same trailing shape.
    Returns:
        (A, B) float IoU; 0 where the union is empty.
    """
    a = masks_a.reshape(masks_a.shape[0], -1).float()
    b = masks_b.reshape(masks_b.shape[0], -1).float()
    inter = a @ b.t()
    union = a.sum(1, keepdim=True) + b.sum(1).unsqueeze(0) - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
