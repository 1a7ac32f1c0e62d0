"""The VIPSeg authors' release conventions, written here independently of tubelink's code (test helper).

`raw_release` writes a tiny raw release (imgs/, panomasks/ with 16-bit values: stuff = category + 1, thing =
(category + 1) * 100 + instance, instances from 0). `official_conversion` turns it into VIPSeg_720P exactly as the
authors' `change2_720p.py` + `create_panoptic_video_labels.py` + `splitjson.py` do (VIPSeg-Dataset @ 92e1459),
panopticapi's IdGenerator included: stuff gets its category colour, the first instance of a thing class in a video
its category colour unless taken, later ones a random colour within +-30 (numpy's global generator, seeded here).
With np.random.seed(0) its output was compared with the official scripts themselves run on the same raw release
(panopticapi @ HEAD, Pillow 11): identical PNG pixels and JSON.
"""

import json
import os

import numpy as np
from PIL import Image

RAW_HEIGHT, RAW_WIDTH = 37, 50  # -> 720 x int(720 * 50 / 37) = 972 after change2_720p.py
PERSON, DOOR, CAR, WALL, FLOOR = 60, 2, 48, 0, 13  # category ids (raw codes are id + 1)


def raw_frame(video: int, t: int) -> np.ndarray:
    """uint16 (37, 50) raw panomask: wall / floor stuff, person instances 0 and 1, door instance 0, car instance 3,
    a void strip; objects move with t."""
    raw = np.full((RAW_HEIGHT, RAW_WIDTH), WALL + 1, np.uint16)
    raw[25:] = FLOOR + 1
    raw[5:20, 3 + t : 11 + t] = (PERSON + 1) * 100 + 0  # person 6100: instance 0 is a real instance
    raw[8:30, 20 + 2 * t : 27 + 2 * t] = (PERSON + 1) * 100 + 1  # person 6101
    if video == 0:
        raw[2:12, 35:45] = (DOOR + 1) * 100  # door 300 (instance 0 again)
    raw[28:35, 30 - t : 44 - t] = (CAR + 1) * 100 + 3  # car 4903; the car colour is taken by a stuff class
    raw[0, :] = 0  # void
    return raw


def raw_release(src: str, videos=("v0", "v1"), frames: int = 3, test_videos=("t0",)) -> None:
    """Write the raw release under `src`: labelled train videos and a test video without panomasks."""
    rng = np.random.default_rng(0)
    for v, video in enumerate(list(videos) + list(test_videos)):
        os.makedirs(os.path.join(src, "imgs", video))
        for t in range(frames):
            pixels = rng.integers(0, 255, (RAW_HEIGHT, RAW_WIDTH, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(src, "imgs", video, f"{t:08d}.jpg"))
            if video in videos:
                os.makedirs(os.path.join(src, "panomasks", video), exist_ok=True)
                Image.fromarray(raw_frame(v, t)).save(os.path.join(src, "panomasks", video, f"{t:08d}.png"))
    with open(os.path.join(src, "train.txt"), "w") as f:
        f.write("".join(v + "\n" for v in videos))
    with open(os.path.join(src, "test.txt"), "w") as f:
        f.write("".join(v + "\n" for v in test_videos))


def _id_generator(categories):
    taken = {0}  # panopticapi: set([0, 0, 0])
    taken |= {tuple(c["color"]) for c in categories.values() if not c["isthing"]}

    def color(cat):
        base = tuple(categories[cat]["color"])
        if not categories[cat]["isthing"]:
            return base
        if base not in taken:
            taken.add(base)
            return base
        while True:
            new = tuple(int(x) for x in np.clip(np.array(base) + np.random.randint(-30, 31, size=3), 0, 255))
            if new not in taken:
                taken.add(new)
                return new

    return color


def official_conversion(src: str, dst: str, categories: list, seed: int = 0) -> None:
    """VIPSeg_720P under `dst` from the raw release under `src`, as the authors' three scripts write it."""
    np.random.seed(seed)
    by_id = {c["id"]: c for c in categories}
    videos, annotations = [], []
    for video in sorted(os.listdir(os.path.join(src, "panomasks"))):  # test videos have no masks: skipped
        color_of = _id_generator(by_id)
        seen = {}
        images, anns = [], []
        for name in sorted(os.listdir(os.path.join(src, "imgs", video))):
            img = Image.open(os.path.join(src, "imgs", video, name))
            w, h = img.size
            size = (int(720 * w / h), 720)
            os.makedirs(os.path.join(dst, "images", video), exist_ok=True)
            img.resize(size, Image.BILINEAR).save(os.path.join(dst, "images", video, name))
            stem = name.split(".")[0]
            raw = np.array(Image.open(os.path.join(src, "panomasks", video, stem + ".png")).resize(size, Image.NEAREST))
            pan = np.zeros(raw.shape + (3,), np.uint8)
            segments = {}
            for value in np.unique(raw).tolist():
                if value == 0:
                    continue
                cat = (value if value < 125 else value // 100) - 1
                if value not in seen:
                    rgb = color_of(cat)
                    seen[value] = (rgb[0] + 256 * rgb[1] + 256 * 256 * rgb[2], rgb)
                segment_id, rgb = seen[value]
                pan[raw == value] = rgb
                segments[segment_id] = {"id": segment_id, "category_id": cat, "iscrowd": 0}
            wide = pan.astype(np.int64)
            ids = wide[..., 0] + 256 * wide[..., 1] + 256 * 256 * wide[..., 2]
            for segment_id, count in zip(*np.unique(ids, return_counts=True)):
                if segment_id:
                    segments[int(segment_id)]["area"] = int(count)
            os.makedirs(os.path.join(dst, "panomasksRGB", video), exist_ok=True)
            Image.fromarray(pan).save(os.path.join(dst, "panomasksRGB", video, stem + ".png"))
            images.append({"id": stem, "width": size[0], "height": size[1], "file_name": stem + ".png"})
            anns.append({"image_id": stem, "file_name": stem + ".png", "segments_info": list(segments.values())})
        videos.append({"video_id": video, "images": images})
        annotations.append({"video_id": video, "annotations": anns})
    with open(os.path.join(src, "train.txt")) as f:
        train = [line[:-1] for line in f]
    split = {
        "videos": [v for v in videos if v["video_id"] in train],
        "annotations": [a for a in annotations if a["video_id"] in train],
        "categories": categories,
    }
    with open(os.path.join(dst, "panoptic_gt_VIPSeg_train.json"), "w") as f:
        json.dump(split, f)
