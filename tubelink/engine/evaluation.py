"""Evaluation of a model on the test splits: each split seen through its own task and class table.

A split's evaluator type decides which output the predictor produces (VPQ / STEP -> "vps", YouTube-VIS -> "vis",
VSS -> "vss"), so one panoptic model can also be scored as VIS on a things-only split of the same videos. The
model's classes are those of its first training split; they are translated to the split's classes by name.
"""

from __future__ import annotations

import json
import logging
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..data.catalog import DatasetCatalog, MetadataCatalog
from ..data.clip_transforms import ClipAugmentation
from ..data.datasets.common import ClassTable
from ..data.mappers import iter_test_frames
from ..evaluation import build_evaluator
from ..inference import VideoPredictor
from ..modeling.meta_arch.tube_link import TASK_OF_EVALUATOR
from ..utils import comm

__all__ = ["class_mapping", "SplitView", "predict_video", "evaluate_model"]

logger = logging.getLogger("tubelink.evaluation")


def class_mapping(model_table: ClassTable, split_table: ClassTable) -> List[int]:
    """Model contiguous id -> split contiguous id, matched by class name; -1 where the split lacks the class.

    Shapes: returns a list of length len(model_table.names).
    """
    index = {name: i for i, name in enumerate(split_table.names)}
    return [index.get(name, -1) for name in model_table.names]


class SplitView:
    """How one test split sees the model: its task, the model's thing flags and the class translation.

    Args:
        cfg: the resolved config (the model's classes come from DATASETS.TRAIN[0] when set, else the split's).
        dataset_name: a registered test split.
    Raises:
        ValueError naming the split when it is scored per pixel but its classes are not the model's (VPS: same
        classes in the same order; VSS: the same classes in any order): a pixel map cannot drop classes without
        changing the metric, so that is refused, not guessed.
    """

    def __init__(self, cfg, dataset_name: str) -> None:
        meta = MetadataCatalog.get(dataset_name)
        evaluator_type = meta.get("evaluator_type")
        if evaluator_type not in TASK_OF_EVALUATOR:
            raise ValueError(f"dataset {dataset_name!r}: unknown evaluator type {evaluator_type!r}")
        self.dataset_name = dataset_name
        self.task = TASK_OF_EVALUATOR[evaluator_type]
        split_table: ClassTable = meta.class_table
        model_table = MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).class_table if cfg.DATASETS.TRAIN else split_table
        self.is_thing = model_table.is_thing
        self.mapping = class_mapping(model_table, split_table)
        self.identity = self.mapping == list(range(len(split_table.names)))
        permutation = sorted(self.mapping) == list(range(len(split_table.names)))
        # VIS drops classes the split lacks (stuff of a panoptic model); a semantic map can be relabelled when
        # the classes are the same in another order; anything else would change the metric, so it is refused.
        if (self.task == "vps" and not self.identity) or (self.task == "vss" and not permutation):
            raise ValueError(
                f"dataset {dataset_name!r} ({evaluator_type}) has classes {split_table.names}, the model "
                f"{model_table.names}; per-pixel evaluation needs the same classes"
                + (" in the same order" if self.task == "vps" else "")
            )
        self._lookup = np.asarray(self.mapping, dtype=np.int64)

    def translate_instances(self, instances: List[dict]) -> List[dict]:
        """VIS instances with model class ids -> split class ids; classes the split lacks are dropped."""
        if self.identity:
            return instances
        out = []
        for inst in instances:
            label = self.mapping[int(inst["category_id"])]
            if label >= 0:
                out.append(dict(inst, category_id=label))
        return out

    def translate_output(self, output: dict) -> dict:
        """A per-frame output with model class ids -> split class ids (VSS maps are relabelled)."""
        if self.identity or "sem_seg" not in output:
            return output
        return dict(output, sem_seg=self._lookup[output["sem_seg"]])


def predict_video(cfg, model: torch.nn.Module, view: SplitView, video: dict) -> Iterator[Tuple[Dict, Dict]]:
    """Run the streaming predictor on one video dict; yields (evaluator input, evaluator output) pairs.

    VPS / VSS: one pair per frame ({"video", "frame_index"}, per-frame output). VIS: one pair per video
    ({"video"}, {"instances": video-level instances}).
    """
    predictor = VideoPredictor.from_config(cfg, model, view.task, view.is_thing)
    augmentation = ClipAugmentation.from_config(cfg, is_train=False)
    for out in predictor(iter_test_frames(video, augmentation)):
        if view.task != "vis":
            yield {"video": video, "frame_index": out["frame_index"]}, view.translate_output(out)
    if view.task == "vis":
        yield {"video": video}, {"instances": view.translate_instances(predictor.video_instances())}


def evaluate_model(cfg, model: torch.nn.Module, dataset_names: Optional[List[str]] = None) -> Dict[str, Dict]:
    """Evaluate `model` on every split of DATASETS.TEST (or `dataset_names`) with the split's evaluator.

    Videos are split over processes; the evaluators gather their statistics. Returns {split: {metric: value}}.
    """
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    was_training = inner.training
    inner.eval()
    results = {}
    for name in dataset_names if dataset_names is not None else cfg.DATASETS.TEST:
        view = SplitView(cfg, name)
        evaluator = build_evaluator(name)
        evaluator.reset()
        for video in DatasetCatalog.get(name)[comm.get_rank() :: comm.get_world_size()]:
            for inp, out in predict_video(cfg, inner, view, video):
                evaluator.process([inp], [out])
        results[name] = evaluator.evaluate()
        if comm.is_main_process():
            summary = {k: round(float(v), 4) for k, v in results[name].items()}
            logger.info(f"Evaluation on {name} ({view.task}): " + json.dumps(summary))
    inner.train(was_training)
    return results
