"""The dataset preparation scripts turn the raw releases into layouts our loaders read."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from tubelink.data import decode_frame
from tubelink.data.datasets import load_category_file, load_kitti_step_videos, load_vipseg_videos

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Meta:
    def __init__(self, name):
        self.class_table = load_category_file(name)


def test_prepare_vipseg_resizes_and_builds_panoptic_json(tmp_path):
    src, dst = tmp_path / "raw", tmp_path / "VIPSeg_720P"
    for t in range(2):
        os.makedirs(src / "imgs" / "v1", exist_ok=True)
        os.makedirs(src / "panomasks" / "v1", exist_ok=True)
        Image.fromarray(np.full((36, 48, 3), 100, np.uint8)).save(src / "imgs" / "v1" / f"{t:05d}.jpg")
        raw = np.ones((36, 48), np.uint16)  # stuff "wall" (class 0) everywhere
        raw[10:20, 10 + t : 20 + t] = 301  # thing "door" (class 2), instance 1
        raw[0, 0] = 0  # void
        raw[30:32, 0:4] = 200  # invalid code (stuff class 1 as a thing): becomes void
        Image.fromarray(raw).save(src / "panomasks" / "v1" / f"{t:05d}.png")  # 16-bit PNG
    (src / "train.txt").write_text("v1\n")
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "datasets", "prepare_vipseg.py"),
            "--src",
            str(src),
            "--dst",
            str(dst),
            "--short-side",
            "72",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "8 invalid mask values" not in out.stdout and "2 invalid mask values" in out.stdout
    meta = _Meta("vipseg")
    (video,) = load_vipseg_videos(str(dst), "train", "vipseg_train", meta.class_table)
    assert (video["height"], video["width"], video["length"]) == (72, 96, 2)
    fs = decode_frame(video, 1, meta)
    names = [meta.class_table.names[c] for c in fs.category_ids]
    assert sorted(names) == ["door", "wall"]
    door = fs.masks[names.index("door")]
    assert door[20:40, 22:42].all() and door.sum() == 400  # nearest-neighbour 2x upscale of the 10x10 square
    assert fs.ignore[0, 0] and fs.ignore[60:64, 0:8].all()


def test_prepare_kitti_step_layout(tmp_path):
    src, dst = tmp_path / "official", tmp_path / "kitti-step"
    for kind in ("images", "panoptic_maps"):
        os.makedirs(src / kind / "train" / "0002")
    for t in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src / "images" / "train" / "0002" / f"{t:06d}.png")
        label = np.zeros((8, 8, 3), np.uint8)
        label[..., 0] = 0  # road
        label[2:4, 2:4] = (13, 0, 1)  # car instance 1
        Image.fromarray(label).save(src / "panoptic_maps" / "train" / "0002" / f"{t:06d}.png")
    subprocess.run(
        [sys.executable, os.path.join(REPO, "datasets", "prepare_kitti_step.py"), "--src", str(src), "--dst", str(dst)],
        check=True,
        capture_output=True,
    )
    meta = _Meta("kitti_step")
    (video,) = load_kitti_step_videos(str(dst), "train", "kitti_step_train", meta.class_table)
    assert video["video_id"] == "000002" and video["length"] == 2
    fs = decode_frame(video, 0, meta)
    assert sorted(meta.class_table.names[c] for c in fs.category_ids) == ["car", "road"]
