"""YouTube-VIS AP as the youtubevos cocoapi fork (`ytvoseval.py`) computes it, built on pycocotools' COCOeval.

The fork differs from COCO's evaluation only where videos differ from images, so this subclass overrides just
those parts: an instance's IoU is the spatio-temporal one, sum_t |d_t ∩ g_t| / sum_t |d_t ∪ g_t| over frames
where either exists (None = absent; crowd is not special-cased in the IoU), and its area is the mean of its
non-zero per-frame areas (GT: the JSON's `areas`; results: from the RLEs), with area ranges small < 128²,
medium < 256², large. Matching, maxDets (1, 10, 100 per video and category), accumulation and the 12 summary
numbers are pycocotools' own.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections import defaultdict
from typing import Dict, List

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

__all__ = ["YTVISeval", "ytvis_ap", "STAT_NAMES"]

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def _avg_area(areas) -> float:
    values = [a for a in areas if a]
    return float(np.mean(values)) if values else 0.0


def _to_rle(seg, h: int, w: int):
    if seg is None:
        return None
    if isinstance(seg, list):  # polygons
        return mask_util.merge(mask_util.frPyObjects(seg, h, w))
    if isinstance(seg.get("counts"), list):  # uncompressed RLE
        return mask_util.frPyObjects(seg, h, w)
    return seg


def _video_coco(videos: List[dict], anns: List[dict], categories: List[dict]) -> COCO:
    coco = COCO()
    coco.dataset = {"images": [{"id": v["id"]} for v in videos], "annotations": anns, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


class YTVISeval(COCOeval):
    """COCOeval over videos. `gt`: a YouTube-VIS annotation dict; `results`: list of {video_id, category_id, score,
    segmentations: [RLE | None per frame]}."""

    def __init__(self, gt: Dict, results: List[Dict]) -> None:
        sizes = {v["id"]: (v["height"], v["width"]) for v in gt["videos"]}
        gt_anns = []
        for ann in gt.get("annotations", []):
            h, w = sizes[ann["video_id"]]
            gt_anns.append(
                dict(
                    ann,
                    image_id=ann["video_id"],
                    area=_avg_area(ann.get("areas", [])),
                    segmentations=[_to_rle(s, h, w) for s in ann["segmentations"]],
                )
            )
        dt_anns = []
        for k, res in enumerate(results):
            if res["video_id"] not in sizes:
                raise ValueError(f"result {k}: video_id {res['video_id']} is not in the ground truth")
            segs = res["segmentations"]
            areas = [int(mask_util.area(s)) if s else None for s in segs]
            dt_anns.append(
                dict(res, id=k + 1, image_id=res["video_id"], area=_avg_area(areas), iscrowd=0, segmentations=segs)
            )
        cats = copy.deepcopy(gt["categories"])
        super().__init__(_video_coco(gt["videos"], gt_anns, cats), _video_coco(gt["videos"], dt_anns, cats), "segm")
        self.params.areaRng = [[0, 1e5**2], [0, 128**2], [128**2, 256**2], [256**2, 1e5**2]]

    def _prepare(self) -> None:
        p = self.params
        gts = self.cocoGt.loadAnns(self.cocoGt.getAnnIds(imgIds=p.imgIds, catIds=p.catIds))
        dts = self.cocoDt.loadAnns(self.cocoDt.getAnnIds(imgIds=p.imgIds, catIds=p.catIds))
        for g in gts:
            g["ignore"] = bool(g.get("iscrowd", 0))
        self._gts, self._dts = defaultdict(list), defaultdict(list)
        for g in gts:
            self._gts[g["image_id"], g["category_id"]].append(g)
        for d in dts:
            self._dts[d["image_id"], d["category_id"]].append(d)
        self.evalImgs = defaultdict(list)
        self.eval = {}

    def computeIoU(self, video_id, category_id):  # noqa: N802 (pycocotools' name)
        """(D, G) spatio-temporal IoU of the top maxDets detections (by score) against the ground truths."""
        gt, dt = self._gts[video_id, category_id], self._dts[video_id, category_id]
        if len(gt) == 0 and len(dt) == 0:
            return []
        order = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in order][: self.params.maxDets[-1]]
        ious = np.zeros((len(dt), len(gt)))
        for i, d in enumerate(dt):
            for j, g in enumerate(gt):
                inter = union = 0.0
                for ds, gs in zip(d["segmentations"], g["segmentations"]):
                    if ds and gs:
                        inter += mask_util.area(mask_util.merge([ds, gs], True))
                        union += mask_util.area(mask_util.merge([ds, gs], False))
                    elif gs:
                        union += mask_util.area(gs)
                    elif ds:
                        union += mask_util.area(ds)
                ious[i, j] = inter / union if union > 0 else 0.0
        return ious


def ytvis_ap(gt: Dict, results: List[Dict]) -> Dict[str, float]:
    """The 12 YouTube-VIS numbers (fractions; -1 where undefined) for `results` against annotation dict `gt`.

    An empty result list gives AP 0 (the official tool raises an IndexError there).
    """
    evaluator = YTVISeval(gt, results)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(STAT_NAMES, (float(s) for s in evaluator.stats)))
