"""Evaluators: chosen by metadata, streaming frame by frame, perfect predictions score perfectly, and in-loop
numbers equal the offline (official-parity) numbers on the same files."""

import numpy as np
import pytest

import tubelink  # noqa: F401
from metric_fixtures import ground_truth_outputs, make_vipseg_fixture
from tubelink.data import DatasetCatalog, MetadataCatalog
from tubelink.data.builtin import synthetic_class_table as _synthetic_table
from tubelink.data.codecs import rgb2id
from tubelink.data.datasets import get_format
from tubelink.data.datasets.common import read_label_png
from tubelink.evaluation import build_evaluator
from tubelink.evaluation.evaluators import STEPEvaluator, VPSEvaluator, VSSEvaluator, YTVISEvaluator
from tubelink.evaluation.vipseg_files import evaluate_vipseg_submission


@pytest.fixture
def datasets_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    return tmp_path


def _vipseg_gt_output(video, t, table):
    ann = video["frame_annotations"][t]
    ids = rgb2id(read_label_png(ann["pan_file"]))
    return {
        "panoptic_seg": (
            ids,
            [{"id": s["id"], "category_id": table.contiguous_id(s["category_id"], "")} for s in ann["segments_info"]],
        )
    }


def test_evaluator_chosen_from_metadata():
    assert isinstance(build_evaluator("synthetic_vipseg_val"), VPSEvaluator)
    assert isinstance(build_evaluator("kitti_step_val"), STEPEvaluator)
    assert isinstance(build_evaluator("vspw_val"), VSSEvaluator)
    assert isinstance(build_evaluator("ovis_val"), YTVISEvaluator)
    MetadataCatalog.get("no_evaluator_split").set(evaluator_type="nope")
    with pytest.raises(KeyError, match="no evaluator for evaluator_type 'nope'"):
        build_evaluator("no_evaluator_split")


def test_vps_perfect_prediction(datasets_root):
    name = "synthetic_vipseg_val"
    videos = DatasetCatalog.get(name)[:3]
    table = MetadataCatalog.get(name).class_table
    ev = build_evaluator(name)
    for video in videos:
        for t in range(video["length"]):  # one frame at a time, as the streaming predictor delivers them
            ev.process([{"video": video, "frame_index": t}], [_vipseg_gt_output(video, t, table)])
    out = ev.evaluate()
    assert out["VPQ"] == pytest.approx(100.0) and out["VPQ_official"] == pytest.approx(100.0)
    assert out["STQ"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="prediction is"):
        ev.process([{"video": videos[0], "frame_index": 0}], [{"panoptic_seg": (np.zeros((3, 3)), [])}])


def test_in_loop_equals_offline_on_perturbed_predictions(tmp_path):
    paths = make_vipseg_fixture(str(tmp_path))
    offline = evaluate_vipseg_submission(
        paths["gt_json"], paths["gt_pan_dir"], paths["pred_json"], paths["pred_pan_dir"], progress=False
    )
    table = _synthetic_table("vipseg")
    MetadataCatalog.get("fixture_vps").set(evaluator_type="vps", annotation_format="vipseg", class_table=table)
    vipseg = get_format("vipseg")
    videos = vipseg.load("fixture_vps", table, **vipseg.synthetic_paths(str(tmp_path / "gt"), "val"))
    import json

    pred = {a["video_id"]: a["annotations"] for a in json.load(open(paths["pred_json"]))["annotations"]}
    ev = build_evaluator("fixture_vps")
    for video in videos:
        for t, ann in enumerate(pred[video["video_id"]]):
            ids = rgb2id(read_label_png(f"{paths['pred_pan_dir']}/{video['video_id']}/{ann['file_name']}"))
            segs = [
                {"id": s["id"], "category_id": table.contiguous_id(s["category_id"], "")} for s in ann["segments_info"]
            ]
            ev.process([{"video": video, "frame_index": t}], [{"panoptic_seg": (ids, segs)}])
    in_loop = ev.evaluate()
    for key in ("VPQ@1", "VPQ@8", "VPQ", "VPQ_official", "STQ", "AQ", "SQ"):
        assert in_loop[key] == pytest.approx(offline[key], abs=1e-9), key


@pytest.mark.parametrize(
    "name,metrics",
    [
        ("synthetic_kitti_step_val", {"STQ": 1.0}),
        ("synthetic_vspw_val", {"mIoU": 1.0, "mVC8": 1.0}),
        ("synthetic_ytvis_val", {"AP": 1.0}),
    ],
)
def test_step_vss_ytvis_perfect_predictions(datasets_root, name, metrics):
    ev = build_evaluator(name)
    for video in DatasetCatalog.get(name)[:2]:
        for inp, out in ground_truth_outputs(name, video):
            ev.process([inp], [out])
    out = ev.evaluate()
    for key, value in metrics.items():
        assert out[key] == pytest.approx(value), key
    if name == "synthetic_vspw_val":
        assert np.isnan(out["mVC16"])  # 12-frame videos have no 16-frame clip
