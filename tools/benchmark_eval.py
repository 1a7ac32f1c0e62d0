#!/usr/bin/env python
"""Time offline VPQ + STQ evaluation of a VIPSeg-sized split and print seconds and frames/s as JSON.

VIPSeg val has 343 videos (8,255 frames, 720p). The default here is the same number of videos and frames per
video at 360x640 (a quarter of the pixels) so that the data can be generated quickly on a small machine; pass
--height 720 --width 1280 for the full size. Predictions are the ground truth shifted by 4 pixels (every segment
changes, so matching and FP/FN bookkeeping run for real). Evaluation uses one process per core.

    python tools/benchmark_eval.py --num-videos 343 --num-frames 24 --height 360 --width 640
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from multiprocessing import Pool

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tubelink.data.codecs import id2rgb, rgb2id  # noqa: E402
from tubelink.data.datasets import get_format  # noqa: E402
from tubelink.data.synthetic import SyntheticOptions, generate_video, load_class_table  # noqa: E402
from tubelink.evaluation.vipseg_files import evaluate_vipseg_submission  # noqa: E402


def _write_video(job):
    root, options, index = job
    get_format("vipseg").write_synthetic_split(
        os.path.join(root, f"part{index}"), "val", [generate_video(options, index, "val")], load_class_table()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-videos", type=int, default=343)
    parser.add_argument("--num-frames", type=int, default=24)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--keep", default="", help="keep the generated data in this folder")
    args = parser.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="tubelink_eval_bench_")
    options = SyntheticOptions(
        num_videos=args.num_videos, num_frames=args.num_frames, height=args.height, width=args.width
    )
    start = time.perf_counter()
    with Pool(args.workers) as pool:  # one video per job, then merge the per-video JSONs into one split
        pool.map(_write_video, [(root, options, i) for i in range(args.num_videos)])
    merged = {"videos": [], "annotations": [], "categories": None}
    pred = {"annotations": []}
    for i in range(args.num_videos):
        part = os.path.join(root, f"part{i}")
        data = json.load(open(os.path.join(part, "panoptic_gt_VIPSeg_val.json")))
        merged["videos"] += data["videos"]
        merged["annotations"] += data["annotations"]
        merged["categories"] = data["categories"]
        for video, anns in zip(data["videos"], data["annotations"]):
            vid = video["video_id"]
            shutil.move(os.path.join(part, "panomasksRGB", vid), os.path.join(root, "gt", vid))
            os.makedirs(os.path.join(root, "pan_pred", vid))
            for ann in anns["annotations"]:
                ids = rgb2id(np.asarray(Image.open(os.path.join(root, "gt", vid, ann["file_name"]))))
                Image.fromarray(id2rgb(np.roll(ids, 4, axis=1))).save(
                    os.path.join(root, "pan_pred", vid, ann["file_name"])
                )
            pred["annotations"].append(
                {
                    "video_id": vid,
                    "annotations": [
                        {
                            "segments_info": [
                                {"id": s["id"], "category_id": s["category_id"]} for s in a["segments_info"]
                            ]
                        }
                        for a in anns["annotations"]
                    ],
                }
            )
        shutil.rmtree(part)
    json.dump(merged, open(os.path.join(root, "gt.json"), "w"))
    json.dump(pred, open(os.path.join(root, "pred.json"), "w"))
    generate_s = time.perf_counter() - start
    start = time.perf_counter()
    result = evaluate_vipseg_submission(
        os.path.join(root, "gt.json"),
        os.path.join(root, "gt"),
        os.path.join(root, "pred.json"),
        os.path.join(root, "pan_pred"),
        progress=False,
        num_workers=args.workers,
    )
    seconds = time.perf_counter() - start
    frames = args.num_videos * args.num_frames
    print(
        json.dumps(
            {
                "videos": args.num_videos,
                "frames": frames,
                "height": args.height,
                "width": args.width,
                "workers": args.workers,
                "generate_s": round(generate_s, 1),
                "seconds": round(seconds, 2),
                "frames_per_s": round(frames / seconds, 1),
                "windows": [1, 2, 4, 6, 8],
                "VPQ": round(result["VPQ"], 3),
                "STQ": round(result["STQ"], 4),
            }
        )
    )
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    from tubelink.utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
