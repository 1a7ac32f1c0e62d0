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

from ...utils.errors import require_output_folder, run_command
from ..builtin import SYNTHETIC_OPTIONS
from ..datasets import FORMATS
from .ensure import ensure_synthetic_dataset
from .generate import DIFFICULTY_PRESETS, SyntheticOptions


def _difficulty(text: str) -> float:
    if text in DIFFICULTY_PRESETS:
        return DIFFICULTY_PRESETS[text]
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        presets = list(DIFFICULTY_PRESETS)
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1] or one of {presets}, got {text!r}")
    return value


def _at_least(minimum: int):
    """An argparse type: a whole number >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
        return value

    return parse


def main(argv: Optional[List[str]] = None) -> None:
    """Parse arguments and generate every requested (format, split)."""
    default_root = os.path.join(os.environ.get("DETECTRON2_DATASETS", "datasets"), "synthetic")
    parser = argparse.ArgumentParser(description="Generate the synthetic video segmentation benchmark.")
    parser.add_argument("--root", default=default_root, help="output folder (default: $DETECTRON2_DATASETS/synthetic)")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=sorted(FORMATS))
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val", "test", "images"])
    # Unset options take the values of the registered synthetic_* splits, so what the CLI writes is what
    # training and evaluation use (a split made with other options is regenerated on use).
    parser.add_argument("--num-videos", type=_at_least(1))
    parser.add_argument("--num-frames", type=_at_least(1))
    parser.add_argument("--height", type=_at_least(32))
    parser.add_argument("--width", type=_at_least(32))
    parser.add_argument("--seed", type=int)
    parser.add_argument("--difficulty", type=_difficulty, help=f"0..1 or a preset: {', '.join(DIFFICULTY_PRESETS)}")
    args = parser.parse_args(argv)
    require_output_folder(args.root, "--root")
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
    run_command(main)
