"""Training: exact resume after an interruption, identical weights on two gloo processes, eval-only, and clear
errors for broken configs and missing datasets."""

import json
import os
import subprocess
import sys

import pytest
import torch

import tubelink  # noqa: F401
from tubelink.config import get_cfg
from tubelink.engine.defaults import seed_all
from tubelink.engine.launch import launch
from tubelink.engine.trainer import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml")


def tiny_cfg(output_dir, max_iter=6):
    cfg = get_cfg()
    cfg.merge_from_file(SMALL)
    cfg.merge_from_list(
        [
            "MODEL.DEVICE",
            "cpu",
            "OUTPUT_DIR",
            str(output_dir),
            "SEED",
            3,
            "SOLVER.MAX_ITER",
            max_iter,
            "SOLVER.STEPS",
            (max_iter - 1,),
            "SOLVER.WARMUP_ITERS",
            2,
            "SOLVER.CHECKPOINT_PERIOD",
            3,
            "DATALOADER.NUM_WORKERS",
            0,
            "INPUT.MIN_SIZE_TRAIN",
            (48,),
            "INPUT.CROP.SIZE",
            [48, 48],
            "MODEL.MASK_FORMER.TRAIN_NUM_POINTS",
            256,
            "MODEL.MASK_FORMER.DEC_LAYERS",
            3,
            "DATASETS.TEST",
            (),
        ]
    )
    return cfg


def train_until_killed_at_iteration_4(cfg, monkeypatch) -> None:
    """Train with seed 3 (as train_net would) and stop with a KeyboardInterrupt in iteration 4, after the
    checkpoint of iteration 3."""
    seed_all(3)
    interrupted = Trainer(cfg)
    real_step = interrupted.run_step

    def dies_at_iteration_4(iteration, batch):
        if iteration == 4:
            raise KeyboardInterrupt("killed")
        return real_step(iteration, batch)

    monkeypatch.setattr(interrupted, "run_step", dies_at_iteration_4)
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()


def test_resume_after_interruption_reproduces_the_losses(datasets_root, monkeypatch):
    seed_all(3)  # what train_net's default_setup does before building the trainer
    full = Trainer(tiny_cfg(datasets_root / "full"))
    full.train()
    reference = [r["total_loss"] for r in full.history]
    assert len(reference) == 6 and reference[-1] < reference[0]

    train_until_killed_at_iteration_4(tiny_cfg(datasets_root / "resumed"), monkeypatch)
    assert os.path.isfile(datasets_root / "resumed" / "model_0000003.pth")
    seed_all(12345)  # a fresh process: whatever the seed, resuming restores every random state
    resumed = Trainer(tiny_cfg(datasets_root / "resumed"), resume=True)
    assert resumed.start_iter == 3
    resumed.train()
    assert [r["total_loss"] for r in resumed.history] == reference[3:]  # bitwise: same data, weights, RNG
    lines = open(datasets_root / "resumed" / "metrics.json").read().splitlines()
    assert json.loads(lines[-1])["iteration"] == 6


def _train_two_ranks(out_dir):
    from tubelink.utils import comm

    cfg = tiny_cfg(os.path.join(out_dir, "ddp"), max_iter=2)
    cfg.SOLVER.IMS_PER_BATCH = 2  # the global batch: one clip per process
    trainer = Trainer(cfg)
    trainer.train()
    weights = torch.cat([p.detach().flatten() for p in trainer.model.module.parameters()])
    torch.save(weights, os.path.join(out_dir, f"weights{comm.get_rank()}.pt"))


def test_two_gloo_processes_keep_identical_weights(datasets_root):
    from tubelink.data import DatasetCatalog

    DatasetCatalog.get("synthetic_vipseg_train")  # generate once, before the workers start
    launch(_train_two_ranks, num_gpus_per_machine=2, args=(str(datasets_root),))
    w0, w1 = (torch.load(datasets_root / f"weights{r}.pt") for r in (0, 1))
    assert torch.equal(w0, w1)


def _run(*args, env=None):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "train_net.py"), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="2", **(env or {})),
    )


def test_eval_only_prints_metrics(datasets_root):
    cfg = tiny_cfg(datasets_root / "e")
    trainer = Trainer(cfg)
    trainer.checkpoint(0, "model_init.pth")
    proc = _run(
        "--config-file",
        SMALL,
        "--eval-only",
        "MODEL.WEIGHTS",
        str(datasets_root / "e" / "model_init.pth"),
        "MODEL.DEVICE",
        "cpu",
        "OUTPUT_DIR",
        str(datasets_root / "e_eval"),
        "DATASETS.TEST",
        "('synthetic_vipseg_val', 'synthetic_ytvis_val')",
        "TEST.WINDOW_SIZE",
        "4",
        "INPUT.MIN_SIZE_TEST",  # 40 val videos: small frames keep this command-line test short
        "60",
        "MODEL.MASK_FORMER.DEC_LAYERS",  # the checkpoint's model (tiny_cfg); another one would be refused
        "3",
        env={"DETECTRON2_DATASETS": str(datasets_root / "data")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{\n") :])  # the printed results
    assert {"VPQ", "STQ", "VPQ@1"} <= set(results["synthetic_vipseg_val"])
    assert {"AP", "AP50", "AR10"} <= set(results["synthetic_ytvis_val"])  # the panoptic model seen as VIS


def test_broken_config_and_missing_dataset_are_clear(datasets_root):
    proc = _run("--config-file", SMALL, "SOLVER.NOT_A_KEY", "1")
    assert proc.returncode != 0 and "SOLVER.NOT_A_KEY" in proc.stderr
    proc = _run("--config-file", str(datasets_root / "nope.yaml"))
    assert proc.returncode != 0 and "nope.yaml: config file does not exist" in proc.stderr
    proc = _run(
        "--config-file",
        os.path.join(REPO, "configs", "vipseg", "tubelink_R50.yaml"),
        "MODEL.DEVICE",
        "cpu",
        "OUTPUT_DIR",
        str(datasets_root / "o"),
        env={"DETECTRON2_DATASETS": str(datasets_root / "empty")},
    )
    assert proc.returncode != 0 and "vipseg_train" in proc.stderr and "datasets/README.md" in proc.stderr


def test_non_finite_loss_stops_naming_term_and_iteration(datasets_root, monkeypatch):
    from tubelink.engine.trainer import NonFiniteLossError

    seed_all(3)
    trainer = Trainer(tiny_cfg(datasets_root / "nan"))
    real_forward = trainer.model.forward
    calls = {"n": 0}

    def forward(batch):
        losses = real_forward(batch)
        calls["n"] += 1
        if calls["n"] == 5:  # iteration index 4, after the checkpoint of iteration 3
            losses["loss_dice"] = losses["loss_dice"] * float("nan")
        return losses

    monkeypatch.setattr(trainer.model, "forward", forward)
    with pytest.raises(NonFiniteLossError, match="loss loss_dice = nan at iteration 4"):
        trainer.train()
    assert os.path.isfile(datasets_root / "nan" / "model_0000003.pth")
    assert open(datasets_root / "nan" / "last_checkpoint").read().strip() == "model_0000003.pth"


def test_step_logs_the_gradient_norm_before_clipping(datasets_root):
    """The step records the full-model norm before clipping, and the optimizer sees the clipped gradient (norm ==
    CLIP_VALUE when it binds): the logged value is what says whether SOLVER.CLIP_GRADIENTS.CLIP_VALUE is active."""
    cfg = tiny_cfg(datasets_root / "out_grad_norm", max_iter=2)
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 0.5
    seed_all(3)
    trainer = Trainer(cfg)
    record = trainer.run_step(0, next(iter(trainer.loader)))
    applied = torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in trainer.model.parameters() if p.grad is not None])
    )
    assert record["grad_norm"] > 0.5  # a fresh model's gradient is far above the clip value
    assert torch.isclose(applied, torch.tensor(0.5), rtol=1e-4)
