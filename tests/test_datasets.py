"""Formats: writer -> loader -> decoder equals the source; registered metadata; bad input is named."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import tubelink  # noqa: F401  (registers the splits)
from tubelink.data import DatasetCatalog, MetadataCatalog, decode_frame
from tubelink.data.builtin import synthetic_class_table as _synthetic_table
from tubelink.data.datasets import get_format
from tubelink.data.synthetic import SyntheticOptions, generate_videos, load_class_table

OPT = SyntheticOptions(num_videos=2, num_frames=3, height=40, width=48, difficulty=0.6)


class _Meta:
    def __init__(self, table):
        self.class_table = table


def _load(fmt, root, split="train"):
    table = _synthetic_table(fmt)
    benchmark = get_format(fmt)
    return benchmark.load("t", table, **benchmark.synthetic_paths(str(root), split)), table


@pytest.mark.parametrize("fmt", ["vipseg", "kitti_step", "vspw", "ytvis"])
def test_writer_loader_decoder_roundtrip(tmp_path, fmt):
    videos = list(generate_videos(OPT))
    get_format(fmt).write_synthetic_split(str(tmp_path), "train", videos, load_class_table())
    loaded, table = _load(fmt, str(tmp_path))
    assert len(loaded) == 2
    names = {r["id"]: r["name"] for r in load_class_table()}
    for src, vd in zip(videos, loaded):
        assert vd["length"] == 3 and (vd["height"], vd["width"]) == (40, 48)
        relabel = {}
        for t in range(3):
            fs = decode_frame(vd, t, _Meta(table))
            emap = src.entity_map[t]
            expected = {e for e in np.unique(emap).tolist() if e and (fmt != "ytvis" or src.entities[e].is_thing)}
            if fmt == "vspw":  # no instances: entities of one class merge
                expected_classes = {src.entities[e].category_id for e in expected}
                assert {names[r["id"]] for r in [table.contiguous_order[c] for c in fs.category_ids]} == {
                    names[c] for c in expected_classes
                }
                continue
            assert len(fs.track_ids) == len(expected)
            for mask, tid, cat in zip(fs.masks, fs.track_ids.tolist(), fs.category_ids.tolist()):
                eid = int(np.bincount(emap[mask]).argmax())
                assert np.array_equal(mask, emap == eid)
                assert table.contiguous_order[cat]["name"] == names[src.entities[eid].category_id]
                assert relabel.setdefault(tid, eid) == eid  # one track id <-> one entity over the video
            if fmt != "ytvis":
                assert np.array_equal(fs.ignore, emap == 0)
        assert len(set(relabel.values())) == len(relabel)


def test_registered_metadata_counts():
    counts = {
        "vipseg_train": (124, 58),
        "vspw_val": (124, 0),
        "kitti_step_val": (19, 2),
        "ytvis_2019_train": (40, 40),
        "ytvis_2021_val": (40, 40),
        "ovis_train": (25, 25),
    }
    for name, (num, things) in counts.items():
        meta = MetadataCatalog.get(name)
        assert meta.num_classes == num and len(meta.thing_classes) == things, name
    assert MetadataCatalog.get("kitti_step_train").thing_classes == ["person", "car"]
    assert MetadataCatalog.get("vipseg_val").evaluator_type == "vps"
    assert MetadataCatalog.get("synthetic_ytvis_val").evaluator_type == "ytvis"
    for fmt in ("vipseg", "ytvis", "vspw", "kitti_step"):
        assert f"synthetic_{fmt}_train" in DatasetCatalog and f"synthetic_{fmt}_val" in DatasetCatalog
    with pytest.raises(KeyError, match="already registered"):
        DatasetCatalog.register("vipseg_train", lambda: [])
    with pytest.raises(AttributeError, match="cannot change"):
        MetadataCatalog.get("vipseg_train").evaluator_type = "vss"


def test_missing_dataset_root_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="datasets/README.md"):
        DatasetCatalog.get("vipseg_val")
    with pytest.raises(KeyError, match="not registered"):
        DatasetCatalog.get("vipseg_vall")


@pytest.fixture
def vipseg_root(tmp_path):
    get_format("vipseg").write_synthetic_split(str(tmp_path), "train", list(generate_videos(OPT)), load_class_table())
    return tmp_path


def _edit_json(root, fn):
    path = f"{root}/panoptic_gt_VIPSeg_train.json"
    data = json.load(open(path))
    fn(data)
    json.dump(data, open(path, "w"))


def test_vipseg_bad_inputs(vipseg_root):
    table = _synthetic_table("vipseg")
    vd = _load("vipseg", vipseg_root)[0][0]
    # a missing mask PNG
    os.remove(vd["frame_annotations"][1]["pan_file"])
    with pytest.raises(FileNotFoundError, match="00000001.png"):
        decode_frame(vd, 1, _Meta(table))
    # a corrupt mask PNG
    open(vd["frame_annotations"][2]["pan_file"], "wb").write(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        decode_frame(vd, 2, _Meta(table))
    # a segment id in the PNG that the JSON does not describe
    _edit_json(vipseg_root, lambda d: d["annotations"][0]["annotations"][0]["segments_info"].pop())
    vd = _load("vipseg", vipseg_root)[0][0]
    with pytest.raises(ValueError, match="appear in the image but not in the annotation"):
        decode_frame(vd, 0, _Meta(table))


def test_vipseg_json_mismatches(vipseg_root):
    def bad_category(d):
        d["annotations"][0]["annotations"][0]["segments_info"][0]["category_id"] = 99

    _edit_json(vipseg_root, bad_category)
    with pytest.raises(ValueError, match="category id 99 is not in the class table"):
        _load("vipseg", vipseg_root)[0]
    _edit_json(vipseg_root, lambda d: d["annotations"][0]["annotations"].pop())
    with pytest.raises(ValueError, match="lists 3 images but 2 annotated frames"):
        _load("vipseg", vipseg_root)[0]


def test_size_mismatch_and_empty_video(vipseg_root, caplog):
    table = _synthetic_table("vipseg")

    def wrong_size(d):
        d["videos"][0]["images"][0]["height"] = 41
        d["videos"][1]["images"] = []

    _edit_json(vipseg_root, wrong_size)
    vds = _load("vipseg", vipseg_root)[0]
    assert len(vds) == 1 and "has no frame; skipped" in caplog.text  # empty video: logged skip
    with pytest.raises(ValueError, match="00000000.png: annotation is 40x48, the video.s frames are 41x48"):
        decode_frame(vds[0], 0, _Meta(table))


def test_vspw_and_kitti_bad_values(tmp_path):
    get_format("vspw").write_synthetic_split(
        str(tmp_path / "v"), "train", list(generate_videos(OPT)), load_class_table()
    )
    table = _synthetic_table("vspw")
    vd = _load("vspw", tmp_path / "v")[0][0]
    label = np.array(Image.open(vd["frame_annotations"][0]))
    label[0, 0] = 77  # class 76 does not exist
    Image.fromarray(label).save(vd["frame_annotations"][0])
    with pytest.raises(ValueError, match="category id 76"):
        decode_frame(vd, 0, _Meta(table))
    os.remove(vd["frame_annotations"][1])
    with pytest.raises(FileNotFoundError, match="VSPW label PNG"):
        _load("vspw", tmp_path / "v")[0]
    with pytest.raises(FileNotFoundError, match="KITTI-STEP split folder"):
        _load("kitti_step", tmp_path / "k")


def test_ytvis_bad_json(tmp_path):
    get_format("ytvis").write_synthetic_split(str(tmp_path), "train", list(generate_videos(OPT)), load_class_table())
    data = json.load(open(tmp_path / "train.json"))
    data["annotations"][0]["segmentations"].pop()
    json.dump(data, open(tmp_path / "train.json", "w"))
    with pytest.raises(ValueError, match="per-frame segmentations for 3 frames"):
        _load("ytvis", tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json: invalid JSON"):
        get_format("ytvis").load("t", _synthetic_table("ytvis"), str(tmp_path / "broken.json"), str(tmp_path))
