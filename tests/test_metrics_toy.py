"""Hand-computed toy cases for every metric: perfect prediction, ID switch, missed object, false positive,
a class absent from the ground truth, void handling."""

import numpy as np
import pycocotools.mask as mask_util
import pytest

from tubelink.evaluation.stq import STQStats, stq_result, stq_update
from tubelink.evaluation.vpq import PanopticFrame, vpq_summary, vpq_video_stats
from tubelink.evaluation.vss import (
    confusion_matrix,
    miou_from_confusion,
    mvc_from_accuracies,
    video_consistency_accuracies,
)
from tubelink.evaluation.ytvis import ytvis_ap

IS_THING = [True, False, False]  # class 0 thing; classes 1, 2 stuff
STUFF, THING = 100, 5


def _gt_frame():
    ids = np.full((4, 4), STUFF)
    ids[:2, :2] = THING
    return PanopticFrame(ids, {STUFF: (1, False, 12), THING: (0, False, 4)})


def _pred(ids, cats):
    return PanopticFrame(ids, {i: (c, False, 0) for i, c in cats.items()})


def _vpq(preds, windows=(1, 2)):
    stats = vpq_video_stats([_gt_frame() for _ in preds], preds, 3, windows)
    return vpq_summary(stats, IS_THING)


def test_perfect_prediction_is_100():
    out = _vpq([_pred(_gt_frame().ids, {STUFF: 1, THING: 0})] * 2)
    assert out["VPQ@1"] == out["VPQ@2"] == out["VPQ"] == 100.0


def test_id_switch_only_hurts_multi_frame_windows():
    a, b = _gt_frame().ids.copy(), _gt_frame().ids.copy()
    b[b == THING] = 8  # the thing changes id in frame 1
    out = _vpq([_pred(a, {STUFF: 1, THING: 0}), _pred(b, {STUFF: 1, 8: 0})])
    assert out["VPQ_thing@1"] == 100.0
    # window 2: GT tube 8 px; either predicted tube overlaps 4 -> IoU 0.5, not > 0.5: 1 FN + 2 FP -> PQ 0
    assert out["VPQ_thing@2"] == 0.0 and out["VPQ_stuff@2"] == 100.0


def test_missed_object():
    ids = np.full((4, 4), STUFF)
    out = _vpq([_pred(ids, {STUFF: 1})], windows=(1,))
    # thing: FN -> 0; stuff: IoU 12/16 = 0.75 -> PQ 75; mean over the two categories present
    assert out["VPQ_thing@1"] == 0.0 and out["VPQ_stuff@1"] == pytest.approx(75.0)
    assert out["VPQ@1"] == pytest.approx(37.5)


def test_false_positive_and_void():
    ids = _gt_frame().ids.copy()
    ids[3, 2:] = 9  # a false thing over 2 stuff pixels
    out = _vpq([_pred(ids, {STUFF: 1, THING: 0, 9: 0})], windows=(1,))
    assert out["VPQ_thing@1"] == pytest.approx(100 * 1.0 / (1 + 0.5))  # TP IoU 1, one FP
    assert out["VPQ_stuff@1"] == pytest.approx(100 * 10 / 12)
    # a prediction lying mostly on GT void is not an FP
    gt = _gt_frame()
    gt.ids[3, :] = 0
    gt.segments[STUFF] = (1, False, 8)
    stats = vpq_video_stats([gt], [_pred(ids, {STUFF: 1, THING: 0, 9: 0})], 3, (1,))
    assert stats[1].fp.sum() == 0


def test_class_absent_from_ground_truth_counts_as_zero():
    ids = _gt_frame().ids.copy()
    ids[3, :] = 200  # predicted stuff class 2, which the GT does not have
    out = _vpq([_pred(ids, {STUFF: 1, THING: 0, 200: 2})], windows=(1,))
    # class 1: IoU 8/12 (pred area 8 vs GT 12) -> TP; class 2: FP only -> PQ 0 but counted
    assert out["VPQ_stuff@1"] == pytest.approx(100 * (8 / 12 + 0) / 2)


def test_bad_predictions_are_named():
    with pytest.raises(ValueError, match="no segment info"):
        vpq_video_stats([_gt_frame()], [_pred(_gt_frame().ids, {STUFF: 1})], 3, (1,), video_id="v7")
    with pytest.raises(ValueError, match="video 'v7': 1 ground-truth frames but 2 predicted"):
        vpq_video_stats([_gt_frame()], [_pred(_gt_frame().ids, {STUFF: 1, THING: 0})] * 2, 3, (1,), "v7")


def _stq(gt_ids, pred_ids, num_classes=2, things=(True, False)):
    """deeplab2's toy test: panoptic ids (semantic << 16) + instance, one row of pixels."""
    gt, pred = np.asarray([gt_ids]), np.asarray([pred_ids])
    stats = stq_update(STQStats.empty(num_classes), gt >> 16, gt & 0xFFFF, pred >> 16, pred & 0xFFFF, list(things))
    return stq_result([stats])


@pytest.mark.parametrize(
    "pred,stq,aq,iou",
    [
        ([1, 1, 1, 1, 1], 1.0, 1.0, 1.0),
        ([1, 1, 2, 2, 2], 0.72111026, 0.52, 1.0),
        ([1, 2, 2, 2, 2], 0.82462113, 0.68, 1.0),
        ([1, 2, 3, 4, 5], 0.447213596, 0.2, 1.0),
        ([1, 2, 1, 2, 2], 0.72111026, 0.52, 1.0),
        ([1 << 16, 1, 1, 1, 1], 0.50596443, 0.64, 0.4),
    ],
)
def test_stq_deeplab2_toy_values(pred, stq, aq, iou):
    out = _stq([1] * 5, pred)
    assert out["STQ"] == pytest.approx(stq, abs=1e-7)
    assert out["AQ"] == pytest.approx(aq, abs=1e-7) and out["SQ"] == pytest.approx(iou, abs=1e-7)


def test_stq_crowd_and_void():
    assert _stq([0, 1, 1, 1, 1, 1], [1] * 6)["STQ"] == pytest.approx(1.0)  # first pixel crowd: ignored
    # a prediction labelled void on a valid GT pixel makes "void" a class with IoU 0 (deeplab2 keeps that column)
    out = _stq([1 << 16] * 4, [1 << 16] * 3 + [255 << 16])
    assert out["SQ"] == pytest.approx((3 / 4 + 0) / 2) and out["AQ"] == 0.0  # no GT thing tube


def test_miou_counts_only_classes_with_gt_pixels():
    gt = np.array([[0, 0, 1, 1, 255]])
    pred = np.array([[0, 2, 1, 1, 2]])  # class 2 only predicted; the void pixel is not counted
    out = miou_from_confusion(confusion_matrix(gt, pred, 3))
    assert out["mIoU"] == pytest.approx((1 / 2 + 1) / 2)
    with pytest.raises(ValueError, match="predicted classes must lie in"):
        confusion_matrix(gt, np.array([[0, 7, 1, 1, 2]]), 3)


def test_mvc_counts_t_minus_c_clips_and_skips_short_videos():
    gt = [np.zeros((2, 2), int)] * 4
    steady = [np.ones((2, 2), int)] * 4
    flicker = [np.ones((2, 2), int), np.zeros((2, 2), int)] * 2
    assert video_consistency_accuracies(gt, steady, 2) == [1.0, 1.0]  # T - c = 2 clips, not 3
    assert video_consistency_accuracies(gt, flicker, 2) == [0.0, 0.0]
    assert video_consistency_accuracies(gt, steady, 4) == []  # a video of exactly c frames is skipped
    assert np.isnan(mvc_from_accuracies([]))


def _rle(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def test_ytvis_perfect_missed_and_empty():
    m = np.zeros((8, 8), np.uint8)
    m[2:6, 2:6] = 1
    gt = {
        "videos": [{"id": 1, "height": 8, "width": 8, "length": 2}],
        "annotations": [
            {
                "id": 1,
                "video_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "segmentations": [_rle(m), None],
                "areas": [16, None],
            }
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    perfect = [{"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [_rle(m), None]}]
    assert ytvis_ap(gt, perfect)["AP"] == pytest.approx(1.0)
    # a detection that also covers the second frame pays for it in the union: IoU 16/32 = 0.5 -> AP50 only
    long = [{"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [_rle(m), _rle(m)]}]
    out = ytvis_ap(gt, long)
    assert out["AP50"] == pytest.approx(1.0) and out["AP75"] == 0.0
    assert ytvis_ap(gt, [])["AP"] == 0.0
    with pytest.raises(ValueError, match="video_id 5 is not in the ground truth"):
        ytvis_ap(gt, [dict(perfect[0], video_id=5)])
