"""Command line: write the synthetic benchmark in one or more benchmark formats.

    python -m tubelink.data.synthetic --root datasets/synthetic --formats vipseg ytvis vspw kitti_step
"""
from __future__ import annotations

import argparse
import logging
import os
import time
from typing import List, Optional

from .ensure import ensure_synthetic_dataset
from .generate import DIFFICULTY_PRESETS, SyntheticOptions

FORMATS = ("vipseg", "ytvis", "vspw", "kitti_step")


def _difficulty(text: str) -> float:
    if text in DIFFICULTY_PRESETS:
        return DIFFICULTY_PRESETS[text]
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"difficulty must be a number in [0, 1] or one of {list(DIFFICULTY_PRESETS)}")


def main(argv: Optional[List[str]] = None) -> None:
    """Parse arguments and generate every requested (format, split)."""
    default_root = os.path.join(os.environ.get("DETECTRON2_DATASETS", "datasets"), "synthetic")
    parser = argparse.ArgumentParser(description="Generate the synthetic video segmentation benchmark.")
    parser.add_argument("--root", default=default_root, help="output folder (default: $DETECTRON2_DATASETS/synthetic)")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val", "test"])
    defaults = SyntheticOptions()
    parser.add_argument("--num-videos", type=int, default=defaults.num_videos)
    parser.add_argument("--num-frames", type=int, default=defaults.num_frames)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--difficulty", type=_difficulty, default=defaults.difficulty,
                        help=f"0..1 or a preset: {', '.join(DIFFICULTY_PRESETS)}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = SyntheticOptions(num_videos=args.num_videos, num_frames=args.num_frames, height=args.height,
                               width=args.width, seed=args.seed, difficulty=args.difficulty)
    for fmt in args.formats:
        for split in args.splits:
            start = time.perf_counter()
            path = ensure_synthetic_dataset(os.path.join(args.root, fmt), fmt, split, options)
            print(f"{fmt:>10} {split:<5} -> {path} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
