"""Loaders, preparation and evaluation on data laid out the way the OFFICIAL scripts write it (fixtures written
independently of tubelink's writers: tests/vipseg_official.py, tests/vspw_official.py and inline JSONs).

Reference numbers were produced by the official tools themselves on these fixtures, run from read-only mirrors:
VSPW-dataset/VSPW_code @ 73b98ce `evaluator_test.py` (utils.Evaluator(124)) and `VC_perclip.py` (clip_num 16, and
the same script with clip_num 8).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pycocotools.mask as mask_util
import pytest
from PIL import Image

import tubelink  # noqa: F401  (registers the splits)
import vipseg_official
import vspw_official
from tubelink.data import (
    DatasetCatalog,
    MetadataCatalog,
    decode_frame,
    register_kitti_step_panoptic,
    register_vipseg_panoptic,
    register_vspw_semantic,
    register_ytvis_instances,
)
from tubelink.data.codecs import kitti_step_encode, rgb2id
from tubelink.data.datasets import load_category_file
from tubelink.data.video_dict import STUFF_TRACK_BASE
from tubelink.evaluation import build_evaluator
from tubelink.evaluation.offline import evaluate_predictions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIPSEG = load_category_file("vipseg")

# evaluator_test.py / VC_perclip.py on tests/vspw_official.py's fixture (raw GT 0 and 124 included).
OFFICIAL_VSPW = {
    "pixel_acc": 0.9115111561866126,
    "mean_class_acc": 0.8954136835386836,
    "mIoU": 0.8183883982062404,
    "fwIoU": 0.8524060324224288,
    "mVC16": 0.15000000000000002,
    "mVC8": 0.23867559523809523,
}


@pytest.fixture
def registered():
    """Names registered by a test, removed afterwards."""
    names = []
    yield names
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _register_vipseg(registered, name, root, split="train"):
    register_vipseg_panoptic(
        name,
        {"class_table": VIPSEG},
        os.path.join(root, "images"),
        os.path.join(root, "panomasksRGB"),
        os.path.join(root, f"panoptic_gt_VIPSeg_{split}.json"),
    )
    registered.append(name)
    return DatasetCatalog.get(name)


def _resized_raw(video: int, t: int) -> np.ndarray:
    raw = Image.fromarray(vipseg_official.raw_frame(video, t))
    return np.array(raw.resize((972, 720), Image.NEAREST)).astype(np.int64)


def test_vipseg_official_conversion_keeps_instance_zero(tmp_path, registered):
    """Raw panomasks (person 6100 and 6101, door 300, car 4903) through the authors' conversion: every raw
    instance, instance 0 included, decodes to its own track with its class, the same track over the video."""
    vipseg_official.raw_release(str(tmp_path / "raw"))
    vipseg_official.official_conversion(str(tmp_path / "raw"), str(tmp_path / "VIPSeg_720P"), list(VIPSEG.categories))
    videos = _register_vipseg(registered, "official_vipseg_train", str(tmp_path / "VIPSeg_720P"))
    meta = MetadataCatalog.get("official_vipseg_train")
    assert [v["video_id"] for v in videos] == ["v0", "v1"]  # the official route writes no test video
    for v, video in enumerate(videos):
        assert (video["height"], video["width"], video["length"]) == (720, 972, 3)
        track_of = {}
        for t in range(3):
            raw = _resized_raw(v, t)
            fs = decode_frame(video, t, meta)
            assert np.array_equal(fs.ignore, raw == 0)
            values = [x for x in np.unique(raw).tolist() if x]
            assert len(fs.track_ids) == len(values)
            for value in values:
                (k,) = [k for k in range(len(fs.track_ids)) if np.array_equal(fs.masks[k], raw == value)]
                category = (value if value < 125 else value // 100) - 1
                assert VIPSEG.contiguous_order[fs.category_ids[k]]["id"] == category
                assert fs.is_thing[k] == (value >= 125)
                if value < 125:
                    assert fs.track_ids[k] == STUFF_TRACK_BASE + fs.category_ids[k]
                assert track_of.setdefault(value, int(fs.track_ids[k])) == fs.track_ids[k]
        persons = [track_of[6100], track_of[6101]]
        assert len(set(persons)) == 2 and len(set(track_of.values())) == len(track_of)


def test_prepare_vipseg_equals_the_official_conversion(tmp_path, registered):
    """datasets/prepare_vipseg.py: the same 720p frames (bytes), the same segments (pixels, classes, areas, order)
    as the authors' scripts, instance 0 kept; and the test split the official route lacks."""
    src = tmp_path / "raw"
    vipseg_official.raw_release(str(src))
    vipseg_official.official_conversion(str(src), str(tmp_path / "official"), list(VIPSEG.categories))
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "datasets", "prepare_vipseg.py"),
            "--src",
            str(src),
            "--dst",
            str(tmp_path / "ours"),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    official = json.load(open(tmp_path / "official" / "panoptic_gt_VIPSeg_train.json"))
    ours = json.load(open(tmp_path / "ours" / "panoptic_gt_VIPSeg_train.json"))
    assert ours["videos"] == official["videos"] and ours["categories"] == official["categories"]
    for video, ann_o, ann_p in zip(official["videos"], official["annotations"], ours["annotations"]):
        vid = video["video_id"]
        for image, fo, fp in zip(video["images"], ann_o["annotations"], ann_p["annotations"]):
            stem = image["file_name"][:-4]
            frame = f"images/{vid}/{stem}.jpg"
            assert (tmp_path / "ours" / frame).read_bytes() == (tmp_path / "official" / frame).read_bytes()
            ids_o = rgb2id(np.array(Image.open(tmp_path / "official" / "panomasksRGB" / vid / image["file_name"])))
            ids_p = rgb2id(np.array(Image.open(tmp_path / "ours" / "panomasksRGB" / vid / image["file_name"])))
            assert [(s["category_id"], s["area"]) for s in fp["segments_info"]] == [
                (s["category_id"], s["area"]) for s in fo["segments_info"]
            ]
            for so, sp in zip(fo["segments_info"], fp["segments_info"]):
                assert np.array_equal(ids_o == so["id"], ids_p == sp["id"])
            assert np.array_equal(ids_o == 0, ids_p == 0)
    videos = _register_vipseg(registered, "prepared_vipseg_train", str(tmp_path / "ours"))
    fs = decode_frame(videos[0], 1, MetadataCatalog.get("prepared_vipseg_train"))
    assert np.array_equal(fs.masks[list(fs.track_ids).index(6100)], _resized_raw(0, 1) == 6100)  # instance 0
    (test_video,) = _register_vipseg(registered, "prepared_vipseg_test", str(tmp_path / "ours"), "test")
    assert test_video["frame_annotations"] is None and os.path.isfile(test_video["file_names"][2])
    assert Image.open(test_video["file_names"][0]).size == (972, 720)


def _vspw_split(tmp_path, registered, name, **metadata):
    vspw_official.write_fixture(str(tmp_path / "VSPW_480p"), str(tmp_path / "pred"))
    register_vspw_semantic(
        name,
        dict({"class_table": load_category_file("vspw")}, **metadata),
        str(tmp_path / "VSPW_480p" / "data"),
        str(tmp_path / "VSPW_480p" / "val.txt"),
    )
    registered.append(name)


def test_vspw_default_protocol_equals_the_official_tools(tmp_path, registered):
    """Raw masks with 0 ("others") and 124, no frame images at all: mIoU, accuracies and mVC equal
    evaluator_test.py and VC_perclip.py to 1e-6; that is what VSPW splits report by default."""
    assert MetadataCatalog.get("vspw_val").vss_protocol == "vspw_official"
    _vspw_split(tmp_path, registered, "official_vspw_val")
    assert not os.path.exists(tmp_path / "VSPW_480p" / "data" / "vid_a" / "origin")
    out = evaluate_predictions("official_vspw_val", str(tmp_path / "pred"), progress=False)
    for key, value in OFFICIAL_VSPW.items():
        assert out[key] == pytest.approx(value, abs=1e-6), key


def _train_label_metrics(gt_frames, pred_frames):
    """mIoU and mVC8 of the training convention, computed directly (class = raw - 1; raw 0/253/254/255 void)."""
    void = (0, 253, 254, 255)
    ious = []
    gt_all = np.concatenate([g.ravel() for g in gt_frames])
    pred_all = np.concatenate([p.ravel() for p in pred_frames])
    valid = ~np.isin(gt_all, void)
    for c in np.unique(gt_all[valid] - 1):
        g, p = gt_all[valid] - 1 == c, pred_all[valid] - 1 == c
        ious.append((g & p).sum() / (g | p).sum())
    return float(np.mean(ious))


def test_vspw_training_convention_is_the_other_protocol(tmp_path, registered):
    """vss_protocol "train_labels" scores the 124 training classes (raw - 1; raw 0 void), on the same files."""
    _vspw_split(tmp_path, registered, "train_labels_vspw_val", vss_protocol="train_labels")
    out = evaluate_predictions("train_labels_vspw_val", str(tmp_path / "pred"), progress=False)
    gts, preds = [], []
    for video in vspw_official.VIDEOS:
        for t in range(vspw_official.FRAMES):
            gts.append(np.array(Image.open(tmp_path / "VSPW_480p" / "data" / video / "mask" / f"{t:08d}.png")))
            preds.append(np.array(Image.open(tmp_path / "pred" / video / f"{t:08d}.png")))
    expected = _train_label_metrics([g.astype(np.int64) for g in gts], [p.astype(np.int64) for p in preds])
    assert out["mIoU"] == pytest.approx(expected, abs=1e-12)
    assert abs(out["mIoU"] - OFFICIAL_VSPW["mIoU"]) > 1e-3  # the two conventions differ on raw 0 and 124


def _ytvis_json(length_of_second=2):
    mask = np.zeros((30, 40), np.uint8)
    mask[5:15, 5:20] = 1
    counts = []  # uncompressed (list-count) RLE, column-major runs starting with zeros
    flat = mask.ravel(order="F")
    run, value = 0, 0
    for x in flat:
        if x != value:
            counts.append(run)
            run, value = 0, x
        run += 1
    counts.append(run)
    videos = [
        {"id": 1, "width": 40, "height": 30, "length": 2, "file_names": ["a/0.jpg", "a/1.jpg"]},
        {"id": 2, "width": 40, "height": 30, "length": length_of_second, "file_names": ["b/0.jpg", "b/1.jpg"]},
    ]
    ann = {
        "id": 7,
        "video_id": 1,
        "category_id": 1,
        "iscrowd": 0,
        "segmentations": [{"counts": counts, "size": [30, 40]}, None],
        # the JSON says 20000 px (a "medium" object, >= 128^2) although the mask has 150: the official API uses it
        "areas": [20000, None],
        "bboxes": [[5, 5, 15, 10], None],
    }
    return mask, videos, ann


def test_ytvis_2021_release_layout_null_annotations_and_compressed_rles(tmp_path, monkeypatch):
    """The 2021 release's train/instances.json + valid/instances.json ("annotations": null) through the built-in
    ytvis_2021 splits; list-count RLEs are compressed at load and decode to the same mask."""
    mask, videos, ann = _ytvis_json()
    root = tmp_path / "ytvis_2021"
    categories = [{"id": k + 1, "name": r["name"]} for k, r in enumerate(load_category_file("ytvis_2021").categories)]
    for split, annotations in (("train", [ann]), ("valid", None)):
        os.makedirs(root / split / "JPEGImages")
        data = {"videos": videos, "annotations": annotations, "categories": categories}
        json.dump(data, open(root / split / "instances.json", "w"))
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    train = DatasetCatalog.get("ytvis_2021_train")
    seg = train[0]["frame_annotations"][0][0]["segmentation"]
    assert isinstance(seg["counts"], bytes) and len(seg["counts"]) < 40  # compressed
    fs = decode_frame(train[0], 0, MetadataCatalog.get("ytvis_2021_train"))
    assert np.array_equal(fs.masks[0], mask.astype(bool)) and fs.track_ids.tolist() == [7]
    assert train[1]["frame_annotations"] == [[], []]  # a video without instances, of a labelled split
    assert all(v["frame_annotations"] is None for v in DatasetCatalog.get("ytvis_2021_val"))  # null = unlabelled
    json.dump(
        {"videos": videos, "annotations": [], "categories": categories}, open(root / "valid" / "instances.json", "w")
    )
    assert all(v["frame_annotations"] is None for v in DatasetCatalog.get("ytvis_2021_val"))  # [] = unlabelled


def test_ytvis_length_is_checked_and_gt_areas_come_from_the_json(tmp_path, registered):
    mask, videos, ann = _ytvis_json(length_of_second=3)
    categories = [{"id": 1, "name": "person", "isthing": 1, "color": [1, 2, 3]}]
    path = tmp_path / "instances.json"
    json.dump({"videos": videos, "annotations": [ann], "categories": categories}, open(path, "w"))
    register_ytvis_instances("bad_length_vis", {"categories": categories}, str(path), str(tmp_path))
    registered.append("bad_length_vis")
    with pytest.raises(ValueError, match=r"instances.json: video 2 has length 3 but 2 file_names"):
        DatasetCatalog.get("bad_length_vis")
    json.dump({"videos": videos[:1], "annotations": [ann], "categories": categories}, open(path, "w"))
    (video,) = DatasetCatalog.get("bad_length_vis")
    evaluator = build_evaluator("bad_length_vis")
    rle = mask_util.encode(np.asfortranarray(mask))
    evaluator.process(
        [{"video": video}], [{"instances": [{"score": 0.9, "category_id": 0, "segmentations": [rle, None]}]}]
    )
    out = evaluator.evaluate()
    # a perfect match, filed under the JSON's area (medium), not the mask's 150 pixels (small)
    assert out["AP"] == pytest.approx(1.0) and out["APm"] == pytest.approx(1.0) and out["APs"] == -1


def _kitti_sequence(folder, frames=2, size=(10, 12), wrong_size_frame=None):
    os.makedirs(folder)
    for t in range(frames):
        h, w = (size[0] + 1, size[1]) if t == wrong_size_frame else size
        semantic = np.zeros((h, w), np.int64)  # road
        instance = np.zeros((h, w), np.int64)
        semantic[2:5, 3 + t : 7 + t] = 13  # car instance 4
        instance[2:5, 3 + t : 7 + t] = 4
        semantic[6:, :3] = 11  # a person without instance: crowd
        Image.fromarray(kitti_step_encode(semantic, instance)).save(
            os.path.join(folder, f"000003_{t:06d}_panoptic.png")
        )


def test_kitti_step_evaluation_needs_no_frame_images_and_label_sizes_are_checked(tmp_path, registered):
    table = {"class_table": load_category_file("kitti_step")}
    _kitti_sequence(str(tmp_path / "val"))
    register_kitti_step_panoptic("labels_only_step", table, str(tmp_path / "val"))
    registered.append("labels_only_step")
    (video,) = DatasetCatalog.get("labels_only_step")
    assert (video["height"], video["width"], video["length"]) == (10, 12, 2)
    meta = MetadataCatalog.get("labels_only_step")
    fs = decode_frame(video, 1, meta)
    names = load_category_file("kitti_step").names
    assert sorted(names[c] for c in fs.category_ids) == ["car", "road"] and fs.ignore[6:, :3].all()
    evaluator = build_evaluator("labels_only_step")
    for t in range(2):
        fs = decode_frame(video, t, meta)
        ids = np.zeros((10, 12), np.int64)
        segments = []
        for k, (m, c) in enumerate(zip(fs.masks, fs.category_ids.tolist())):
            ids[m] = k + 1
            segments.append({"id": k + 1, "category_id": c})
        ids[fs.ignore] = 99  # crowd pixels keep their class in STQ's SQ: predicted as person
        segments.append({"id": 99, "category_id": names.index("person")})
        evaluator.process([{"video": video, "frame_index": t}], [{"panoptic_seg": (ids, segments)}])
    metrics = evaluator.evaluate()
    assert metrics["STQ"] == pytest.approx(1.0), metrics
    _kitti_sequence(str(tmp_path / "bad"), wrong_size_frame=1)
    register_kitti_step_panoptic("wrong_size_step", table, str(tmp_path / "bad"))
    registered.append("wrong_size_step")
    (video,) = DatasetCatalog.get("wrong_size_step")
    with pytest.raises(
        ValueError, match=r"000003_000001_panoptic.png: annotation is 11x12, the video's frames are 10x12"
    ):
        decode_frame(video, 1, MetadataCatalog.get("wrong_size_step"))


def test_public_registration_sets_metadata_and_needs_a_class_table(tmp_path, registered):
    register_vipseg_panoptic("my_vps", {"class_table": VIPSEG, "extra_key": 3}, "i", "p", "j.json")
    register_ytvis_instances(
        "my_vis", {"categories": [{"id": 1, "name": "a", "isthing": 1, "color": [0, 0, 0]}]}, "x.json", "r"
    )
    registered += ["my_vps", "my_vis"]
    meta = MetadataCatalog.get("my_vps")
    assert (meta.evaluator_type, meta.annotation_format, meta.extra_key, meta.panoptic_json) == (
        "vps",
        "vipseg",
        3,
        "j.json",
    )
    assert (
        MetadataCatalog.get("my_vis").thing_classes == ["a"] and MetadataCatalog.get("my_vis").evaluator_type == "ytvis"
    )
    with pytest.raises(FileNotFoundError, match="j.json"):
        DatasetCatalog.get("my_vps")
    with pytest.raises(ValueError, match="dataset 'no_table': metadata needs 'categories'"):
        register_vspw_semantic("no_table", {}, "d", "s.txt")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["annotations"][0].pop("segmentations"), r"instances.json: .* lacks the key 'segmentations'"),
        (lambda d: d["videos"][0].pop("file_names"), r"instances.json: .* lacks the key 'file_names'"),
        (lambda d: d["annotations"][0].update(areas=[150]), r"instances.json \(annotation 7 of video 1\): 1 per-frame"),
    ],
)
def test_ytvis_malformed_json_is_one_line_naming_the_file(tmp_path, registered, mutate, message):
    _, videos, ann = _ytvis_json()
    categories = [{"id": 1, "name": "person", "isthing": 1, "color": [1, 2, 3]}]
    data = {"videos": videos, "annotations": [ann], "categories": categories}
    mutate(data)
    json.dump(data, open(tmp_path / "instances.json", "w"))
    register_ytvis_instances("malformed_vis", {"categories": categories}, str(tmp_path / "instances.json"), "r")
    registered.append("malformed_vis")
    with pytest.raises(ValueError, match=message):
        DatasetCatalog.get("malformed_vis")


def test_vipseg_json_without_a_segment_area_fails_at_load_naming_it(tmp_path, registered):
    """The official VPQ reads GT areas from the JSON: a segment without one is refused when the split loads."""
    vipseg_official.raw_release(str(tmp_path / "raw"), videos=("v0",), frames=1, test_videos=())
    vipseg_official.official_conversion(str(tmp_path / "raw"), str(tmp_path / "VIPSeg_720P"), list(VIPSEG.categories))
    path = tmp_path / "VIPSeg_720P" / "panoptic_gt_VIPSeg_train.json"
    data = json.load(open(path))
    del data["annotations"][0]["annotations"][0]["segments_info"][1]["area"]
    json.dump(data, open(path, "w"))
    message = r"panoptic_gt_VIPSeg_train.json \(video v0, 00000000.png\): a segment of segments_info lacks area"
    with pytest.raises(ValueError, match=message):
        _register_vipseg(registered, "no_area_vipseg", str(tmp_path / "VIPSeg_720P"))
