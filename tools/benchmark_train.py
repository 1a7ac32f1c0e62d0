#!/usr/bin/env python
"""Training speed (iterations/s, clips/s) and peak memory of a config, as JSON.

    python tools/benchmark_train.py --config-file configs/synthetic/tubelink_small.yaml --iters 50

Runs the real trainer (data stream, forward, losses, backward, clipping, optimizer) for --warmup + --iters
iterations in a temporary output folder; peak memory is max RSS on CPU or max allocated on CUDA.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import tubelink  # noqa: E402, F401  (registers the datasets)
from tubelink.config import get_cfg  # noqa: E402
from tubelink.engine.defaults import seed_all  # noqa: E402
from tubelink.engine.trainer import Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="configs/synthetic/tubelink_small.yaml")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args()
    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.OUTPUT_DIR = tempfile.mkdtemp(prefix="tubelink_train_bench_")
    cfg.DATASETS.TEST = ()
    seed_all(0)
    trainer = Trainer(cfg)
    data = iter(trainer.loader)
    trainer.model.train()
    for i in range(args.warmup):
        trainer.run_step(i, next(data))
    start = time.perf_counter()
    for i in range(args.iters):
        trainer.run_step(args.warmup + i, next(data))
    seconds = time.perf_counter() - start
    device = trainer.device
    peak = (
        torch.cuda.max_memory_allocated()
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    clips = trainer.loader.batch_size  # this process's share of SOLVER.IMS_PER_BATCH
    print(
        json.dumps(
            {
                "config": args.config_file,
                "device": device.type,
                "iters": args.iters,
                "clips_per_iter": clips,
                "frames_per_clip": cfg.MODEL.TUBE_LINK.NUM_FRAMES * cfg.MODEL.TUBE_LINK.NUM_SUBCLIPS,
                "crop": list(cfg.INPUT.CROP.SIZE) if cfg.INPUT.CROP.ENABLED else None,
                "iters_per_s": round(args.iters / seconds, 2),
                "clips_per_s": round(args.iters * clips / seconds, 2),
                "peak_memory_MiB": round(peak / 2**20, 1),
            }
        )
    )


if __name__ == "__main__":
    from tubelink.utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
