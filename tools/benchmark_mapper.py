#!/usr/bin/env python
"""Throughput of the training mapper (clips/s and frames/s) on a registered split, printed as JSON.

    python tools/benchmark_mapper.py --dataset synthetic_vipseg_train --num-clips 200 --crop 96 96
    python tools/benchmark_mapper.py --config-file configs/vipseg/tubelink_R50.yaml --dataset vipseg_train

The split is generated on first use when it is a synthetic one. `--workers N` measures N DataLoader workers
through the same deterministic clip stream training uses.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tubelink  # noqa: E402, F401  (registers the splits)
from tubelink.config import get_cfg  # noqa: E402
from tubelink.data.build import ClipStream, build_train_loader, load_video_dicts  # noqa: E402
from tubelink.data.mappers import TubeClipMapper  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="")
    parser.add_argument("--dataset", default="synthetic_vipseg_train")
    parser.add_argument("--num-clips", type=int, default=200)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--crop", type=int, nargs=2, default=None, metavar=("H", "W"))
    parser.add_argument("--min-size", type=int, default=None, help="INPUT.MIN_SIZE_TRAIN (0 keeps the frame size)")
    args = parser.parse_args()
    cfg = get_cfg()
    if args.config_file:
        cfg.merge_from_file(args.config_file)
    if args.crop:
        cfg.INPUT.CROP.SIZE = list(args.crop)
    if args.min_size is not None:
        cfg.INPUT.MIN_SIZE_TRAIN = (args.min_size,)
    elif not args.config_file:
        cfg.INPUT.MIN_SIZE_TRAIN = (0,)
    start = time.perf_counter()
    (videos,) = load_video_dicts([args.dataset])
    load_s = time.perf_counter() - start
    mapper = TubeClipMapper.from_config(cfg)
    loader = build_train_loader(ClipStream([videos], [mapper], seed=0, clips_per_iter=1, rank=0), args.workers)
    it = iter(loader)
    next(it)  # warm-up (worker start-up, first file reads)
    start = time.perf_counter()
    frames = 0
    for batch in itertools.islice(it, args.num_clips):
        frames += sum(clip["image"].shape[0] for clip in batch)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "dataset": args.dataset,
                "num_videos": len(videos),
                "dataset_load_s": round(load_s, 3),
                "num_clips": args.num_clips,
                "workers": args.workers,
                "frames_per_clip": cfg.MODEL.TUBE_LINK.NUM_FRAMES * cfg.MODEL.TUBE_LINK.NUM_SUBCLIPS,
                "crop": list(cfg.INPUT.CROP.SIZE) if cfg.INPUT.CROP.ENABLED else None,
                "seconds": round(seconds, 3),
                "clips_per_s": round(args.num_clips / seconds, 2),
                "frames_per_s": round(frames / seconds, 2),
            }
        )
    )


if __name__ == "__main__":
    from tubelink.utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
