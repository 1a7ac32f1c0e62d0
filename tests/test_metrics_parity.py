"""Our metrics equal the official tools' numbers on synthetic ground truth with perturbed predictions.

Reference numbers were produced by running, outside this repository, the official code on exactly the fixtures of
`metric_fixtures.py` (regenerated deterministically here):
- VPQ: VIPSeg-Dataset/VIPSeg-Dataset @ 92e1459 `ClipPanoFCN/eval_vpq_vspw.py` (windows 1, 2, 4, 6, 8; GT areas from
  the JSON; strict IoU > 0.5; void-subtracted union; FP ignore rule; mean over categories with TP+FP+FN > 0).
- STQ: the same repository's `eval_stq_vspw.py` with its vendored 2021 deeplab2 `segmentation_and_tracking_quality.py`
  (segments numbered by first appearance, first-listed = instance 0; void column kept in SQ).
- YouTube-VIS AP: youtubevos/cocoapi @ f3f9948 `ytvos.py` / `ytvoseval.py` (np.float / linspace patched for numpy 2,
  masks through upstream pycocotools).
- STQ (KITTI-STEP protocol): google-research/deeplab2 @ 64bc1c1 `evaluation/numpy/segmentation_and_tracking_quality.py`
  run under numpy 2, where it sums float32 counts (ours are exact integer sums; the difference is ~3e-8).
- mIoU, pixel accuracy, class accuracy, fwIoU: VSPW-dataset/VSPW_code @ 73b98ce `utils.Evaluator(124)`;
  mVC_8 / mVC_16: its `VC_perclip.py::get_common` (T - c clips per video, videos of <= c frames skipped).
"""

import copy

import numpy as np
import pytest

from metric_fixtures import make_kitti_step_fixture, make_vipseg_fixture, make_vss_fixture, make_ytvis_fixture
from tubelink.data.synthetic import load_class_table
from tubelink.evaluation.stq import STQStats, stq_result, stq_update
from tubelink.evaluation.vipseg_files import evaluate_vipseg_submission
from tubelink.evaluation.vss import (
    confusion_matrix,
    miou_from_confusion,
    mvc_from_accuracies,
    video_consistency_accuracies,
)
from tubelink.evaluation.ytvis import ytvis_ap

TOL = 1e-6

OFFICIAL_VPQ = {  # k: (all, thing, stuff), percent
    1: (89.62145298153217, 88.73128419816338, 90.73416396074317),
    2: (88.1718999821834, 86.17459790387329, 90.66852758007103),
    4: (87.44738386267105, 84.82337859642819, 90.72739044547463),
    6: (85.89562905371648, 82.03210027528517, 90.72504002675561),
    8: (84.50501455192163, 79.57571537880193, 90.66663851832126),
}
OFFICIAL_VPQ_FINAL = (87.1283, 84.2674, 90.7044)  # vpq-final.txt, 4 decimals
OFFICIAL_STQ = {"STQ": 0.7814896468277843, "AQ": 0.7946711057751193, "SQ": 0.7685268328754888}
DEEPLAB2_KITTI_STQ = {"STQ": 0.7560074131885142, "AQ": 0.7471345021174505, "SQ": 0.7649856982593756}
OFFICIAL_YTVIS = [
    0.25017301730173014,
    0.4311431143114312,
    0.1828862886288629,
    0.25017301730173014,
    -1.0,
    -1.0,
    0.16766666666666666,
    0.3256666666666666,
    0.3256666666666666,
    0.3256666666666666,
    -1.0,
    -1.0,
]
OFFICIAL_VSS = {
    "mIoU": 0.725569140198726,
    "pixel_acc": 0.9108560183666776,
    "mean_class_acc": 0.8534468720770997,
    "fwIoU": 0.8669323447588133,
    "mVC8": 0.744357439034803,
    "mVC16": 0.6782977293812744,
}


def test_vpq_and_stq_equal_vipseg_official_tools(tmp_path):
    paths = make_vipseg_fixture(str(tmp_path))
    out = evaluate_vipseg_submission(
        paths["gt_json"], paths["gt_pan_dir"], paths["pred_json"], paths["pred_pan_dir"], progress=False
    )
    for k, (vpq, thing, stuff) in OFFICIAL_VPQ.items():
        assert out[f"VPQ@{k}"] == pytest.approx(vpq, abs=TOL)
        assert out[f"VPQ_thing@{k}"] == pytest.approx(thing, abs=TOL)
        assert out[f"VPQ_stuff@{k}"] == pytest.approx(stuff, abs=TOL)
    for ours, official in zip(
        (out["VPQ_official"], out["VPQ_official_thing"], out["VPQ_official_stuff"]), OFFICIAL_VPQ_FINAL
    ):
        assert round(ours, 4) == official
    assert out["VPQ"] == pytest.approx(np.mean([OFFICIAL_VPQ[k][0] for k in (1, 2, 4, 6)]), abs=TOL)
    for key, value in OFFICIAL_STQ.items():
        assert out[key] == pytest.approx(value, abs=TOL)
    assert out["VPQ@1"] < 100 and out["AQ"] < 1  # the perturbations are visible


def test_ytvis_ap_equals_youtubevos_cocoapi(tmp_path):
    gt, results = make_ytvis_fixture(str(tmp_path))
    out = ytvis_ap(copy.deepcopy(gt), copy.deepcopy(results))
    assert list(out.values()) == pytest.approx(OFFICIAL_YTVIS, abs=TOL)


def test_miou_and_mvc_equal_vspw_official_tools():
    conf = np.zeros((124, 124), np.int64)
    accs = {8: [], 16: []}
    for gt, pred in make_vss_fixture():
        for g, p in zip(gt, pred):
            conf += confusion_matrix(g, p, 124)
        for clip in accs:
            accs[clip] += video_consistency_accuracies(gt, pred, clip)
    out = miou_from_confusion(conf)
    for key in ("mIoU", "pixel_acc", "mean_class_acc", "fwIoU"):
        assert out[key] == pytest.approx(OFFICIAL_VSS[key], abs=TOL)
    assert mvc_from_accuracies(accs[8]) == pytest.approx(OFFICIAL_VSS["mVC8"], abs=TOL)
    assert mvc_from_accuracies(accs[16]) == pytest.approx(OFFICIAL_VSS["mVC16"], abs=TOL)


def test_stq_equals_deeplab2_on_kitti_step_fixture(tmp_path):
    is_thing = [bool(r["isthing"]) for r in load_class_table()]
    sequences = []
    for frames in make_kitti_step_fixture(str(tmp_path)).values():
        stats = STQStats.empty(len(is_thing))
        for sem, inst, psem, pinst in frames:
            stq_update(stats, sem, inst, psem, pinst, is_thing)
        sequences.append(stats)
    out = stq_result(sequences)
    for key, value in DEEPLAB2_KITTI_STQ.items():
        assert out[key] == pytest.approx(value, abs=TOL)
