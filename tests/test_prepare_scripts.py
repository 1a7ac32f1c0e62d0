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


def test_prepare_kitti_step_panoptic_maps_alone_are_evaluable(tmp_path):
    """deeplab2's kitti-step.tar.gz without the KITTI images: the maps are arranged and a split evaluates."""
    from tubelink.data import DatasetCatalog, MetadataCatalog, register_kitti_step_panoptic
    from tubelink.evaluation.offline import evaluate_predictions

    src, dst, pred = tmp_path / "official", tmp_path / "kitti-step", tmp_path / "pred"
    os.makedirs(src / "panoptic_maps" / "val" / "0013")
    os.makedirs(pred)
    for t in range(3):
        label = np.full((6, 9, 3), (10, 0, 0), np.uint8)  # sky
        label[1:4, t : t + 3] = (13, 1, 4)  # car instance 260 = G * 256 + B
        Image.fromarray(label).save(src / "panoptic_maps" / "val" / "0013" / f"{t:06d}.png")
        Image.fromarray(label).save(pred / f"000013_{t:06d}_panoptic.png")  # a perfect submission
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "datasets", "prepare_kitti_step.py"), "--src", str(src), "--dst", str(dst)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    folder = dst / "video_sequence" / "val"
    assert sorted(os.listdir(folder)) == [f"000013_{t:06d}_panoptic.png" for t in range(3)]
    register_kitti_step_panoptic("maps_only_step", {"class_table": load_category_file("kitti_step")}, str(folder))
    try:
        (video,) = DatasetCatalog.get("maps_only_step")
        assert video["length"] == 3 and not os.path.exists(video["file_names"][0])
        metrics = evaluate_predictions("maps_only_step", str(pred), progress=False)
        assert metrics["STQ"] == 1.0 and metrics["num_tubes"] == 1  # the car (tubes count things)
    finally:
        DatasetCatalog.remove("maps_only_step")
        MetadataCatalog.remove("maps_only_step")
