"""`TubeLinkTrainer`: detectron2's DefaultTrainer with tubelink's data, optimizer, schedule and evaluation.

What detectron2 provides is used as is: the training loop and hooks, `DetectionCheckpointer` (saving, resuming),
writers, EvalHook, `inference_on_dataset`. tubelink supplies the parts DefaultTrainer leaves to projects (as
Mask2Former's train_net does): the clip loader, AdamW parameter groups, the warmup schedule, full-model gradient
clipping and the video evaluation; and MODEL.WEIGHTS goes through tubelink's loader (`load_model_weights`), since
DetectionCheckpointer loads a file that does not fit the model with a warning and the rest stays random.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog, build_detection_test_loader
from detectron2.engine import DefaultTrainer, HookBase
from detectron2.engine.train_loop import AMPTrainer
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import CoveragePolicy, load_weights
from ..data.build import build_train_loader_from_config
from ..engine.optimizer import build_optimizer, build_schedule, clip_grad_norm_
from .evaluation import TubeLinkEvaluator, VideoInference

__all__ = ["TubeLinkTrainer", "GradientClipping", "load_model_weights"]

logger = logging.getLogger("tubelink.detectron2")


def _video(video: dict) -> dict:
    """Test "mapper": the loader yields whole video dicts; frames are read lazily by the predictor."""
    return video


def load_model_weights(cfg, model, inference: bool, resume: bool = False, policy=None) -> None:
    """MODEL.WEIGHTS into `model` with tubelink's loader and MODEL.WEIGHTS_COVERAGE (`policy` overrides it): a
    partial load warns, one that would leave a model for predictions (`inference`) mostly random is refused with one
    line naming the file. With `resume`, OUTPUT_DIR's last checkpoint when there is one (detectron2's
    `resume_or_load`)."""
    checkpointer = DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR)
    path = checkpointer.get_checkpoint_file() if resume and checkpointer.has_checkpoint() else cfg.MODEL.WEIGHTS
    if path:
        load_weights(model, path, policy or CoveragePolicy.from_config(cfg, inference=inference))


class GradientClipping(HookBase):
    """Full-model gradient norm clipping (SOLVER.CLIP_GRADIENTS) between backward and the optimizer step."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def after_backward(self) -> None:
        loop = self.trainer._trainer
        if isinstance(loop, AMPTrainer):  # clip the true gradients, not the loss-scaled ones
            loop.grad_scaler.unscale_(loop.optimizer)
        clip_grad_norm_(loop.model.parameters(), self.cfg)


class TubeLinkTrainer(DefaultTrainer):
    """detectron2's DefaultTrainer for TubeLink; same YAML configs as the native engine.

    Differences from the native engine, inherited from detectron2: multi-process training needs GPUs
    (detectron2's `create_ddp_model` pins one device per process), and a resumed run restarts the clip stream at
    the resumed iteration but does not restore RNG states, so it is not bit-exact.
    """

    def __init__(self, cfg) -> None:
        if cfg.MODEL_EMA.ENABLED:
            from ..utils.errors import InputError

            raise InputError("MODEL_EMA.ENABLED", "is only supported by --engine native (the default)")
        super().__init__(cfg)
        if isinstance(self._trainer, AMPTrainer):
            self._trainer.precision = getattr(torch, cfg.SOLVER.AMP.DTYPE)
        model = self._trainer.model
        if isinstance(model, DistributedDataParallel):
            # The link / embedding heads get no gradient on some clips (VSS, no shared track): DDP must know.
            self._trainer.model = DistributedDataParallel(
                model.module, device_ids=model.device_ids, broadcast_buffers=False, find_unused_parameters=True
            )

    @classmethod
    def build_train_loader(cls, cfg, start_iter: int = 0):
        return build_train_loader_from_config(cfg, start_iter)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        # A ParamScheduler: detectron2's LRScheduler hook wraps it in its own (checkpointed) LRMultiplier.
        return build_schedule(cfg)

    def build_hooks(self):
        return [GradientClipping(self.cfg)] + super().build_hooks()

    def train(self):
        """Train to SOLVER.MAX_ITER; returns the last evaluation (DefaultTrainer returns it only when
        TEST.EXPECTED_RESULTS is set)."""
        super().train()
        return getattr(self, "_last_eval_results", OrderedDict())

    def resume_or_load(self, resume: bool = True) -> None:
        if resume and self.checkpointer.has_checkpoint():  # model, optimizer, schedule, iteration
            super().resume_or_load(resume=True)
        else:  # an initialisation: tubelink's loader (formats, coverage), training's policy
            load_model_weights(self.cfg, self.checkpointer.model, inference=False)
        if self.start_iter > 0:  # continue the deterministic clip stream where the checkpoint stopped
            self._trainer.data_loader = self.build_train_loader(self.cfg, self.start_iter)
            self._trainer._data_loader_iter_obj = None

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str):
        return build_detection_test_loader(dataset=DatasetCatalog.get(dataset_name), mapper=_video, num_workers=0)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name: str, output_folder=None):
        return TubeLinkEvaluator(dataset_name)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        """Evaluate `model` on DATASETS.TEST through `inference_on_dataset`; {split: {metric: value}} (the inner
        dict alone for one split, as DefaultTrainer.test)."""
        if evaluators is not None and len(evaluators) != len(cfg.DATASETS.TEST):
            raise ValueError(f"{len(evaluators)} evaluators for {len(cfg.DATASETS.TEST)} test datasets")
        results = OrderedDict()
        for k, name in enumerate(cfg.DATASETS.TEST):
            evaluator = evaluators[k] if evaluators is not None else cls.build_evaluator(cfg, name)
            results[name] = inference_on_dataset(
                VideoInference(cfg, model, name), cls.build_test_loader(cfg, name), evaluator
            )
            if comm.is_main_process():
                logger.info(f"Evaluation results for {name} in csv format:")
                print_csv_format(results[name])
        return results[cfg.DATASETS.TEST[0]] if len(results) == 1 else results
