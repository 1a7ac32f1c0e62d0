"""The dataset preparation scripts turn the raw releases into layouts our loaders read (VIPSeg's, compared
with the authors' own conversion, is in test_official_conventions.py)."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from tubelink.data import decode_frame
from tubelink.data.datasets import get_format, load_category_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Meta:
    def __init__(self, name):
        self.class_table = load_category_file(name)


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
    (video,) = get_format("kitti_step").load(
        "kitti_step_train", meta.class_table, str(dst / "video_sequence" / "train")
    )
    assert video["video_id"] == "000002" and video["length"] == 2
    fs = decode_frame(video, 0, meta)
    assert sorted(meta.class_table.names[c] for c in fs.category_ids) == ["car", "road"]
