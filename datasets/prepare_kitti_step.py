#!/usr/bin/env python
"""Arrange the official KITTI-STEP release in the video_sequence layout tubelink reads (hard links, no copies).

Official input (--src): images/<split>/<seq:04d>/<frame:06d>.png (from KITTI-MOTS/raw) and/or
                        panoptic_maps/<split>/<seq:04d>/<frame:06d>.png (the maps alone suffice to evaluate)
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
    layouts = [os.path.join(args.src, top, s) for s in ("train", "val", "test") for top in ("images", "panoptic_maps")]
    if not any(os.path.isdir(folder) for folder in layouts):
        raise InputError(args.src, "no images/ or panoptic_maps/ split folder: not the official KITTI-STEP layout")
    for split in ("train", "val", "test"):
        # Either folder may be absent: evaluation reads the panoptic maps only, and the test split has no maps.
        roots = {kind: os.path.join(args.src, kind, split) for kind in ("images", "panoptic_maps")}
        frames = {
            (seq, name)
            for root in roots.values()
            if os.path.isdir(root)
            for seq in os.listdir(root)
            for name in os.listdir(os.path.join(root, seq))
        }
        if not frames:
            print(f"{roots['images']} and {roots['panoptic_maps']} not found; split skipped")
            continue
        out = os.path.join(args.dst, "video_sequence", split)
        os.makedirs(out, exist_ok=True)
        counts = {"leftImg8bit": 0, "panoptic": 0}
        for seq, name in sorted(frames):
            stem = f"{int(seq):06d}_{int(os.path.splitext(name)[0]):06d}"
            for kind, suffix in (("images", "leftImg8bit"), ("panoptic_maps", "panoptic")):
                source = os.path.join(roots[kind], seq, name)
                if os.path.isfile(source):
                    link(source, os.path.join(out, f"{stem}_{suffix}.png"))
                    counts[suffix] += 1
        print(f"{split}: {counts['leftImg8bit']} frames and {counts['panoptic']} panoptic maps arranged in {out}")


if __name__ == "__main__":
    from tubelink.utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
