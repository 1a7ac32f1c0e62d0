"""Tube mask logits of one subclip, upsampled only for the queries post-processing selects.

The model's inference output holds the last decoder layer's mask logits at stride 4 instead of Q x n logits at
full resolution: post-processing picks its queries first (score threshold, top-k), then asks for their masks at the
output size. A selected row goes through Mask2Former's chain (bilinear to the padded input, crop to the image,
bilinear to the output size) on its own, so it equals the row of the dense computation.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ["TubeMaskLogits"]


def _resize(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (K, n, h, w) to `size`; skipped at the same size (bilinear at scale 1 is the identity)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class TubeMaskLogits:
    """Mask logits (Q, n, H, W) at `output_size`, materialised per selection: `masks[idx]` -> float (K, n, H, W).

    Args:
        logits: (Q, n, h, w) mask logits at stride 4 of the padded input (or at the image size itself).
        padded_size: (H', W') the padded input the logits cover.
        image_size: (H, W) <= padded_size, the unpadded input (top-left corner).
        output_size: (H_out, W_out), default the image size; `resized(size)` changes it.
    """

    def __init__(
        self,
        logits: torch.Tensor,
        padded_size: Tuple[int, int],
        image_size: Tuple[int, int],
        output_size: Optional[Tuple[int, int]] = None,
    ) -> None:
        self.logits = logits
        self.padded_size, self.image_size = tuple(padded_size), tuple(image_size)
        self.output_size = tuple(output_size) if output_size is not None else self.image_size

    @classmethod
    def dense(cls, logits: torch.Tensor) -> "TubeMaskLogits":
        """Wrap (Q, n, H, W) logits already at the image size (models that return them, test stubs)."""
        return cls(logits, logits.shape[-2:], logits.shape[-2:])

    def resized(self, output_size: Tuple[int, int]) -> "TubeMaskLogits":
        """The same logits, materialised at `output_size` (H, W)."""
        return TubeMaskLogits(self.logits, self.padded_size, self.image_size, output_size)

    @property
    def shape(self) -> Tuple[int, int, int, int]:
        """(Q, n, H, W) of the full logits at the output size."""
        return (*self.logits.shape[:2], *self.output_size)

    @property
    def device(self) -> torch.device:
        return self.logits.device

    def __len__(self) -> int:
        return self.logits.shape[0]

    def __getitem__(self, queries) -> torch.Tensor:
        """float (K, n, H, W) logits at the output size of `queries` (an index tensor, list or slice)."""
        rows = self.logits[queries]
        if rows.ndim != 4:
            raise IndexError("TubeMaskLogits: index with a tensor, list or slice of queries, not one query")
        h, w = self.image_size
        rows = _resize(rows.float(), self.padded_size)[..., :h, :w]
        return _resize(rows, self.output_size)

    def to_dense(self) -> torch.Tensor:
        """float (Q, n, H, W): every query's logits at the output size."""
        return self[:]
