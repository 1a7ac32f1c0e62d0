"""Evaluators in detectron2's protocol (`reset`, `process(inputs, outputs)`, `evaluate`), one per evaluator type.

The evaluator of a split is chosen by its metadata's `evaluator_type` (`build_evaluator`). Ground truth is what
the split's format (tubelink.data.datasets) reads from the benchmark's own files, as the official tools read it,
so in-loop numbers equal offline ones. Per-video statistics are gathered from every process; `evaluate` returns the
metrics on the main process and {} elsewhere.

Streaming contract (frames of a video in order, videos one after another; a video is finalised when the next
one starts or at `evaluate`):
  - "vps" (VPQ + STQ) and "step" (STQ): inputs[i] = {"video": video dict, "frame_index": t},
    outputs[i] = {"panoptic_seg": (ids int (H, W) with 0 = unlabelled, segments_info [{"id", "category_id"
    (contiguous)}])}; segment ids of a tracked thing stay the same over the video.
  - "vss" (mIoU + mVC_8 / mVC_16): inputs as above, outputs[i] = {"sem_seg": int (H, W) contiguous classes} (a
    model) or {"raw_labels": int (H, W)} (the values of a submission PNG); scored with the split's `vss_protocol`
    (tubelink.data.datasets.vspw: "vspw_official", the default, or "train_labels").
  - "ytvis" (AP): once per video, inputs[i] = {"video": video dict}, outputs[i] = {"instances": [{"score",
    "category_id" (contiguous), "segmentations": [COCO RLE or None per frame]}]}.
"""

from __future__ import annotations

import abc
import logging
import sys
from typing import Any, Dict, List

import numpy as np

from ..data.catalog import MetadataCatalog
from ..data.datasets import ClassTable, format_of
from .registry import EVALUATOR_REGISTRY
from .stq import STQStats, stq_result, stq_update
from .vpq import DEFAULT_WINDOWS, PanopticFrame, VPQAccumulator, merge_window_stats, vpq_summary
from .vss import confusion_matrix, miou_from_confusion, mvc_from_accuracies, video_consistency_accuracies
from .ytvis import ytvis_ap

__all__ = [
    "DatasetEvaluator",
    "EVALUATOR_REGISTRY",
    "build_evaluator",
    "VPSEvaluator",
    "STEPEvaluator",
    "VSSEvaluator",
    "YTVISEvaluator",
]

logger = logging.getLogger(__name__)
_VOID = 255


def _all_gather(obj: Any) -> List[Any]:
    """comm.all_gather; without torch imported no process group can exist (offline evaluation imports none)."""
    if "torch" not in sys.modules:
        return [obj]
    from ..utils import comm

    return comm.all_gather(obj)


def _is_main_process() -> bool:
    if "torch" not in sys.modules:
        return True
    from ..utils import comm

    return comm.is_main_process()


class DatasetEvaluator(abc.ABC):
    """detectron2's evaluator protocol; registered subclasses declare the `evaluator_type` they serve."""

    evaluator_type: str = ""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything processed so far."""

    @abc.abstractmethod
    def process(self, inputs: List[dict], outputs: List[dict]) -> None:
        """Consume a batch of model inputs and their outputs."""

    @abc.abstractmethod
    def evaluate(self) -> Dict[str, float]:
        """Metrics over everything processed (main process), {} on other ranks."""


def build_evaluator(dataset_name: str) -> DatasetEvaluator:
    """The evaluator registered for the split's metadata `evaluator_type`."""
    kind = MetadataCatalog.get(dataset_name).get("evaluator_type")
    by_type = {cls.evaluator_type: cls for _, cls in EVALUATOR_REGISTRY}
    if kind not in by_type:
        raise KeyError(f"dataset {dataset_name!r}: no evaluator for evaluator_type {kind!r}; known: {sorted(by_type)}")
    return by_type[kind](dataset_name)


def _check_size(pred: np.ndarray, shape: tuple, where: str) -> np.ndarray:
    pred = np.asarray(pred)
    if pred.shape != shape:
        raise ValueError(f"{where}: prediction is {pred.shape}, ground truth {shape}")
    return pred


class _StreamingEvaluator(DatasetEvaluator):
    """Frames arrive in order; per-video state is finalised into a picklable statistics object."""

    def __init__(self, dataset_name: str) -> None:
        self.dataset_name = dataset_name
        self.metadata = MetadataCatalog.get(dataset_name)
        self.table: ClassTable = self.metadata.class_table
        self.format = format_of(self.metadata)
        self.reset()

    def reset(self) -> None:
        self._video_id = None
        self._state = None
        self._results: List = []

    def process(self, inputs: List[dict], outputs: List[dict]) -> None:
        for inp, out in zip(inputs, outputs):
            video, t = inp["video"], inp["frame_index"]
            if video["video_id"] != self._video_id:
                self._finish()
                if video.get("frame_annotations") is None:
                    raise ValueError(f"dataset {self.dataset_name!r} video {video['video_id']!r} has no ground truth")
                self._video_id, self._state = video["video_id"], self._start(video)
            self._add(self._state, video, t, out, f"{self.dataset_name} video {video['video_id']!r} frame {t}")

    def _finish(self) -> None:
        if self._state is not None:
            self._results.append(self._close(self._state))
        self._video_id, self._state = None, None

    def evaluate(self) -> Dict[str, float]:
        self._finish()
        gathered = [r for part in _all_gather(self._results) for r in part]
        if not _is_main_process():
            return {}
        if not gathered:
            logger.warning(f"{self.dataset_name}: no video was evaluated")
            return {}
        return self._summarize(gathered)

    @abc.abstractmethod
    def _start(self, video: dict):
        """Per-video state."""

    @abc.abstractmethod
    def _add(self, state, video: dict, t: int, output: dict, where: str) -> None:
        """Add frame t."""

    @abc.abstractmethod
    def _close(self, state):
        """Picklable statistics of a finished video."""

    @abc.abstractmethod
    def _summarize(self, results: List) -> Dict[str, float]:
        """Metrics from all videos' statistics."""


def _numbering(order: Dict[int, int], segment_ids) -> None:
    for sid in segment_ids:
        order.setdefault(int(sid), len(order))


def _panoptic_output(output: dict, shape: tuple, where: str):
    try:
        ids, segments = output["panoptic_seg"]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where}: output must hold 'panoptic_seg' = (ids, segments_info)") from None
    ids = _check_size(ids, shape, where).astype(np.int64)
    return ids, list(segments)


@EVALUATOR_REGISTRY.register()
class VPSEvaluator(_StreamingEvaluator):
    """VPQ (windows 1, 2, 4, 6, 8) and STQ as VIPSeg's official scripts, on VIPSeg-format ground truth."""

    evaluator_type = "vps"

    windows = DEFAULT_WINDOWS

    def _start(self, video):
        return {
            "vpq": VPQAccumulator(len(self.table.categories), self.windows, str(video["video_id"])),
            "stq": STQStats.empty(len(self.table.categories)),
            "gt_order": {},
            "pred_order": {},
        }

    def _add(self, state, video, t, output, where):
        gt_ids, gt_segs, gt_listed = self.format.ground_truth(video, t, self.metadata)
        pred_ids, pred_list = _panoptic_output(output, gt_ids.shape, where)
        pred_segs = {int(s["id"]): (int(s["category_id"]), False, 0) for s in pred_list}
        state["vpq"].add(PanopticFrame(gt_ids, gt_segs), PanopticFrame(pred_ids, pred_segs))
        # STQ as eval_stq_vspw.py: segments numbered by first appearance in the video's segment lists
        _numbering(state["gt_order"], gt_listed)
        _numbering(state["pred_order"], [s["id"] for s in pred_list])
        gs, gi = self._labels(gt_ids, gt_segs, state["gt_order"])
        ps, pi = self._labels(pred_ids, pred_segs, state["pred_order"])
        stq_update(state["stq"], gs, gi, ps, pi, self.table.is_thing, void=_VOID)

    @staticmethod
    def _labels(ids, segments, order):
        semantic = np.full(ids.shape, _VOID, np.int64)
        instance = np.full(ids.shape, _VOID, np.int64)
        for sid, (cat, _, _) in segments.items():
            mask = ids == sid
            semantic[mask] = cat
            instance[mask] = order[sid]
        return semantic, instance

    def _close(self, state):
        return state["vpq"].stats, state["stq"]

    def _summarize(self, results):
        out = vpq_summary(merge_window_stats([r[0] for r in results]), self.table.is_thing)
        out.update(stq_result([r[1] for r in results]))
        return out


@EVALUATOR_REGISTRY.register()
class STEPEvaluator(_StreamingEvaluator):
    """STQ with deeplab2's KITTI-STEP protocol: GT from the panoptic PNGs, thing pixels with instance 0 are crowd,
    nothing masked; predicted things get instance = order of first appearance + 1, stuff instance 0."""

    evaluator_type = "step"

    def _start(self, video):
        return {"stq": STQStats.empty(len(self.table.categories)), "pred_order": {}}

    def _add(self, state, video, t, output, where):
        gs, gi = self.format.ground_truth(video, t, self.metadata)
        pred_ids, pred_list = _panoptic_output(output, gs.shape, where)
        _numbering(state["pred_order"], [s["id"] for s in pred_list])
        ps = np.full(gs.shape, _VOID, np.int64)
        pi = np.zeros(gs.shape, np.int64)
        for s in pred_list:
            mask = pred_ids == s["id"]
            ps[mask] = s["category_id"]
            if self.table.is_thing[s["category_id"]]:
                pi[mask] = state["pred_order"][int(s["id"])] + 1
        stq_update(state["stq"], gs, gi, ps, pi, self.table.is_thing, void=_VOID)

    def _close(self, state):
        return state["stq"]

    def _summarize(self, results):
        return stq_result(results)


@EVALUATOR_REGISTRY.register()
class VSSEvaluator(_StreamingEvaluator):
    """mIoU (VSPW `Evaluator` semantics) and mVC_8 / mVC_16 (VC_perclip.py), under the split's `vss_protocol`:
    "vspw_official" scores raw label values 0..C-1 as evaluator_test.py does; "train_labels" the training classes.
    A prediction outside the scored classes counts as wrong for its pixel (the official tool folds or crashes)."""

    evaluator_type = "vss"

    clips = (8, 16)

    def _start(self, video):
        return {
            "recent": [],
            "accs": {c: [] for c in self.clips},
            "confusion": np.zeros((len(self.table.categories), len(self.table.categories) + 1), np.int64),
        }

    def _add(self, state, video, t, output, where):
        raw_gt = self.format.ground_truth(video, t, self.metadata)
        try:
            labels = self.format.prediction_labels(output, self.metadata)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        raw_pred = _check_size(labels, raw_gt.shape, where)
        gt, pred = self.format.scored_labels(raw_gt, self.metadata), self.format.scored_labels(raw_pred, self.metadata)
        state["confusion"] += confusion_matrix(gt, pred, len(self.table.categories), misses=True)
        # mVC: the clip starting at frame t - c counts once frame t exists (T - c clips per video, as the tool)
        constant = [self.format.consistency_labels(raw, self.metadata) for raw in (raw_gt, raw_pred)]
        state["recent"] = (state["recent"] + [constant])[-(max(self.clips) + 1) :]
        for c in self.clips:
            if len(state["recent"]) >= c + 1:
                window = state["recent"][-(c + 1) :]
                state["accs"][c] += video_consistency_accuracies([g for g, _ in window], [p for _, p in window], c)

    def _close(self, state):
        return state["confusion"], state["accs"]

    def _summarize(self, results):
        out = miou_from_confusion(sum(r[0] for r in results))
        for c in self.clips:
            out[f"mVC{c}"] = mvc_from_accuracies([a for r in results for a in r[1][c]])
        return out


@EVALUATOR_REGISTRY.register()
class YTVISEvaluator(DatasetEvaluator):
    """YouTube-VIS AP over the processed videos (ground truth from their annotations)."""

    evaluator_type = "ytvis"

    def __init__(self, dataset_name: str) -> None:
        self.dataset_name = dataset_name
        metadata = MetadataCatalog.get(dataset_name)
        self.table: ClassTable = metadata.class_table
        self.format = format_of(metadata)
        self.reset()

    def reset(self) -> None:
        self._videos: List[dict] = []
        self._gt: List[dict] = []
        self._results: List[dict] = []

    def process(self, inputs: List[dict], outputs: List[dict]) -> None:
        to_dataset = [int(r["id"]) for r in self.table.contiguous_order]
        for inp, out in zip(inputs, outputs):
            video = inp["video"]
            if video.get("frame_annotations") is None:
                raise ValueError(f"dataset {self.dataset_name!r} video {video['video_id']!r} has no ground truth")
            vid, n = video["video_id"], video["length"]
            self._videos.append({"id": vid, "height": video["height"], "width": video["width"], "length": n})
            self._gt += self.format.video_ground_truth(video)
            for inst in out["instances"]:
                if len(inst["segmentations"]) != n:
                    raise ValueError(
                        f"{self.dataset_name} video {vid!r}: an instance has "
                        f"{len(inst['segmentations'])} per-frame masks for {n} frames"
                    )
                self._results.append(
                    {
                        "video_id": vid,
                        "score": float(inst["score"]),
                        "category_id": to_dataset[int(inst["category_id"])],
                        "segmentations": inst["segmentations"],
                    }
                )

    def evaluate(self) -> Dict[str, float]:
        parts = _all_gather((self._videos, self._gt, self._results))
        if not _is_main_process():
            return {}
        videos = [v for p in parts for v in p[0]]
        if not videos:
            logger.warning(f"{self.dataset_name}: no video was evaluated")
            return {}
        annotations = [dict(a, id=k + 1) for k, a in enumerate(a for p in parts for a in p[1])]
        categories = [{"id": int(r["id"]), "name": r["name"]} for r in self.table.categories]
        gt = {"videos": videos, "annotations": annotations, "categories": categories}
        return ytvis_ap(gt, [r for p in parts for r in p[2]])
