"""detectron2's command line (`default_argument_parser`) and run set-up (`default_setup`) for tubelink."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
from typing import Optional

import numpy as np
import torch

from ..config import CfgNode, get_cfg
from ..utils import comm
from ..utils.logger import setup_logger

__all__ = ["default_argument_parser", "setup_cfg", "resolve_seed", "default_setup", "seed_all"]


def default_argument_parser(description: str = "Tube-Link training and evaluation") -> argparse.ArgumentParser:
    """The flags of detectron2's `default_argument_parser`, with the same meaning."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Examples:\n"
            "  python train_net.py --config-file configs/synthetic/tubelink_small.yaml\n"
            "  python train_net.py --config-file cfg.yaml --num-gpus 8 SOLVER.IMS_PER_BATCH 16  # 2 clips per GPU\n"
            "  python train_net.py --config-file cfg.yaml --eval-only MODEL.WEIGHTS model_final.pth\n"
            "  torchrun --nproc-per-node 8 train_net.py --config-file cfg.yaml"
        ),
    )
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to the YAML config")
    parser.add_argument("--resume", action="store_true", help="resume from OUTPUT_DIR's last checkpoint")
    parser.add_argument("--eval-only", action="store_true", help="only evaluate MODEL.WEIGHTS")
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per machine (CPU workers without CUDA)")
    parser.add_argument("--num-machines", type=int, default=1, help="total number of machines")
    parser.add_argument("--machine-rank", type=int, default=0, help="the rank of this machine")
    parser.add_argument("--dist-url", default="auto", help="initialisation URL for torch.distributed")
    parser.add_argument(
        "--engine",
        choices=("native", "detectron2"),
        default="native",
        help="native: tubelink's own trainer (no detectron2 needed); detectron2: detectron2's DefaultTrainer, "
        "launch and DetectionCheckpointer through tubelink.detectron2 (needs detectron2 installed)",
    )
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="KEY VALUE pairs overriding the config")
    return parser


def setup_cfg(args: argparse.Namespace, world_size: Optional[int] = None) -> CfgNode:
    """The frozen config of a run: defaults <- --config-file <- KEY VALUE overrides.

    For training, SOLVER.IMS_PER_BATCH (clips per iteration over all processes) is checked against the number of
    processes (`world_size`, default this job's), before anything is built; SEED -1 becomes the drawn seed
    (`resolve_seed`).
    """
    from ..data.build import clips_per_process

    cfg = get_cfg()
    if args.config_file:
        cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts or [])
    if not getattr(args, "eval_only", False):
        clips_per_process(cfg.SOLVER.IMS_PER_BATCH, world_size or comm.get_world_size())
    resolve_seed(cfg)
    cfg.freeze()
    return cfg


def resolve_seed(cfg: CfgNode) -> None:
    """SEED < 0 (draw one): replace it, in the unfrozen `cfg`, by a seed drawn on rank 0 and shared by every process.

    The model's initialisation and the training clip stream then both follow cfg.SEED, and the run's config.yaml
    and log name the seed that reproduces it (detectron2 draws one per process and the data stream cannot be rerun).
    """
    if cfg.SEED < 0:
        cfg.SEED = comm.all_gather(int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF)[0]


def seed_all(seed: int) -> int:
    """Seed Python, numpy and torch; a negative seed draws one. Returns the seed used."""
    if seed < 0:
        seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def default_setup(cfg: CfgNode, args: argparse.Namespace) -> logging.Logger:
    """Output folder, logger (`log.txt`), environment and argument record, resolved `config.yaml`, seeds.

    Every rank seeds with SEED + rank so data augmentation differs between processes but runs are reproducible.
    """
    rank = comm.get_rank()
    if rank == 0 and cfg.OUTPUT_DIR:
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    comm.synchronize()
    logger = setup_logger(cfg.OUTPUT_DIR, distributed_rank=rank)
    logger.info(f"Rank {rank} of {comm.get_world_size()}; torch {torch.__version__}; python {sys.version.split()[0]}")
    logger.info(f"Command line arguments: {json.dumps(vars(args))}")
    if rank == 0 and cfg.OUTPUT_DIR:
        path = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
        cfg.dump_to(path)
        logger.info(f"Full config saved to {path}")
    seed = seed_all(cfg.SEED + rank if cfg.SEED >= 0 else cfg.SEED)  # setup_cfg resolved SEED -1 already
    logger.info(f"Seed {cfg.SEED} (+ rank {rank})" if cfg.SEED >= 0 else f"Seed drawn: {seed}")
    torch.backends.cudnn.benchmark = cfg.CUDNN_BENCHMARK
    return logger
