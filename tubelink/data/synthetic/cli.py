"""Command line: write the synthetic benchmark in one or more benchmark formats.

python -m tubelink.data.synthetic --root datasets/synthetic --formats vipseg ytvis vspw kitti_step
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import replace
from typing import List, Optional

from ..builtin import SYNTHETIC_OPTIONS
from ..datasets import FORMATS
from .ensure import ensure_synthetic_dataset
from .generate import DIFFICULTY_PRESETS, SyntheticOptions


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
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=sorted(FORMATS))
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val", "test", "images"])
    # Unset options take the values of the registered synthetic_* splits, so what the CLI writes is what
    # training and evaluation use (a split made with other options is regenerated on use).
    parser.add_argument("--num-videos", type=int)
    parser.add_argument("--num-frames", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--difficulty", type=_difficulty, help=f"0..1 or a preset: {', '.join(DIFFICULTY_PRESETS)}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    given = {k: getattr(args, k) for k in ("num_videos", "num_frames", "height", "width", "seed", "difficulty")}
    for fmt in args.formats:
        for split in args.splits:
            base = SYNTHETIC_OPTIONS.get(split, SyntheticOptions())
            options = replace(base, **{k: v for k, v in given.items() if v is not None})
            start = time.perf_counter()
            path = ensure_synthetic_dataset(os.path.join(args.root, fmt), fmt, split, options)
            print(f"{fmt:>10} {split:<5} -> {path} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
