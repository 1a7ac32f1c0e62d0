"""tubelink's evaluators as detectron2 DatasetEvaluators, and the per-video model view `inference_on_dataset` needs.

detectron2's `inference_on_dataset(model, loader, evaluator)` calls `outputs = model(inputs)` then
`evaluator.process(inputs, outputs)`. Our test loader yields one video dict per step; `VideoInference` returns
for each a lazy stream of per-frame predictions (the streaming predictor, bounded memory), which
`TubeLinkEvaluator.process` consumes. So the model's work happens inside `process`: detectron2's per-iteration
"inference time" log shows only the set-up, while the total time is right.
"""

from __future__ import annotations

from typing import Dict, List

import torch
from detectron2.evaluation import DatasetEvaluator
from torch.nn.parallel import DistributedDataParallel

from ..engine.evaluation import SplitView, predict_video
from ..evaluation import build_evaluator

__all__ = ["TubeLinkEvaluator", "VideoInference"]


class VideoInference(torch.nn.Module):
    """The TubeLink model seen by one test split (`SplitView`): forward(list of video dicts) -> per video
    {"stream": iterator of (evaluator input, evaluator output)} (see `tubelink.engine.evaluation.predict_video`)."""

    def __init__(self, cfg, model: torch.nn.Module, dataset_name: str) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = model.module if isinstance(model, DistributedDataParallel) else model
        self.view = SplitView(cfg, dataset_name)

    def forward(self, videos: List[dict]) -> List[Dict]:
        return [{"stream": predict_video(self.cfg, self.model, self.view, video)} for video in videos]


class TubeLinkEvaluator(DatasetEvaluator):
    """The evaluator of a split's metadata (VPQ+STQ, STEP, VSS or YouTube-VIS), detectron2's protocol.

    `process` accepts `VideoInference` outputs; `evaluate` gathers over processes and returns {metric: value} on
    the main process ({} elsewhere), as tubelink's evaluators do.
    """

    def __init__(self, dataset_name: str) -> None:
        self.dataset_name = dataset_name
        self._evaluator = build_evaluator(dataset_name)

    def reset(self) -> None:
        self._evaluator.reset()

    def process(self, inputs: List[dict], outputs: List[dict]) -> None:
        for output in outputs:
            if "stream" not in output:
                raise ValueError(
                    f"{self.dataset_name}: TubeLinkEvaluator expects VideoInference outputs ({{'stream': ...}}), "
                    f"got keys {sorted(output)}; wrap the model with tubelink.detectron2.VideoInference"
                )
            for frame_input, frame_output in output["stream"]:
                self._evaluator.process([frame_input], [frame_output])

    def evaluate(self) -> Dict[str, float]:
        return self._evaluator.evaluate()
