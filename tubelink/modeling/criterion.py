"""Every training loss of Tube-Link: the tube set criterion (segmentation) and the full criterion (+ TCL).

`TubeSetCriterion(outputs, targets) -> (weighted losses, matching)`: Hungarian-matched class, mask BCE and dice
losses of a set of subclips normalised together, names `loss_ce`, `loss_mask`, `loss_dice` for the last prediction
and `loss_*_{i}` for aux prediction i (deep supervision, each layer with the same weights, as Mask2Former and the
original), already multiplied by their weights.
`TubeLinkCriterion(outputs, targets, num_subclips, embeds, pairs) -> (weighted losses, scalars)`: the segmentation
losses of each subclip normalised on their own and summed over the subclips of a clip (as the original code; or all
subclips normalised together), plus
temporal contrastive learning between the given subclip pairs on the last layer's matching; `scalars` are counts to
log (TCL positive / negative pairs), not losses.
targets[b] = {"labels": int64 (G,), "masks": bool (G, n, H, W), "ignore": optional bool (n, H, W), "is_thing": bool
(G,), "track_ids": int64 (G,)}.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import comm
from .losses import dice_loss, sigmoid_ce_loss
from .matcher import TubeHungarianMatcher
from .point_sampling import point_sample, tube_to_long_image, uncertain_point_coords
from .tcl import TemporalContrastiveLoss

__all__ = ["TubeSetCriterion", "TubeLinkCriterion", "select_subclips", "NORMALIZATIONS"]

NORMALIZATIONS = ("per_subclip", "joint")


class TubeSetCriterion(nn.Module):
    """See the module docstring. `empty_weight` is derived from the config, so it is not saved in checkpoints."""

    def __init__(
        self,
        num_classes: int,
        matcher: TubeHungarianMatcher,
        weight_dict: Dict[str, float],
        eos_coef: float = 0.1,
        num_points: int = 12544,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
        deep_supervision: bool = True,
    ) -> None:
        """weight_dict: {"loss_ce", "loss_mask", "loss_dice"} weights, also applied to every aux prediction."""
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = weight_dict
        self.num_points, self.oversample_ratio, self.importance_sample_ratio = (
            num_points,
            oversample_ratio,
            importance_sample_ratio,
        )
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight, persistent=False)
        self.deep_supervision = deep_supervision

    def _loss_labels(self, logits, targets, indices) -> torch.Tensor:
        target_classes = torch.full(logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device)
        for b, (src, tgt) in enumerate(indices):
            target_classes[b, src] = targets[b]["labels"][tgt]
        return F.cross_entropy(logits.float().transpose(1, 2), target_classes, self.empty_weight)

    def _loss_masks(self, masks, targets, indices, num_masks) -> Dict[str, torch.Tensor]:
        src = torch.cat([masks[b, s] for b, (s, _) in enumerate(indices)])  # (K, n, h, w)
        if src.shape[0] == 0:
            zero = masks.sum() * 0
            return {"loss_mask": zero, "loss_dice": zero}
        tgt = torch.cat([targets[b]["masks"][t] for b, (_, t) in enumerate(indices)]).float()  # (K, n, H, W)
        src_long = tube_to_long_image(src.float())
        with torch.no_grad():
            coords = uncertain_point_coords(
                src_long, self.num_points, self.oversample_ratio, self.importance_sample_ratio
            )
            point_labels = point_sample(tube_to_long_image(tgt), coords)[:, 0]
            weights = None
            if all("ignore" in t for t in targets):
                ignore = torch.cat(
                    [targets[b]["ignore"][None].expand(len(t), -1, -1, -1) for b, (_, t) in enumerate(indices)]
                ).float()
                weights = point_sample(tube_to_long_image(ignore), coords)[:, 0] < 0.5
        point_logits = point_sample(src_long, coords)[:, 0]
        return {
            "loss_mask": sigmoid_ce_loss(point_logits, point_labels, num_masks, weights),
            "loss_dice": dice_loss(point_logits, point_labels, num_masks, weights),
        }

    def _losses(self, outputs, targets, indices, num_masks) -> Dict[str, torch.Tensor]:
        """Weighted losses of one prediction (the last or an aux one)."""
        losses = {"loss_ce": self._loss_labels(outputs["pred_logits"], targets, indices)}
        losses.update(self._loss_masks(outputs["pred_masks"], targets, indices, num_masks))
        return {k: v * self.weight_dict[k] for k, v in losses.items()}

    def forward(
        self, outputs: Dict, targets: List[Dict[str, torch.Tensor]]
    ) -> Tuple[Dict[str, torch.Tensor], List[Tuple[torch.Tensor, torch.Tensor]]]:
        """outputs: the tube decoder's dict (pred_logits (B, Q, C+1), pred_masks (B, Q, n, h, w), aux_outputs) of B
        subclips normalised together -> (weighted losses, the last prediction's matching per subclip)."""
        num_masks = float(sum(len(t["labels"]) for t in targets))
        num_masks = max(comm.reduce_sum_scalar(num_masks) / comm.get_world_size(), 1.0)
        indices = self.matcher(outputs, targets)
        losses = self._losses(outputs, targets, indices, num_masks)
        if self.deep_supervision:
            for i, aux in enumerate(outputs.get("aux_outputs", [])):
                aux_losses = self._losses(aux, targets, self.matcher(aux, targets), num_masks)
                losses.update({f"{k}_{i}": v for k, v in aux_losses.items()})
        return losses, indices


def select_subclips(outputs: Dict, rows: Sequence[int]) -> Dict:
    """The decoder outputs (and aux outputs) of the subclips `rows` (indices into the batch dimension)."""
    index = torch.as_tensor(list(rows), device=outputs["pred_logits"].device)
    out = {k: v.index_select(0, index) for k, v in outputs.items() if isinstance(v, torch.Tensor)}
    if "aux_outputs" in outputs:
        out["aux_outputs"] = [select_subclips(aux, rows) for aux in outputs["aux_outputs"]]
    return out


class TubeLinkCriterion(nn.Module):
    """Segmentation losses per subclip + temporal contrastive losses, weighted (see the module docstring)."""

    def __init__(
        self,
        segmentation: TubeSetCriterion,
        tcl: Optional[TemporalContrastiveLoss] = None,
        tcl_weight: float = 0.25,
        tcl_aux_weight: float = 1.0,
        normalization: str = "per_subclip",
    ) -> None:
        """tcl: None trains without association losses; tcl_weight / tcl_aux_weight: weights of eqs. 2 and 3;
        normalization: "per_subclip" (the original: each subclip's segmentation losses normalised on their own, then
        summed) or "joint" (all subclips of the batch normalised together)."""
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"MODEL.TUBE_LINK.SEGMENTATION_LOSS_NORM must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        self.normalization = normalization
        self.segmentation = segmentation
        self.tcl = tcl
        self.tcl_weight, self.tcl_aux_weight = tcl_weight, tcl_aux_weight

    def forward(
        self,
        outputs: Dict,
        targets: List[Dict[str, torch.Tensor]],
        num_subclips: int,
        embeds: Optional[torch.Tensor] = None,
        pairs: Sequence[Tuple[int, int]] = (),
    ) -> Tuple[Dict[str, torch.Tensor], Dict[str, float]]:
        """
        Args:
            outputs: decoder outputs of B*S subclips, clip-major (subclip k of clip b at row b*S + k).
            targets: B*S subclip targets in the same order; num_subclips: S.
            embeds: (B*S, Q, E) association embeddings of every query (needed when TCL is on and pairs are given).
            pairs: (key row, reference row) subclip pairs for TCL; key queries are the rows of eq. 2.
        Returns:
            weighted losses (their sum is the training objective) and scalars to log.
        """
        total = outputs["pred_logits"].shape[0]
        if total % num_subclips:
            raise ValueError(f"{total} subclips cannot be grouped into clips of {num_subclips}")
        losses: Dict[str, torch.Tensor] = {}
        matching: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}
        # per_subclip: subclip k of every clip is normalised on its own (the original: one loss per subclip, the mask
        # count averaged over GPUs, each of them holding one clip), and the subclips' losses are summed.
        groups = num_subclips if self.normalization == "per_subclip" else 1
        for k in range(groups):
            rows = list(range(k, total, groups))
            part, indices = self.segmentation(select_subclips(outputs, rows), [targets[r] for r in rows])
            for name, value in part.items():
                losses[name] = losses[name] + value if name in losses else value
            matching.update(zip(rows, indices))
        scalars: Dict[str, float] = {}
        if self.tcl is not None and pairs:
            if embeds is None:
                raise ValueError("TCL needs the association embeddings of the subclips")
            masks = outputs["pred_masks"]
            sums = {"loss_tcl": 0.0, "loss_tcl_aux": 0.0, "num_pos": 0, "num_neg": 0}
            for key, ref in pairs:
                part = self.tcl(
                    (masks[key], targets[key], matching[key], embeds[key]),
                    (masks[ref], targets[ref], matching[ref], embeds[ref]),
                )
                sums = {name: sums[name] + part[name] for name in sums}
            losses["loss_tcl"] = sums["loss_tcl"] / len(pairs) * self.tcl_weight
            losses["loss_tcl_aux"] = sums["loss_tcl_aux"] / len(pairs) * self.tcl_aux_weight
            scalars = {"tcl_num_pos": float(sums["num_pos"]), "tcl_num_neg": float(sums["num_neg"])}
        return losses, scalars
