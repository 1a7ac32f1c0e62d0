"""tools/query_mask_diagnosis.py: the per-thing best-query statistics on hand-made masks."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

from query_mask_diagnosis import best_query_stats, summarize  # noqa: E402


def _box(y0, y1, x0, x1, shape=(20, 30)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_a_query_covering_two_same_class_things_is_a_merge():
    a, b, c = _box(0, 10, 0, 10), _box(0, 10, 15, 25), _box(12, 20, 0, 10)  # a, b same class; c another
    both = a | b
    queries = np.stack([both, _box(12, 20, 0, 5)])  # query 0 merges a and b; query 1 covers half of c
    stats = best_query_stats(queries, [a, b, c], [1, 1, 2])
    assert [s["query"] for s in stats] == [0, 0, 1]
    assert stats[0]["iou"] == pytest.approx(0.5) and stats[0]["coverage"] == 1.0
    assert stats[0]["precision"] == pytest.approx(0.5)
    assert stats[0]["merged"] and stats[0]["merged_same_class"]
    # half of c, nothing else: missed in part, not merged
    assert stats[2]["iou"] == pytest.approx(0.5) and stats[2]["coverage"] == pytest.approx(0.5)
    assert stats[2]["precision"] == 1.0 and not stats[2]["merged"]


def test_a_merge_of_another_class_is_not_a_same_class_merge_and_small_overlaps_do_not_count():
    a, c = _box(0, 10, 0, 10), _box(0, 10, 10, 20)
    over_c = a | _box(0, 10, 10, 14)  # 40 % of c
    stats = best_query_stats(over_c[None], [a, c], [1, 2])
    assert stats[0]["merged"] and not stats[0]["merged_same_class"]
    stats = best_query_stats(over_c[None], [a, c], [1, 2], merge_fraction=0.5)
    assert not stats[0]["merged"]


def test_summary_counts_merges_among_low_iou_things_only():
    a, b = _box(0, 10, 0, 10), _box(0, 10, 15, 25)
    exact = best_query_stats(np.stack([a, b]), [a, b], [1, 1])
    merged = best_query_stats((a | b)[None], [a, b], [1, 1])
    summary = summarize(exact + merged)
    assert summary["thing_frames"] == 4 and summary["below_0.6"] == 2
    assert summary["below_0.6_merged_same_class"] == 2
    assert summary["best_query_iou"] == pytest.approx(0.75)
    assert summary["iou_histogram"]["counts"] == [0, 0, 2, 0, 2]
