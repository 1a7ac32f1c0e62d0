"""Iteration-based trainer and evaluation loop (detectron2's DefaultTrainer contract, on plain PyTorch).

One iteration: a batch of clips from the deterministic clip stream -> weighted losses -> a non-finite check naming
the loss term -> backward (AMP when enabled) -> full-model gradient clipping -> optimizer and LR steps. Every
SOLVER.CHECKPOINT_PERIOD iterations (and at the end) an atomic checkpoint is written; every TEST.EVAL_PERIOD
iterations (and at the end) the model is evaluated with the evaluators of the test datasets. Logs: `log.txt`,
`metrics.json` (one JSON object per line) and TensorBoard events in OUTPUT_DIR. A resumed run first drops what the
interrupted run logged after its checkpoint (metrics.json lines, TensorBoard's purge_step), so every iteration is
logged once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Dict, List, Optional

import torch
from torch.nn.parallel import DistributedDataParallel

from ..data.build import build_train_loader_from_config
from ..modeling import build_model
from ..utils import comm
from ..utils.events import collect_scalars
from .ema import ModelEMA
from .evaluation import evaluate_model
from .checkpoint import (
    durable_write,
    last_checkpoint,
    load_training_checkpoint,
    remove_incomplete_writes,
    rng_states,
    save_checkpoint,
    set_rng_states,
)
from .optimizer import build_lr_scheduler, build_optimizer, clip_grad_norm_

__all__ = ["Trainer", "NonFiniteLossError", "drop_metrics_after"]

logger = logging.getLogger("tubelink.trainer")


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; the message names the term and the iteration."""


def drop_metrics_after(path: str, iteration: int) -> None:
    """Rewrite the metrics.json at `path` without the records of iterations after `iteration` (and without a line
    cut short by a kill), so that a run resumed from `iteration` logs each later iteration once."""
    if not os.path.isfile(path):
        return
    kept = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the partial last line of a killed write
            done = record.get("iteration", 0)
            if done < iteration or (done == iteration and "evaluation" not in record):  # evaluation follows the step
                kept.append(line if line.endswith("\n") else line + "\n")

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as out:
            out.writelines(kept)

    durable_write(path, write)


class Trainer:
    """Builds model, optimizer, schedule and data from the config; `train()` runs until SOLVER.MAX_ITER."""

    def __init__(self, cfg, resume: bool = False) -> None:
        self.cfg = cfg
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        self.model = build_model(cfg)
        self.optimizer = build_optimizer(cfg, self.model)
        self.scheduler = build_lr_scheduler(cfg, self.optimizer)
        device = next(self.model.parameters()).device
        self.amp_dtype = getattr(torch, cfg.SOLVER.AMP.DTYPE) if cfg.SOLVER.AMP.ENABLED else None
        self.scaler = torch.amp.GradScaler(device.type, enabled=bool(self.amp_dtype == torch.float16))
        self.device = device
        self.start_iter = 0
        if comm.is_main_process():
            remove_incomplete_writes(cfg.OUTPUT_DIR)
        resume_from = last_checkpoint(cfg.OUTPUT_DIR) if resume else None
        if not resume_from and cfg.MODEL.WEIGHTS:
            from ..checkpoint import CoveragePolicy, load_weights

            load_weights(self.model, cfg.MODEL.WEIGHTS, CoveragePolicy.from_config(cfg, inference=False))
        # The averaged weights (MODEL_EMA) are the ones evaluated and saved as "model"; None: the trained ones.
        self.ema = ModelEMA(self.model, cfg.MODEL_EMA.DECAY) if cfg.MODEL_EMA.ENABLED else None
        if resume_from:
            self._resume(resume_from)
        if comm.get_world_size() > 1:
            self.model = DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
            )  # TCL / link heads are idle on clips without shared tracks
        self.loader = build_train_loader_from_config(cfg, self.start_iter)
        self.history: List[Dict[str, float]] = []

    @property
    def trained_model(self) -> torch.nn.Module:
        """The model the optimizer updates, without its DistributedDataParallel wrapper."""
        return self.model.module if isinstance(self.model, DistributedDataParallel) else self.model

    @property
    def evaluated_model(self) -> torch.nn.Module:
        """The model that is evaluated and saved under "model": the weight average with MODEL_EMA, else the trained."""
        return self.ema.module if self.ema is not None else self.trained_model

    def _state(self, iteration: int) -> Dict:
        # "model" always holds the weights to run (what --eval-only, the demo and detectron2's checkpointer read);
        # with MODEL_EMA, the trained weights that --resume continues from are kept beside them.
        state = {"model": self.evaluated_model.state_dict()}
        if self.ema is not None:
            state |= {"trained_model": self.trained_model.state_dict(), "ema_num_updates": self.ema.num_updates}
        return state | {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": iteration,
            "rng": rng_states(),
        }

    def _resume(self, path: str) -> None:
        state = load_training_checkpoint(path)
        self.model.load_state_dict(state.get("trained_model", state["model"]))
        if self.ema is not None:
            if "trained_model" in state:
                self.ema.load(state["model"], state["ema_num_updates"])
            else:  # a run without MODEL_EMA continued with it: the average starts from the resumed weights
                self.ema = ModelEMA(self.model, self.cfg.MODEL_EMA.DECAY)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_states(state["rng"])
        self.start_iter = state["iteration"]
        logger.info(f"Resumed from {path} at iteration {self.start_iter}")

    def checkpoint(self, iteration: int, name: Optional[str] = None) -> None:
        """Save the state after `iteration` iterations (main process only)."""
        if comm.is_main_process():
            save_checkpoint(self.cfg.OUTPUT_DIR, name or f"model_{iteration:07d}.pth", self._state(iteration))
        comm.synchronize()

    def run_step(self, iteration: int, batch: List[dict]) -> Dict[str, float]:
        """One optimisation step; returns the scalar losses, the gradient norm before clipping (`grad_norm`, when
        clipping is on) and the scalars the model recorded (`put_scalars`)."""
        with (
            torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None),
            collect_scalars() as scalars,
        ):
            losses = self.model(batch)
        for name, value in losses.items():
            if not torch.isfinite(value):
                raise NonFiniteLossError(
                    f"loss {name} = {value.item()} at iteration {iteration}; training stopped, the last good "
                    f"checkpoint in {self.cfg.OUTPUT_DIR} is kept (try a lower SOLVER.BASE_LR or SOLVER.AMP off)"
                )
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = clip_grad_norm_(self.model.parameters(), self.cfg)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.trained_model)
        record = {k: float(v.detach()) for k, v in losses.items()} | {"total_loss": float(total.detach())}
        if grad_norm is not None:  # before clipping: how often SOLVER.CLIP_GRADIENTS.CLIP_VALUE binds
            record["grad_norm"] = float(grad_norm)
        return record | scalars

    def train(self) -> Dict[str, Dict[str, float]]:
        """Train from the start (or resume) iteration to SOLVER.MAX_ITER; returns the final evaluation."""
        cfg = self.cfg
        max_iter = cfg.SOLVER.MAX_ITER
        writer = None
        if comm.is_main_process():
            from torch.utils.tensorboard import SummaryWriter

            drop_metrics_after(os.path.join(cfg.OUTPUT_DIR, "metrics.json"), self.start_iter)
            # Scalars are logged at step `done` = iteration + 1: purge what an earlier run wrote after the checkpoint.
            writer = SummaryWriter(cfg.OUTPUT_DIR, purge_step=self.start_iter + 1)
        self.model.train()
        data = iter(self.loader)
        start = time.perf_counter()
        results: Dict[str, Dict[str, float]] = {}
        try:
            for iteration in range(self.start_iter, max_iter):
                try:
                    losses = self.run_step(iteration, next(data))
                except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
                    if not isinstance(err, torch.cuda.OutOfMemoryError) and "allocate" not in str(err):
                        raise
                    raise RuntimeError(
                        f"out of memory at iteration {iteration}: use a smaller n (MODEL.TUBE_LINK.NUM_FRAMES), "
                        "crop (INPUT.CROP.SIZE), or fewer clips per process (SOLVER.IMS_PER_BATCH, or more processes)"
                    ) from err
                done = iteration + 1
                record = {"iteration": done, "lr": self.optimizer.param_groups[0]["lr"], **losses}
                self.history.append(record)
                if comm.is_main_process():
                    with open(os.path.join(cfg.OUTPUT_DIR, "metrics.json"), "a", encoding="utf-8") as f:
                        f.write(json.dumps(record) + "\n")
                    for key, value in losses.items():
                        writer.add_scalar(key, value, done)
                    if done % 20 == 0 or done == max_iter:
                        elapsed = time.perf_counter() - start
                        eta = elapsed / (done - self.start_iter) * (max_iter - done)
                        logger.info(
                            f"iter {done}/{max_iter} total_loss {losses['total_loss']:.3f} "
                            f"lr {record['lr']:.2e} eta {eta / 60:.1f} min"
                        )
                if cfg.SOLVER.CHECKPOINT_PERIOD and done % cfg.SOLVER.CHECKPOINT_PERIOD == 0 and done < max_iter:
                    self.checkpoint(done)
                if cfg.TEST.EVAL_PERIOD and done % cfg.TEST.EVAL_PERIOD == 0 and done < max_iter:
                    results = evaluate_model(cfg, self.evaluated_model)
            self.checkpoint(max_iter, "model_final.pth")
            if cfg.DATASETS.TEST:
                results = evaluate_model(cfg, self.evaluated_model)
                if comm.is_main_process():
                    with open(os.path.join(cfg.OUTPUT_DIR, "metrics.json"), "a", encoding="utf-8") as f:
                        f.write(json.dumps({"iteration": max_iter, "evaluation": results}) + "\n")
        finally:
            if writer is not None:
                writer.close()
        return results
