"""The TubeLink meta-architecture: orchestration only (normalise -> backbone -> heads -> criterion or predictions).

Training input: a list of clip dicts from `tubelink.data.mappers.TubeClipMapper` (NUM_SUBCLIPS subclips of n
frames each). Every subclip is segmented as one tube set (shared weights). Association (when TCL is on): each subclip's
queries attend to (cross-tube link, eq. 4) the raw queries of the subclip before it -- the first subclip of a clip,
like the first subclip of a video at test time, is not linked -- and the association embeddings Emb(linked queries)
of neighbouring subclips are contrasted (TCL). `TubeLinkCriterion` computes every loss.

Inference input: [{"image": uint8 (n, 3, H, W), optional "prev_queries": (Q, D) the previous subclip's
"pred_queries"}] -> [{"pred_logits": (Q, C+1), "pred_masks": `TubeMaskLogits` (Q, n, H, W) logits at input size,
computed for the queries post-processing selects (`pred_masks[idx]`, `.resized(size)`), "pred_queries":
(Q, D) what the next subclip links to (the raw decoder queries; the linked ones with LINK.TEST_PREVIOUS "linked"),
"pred_embeds": (Q, E) association features: Emb(queries linked to "prev_queries"), or the raw queries when TCL did not
train the link and embedding heads}].

Both directions follow one rule, `_link`: the current subclip's queries attend to the previous subclip's raw queries.
LINK.TRAIN_DIRECTION "earlier_attends_later", LINK.TEST_PREVIOUS "linked" and LINK.TEST_MODE "per_index" reproduce
the original code (training links the earlier subclip to the later one; at test the previous subclip's already linked
queries are attended to, query i seeing only query i).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...data.catalog import MetadataCatalog
from ..backbone import build_backbone
from ...utils.events import put_scalars
from ..criterion import TubeLinkCriterion, TubeSetCriterion
from ..heads import CrossTubeLink, TubeLinkHead, build_embed_head
from ..mask_logits import TubeMaskLogits
from ..matcher import TubeHungarianMatcher
from ..registry import META_ARCH_REGISTRY
from ..tcl import TemporalContrastiveLoss

__all__ = ["TubeLink", "resolve_task"]

TASK_OF_EVALUATOR = {"vps": "vps", "step": "vps", "ytvis": "vis", "vss": "vss"}
TRAIN_DIRECTIONS = ("later_attends_earlier", "earlier_attends_later")
TEST_PREVIOUS = ("raw", "linked")


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
        self.link_head = CrossTubeLink(mf.HIDDEN_DIM, tl.LINK.NHEADS, tl.LINK.DIM_FEEDFORWARD)
        self.embed_head = build_embed_head(cfg)
        self.task = resolve_task(cfg)
        # The link and embedding heads learn only from TCL: without it they stay random and are not used.
        self.tcl_enabled = tl.TCL.ENABLED and self.task != "vss"
        self.link_enabled = tl.LINK.ENABLED and self.tcl_enabled
        for key, value, allowed in (
            ("LINK.TEST_MODE", tl.LINK.TEST_MODE, ("cross_attention", "per_index")),
            ("LINK.TRAIN_DIRECTION", tl.LINK.TRAIN_DIRECTION, TRAIN_DIRECTIONS),
            ("LINK.TEST_PREVIOUS", tl.LINK.TEST_PREVIOUS, TEST_PREVIOUS),
        ):
            if value not in allowed:
                raise ValueError(f"MODEL.TUBE_LINK.{key} must be one of {allowed}, got {value!r}")
        self.link_test_mode = tl.LINK.TEST_MODE
        self.link_train_direction = tl.LINK.TRAIN_DIRECTION
        self.link_test_previous = tl.LINK.TEST_PREVIOUS
        matcher = TubeHungarianMatcher(mf.CLASS_WEIGHT, mf.MASK_WEIGHT, mf.DICE_WEIGHT, mf.TRAIN_NUM_POINTS)
        segmentation = TubeSetCriterion(
            cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            matcher,
            {"loss_ce": mf.CLASS_WEIGHT, "loss_mask": mf.MASK_WEIGHT, "loss_dice": mf.DICE_WEIGHT},
            mf.NO_OBJECT_WEIGHT,
            mf.TRAIN_NUM_POINTS,
            mf.OVERSAMPLE_RATIO,
            mf.IMPORTANCE_SAMPLE_RATIO,
            mf.DEEP_SUPERVISION,
        )
        self.criterion = TubeLinkCriterion(
            segmentation,
            TemporalContrastiveLoss.from_config(cfg) if self.tcl_enabled else None,
            tl.TCL.WEIGHT,
            tl.TCL.AUX_WEIGHT,
            tl.SEGMENTATION_LOSS_NORM,
        )
        self.frames_per_forward = cfg.TEST.FRAMES_PER_FORWARD
        if self.frames_per_forward < 0:
            raise ValueError(f"TEST.FRAMES_PER_FORWARD must be >= 0 (0: whole subclips), got {self.frames_per_forward}")
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

    def _segment(self, images: torch.Tensor, num_frames: int, chunk: int = 0) -> Dict:
        """Backbone and pixel decoder per frame, on chunks of `chunk` frames (0: all at once), then the tube decoder
        over subclips of `num_frames`. On a CPU a batch of 6 frames runs slower per frame than chunks of 2 (the
        deformable-attention buffers leave the caches); the tube decoder still sees whole subclips."""
        chunk = chunk or len(images)
        head = self.sem_seg_head
        parts = [head.decode_pixels(self.backbone(images[i : i + chunk])) for i in range(0, len(images), chunk)]
        if len(parts) == 1:
            return head.decode_tubes(*parts[0], num_frames)
        mask_features = torch.cat([p[0] for p in parts])
        multi_scale = [torch.cat([p[1][level] for p in parts]) for level in range(len(parts[0][1]))]
        return head.decode_tubes(mask_features, multi_scale, num_frames)

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
                    "is_thing": sub["is_thing"],
                }
            )
        return targets

    def _forward_train(self, clips: List[dict]) -> Dict[str, torch.Tensor]:
        num_subclips = len(clips[0]["subclips"])
        n = clips[0]["image"].shape[0] // num_subclips
        images, _ = self._images(torch.cat([c["image"] for c in clips]))  # (B*S*n, 3, H', W')
        outputs = self._segment(images, n)  # B*S subclips, clip-major
        targets = [t for c in clips for t in self._targets(c, images.shape[-2:])]
        embeds, pairs = None, []
        if self.tcl_enabled and num_subclips > 1:
            embeds, pairs = self._train_association(outputs["pred_queries"], len(clips), num_subclips)
        losses, scalars = self.criterion(outputs, targets, num_subclips, embeds, pairs)
        put_scalars(**scalars)
        return losses

    def _train_partner(self, k: int, num_subclips: int) -> Optional[int]:
        """The subclip whose queries subclip k's queries attend to in training (None: k is not linked)."""
        j = k - 1 if self.link_train_direction == "later_attends_earlier" else k + 1
        return j if self.link_enabled and 0 <= j < num_subclips else None

    def _train_association(self, queries: torch.Tensor, batch: int, num_subclips: int):
        """Embeddings (B*S, Q, E) of every subclip's (linked) queries and the TCL pairs (key row, reference row): the
        key is the linked subclip of a neighbouring pair (eq. 2's rows), or the later one without the link."""
        rows, partners = [], []
        for b in range(batch):
            for k in range(num_subclips):
                j = self._train_partner(k, num_subclips)
                if j is not None:
                    rows.append(b * num_subclips + k)
                    partners.append(b * num_subclips + j)
        linked = queries
        if rows:
            linked = queries.clone()
            linked[rows] = self.link_head(queries[rows], queries[partners])
        pairs = []
        for b in range(batch):
            for k in range(num_subclips - 1):
                earlier, later = b * num_subclips + k, b * num_subclips + k + 1
                earlier_linked = self._train_partner(k, num_subclips) == k + 1
                pairs.append((earlier, later) if earlier_linked else (later, earlier))
        return self.embed_head(linked), pairs

    def _link(self, queries: torch.Tensor, previous: Optional[torch.Tensor]) -> torch.Tensor:
        """Test time: (Q, D) queries of the current subclip linked to the previous subclip's (Q', D) queries (eq. 4);
        unchanged for a video's first subclip or without the link."""
        if previous is None or not self.link_enabled:
            return queries
        previous = previous.to(queries)
        if self.link_test_mode == "per_index":  # the original: every query its own batch element, sees one query
            return self.link_head(queries[:, None], previous[:, None])[:, 0]
        return self.link_head(queries[None], previous[None])[0]

    @torch.no_grad()
    def _forward_inference(self, inputs: List[dict]) -> List[Dict[str, torch.Tensor]]:
        results = []
        for item in inputs:  # subclips of different videos may differ in size and length
            n = item["image"].shape[0]
            images, (h, w) = self._images(item["image"])
            out = self._segment(images, n, self.frames_per_forward)
            # upsampled only for the queries post-processing selects (TubeMaskLogits), not all Q x n
            masks = TubeMaskLogits(out["pred_masks"][0], images.shape[-2:], (h, w))
            queries = out["pred_queries"][0]
            linked = self._link(queries, item.get("prev_queries"))
            results.append(
                {
                    "pred_logits": out["pred_logits"][0],
                    "pred_masks": masks,
                    "pred_queries": linked if self.link_test_previous == "linked" else queries,
                    "pred_embeds": self.embed_head(linked) if self.tcl_enabled else queries,
                }
            )
        return results
