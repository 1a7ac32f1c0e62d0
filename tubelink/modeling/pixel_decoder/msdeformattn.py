"""Mask2Former's multi-scale deformable-attention pixel decoder, with Mask2Former's parameter names.

res3..res5 are projected to `conv_dim` channels (`input_proj`: 1x1 conv + GroupNorm), refined jointly by an
encoder of deformable self-attention layers (`transformer.encoder.layers.i`: self_attn -> norm1 -> FFN -> norm2,
post-norm) with a sine position encoding plus a learned level embedding, then an FPN step adds res2
(`adapter_1`, `layer_1`) and `mask_features` gives the stride-4 per-pixel embeddings. Under autocast the
projections, FFNs and convolutions run in the autocast dtype; only the deformable sampling (locations, attention
weights, bilinear sampling) stays in float32, where it needs the precision (see MSDeformAttn).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Conv2d, PositionEmbeddingSine, ShapeSpec, get_norm
from ..ops import MSDeformAttn
from ..registry import PIXEL_DECODER_REGISTRY

__all__ = ["MSDeformAttnPixelDecoder", "build_pixel_decoder"]


class MSDeformAttnEncoderLayer(nn.Module):
    """Deformable self-attention + FFN, each with residual and post LayerNorm."""

    def __init__(
        self, d_model: int, d_ffn: int, n_levels: int, n_heads: int, n_points: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src, pos, reference_points, spatial_shapes):
        """src, pos (B, S, C); reference_points (B, S, L, 2) -> (B, S, C)."""
        src = self.norm1(src + self.dropout1(self.self_attn(src + pos, reference_points, src, spatial_shapes)))
        ffn = self.linear2(self.dropout2(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout3(ffn))


class MSDeformAttnEncoder(nn.Module):
    """`transformer` of Mask2Former's pixel decoder: level embedding + a stack of encoder layers."""

    def __init__(
        self,
        d_model: int,
        d_ffn: int,
        num_layers: int,
        n_levels: int,
        n_heads: int,
        n_points: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.level_embed = nn.Parameter(torch.empty(n_levels, d_model))
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(
            [MSDeformAttnEncoderLayer(d_model, d_ffn, n_levels, n_heads, n_points, dropout) for _ in range(num_layers)]
        )
        nn.init.normal_(self.level_embed)
        for layer in self.encoder.layers:
            for name, p in layer.named_parameters():
                if p.dim() > 1 and "self_attn" not in name:
                    nn.init.xavier_uniform_(p)

    @staticmethod
    def reference_points(spatial_shapes: List[Tuple[int, int]], batch: int, device, dtype) -> torch.Tensor:
        """Pixel centres of every level, normalised to [0, 1]: (B, S, L, 2)."""
        points = []
        for h, w in spatial_shapes:
            y, x = torch.meshgrid(
                torch.linspace(0.5, h - 0.5, h, device=device, dtype=dtype) / h,
                torch.linspace(0.5, w - 0.5, w, device=device, dtype=dtype) / w,
                indexing="ij",
            )
            points.append(torch.stack([x.reshape(-1), y.reshape(-1)], -1))
        ref = torch.cat(points, 0)
        return ref[None, :, None, :].expand(batch, -1, len(spatial_shapes), -1)

    def forward(self, features: List[torch.Tensor], positions: List[torch.Tensor]) -> Tuple[torch.Tensor, list]:
        """features, positions: per level (B, C, H_l, W_l) -> (memory (B, S, C), [(H_l, W_l)])."""
        shapes = [tuple(f.shape[-2:]) for f in features]
        src = torch.cat([f.flatten(2).transpose(1, 2) for f in features], 1)
        pos = torch.cat([(p.flatten(2).transpose(1, 2) + self.level_embed[i]) for i, p in enumerate(positions)], 1)
        # fp32 (fp64 for fp64 inputs) even under autocast: the sampling locations need the precision
        ref_dtype = torch.float64 if src.dtype == torch.float64 else torch.float32
        ref = self.reference_points(shapes, src.shape[0], src.device, ref_dtype)
        for layer in self.encoder.layers:
            src = layer(src, pos, ref, shapes)
        return src, shapes


@PIXEL_DECODER_REGISTRY.register()
class MSDeformAttnPixelDecoder(nn.Module):
    """Pixel decoder: deformable encoder over the `transformer_in_features`, FPN up to `common_stride`."""

    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        conv_dim: int = 256,
        mask_dim: int = 256,
        norm: str = "GN",
        transformer_in_features=("res3", "res4", "res5"),
        num_layers: int = 6,
        n_heads: int = 8,
        n_points: int = 4,
        dim_feedforward: int = 1024,
        common_stride: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        shapes = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
        self.in_features = [k for k, _ in shapes]
        # high to low resolution order reversed: input_proj.0 is the coarsest level (res5), as Mask2Former
        trans = sorted([(k, v) for k, v in shapes if k in transformer_in_features], key=lambda kv: -kv[1].stride)
        self.transformer_in_features = [k for k, _ in trans]
        self.input_proj = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(v.channels, conv_dim, 1), nn.GroupNorm(32, conv_dim)) for _, v in trans]
        )
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.constant_(proj[0].bias, 0)
        self.transformer = MSDeformAttnEncoder(
            conv_dim, dim_feedforward, num_layers, len(trans), n_heads, n_points, dropout
        )
        self.pe_layer = PositionEmbeddingSine(conv_dim // 2, normalize=True)
        self.mask_dim = mask_dim
        self.mask_features = nn.Conv2d(conv_dim, mask_dim, 1)
        nn.init.xavier_uniform_(self.mask_features.weight)
        nn.init.constant_(self.mask_features.bias, 0)
        min_trans_stride = min(v.stride for _, v in trans)
        self.fpn_features = [k for k, v in shapes if v.stride < min_trans_stride and v.stride >= common_stride]
        self.fpn_features.reverse()  # coarse to fine
        self.lateral_convs, self.output_convs = [], []
        for idx, name in enumerate(self.fpn_features):
            lateral = Conv2d(input_shape[name].channels, conv_dim, 1, bias=norm == "", norm=get_norm(norm, conv_dim))
            output = Conv2d(
                conv_dim, conv_dim, 3, padding=1, bias=norm == "", norm=get_norm(norm, conv_dim), activation=F.relu
            )
            for conv in (lateral, output):
                nn.init.kaiming_uniform_(conv.weight, a=1)
            self.add_module(f"adapter_{idx + 1}", lateral)
            self.add_module(f"layer_{idx + 1}", output)
            self.lateral_convs.append(lateral)
            self.output_convs.append(output)
        self.num_feature_levels = 3  # multi-scale features handed to the transformer decoder

    def forward_features(self, features: Dict[str, torch.Tensor]):
        """
        Args:
            features: backbone outputs {"res2": (B, C2, H/4, W/4), ...}.
        Returns:
            mask_features (B, mask_dim, H/4, W/4), encoder output at the coarsest level (B, C, H/32, W/32), and
            multi-scale features [(B, C, H/32, W/32), (B, C, H/16, W/16), (B, C, H/8, W/8)].
        """
        srcs, pos = [], []
        for proj, name in zip(self.input_proj, self.transformer_in_features):
            x = proj(features[name])
            srcs.append(x)
            pos.append(self.pe_layer(x))
        memory, shapes = self.transformer(srcs, pos)
        outs, start = [], 0
        for h, w in shapes:
            outs.append(memory[:, start : start + h * w].transpose(1, 2).reshape(memory.shape[0], -1, h, w))
            start += h * w
        for name, lateral, output in zip(self.fpn_features, self.lateral_convs, self.output_convs):
            y = lateral(features[name])
            y = y + F.interpolate(outs[-1], size=y.shape[-2:], mode="bilinear", align_corners=False)
            outs.append(output(y))
        multi_scale = outs[: self.num_feature_levels]
        return self.mask_features(outs[-1]), outs[0], multi_scale


def build_pixel_decoder(cfg, input_shape: Dict[str, ShapeSpec]) -> nn.Module:
    """The pixel decoder named by MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME, from MODEL.SEM_SEG_HEAD.*."""
    h = cfg.MODEL.SEM_SEG_HEAD
    name = h.PIXEL_DECODER_NAME
    try:
        cls = PIXEL_DECODER_REGISTRY.get(name)
    except KeyError:
        raise KeyError(f"MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME: unknown pixel decoder {name!r}") from None
    shapes = {k: v for k, v in input_shape.items() if k in h.IN_FEATURES}
    return cls(
        shapes,
        conv_dim=h.CONVS_DIM,
        mask_dim=h.MASK_DIM,
        norm=h.NORM,
        transformer_in_features=h.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES,
        num_layers=h.TRANSFORMER_ENC_LAYERS,
        n_heads=h.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS,
        n_points=h.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS,
        dim_feedforward=h.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD,
        common_stride=h.COMMON_STRIDE,
    )
