#!/usr/bin/env python
"""How good are a model's query masks, before any post-processing? Printed as JSON.

    python tools/query_mask_diagnosis.py --config-file configs/synthetic/tubelink_small.yaml \\
        --weights output/synthetic_small/model_final.pth [--dataset synthetic_ytvis_val] [KEY VALUE ...]

For every visible ground-truth thing of every frame of a VIS split, the best of the subclip's query masks (logit > 0
at the frame's size, every query, whatever its class) is found by IoU, and its coverage of the thing, its precision
and whether it also covers another thing (more than `--merge-fraction` of that thing's area; same class or any) are
recorded. A low best-query IoU with high coverage and low precision means things are merged, not missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def best_query_stats(
    query_masks: np.ndarray,
    gt_masks: Sequence[np.ndarray],
    gt_classes: Sequence[int],
    merge_fraction: float = 0.3,
) -> List[Dict[str, float]]:
    """Per ground-truth thing of one frame, the best query mask and what it covers.

    Args:
        query_masks: bool (Q, H, W), every query's mask in the frame.
        gt_masks: K bool (H, W) masks of the frame's things; gt_classes: their K classes.
        merge_fraction: another thing counts as merged when the best mask covers more than this part of it.
    Returns:
        K dicts {"iou", "query", "coverage" (part of the thing inside the mask), "precision" (part of the mask on
        the thing), "merged" (another thing merged in), "merged_same_class"}.
    """
    flat = query_masks.reshape(len(query_masks), -1)
    area = flat.sum(1)
    out = []
    for k, (gt, cls) in enumerate(zip(gt_masks, gt_classes)):
        g = gt.reshape(-1)
        inter = (flat & g).sum(1)
        union = area + g.sum() - inter
        iou = inter / np.maximum(union, 1)
        q = int(iou.argmax())
        best = flat[q]
        merged = merged_same = False
        for j, (other, other_cls) in enumerate(zip(gt_masks, gt_classes)):
            o = other.reshape(-1)
            if j == k or not o.any():
                continue
            if (best & o).sum() > merge_fraction * o.sum():
                merged = True
                merged_same |= other_cls == cls
        out.append(
            {
                "iou": float(iou[q]),
                "query": q,
                "coverage": float(inter[q] / max(g.sum(), 1)),
                "precision": float(inter[q] / max(area[q], 1)),
                "merged": merged,
                "merged_same_class": merged_same,
            }
        )
    return out


def summarize(stats: List[Dict[str, float]], low_iou: float = 0.6) -> Dict[str, float]:
    """Means over thing-frames, and how many of those with a best-query IoU below `low_iou` are merges."""
    if not stats:
        return {"thing_frames": 0}
    iou = np.array([s["iou"] for s in stats])
    low = iou < low_iou
    edges = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    return {
        "thing_frames": len(stats),
        "best_query_iou": float(iou.mean()),
        "coverage": float(np.mean([s["coverage"] for s in stats])),
        "precision": float(np.mean([s["precision"] for s in stats])),
        f"below_{low_iou}": int(low.sum()),
        f"below_{low_iou}_merged": int(sum(s["merged"] for s, lo in zip(stats, low) if lo)),
        f"below_{low_iou}_merged_same_class": int(sum(s["merged_same_class"] for s, lo in zip(stats, low) if lo)),
        "iou_histogram": {"edges": edges, "counts": np.histogram(iou, edges)[0].tolist()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--dataset", default="synthetic_ytvis_val", help="a registered VIS split")
    parser.add_argument("--merge-fraction", type=float, default=0.3)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args()

    import pycocotools.mask as mask_util
    import torch

    from tubelink.checkpoint import CoveragePolicy, load_weights
    from tubelink.config import get_cfg
    from tubelink.data.catalog import DatasetCatalog
    from tubelink.data.clip_transforms import ClipAugmentation
    from tubelink.data.mappers import iter_test_frames
    from tubelink.engine.evaluation import SplitView
    from tubelink.inference import VideoPredictor
    from tubelink.modeling import build_model
    from tubelink.utils.errors import InputError, run_command

    def run(_):
        cfg = get_cfg()
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(list(args.opts) + ["MODEL.WEIGHTS", args.weights])
        cfg.freeze()
        view = SplitView(cfg, args.dataset)
        if view.task != "vis":
            raise InputError("--dataset", f"{args.dataset!r} is a {view.task} split; the diagnosis needs a VIS split")
        model = build_model(cfg)
        load_weights(model, cfg.MODEL.WEIGHTS, CoveragePolicy.from_config(cfg, inference=True))
        model.eval()
        captured: Dict[int, np.ndarray] = {}

        class CapturingPredictor(VideoPredictor):
            """Keeps every query's mask of each frame (the VIS post-processing only keeps the top-k)."""

            def _vis(self, out, masks, start):
                # masks is lazy (TubeMaskLogits): selecting every query materialises them, (Q, n, H, W)
                rows = masks[torch.arange(out["pred_logits"].shape[0])] > 0
                for t in range(rows.shape[1]):
                    captured.setdefault(start + t, rows[:, t].numpy())
                return super()._vis(out, masks, start)

        augmentation = ClipAugmentation.from_config(cfg, is_train=False)
        predictor = CapturingPredictor.from_config(cfg, model, view.task, view.is_thing)  # reset for every video
        stats = []
        with torch.no_grad():
            for video in DatasetCatalog.get(args.dataset):
                captured.clear()
                for _ in predictor(iter_test_frames(video, augmentation)):
                    pass
                for t, anns in enumerate(video["frame_annotations"]):
                    if not anns:
                        continue
                    gts = [mask_util.decode(a["segmentation"]).astype(bool) for a in anns]
                    classes = [a["category_id"] for a in anns]  # only compared with each other
                    stats += best_query_stats(captured[t], gts, classes, args.merge_fraction)
        print(json.dumps({"dataset": args.dataset, "weights": args.weights, **summarize(stats)}, indent=1))

    run_command(run, None)


if __name__ == "__main__":
    main()
