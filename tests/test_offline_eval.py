"""Submission writers and the offline command: official formats round-trip, bad submissions are named."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

import tubelink  # noqa: F401
from metric_fixtures import ground_truth_outputs, make_vipseg_fixture
from test_metrics_parity import OFFICIAL_STQ, OFFICIAL_VPQ
from tubelink.data import DatasetCatalog, MetadataCatalog
from tubelink.data import register_vipseg_panoptic
from tubelink.data.builtin import synthetic_class_table as _synthetic_table
from tubelink.evaluation.offline import SubmissionMismatch, evaluate_predictions, main
from tubelink.evaluation.writers import build_submission_writer


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


def test_offline_vipseg_equals_official_and_refuses_mismatched_videos(tmp_path, caplog, capsys):
    """Official numbers through the public registration call; a submission whose videos are not the split's is
    refused before anything is scored (the documented exception: --missing-as-empty for absent videos)."""
    paths = make_vipseg_fixture(str(tmp_path))
    table = _synthetic_table("vipseg")
    name = "offline_fixture_vps"
    gt = tmp_path / "gt"
    register_vipseg_panoptic(
        name,
        {"class_table": table},
        str(gt / "images"),
        str(gt / "panomasksRGB"),
        str(gt / "panoptic_gt_VIPSeg_val.json"),
    )
    try:
        out = evaluate_predictions(name, paths["submit_dir"], progress=False)
        assert out["VPQ@4"] == pytest.approx(OFFICIAL_VPQ[4][0], abs=1e-6)
        assert out["STQ"] == pytest.approx(OFFICIAL_STQ["STQ"], abs=1e-6)
        pred = json.load(open(paths["pred_json"]))
        # a video of the split without prediction: an error naming it, or an empty prediction on request
        json.dump(dict(pred, annotations=pred["annotations"][1:]), open(paths["pred_json"], "w"))
        with pytest.raises(SubmissionMismatch, match="no prediction for 1 videos of offline_fixture_vps: 'syn_000000'"):
            evaluate_predictions(name, paths["submit_dir"], progress=False)
        worse = evaluate_predictions(name, paths["submit_dir"], missing_as_empty=True, progress=False)
        assert worse["VPQ@4"] < out["VPQ@4"] and "counted as empty" in caplog.text
        # predictions of a video outside the split: refused even with --missing-as-empty, and before scoring (a
        # missing PNG of a predicted video would otherwise be the error)
        extra = {"video_id": "not_in_split", "annotations": []}
        json.dump(dict(pred, annotations=pred["annotations"] + [extra]), open(paths["pred_json"], "w"))
        os.remove(os.path.join(paths["pred_pan_dir"], "syn_000001", "00000003.png"))
        with pytest.raises(SubmissionMismatch, match="predictions of 1 videos that are not in .*'not_in_split'"):
            evaluate_predictions(name, paths["submit_dir"], missing_as_empty=True, progress=False)
        # the command line says it in one line and exits with status 1
        with pytest.raises(SystemExit) as exit_info:
            main(["--dataset", name, "--predictions", paths["submit_dir"], "--missing-as-empty"])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 1 and len(err.splitlines()) == 1 and "'not_in_split'" in err
        # without the extra video, the missing PNG of a predicted video is named
        json.dump(pred, open(paths["pred_json"], "w"))
        with pytest.raises(FileNotFoundError, match="00000003.png"):
            evaluate_predictions(name, paths["submit_dir"], progress=False)
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.mark.parametrize("fmt,metric", [("kitti_step", "STQ"), ("vipseg", "VPQ"), ("vspw", "mIoU"), ("ytvis", "AP")])
def test_offline_command_imports_no_torch(datasets_root, fmt, metric):
    """Evaluating files needs no torch: `python -m tubelink.evaluation.offline` never imports it (issue 13), for
    every format (VPQ + STQ, mIoU + mVC, YouTube-VIS AP)."""
    name = f"synthetic_{fmt}_val"
    out_dir = str(datasets_root / "submission")
    writer = build_submission_writer(name, out_dir)
    for video in DatasetCatalog.get(name)[:2]:
        for inp, out in ground_truth_outputs(name, video):
            writer.process([inp], [out])
    writer.close()
    code = (
        "import runpy, sys; sys.argv = ['offline', '--dataset', sys.argv[1], '--predictions', sys.argv[2], "
        "'--missing-as-empty']\ntry:\n    runpy.run_module('tubelink.evaluation.offline', run_name='__main__')\n"
        "finally:\n    print('TORCH', 'torch' in sys.modules)"
    )
    env = dict(os.environ, DETECTRON2_DATASETS=str(datasets_root / "data"))
    proc = subprocess.run([sys.executable, "-c", code, name, out_dir], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])
    assert 0 < metrics[metric] < (100.0 if metric == "VPQ" else 1.0)  # 38 of 40 videos counted empty
    assert proc.stdout.strip().endswith("TORCH False")


def test_wrong_size_prediction_is_named(datasets_root):
    name = "synthetic_vspw_val"
    video = DatasetCatalog.get(name)[0]
    out_dir = datasets_root / "bad"
    writer = build_submission_writer(name, str(out_dir))
    for inp, out in ground_truth_outputs(name, video):
        writer.process([inp], [{"sem_seg": out["sem_seg"][:-1]}])
    with pytest.raises(ValueError, match="prediction is"):
        evaluate_predictions(name, str(out_dir), progress=False, max_videos=1)
