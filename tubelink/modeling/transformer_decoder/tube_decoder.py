"""The tube transformer decoder: Mask2Former's masked-attention decoder over a subclip of n frames.

Global entity queries (things and stuff) attend to the n·h·w tokens of the subclip at one of three scales per
layer (cycling 1/32, 1/16, 1/8), masked by the previous prediction's tube mask (a token is blocked where the
predicted probability is below 0.5; a query that would see nothing sees everything). Keys carry a 3-D sine
encoding (space + time). After every layer one class per tube and one mask per frame are predicted (deep
supervision). Parameter names are Mask2Former's `sem_seg_head.predictor.*`, so COCO checkpoints load.
"""

from __future__ import annotations

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import PositionEmbeddingSine3D
from ..layers.transformer import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from ..registry import TRANSFORMER_DECODER_REGISTRY

__all__ = ["TubeTransformerDecoder", "build_transformer_decoder"]


@TRANSFORMER_DECODER_REGISTRY.register()
class TubeTransformerDecoder(nn.Module):
    """Masked-attention transformer decoder predicting tubes (see the module docstring)."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden_dim: int = 256,
        num_queries: int = 100,
        nheads: int = 8,
        dim_feedforward: int = 2048,
        dec_layers: int = 9,
        mask_dim: int = 256,
        enforce_input_project: bool = False,
        normalize_time: bool = True,
        init: str = "xavier",
    ) -> None:
        """dec_layers: number of decoder layers (Mask2Former's DEC_LAYERS - 1); init: "xavier" (Mask2Former and the
        original: xavier on every weight matrix of the attention and FFN layers) or "pytorch" (PyTorch's defaults)."""
        super().__init__()
        self.pe_layer = PositionEmbeddingSine3D(hidden_dim // 2, normalize=True, normalize_time=normalize_time)
        self.num_heads = nheads
        self.num_layers = dec_layers
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_dim, nheads) for _ in range(dec_layers)
        )
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(hidden_dim, nheads) for _ in range(dec_layers)
        )
        self.transformer_ffn_layers = nn.ModuleList(FFNLayer(hidden_dim, dim_feedforward) for _ in range(dec_layers))
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.num_queries = num_queries
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.num_feature_levels = 3
        self.level_embed = nn.Embedding(self.num_feature_levels, hidden_dim)
        self.input_proj = nn.ModuleList()
        for _ in range(self.num_feature_levels):
            if in_channels != hidden_dim or enforce_input_project:
                proj = nn.Conv2d(in_channels, hidden_dim, 1)
                nn.init.kaiming_uniform_(proj.weight, a=1)
                nn.init.constant_(proj.bias, 0)
                self.input_proj.append(proj)
            else:
                self.input_proj.append(nn.Sequential())
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)
        if init not in ("xavier", "pytorch"):
            raise ValueError(f"MODEL.MASK_FORMER.DECODER_INIT must be 'xavier' or 'pytorch', got {init!r}")
        if init == "xavier":
            self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Mask2Former's initialisation of the decoder layers: xavier-uniform on every weight matrix of the attention
        and FFN layers (the original's mmdet port uses xavier-normal, the same variance)."""
        for layers in (
            self.transformer_self_attention_layers,
            self.transformer_cross_attention_layers,
            self.transformer_ffn_layers,
        ):
            for p in layers.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)

    def forward(
        self, multi_scale_features: List[torch.Tensor], mask_features: torch.Tensor, num_frames: int
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            multi_scale_features: 3 levels (B*n, C, h_l, w_l), coarse to fine, frames of a clip consecutive.
            mask_features: (B*n, mask_dim, H/4, W/4).
            num_frames: n, frames per subclip (any n >= 1).
        Returns:
            {"pred_logits": (B, Q, C+1), "pred_masks": (B, Q, n, H/4, W/4), "pred_queries": (B, Q, D) last-layer
             queries before the final norm, "aux_outputs": [{"pred_logits", "pred_masks"}] for the initial
             prediction and every layer but the last} in training; in eval mode the last layer's "pred_logits",
             "pred_masks" and "pred_queries" only (no deep supervision, no attention mask after the last layer).
        """
        bn = mask_features.shape[0]
        if bn % num_frames:
            raise ValueError(f"{bn} frames cannot be split into subclips of {num_frames}")
        b = bn // num_frames
        srcs, poss, sizes = [], [], []
        for level, x in enumerate(multi_scale_features):
            h, w = x.shape[-2:]
            sizes.append((h, w))
            pos = self.pe_layer.forward_tube(num_frames, x)  # (B*n, C, h, w)
            src = self.input_proj[level](x) + self.level_embed.weight[level][None, :, None, None]
            # time-major tokens of a subclip: frame 0's pixels, then frame 1's, ...
            srcs.append(src.view(b, num_frames, -1, h * w).permute(0, 1, 3, 2).reshape(b, num_frames * h * w, -1))
            poss.append(pos.view(b, num_frames, -1, h * w).permute(0, 1, 3, 2).reshape(b, num_frames * h * w, -1))
        mask_features = mask_features.view(b, num_frames, *mask_features.shape[1:])
        query_pos = self.query_embed.weight[None].expand(b, -1, -1)
        output = self.query_feat.weight[None].expand(b, -1, -1)
        if not self.training:
            return self._forward_inference(output, query_pos, srcs, poss, sizes, mask_features)
        predictions = []
        logits, masks, attn_mask = self._heads(output, mask_features, sizes[0])
        predictions.append((logits, masks))
        for i in range(self.num_layers):
            level = i % self.num_feature_levels
            attn_mask = attn_mask & ~attn_mask.all(-1, keepdim=True)  # a query that would see nothing sees everything
            output = self.transformer_cross_attention_layers[i](output, srcs[level], attn_mask, poss[level], query_pos)
            output = self.transformer_self_attention_layers[i](output, query_pos)
            output = self.transformer_ffn_layers[i](output)
            logits, masks, attn_mask = self._heads(output, mask_features, sizes[(i + 1) % self.num_feature_levels])
            predictions.append((logits, masks))
        return {
            "pred_logits": predictions[-1][0],
            "pred_masks": predictions[-1][1],
            "pred_queries": output,
            "aux_outputs": [{"pred_logits": a, "pred_masks": m} for a, m in predictions[:-1]],
        }

    def _forward_inference(self, output, query_pos, srcs, poss, sizes, mask_features) -> Dict[str, torch.Tensor]:
        """Only what inference needs: the attention masks, at the attention sizes, and the last layer's prediction."""
        # Mask logits are linear in the mask features, and so is bilinear resizing: resizing the features once per
        # attention size gives the logits at that size without computing them at 1/4 resolution in every layer.
        b, n, c = mask_features.shape[:3]
        small_features = {
            size: F.interpolate(mask_features.flatten(0, 1).float(), size=size, mode="bilinear", align_corners=False)
            .view(b, n, c, *size)
            .to(mask_features.dtype)
            for size in set(sizes)
        }
        attn_mask = self._attention_mask(self.decoder_norm(output), small_features[sizes[0]])
        for i in range(self.num_layers):
            level = i % self.num_feature_levels
            output = self.transformer_cross_attention_layers[i](output, srcs[level], attn_mask, poss[level], query_pos)
            output = self.transformer_self_attention_layers[i](output, query_pos)
            output = self.transformer_ffn_layers[i](output)
            if i + 1 < self.num_layers:  # no layer reads the mask after the last one
                size = sizes[(i + 1) % self.num_feature_levels]
                attn_mask = self._attention_mask(self.decoder_norm(output), small_features[size])
        decoded = self.decoder_norm(output)
        return {
            "pred_logits": self.class_embed(decoded),
            "pred_masks": torch.einsum("bqc,btchw->bqthw", self.mask_embed(decoded), mask_features),
            "pred_queries": output,
        }

    def _attention_mask(self, decoded: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(B, Q, n*h*w) True = blocked, shared by every head: mask probability below 0.5 at the features' size;
        a query that would see nothing sees everything."""
        logits = torch.einsum("bqc,btchw->bqthw", self.mask_embed(decoded), features)
        blocked = logits.flatten(2).float().sigmoid() < 0.5
        return blocked & ~blocked.all(-1, keepdim=True)

    def _heads(self, output: torch.Tensor, mask_features: torch.Tensor, attn_size):
        """Class logits (B, Q, C+1), tube mask logits (B, Q, n, H, W) and the next attention mask
        (B, Q, n*h*w), shared by every head, blocked where the mask probability at the next level's size is below
        0.5."""
        decoded = self.decoder_norm(output)
        logits = self.class_embed(decoded)
        masks = torch.einsum("bqc,btchw->bqthw", self.mask_embed(decoded), mask_features)
        b, q, n, h, w = masks.shape
        small = F.interpolate(
            masks.detach().flatten(1, 2).float(), size=attn_size, mode="bilinear", align_corners=False
        )
        blocked = small.view(b, q, n * attn_size[0] * attn_size[1]).sigmoid() < 0.5
        return logits, masks, blocked


def build_transformer_decoder(cfg, in_channels: int) -> nn.Module:
    """The decoder named by MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME, from MODEL.MASK_FORMER.*."""
    m = cfg.MODEL.MASK_FORMER
    name = m.TRANSFORMER_DECODER_NAME
    try:
        cls = TRANSFORMER_DECODER_REGISTRY.get(name)
    except KeyError:
        raise KeyError(f"MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME: unknown decoder {name!r}") from None
    if m.DEC_LAYERS < 1:
        raise ValueError("MODEL.MASK_FORMER.DEC_LAYERS must be >= 1 (it counts the initial prediction)")
    return cls(
        in_channels,
        cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
        m.HIDDEN_DIM,
        m.NUM_OBJECT_QUERIES,
        m.NHEADS,
        m.DIM_FEEDFORWARD,
        m.DEC_LAYERS - 1,
        cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
        m.ENFORCE_INPUT_PROJ,
        cfg.MODEL.TUBE_LINK.POSITION_ENCODING_TIME_NORMALIZE,
        m.DECODER_INIT,
    )
