#!/usr/bin/env python
"""Convert the raw VIPSeg release to VIPSeg_720P, as the authors' three scripts do, in one pass.

Raw input (--src):   imgs/<video>/<frame>.jpg, panomasks/<video>/<frame>.png, {train,val,test}.txt
    panomask value v: 0 = void; v < 125: category v - 1; v >= 125: category v // 100 - 1, instance v % 100
    (instance 0 is an instance: the VIPSeg README's person = 6100, 6101, ...).
Output (--dst):      what change2_720p.py + create_panoptic_video_labels.py + splitjson.py write:
    images/<video>/<frame>.jpg          height 720, width int(720 * w / h), bilinear, PIL's default JPEG quality
    panomasksRGB/<video>/<frame>.png    the mask resized the same way with nearest, as COCO panoptic RGB
    panoptic_gt_VIPSeg_<split>.json     segments_info per frame in ascending raw value, area = pixel count
    <split>.txt
Two deliberate differences: segment ids are deterministic (raw value for things, category + 1 for stuff, where
panopticapi draws random colours; any ids stable over a video score the same), and the test split, which the
official scripts skip (no masks), is written too: its frames and a JSON with videos but no annotations.

    python datasets/prepare_vipseg.py --src VIPSeg --dst $DETECTRON2_DATASETS/VIPSeg_720P --workers 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tubelink.data.codecs import id2rgb  # noqa: E402
from tubelink.data.datasets.common import load_category_file  # noqa: E402
from tubelink.data.datasets.vipseg import panoptic_from_raw  # noqa: E402

TARGET_HEIGHT = 720  # change2_720p.py


def target_size(width: int, height: int) -> tuple:
    """(width, height) of a converted frame: height 720, width int(720 * w / h), as change2_720p.py."""
    return int(TARGET_HEIGHT * width / height), TARGET_HEIGHT


def convert_video(job) -> tuple:
    """Convert one video; returns (video, JSON images, JSON annotations or None when it has no mask)."""
    src, dst, video, is_thing = job
    folder = os.path.join(src, "imgs", video)
    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    images, anns = [], []
    for name in names:
        stem = name.split(".")[0]
        img = Image.open(os.path.join(folder, name))
        size = target_size(*img.size)
        os.makedirs(os.path.join(dst, "images", video), exist_ok=True)
        img.resize(size, Image.BILINEAR).save(os.path.join(dst, "images", video, name))
        images.append({"id": stem, "width": size[0], "height": size[1], "file_name": stem + ".png"})
        mask_path = os.path.join(src, "panomasks", video, stem + ".png")
        if not os.path.isfile(mask_path):
            continue  # test split: frames only
        raw = np.array(Image.open(mask_path).resize(size, Image.NEAREST)).astype(np.int64)
        ids, infos = panoptic_from_raw(raw, is_thing, mask_path)
        os.makedirs(os.path.join(dst, "panomasksRGB", video), exist_ok=True)
        Image.fromarray(id2rgb(ids)).save(os.path.join(dst, "panomasksRGB", video, stem + ".png"))
        anns.append({"image_id": stem, "file_name": stem + ".png", "segments_info": infos})
    if anns and len(anns) != len(images):
        raise ValueError(f"{os.path.join(src, 'panomasks', video)}: {len(images) - len(anns)} frames have no mask")
    return video, images, anns or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True, help="raw VIPSeg folder (imgs/, panomasks/, *.txt)")
    parser.add_argument("--dst", required=True, help="output VIPSeg_720P folder")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    from tubelink.utils.errors import InputError

    if not os.path.isdir(args.src):
        raise InputError(args.src, "--src is not a folder", "give the unpacked official VIPSeg release")
    if not any(os.path.isfile(os.path.join(args.src, f"{s}.txt")) for s in ("train", "val", "test")):
        raise InputError(args.src, "no train.txt / val.txt / test.txt: not the official VIPSeg layout")
    table = load_category_file("vipseg")
    is_thing = [bool(r["isthing"]) for r in sorted(table.categories, key=lambda r: r["id"])]
    for split in ("train", "val", "test"):
        split_file = os.path.join(args.src, f"{split}.txt")
        if not os.path.isfile(split_file):
            print(f"{split_file} not found; split skipped")
            continue
        with open(split_file, encoding="utf-8") as f:
            videos = [v.strip() for v in f if v.strip()]
        jobs = [(args.src, args.dst, v, is_thing) for v in videos]
        try:
            if args.workers > 1:
                with Pool(args.workers) as pool:
                    results = pool.map(convert_video, jobs)
            else:
                results = [convert_video(job) for job in jobs]
        except (OSError, ValueError) as err:
            sys.exit(f"error: {err}")
        out = {"videos": [{"video_id": v, "images": im} for v, im, _ in results], "categories": list(table.categories)}
        if any(a is not None for _, _, a in results):
            out["annotations"] = [{"video_id": v, "annotations": a or []} for v, _, a in results]
        os.makedirs(args.dst, exist_ok=True)
        with open(os.path.join(args.dst, f"panoptic_gt_VIPSeg_{split}.json"), "w", encoding="utf-8") as f:
            json.dump(out, f)
        with open(os.path.join(args.dst, f"{split}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(v + "\n" for v in videos))
        labelled = sum(a is not None for _, _, a in results)
        print(f"{split}: {len(videos)} videos written ({labelled} with masks)")


if __name__ == "__main__":
    from tubelink.utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
