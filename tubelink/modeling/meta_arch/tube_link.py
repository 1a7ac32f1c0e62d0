"""The TubeLink meta-architecture: orchestration only (normalise -> backbone -> heads -> losses or predictions).

Training input: a list of clip dicts from `tubelink.data.mappers.TubeClipMapper` (NUM_SUBCLIPS subclips of n
frames each). Every subclip is segmented as one tube set (shared weights); each neighbouring pair (k, k+1) also
gets temporal contrastive learning: subclip k's queries are linked to subclip k+1's (cross-tube link) and the
association embeddings of both are pulled together for the same entity and apart otherwise.

Inference input: [{"image": uint8 (n, 3, H, W), optional "prev_queries": (Q, D) linked queries of the previous
subclip of the same video}] -> [{"pred_logits": (Q, C+1), "pred_masks": (Q, n, H, W) logits at input size,
"pred_queries": (Q, D) (linked to the previous subclip when given), "pred_embeds": (Q, E)}].
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...data.catalog import MetadataCatalog
from ..backbone import build_backbone
from ..criterion import TubeSetCriterion
from ..heads import CrossTubeLink, TubeEmbeddingHead, TubeLinkHead
from ..matcher import TubeHungarianMatcher
from ..registry import META_ARCH_REGISTRY
from ..tcl import assign_queries_by_iou, assign_queries_by_matching, tcl_losses

__all__ = ["TubeLink", "resolve_task"]

TASK_OF_EVALUATOR = {"vps": "vps", "step": "vps", "ytvis": "vis", "vss": "vss"}


def resolve_task(cfg) -> str:
    """MODEL.TUBE_LINK.TASK, or the task of the first training dataset's evaluator type."""
    if cfg.MODEL.TUBE_LINK.TASK:
        if cfg.MODEL.TUBE_LINK.TASK not in ("vps", "vis", "vss"):
            raise ValueError(f"MODEL.TUBE_LINK.TASK must be vps, vis or vss, got {cfg.MODEL.TUBE_LINK.TASK!r}")
        return cfg.MODEL.TUBE_LINK.TASK
    if cfg.DATASETS.TRAIN:
        return TASK_OF_EVALUATOR.get(MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).get("evaluator_type"), "vps")
    return "vps"


@META_ARCH_REGISTRY.register()
class TubeLink(nn.Module):
    """Tube-Link: tube segmentation per subclip + cross-tube linking + temporal contrastive association."""

    def __init__(self, cfg) -> None:
        super().__init__()
        mf, tl = cfg.MODEL.MASK_FORMER, cfg.MODEL.TUBE_LINK
        self.backbone = build_backbone(cfg)
        self.sem_seg_head = TubeLinkHead(cfg, self.backbone.output_shape())
        hidden = mf.HIDDEN_DIM
        self.link_head = CrossTubeLink(hidden, tl.LINK.NHEADS, tl.LINK.DIM_FEEDFORWARD)
        self.embed_head = TubeEmbeddingHead(hidden, tl.EMBED.DIM, tl.EMBED.NUM_FCS)
        matcher = TubeHungarianMatcher(mf.CLASS_WEIGHT, mf.MASK_WEIGHT, mf.DICE_WEIGHT, mf.TRAIN_NUM_POINTS)
        weights = {"loss_ce": mf.CLASS_WEIGHT, "loss_mask": mf.MASK_WEIGHT, "loss_dice": mf.DICE_WEIGHT}
        self.criterion = TubeSetCriterion(
            cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            matcher,
            weights,
            mf.NO_OBJECT_WEIGHT,
            mf.TRAIN_NUM_POINTS,
            mf.OVERSAMPLE_RATIO,
            mf.IMPORTANCE_SAMPLE_RATIO,
        )
        self.deep_supervision = mf.DEEP_SUPERVISION
        self.task = resolve_task(cfg)
        self.tracking_losses = tl.TCL.ENABLED and self.task != "vss"
        self.link_enabled = tl.LINK.ENABLED
        if tl.LINK.TEST_MODE not in ("cross_attention", "per_index"):
            raise ValueError(
                f"MODEL.TUBE_LINK.LINK.TEST_MODE must be 'cross_attention' or 'per_index', got {tl.LINK.TEST_MODE!r}"
            )
        self.link_test_mode = tl.LINK.TEST_MODE
        self.tcl_cfg = tl.TCL
        self.frames_per_subclip = tl.NUM_FRAMES
        self.size_divisibility = max(mf.SIZE_DIVISIBILITY, self.backbone.size_divisibility)
        self.register_buffer("pixel_mean", torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.MODEL.PIXEL_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def _images(self, frames: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """uint8 (N, 3, H, W) -> normalised float (N, 3, H', W') padded to the size divisibility, and (H, W)."""
        h, w = frames.shape[-2:]
        x = (frames.to(self.device).float() - self.pixel_mean) / self.pixel_std
        d = self.size_divisibility
        x = F.pad(x, (0, (d - w % d) % d, 0, (d - h % d) % d))
        return x, (h, w)

    def _segment(self, images: torch.Tensor, num_frames: int) -> Dict:
        features = self.backbone(images)
        return self.sem_seg_head(features, num_frames)

    def forward(self, batched_inputs: List[dict]):
        """Loss dict in training, per-subclip predictions in inference (see the module docstring)."""
        if self.training:
            return self._forward_train(batched_inputs)
        return self._forward_inference(batched_inputs)

    def _targets(self, clip: dict, padded: Tuple[int, int]) -> List[Dict[str, torch.Tensor]]:
        targets = []
        for sub in clip["subclips"]:
            h, w = sub["ignore"].shape[-2:]
            pad = (0, padded[1] - w, 0, padded[0] - h)
            targets.append(
                {
                    "labels": sub["classes"].to(self.device),
                    "masks": F.pad(sub["masks"].to(self.device), pad),
                    "ignore": F.pad(sub["ignore"].to(self.device), pad, value=True),
                    "track_ids": sub["track_ids"],
                }
            )
        return targets

    def _forward_train(self, clips: List[dict]) -> Dict[str, torch.Tensor]:
        num_subclips = len(clips[0]["subclips"])
        n = clips[0]["image"].shape[0] // num_subclips
        images, _ = self._images(torch.cat([c["image"] for c in clips]))  # (B*S*n, 3, H', W')
        outputs = self._segment(images, n)  # B*S subclips
        if not self.deep_supervision:
            outputs = {k: v for k, v in outputs.items() if k != "aux_outputs"}
        targets = [t for c in clips for t in self._targets(c, images.shape[-2:])]
        losses = self.criterion(outputs, targets)
        weighted = {
            k: v * self.criterion.weight_dict[k.rsplit("_", 1)[0] if k[-1].isdigit() else k] for k, v in losses.items()
        }
        if self.tracking_losses and num_subclips > 1:
            weighted.update(self._tcl(outputs, targets, len(clips), num_subclips))
        return weighted

    def _tcl(self, outputs: Dict, targets: List[Dict], batch: int, num_subclips: int) -> Dict[str, torch.Tensor]:
        """Temporal contrastive losses over neighbouring subclips of every clip (averaged over pairs)."""
        queries, masks = outputs["pred_queries"], outputs["pred_masks"]
        sums = {"loss_tcl": 0.0, "loss_tcl_aux": 0.0}
        pairs = 0
        for b in range(batch):
            for k in range(num_subclips - 1):
                i, j = b * num_subclips + k, b * num_subclips + k + 1
                key = self.link_head(queries[i][None], queries[j][None])[0] if self.link_enabled else queries[i]
                emb_key, emb_ref = self.embed_head(key), self.embed_head(queries[j])
                assign = [self._assign(masks[x], targets[x], x) for x in (i, j)]
                losses = tcl_losses(
                    emb_key,
                    emb_ref,
                    assign[0],
                    targets[i]["track_ids"],
                    assign[1],
                    targets[j]["track_ids"],
                    self.tcl_cfg.AUX_NEG_MARGIN,
                    self.tcl_cfg.AUX_HARD_NEG_RATIO,
                )
                for name in sums:
                    sums[name] = sums[name] + losses[name]
                pairs += 1
        return {
            "loss_tcl": sums["loss_tcl"] / pairs * self.tcl_cfg.WEIGHT,
            "loss_tcl_aux": sums["loss_tcl_aux"] / pairs * self.tcl_cfg.AUX_WEIGHT,
        }

    def _assign(self, masks: torch.Tensor, target: Dict, index: int) -> torch.Tensor:
        if self.tcl_cfg.ASSIGNMENT == "iou":
            return assign_queries_by_iou(masks, target["masks"], self.tcl_cfg.POS_IOU, self.tcl_cfg.NEG_IOU)
        if self.tcl_cfg.ASSIGNMENT == "hungarian":
            q_idx, g_idx = self.criterion.last_indices[index]
            return assign_queries_by_matching(masks.shape[0], q_idx, g_idx)
        raise ValueError(
            f"MODEL.TUBE_LINK.TCL.ASSIGNMENT must be 'iou' or 'hungarian', got {self.tcl_cfg.ASSIGNMENT!r}"
        )

    @torch.no_grad()
    def _forward_inference(self, inputs: List[dict]) -> List[Dict[str, torch.Tensor]]:
        results = []
        for item in inputs:  # subclips of different videos may differ in size and length
            n = item["image"].shape[0]
            images, (h, w) = self._images(item["image"])
            out = self._segment(images, n)
            masks = F.interpolate(
                out["pred_masks"][0].float(), size=images.shape[-2:], mode="bilinear", align_corners=False
            )[..., :h, :w]
            queries = out["pred_queries"][0]
            prev = item.get("prev_queries")
            if prev is not None and self.link_enabled:
                prev = prev.to(queries)
                if self.link_test_mode == "per_index":  # every query its own batch element: attends to one query
                    queries = self.link_head(queries[:, None], prev[:, None])[:, 0]
                else:
                    queries = self.link_head(queries[None], prev[None])[0]
            results.append(
                {
                    "pred_logits": out["pred_logits"][0],
                    "pred_masks": masks,
                    "pred_queries": queries,
                    "pred_embeds": self.embed_head(queries),
                }
            )
        return results
