#!/usr/bin/env python
"""Convert the raw VIPSeg release to the VIPSeg_720P panoptic layout tubelink (and the official VPQ tool) reads.

Raw input (--src):   imgs/<video>/<frame>.jpg, panomasks/<video>/<frame>.png, {train,val,test}.txt
    panomask value v: 0 = void; 1..124 = stuff class v-1; v > 124: thing class v//100 - 1, instance v % 100.
Output (--dst):      images/<video>/<frame>.jpg (short side 720, bilinear), panomasksRGB/<video>/<frame>.png
    (nearest; segment id = raw value), panoptic_gt_VIPSeg_<split>.json, <split>.txt

    python datasets/prepare_vipseg.py --src VIPSeg --dst $DETECTRON2_DATASETS/VIPSeg_720P --workers 8
Values that are not valid codes (a thing code of a stuff class, instance 0) become void and are counted.
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

NUM_CLASSES = 124


def decode_raw(value: int, is_thing: list) -> tuple | None:
    """(category id, is thing) of a raw panomask value, or None for void / invalid codes."""
    if value == 0:
        return None
    if value <= NUM_CLASSES:
        cat = value - 1
        return (cat, False) if not is_thing[cat] else None
    cat, inst = value // 100 - 1, value % 100
    if 0 <= cat < NUM_CLASSES and is_thing[cat] and inst > 0:
        return cat, True
    return None


def _resize(img: Image.Image, short: int, resample) -> Image.Image:
    w, h = img.size
    scale = short / min(w, h)
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), resample)


def convert_video(job) -> tuple:
    src, dst, video, short, is_thing = job
    frames = sorted(f[:-4] for f in os.listdir(os.path.join(src, "imgs", video)) if f.endswith(".jpg"))
    images, anns, invalid = [], [], 0
    for stem in frames:
        img = _resize(Image.open(os.path.join(src, "imgs", video, stem + ".jpg")).convert("RGB"), short, Image.BILINEAR)
        os.makedirs(os.path.join(dst, "images", video), exist_ok=True)
        img.save(os.path.join(dst, "images", video, stem + ".jpg"), quality=95)
        images.append(
            {"id": f"{video}_{stem}", "width": img.size[0], "height": img.size[1], "file_name": stem + ".png"}
        )
        mask_path = os.path.join(src, "panomasks", video, stem + ".png")
        if not os.path.isfile(mask_path):
            continue  # test split: no labels
        raw = np.asarray(_resize(Image.open(mask_path), short, Image.NEAREST)).astype(np.int64)
        ids = np.zeros_like(raw)
        infos = []
        for value in np.unique(raw).tolist():
            decoded = decode_raw(value, is_thing)
            if decoded is None:
                invalid += int(value != 0)
                continue
            mask = raw == value
            ids[mask] = value
            ys, xs = np.nonzero(mask)
            infos.append(
                {
                    "id": value,
                    "category_id": decoded[0],
                    "iscrowd": 0,
                    "area": int(mask.sum()),
                    "bbox": [int(xs.min()), int(ys.min()), int(np.ptp(xs) + 1), int(np.ptp(ys) + 1)],
                }
            )
        os.makedirs(os.path.join(dst, "panomasksRGB", video), exist_ok=True)
        Image.fromarray(id2rgb(ids)).save(os.path.join(dst, "panomasksRGB", video, stem + ".png"))
        anns.append({"image_id": f"{video}_{stem}", "file_name": stem + ".png", "segments_info": infos})
    return video, images, anns, invalid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True, help="raw VIPSeg folder (imgs/, panomasks/, *.txt)")
    parser.add_argument("--dst", required=True, help="output VIPSeg_720P folder")
    parser.add_argument("--short-side", type=int, default=720)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    table = load_category_file("vipseg")
    is_thing = [bool(r["isthing"]) for r in sorted(table.categories, key=lambda r: r["id"])]
    categories = [dict(r) for r in table.categories]
    for split in ("train", "val", "test"):
        split_file = os.path.join(args.src, f"{split}.txt")
        if not os.path.isfile(split_file):
            print(f"{split_file} not found; split skipped")
            continue
        videos = [v.strip() for v in open(split_file) if v.strip()]
        jobs = [(args.src, args.dst, v, args.short_side, is_thing) for v in videos]
        with Pool(args.workers) as pool:
            results = pool.map(convert_video, jobs)
        out = {"videos": [{"video_id": v, "images": im} for v, im, _, _ in results], "categories": categories}
        if any(a for _, _, a, _ in results):
            out["annotations"] = [{"video_id": v, "annotations": a} for v, _, a, _ in results]
        os.makedirs(args.dst, exist_ok=True)
        with open(os.path.join(args.dst, f"panoptic_gt_VIPSeg_{split}.json"), "w") as f:
            json.dump(out, f)
        with open(os.path.join(args.dst, f"{split}.txt"), "w") as f:
            f.write("".join(v + "\n" for v in videos))
        invalid = sum(r[3] for r in results)
        print(f"{split}: {len(videos)} videos written; {invalid} invalid mask values set to void")


if __name__ == "__main__":
    from tubelink.utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
