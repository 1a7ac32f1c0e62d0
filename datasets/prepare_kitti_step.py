#!/usr/bin/env python
"""Arrange the official KITTI-STEP release in the video_sequence layout tubelink reads (hard links, no copies).

Official input (--src): images/<split>/<seq:04d>/<frame:06d>.png (from KITTI-MOTS/raw) and
                        panoptic_maps/<split>/<seq:04d>/<frame:06d>.png
Output (--dst):         video_sequence/<split>/<seq:06d>_<frame:06d>_leftImg8bit.png and ..._panoptic.png

    python datasets/prepare_kitti_step.py --src kitti-step-official --dst $DETECTRON2_DATASETS/kitti-step
"""

from __future__ import annotations

import argparse
import os
import shutil


def link(src: str, dst: str) -> None:
    """Hard-link `src` to `dst` (copy across file systems)."""
    if os.path.exists(dst):
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True)
    parser.add_argument("--dst", required=True)
    args = parser.parse_args()
    from tubelink.utils.errors import InputError

    if not os.path.isdir(args.src):
        raise InputError(args.src, "--src is not a folder", "give the unpacked official KITTI-STEP release")
    splits = [s for s in ("train", "val", "test") if os.path.isdir(os.path.join(args.src, "images", s))]
    if not splits:
        raise InputError(args.src, "no images/{train,val,test} folder: not the official KITTI-STEP layout")
    for split in ("train", "val", "test"):
        image_dir = os.path.join(args.src, "images", split)
        if not os.path.isdir(image_dir):
            print(f"{image_dir} not found; split skipped")
            continue
        out = os.path.join(args.dst, "video_sequence", split)
        os.makedirs(out, exist_ok=True)
        count = 0
        for seq in sorted(os.listdir(image_dir)):
            for name in sorted(os.listdir(os.path.join(image_dir, seq))):
                stem = f"{int(seq):06d}_{int(os.path.splitext(name)[0]):06d}"
                link(os.path.join(image_dir, seq, name), os.path.join(out, stem + "_leftImg8bit.png"))
                label = os.path.join(args.src, "panoptic_maps", split, seq, name)
                if os.path.isfile(label):
                    link(label, os.path.join(out, stem + "_panoptic.png"))
                count += 1
        print(f"{split}: {count} frames arranged in {out}")


if __name__ == "__main__":
    from tubelink.utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
