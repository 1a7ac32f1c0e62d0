"""Trackers: identities through crossings and short occlusions, births, retirement, duplicates, low scores."""

import pytest
import torch

from tubelink.config import get_cfg
from tubelink.tracking import HungarianQueryTracker, QuasiDenseTracker, TubeDetections, build_tracker
from tubelink.tracking.similarity import bisoftmax_similarity, mask_iou_matrix

N_FRAMES = 2  # frames per subclip
SIZE = 32


def _box_tube(x, y, w=8, h=8):
    m = torch.zeros(N_FRAMES, SIZE, SIZE, dtype=torch.bool)
    m[:, max(y, 0) : y + h, max(x, 0) : x + w] = True
    return m


def _identities(seed=0, num=3, dim=16):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(num, dim, generator=g), dim=1) * 4


def _detections(entities, frame_index, noise_seed, noise=0.3):
    """entities: list of (identity embedding, label, score, tube mask)."""
    g = torch.Generator().manual_seed(noise_seed)
    embeds = torch.stack([e + noise * torch.randn(e.shape, generator=g) for e, _, _, _ in entities])
    return TubeDetections(
        embeds=embeds,
        scores=torch.tensor([s for _, _, s, _ in entities]),
        labels=torch.tensor([label for _, label, _, _ in entities]),
        frame_index=frame_index,
        masks=torch.stack([m for _, _, _, m in entities]),
    )


TRACKERS = [
    pytest.param(lambda: QuasiDenseTracker(), id="quasi_dense"),
    pytest.param(lambda: QuasiDenseTracker(match_metric="cosine"), id="quasi_dense_cosine"),
    pytest.param(lambda: HungarianQueryTracker(), id="hungarian"),
]


@pytest.mark.parametrize("make", TRACKERS)
def test_twins_keep_identity_through_crossing(make):
    tracker = make()
    ident = _identities()
    history = []
    for step in range(10):
        x_a, x_b = 2 + 2 * step, 22 - 2 * step  # same class, paths cross around step 5
        # The order of detections changes every step: ids must follow embeddings, not positions in the list.
        ents = [(ident[0], 1, 0.9, _box_tube(x_a, 10)), (ident[1], 1, 0.9, _box_tube(x_b, 12))]
        if step % 2:
            ents = ents[::-1]
        ids = tracker.update(_detections(ents, step * N_FRAMES, noise_seed=step)).tolist()
        history.append(ids if step % 2 == 0 else ids[::-1])
    assert all(h == history[0] for h in history) and len(set(history[0])) == 2


@pytest.mark.parametrize("make", TRACKERS)
def test_short_occlusion_keeps_id_long_absence_retires(make):
    tracker = make()  # memory 10 frames
    ident = _identities()
    obj = (ident[0], 2, 0.9, _box_tube(4, 4))
    first = tracker.update(_detections([obj], 0, 0))[0].item()
    # absent for subclips at frames 2..7 (6 frames <= 10), back at frame 8
    back = tracker.update(_detections([obj], 8, 1))[0].item()
    assert back == first
    # absent for 12 frames (frames 10..21) > memory: retired, a later appearance gets a new id
    assert first in tracker.memory.ids()
    later = tracker.update(_detections([obj], 22, 2))[0].item()
    assert later != first and first not in tracker.memory.ids()


@pytest.mark.parametrize("make", TRACKERS)
def test_new_objects_get_new_ids_and_low_scores_are_not_tracked(make):
    tracker = make()
    ident = _identities(num=3)
    a = (ident[0], 0, 0.9, _box_tube(0, 0))
    ids0 = tracker.update(_detections([a], 0, 0)).tolist()
    b = (ident[1], 0, 0.9, _box_tube(20, 20))
    weak = (ident[2], 0, 0.1, _box_tube(10, 20))
    ids1 = tracker.update(_detections([a, b, weak], 2, 1)).tolist()
    assert ids1[0] == ids0[0] and ids1[1] not in ids0 and ids1[1] >= 0
    assert ids1[2] == -1


@pytest.mark.parametrize("make", TRACKERS)
def test_duplicate_tubes_are_suppressed_and_reset_restarts(make):
    tracker = make()
    ident = _identities()
    a = (ident[0], 0, 0.9, _box_tube(0, 0))
    dup = (ident[0] * 0.9, 0, 0.8, _box_tube(0, 1))  # IoU 7/9 > 0.7 with a
    ids = tracker.update(_detections([dup, a], 0, 0)).tolist()
    assert ids[1] >= 0 and ids[0] == -1  # the higher score survives
    tracker.reset()
    assert tracker.memory.ids() == [] and tracker.update(_detections([a], 0, 0)).tolist() == [0]


def test_category_gate_blocks_cross_class_matches():
    tracker = QuasiDenseTracker(with_category=True)
    ident = _identities()
    tracker.update(_detections([(ident[0], 0, 0.9, _box_tube(0, 0))], 0, 0))
    ids = tracker.update(_detections([(ident[0], 5, 0.9, _box_tube(0, 0))], 2, 1)).tolist()
    assert ids == [1]  # same embedding, other class: a new track


def test_bisoftmax_and_iou_helpers():
    a = torch.eye(3) * 5
    s = bisoftmax_similarity(a, a)
    assert s.shape == (3, 3) and torch.all(s.diagonal() > 0.9) and torch.all((s >= 0) & (s <= 1))
    m = torch.zeros(2, 4, 4, dtype=torch.bool)
    m[0, :2] = True
    m[1, 1:3] = True
    assert mask_iou_matrix(m, m)[0, 1].item() == pytest.approx(4 / 12)
    assert bisoftmax_similarity(torch.zeros(0, 3), a).shape == (0, 3)


def test_build_tracker_from_config():
    cfg = get_cfg()
    assert isinstance(build_tracker(cfg), QuasiDenseTracker)
    cfg.MODEL.TRACKER.NAME = "HungarianQueryTracker"
    assert isinstance(build_tracker(cfg), HungarianQueryTracker)
    cfg.MODEL.TRACKER.NAME = "Nope"
    with pytest.raises(KeyError, match="MODEL.TRACKER.NAME"):
        build_tracker(cfg)
    cfg.MODEL.TRACKER.NAME = "QuasiDenseTracker"
    cfg.MODEL.TRACKER.MATCH_METRIC = "l2"
    with pytest.raises(ValueError, match="MATCH_METRIC"):
        build_tracker(cfg)


@pytest.mark.parametrize("make", TRACKERS)
def test_non_overlapping_tubes_need_no_masks(make):
    """Panoptic segments never overlap, so duplicate removal never fires: tracking them without masks (the VPS
    predictor's compact detections) gives the ids tracking with their masks gives, births and matches alike."""
    ident = _identities(num=3)
    with_masks, without = make(), make()
    for step in range(6):
        ents = [(ident[k], 1, score, _box_tube(10 * k, 4)) for k, score in enumerate((0.9, 0.6, 0.4))]
        det = _detections(ents, step * N_FRAMES, noise_seed=step, noise=1.5)
        compact = TubeDetections(det.embeds, det.scores, det.labels, det.frame_index, num_frames=N_FRAMES)
        assert with_masks.update(det).tolist() == without.update(compact).tolist()
    assert with_masks.memory.ids() == without.memory.ids()
    assert torch.equal(with_masks.memory.stacked()[0], without.memory.stacked()[0])
