"""Submission writers and the offline command: official formats round-trip, bad submissions are named."""

import json
import os
import zipfile

import pytest

import tubelink  # noqa: F401
from metric_fixtures import ground_truth_outputs, make_vipseg_fixture
from test_metrics_parity import OFFICIAL_STQ, OFFICIAL_VPQ
from tubelink.data import DatasetCatalog, MetadataCatalog
from tubelink.data.builtin import _synthetic_table
from tubelink.data.datasets import load_vipseg_videos
from tubelink.evaluation.offline import evaluate_predictions, main
from tubelink.evaluation.writers import build_submission_writer


@pytest.fixture
def datasets_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "data"))
    return tmp_path


@pytest.mark.parametrize(
    "fmt,metric,value",
    [("vipseg", "VPQ", 100.0), ("kitti_step", "STQ", 1.0), ("vspw", "mIoU", 1.0), ("ytvis", "AP", 1.0)],
)
def test_writer_then_offline_command(datasets_root, fmt, metric, value, capsys):
    name = f"synthetic_{fmt}_val"
    out_dir = str(datasets_root / "submission")
    writer = build_submission_writer(name, out_dir)
    for video in DatasetCatalog.get(name):
        for inp, out in ground_truth_outputs(name, video):
            writer.process([inp], [out])
    written = writer.close()
    if fmt == "ytvis":
        assert zipfile.ZipFile(os.path.join(out_dir, "submission.zip")).namelist() == ["results.json"]
    if fmt == "vipseg":
        assert written == [os.path.join(out_dir, "pred.json")]
    main(["--dataset", name, "--predictions", out_dir])
    printed = json.loads(capsys.readouterr().out)
    assert printed[metric] == pytest.approx(value)


def test_offline_vipseg_equals_official_and_handles_missing_videos(tmp_path, caplog):
    paths = make_vipseg_fixture(str(tmp_path))
    table = _synthetic_table("vipseg")
    name = "offline_fixture_vps"
    if name not in DatasetCatalog:
        DatasetCatalog.register(name, lambda: load_vipseg_videos(str(tmp_path / "gt"), "val", name, table))
        MetadataCatalog.get(name).set(evaluator_type="vps", annotation_format="vipseg", class_table=table)
    out = evaluate_predictions(name, paths["submit_dir"], progress=False)
    assert out["VPQ@4"] == pytest.approx(OFFICIAL_VPQ[4][0], abs=1e-6)
    assert out["STQ"] == pytest.approx(OFFICIAL_STQ["STQ"], abs=1e-6)
    # drop a video from pred.json: an error naming it, or an empty prediction on request
    pred = json.load(open(paths["pred_json"]))
    pred["annotations"] = pred["annotations"][1:] + [{"video_id": "not_in_split", "annotations": []}]
    json.dump(pred, open(paths["pred_json"], "w"))
    with pytest.raises(FileNotFoundError, match="no prediction for video 'syn_000000'"):
        evaluate_predictions(name, paths["submit_dir"], progress=False)
    worse = evaluate_predictions(name, paths["submit_dir"], missing_as_empty=True, progress=False)
    assert worse["VPQ@4"] < out["VPQ@4"]
    assert "counted as empty" in caplog.text and "not_in_split" in caplog.text
    # a missing PNG and an unknown segment id are named
    os.remove(os.path.join(paths["pred_pan_dir"], "syn_000001", "00000003.png"))
    with pytest.raises(FileNotFoundError, match="00000003.png"):
        evaluate_predictions(name, paths["submit_dir"], missing_as_empty=True, progress=False)


def test_wrong_size_prediction_is_named(datasets_root):
    name = "synthetic_vspw_val"
    video = DatasetCatalog.get(name)[0]
    out_dir = datasets_root / "bad"
    writer = build_submission_writer(name, str(out_dir))
    for inp, out in ground_truth_outputs(name, video):
        writer.process([inp], [{"sem_seg": out["sem_seg"][:-1]}])
    with pytest.raises(ValueError, match="prediction is"):
        evaluate_predictions(name, str(out_dir), progress=False, max_videos=1)
