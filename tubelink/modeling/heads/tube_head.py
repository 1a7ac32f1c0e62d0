"""`sem_seg_head`: the pixel decoder and the tube transformer decoder (Mask2Former's `MaskFormerHead` layout)."""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import nn

from ..layers import ShapeSpec
from ..pixel_decoder import build_pixel_decoder
from ..transformer_decoder import build_transformer_decoder

__all__ = ["TubeLinkHead"]


class TubeLinkHead(nn.Module):
    """Per-frame pixel decoding, then tube decoding over each subclip of `num_frames` consecutive frames."""

    def __init__(self, cfg, input_shape: Dict[str, ShapeSpec]) -> None:
        super().__init__()
        self.pixel_decoder = build_pixel_decoder(cfg, input_shape)
        self.predictor = build_transformer_decoder(cfg, cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM)

    def decode_pixels(self, features: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Per-frame stage: backbone features of F frames -> (mask features (F, C, H/4, W/4), multi-scale maps)."""
        mask_features, _, multi_scale = self.pixel_decoder.forward_features(features)
        return mask_features, multi_scale

    def decode_tubes(
        self, mask_features: torch.Tensor, multi_scale: List[torch.Tensor], num_frames: int
    ) -> Dict[str, torch.Tensor]:
        """Tube stage: pixel-decoder outputs of B*n frames (subclips consecutive) -> the decoder's outputs."""
        return self.predictor(multi_scale, mask_features, num_frames)

    def forward(self, features: Dict[str, torch.Tensor], num_frames: int) -> Dict[str, torch.Tensor]:
        """features of B*n frames (subclips consecutive) -> the tube decoder's outputs for B subclips."""
        return self.decode_tubes(*self.decode_pixels(features), num_frames)
