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


def _twin_step(tracker, step, swap_appearance, track_all=False):
    """Two same-class twins moving right by 2 px per subclip, 16 px apart. Their embeddings differ by a little
    (cosine 0.96 between them, both far above MATCH_SCORE_THR); with `swap_appearance` each twin's tube carries the
    other's embedding, so appearance alone prefers the swap and only the overlap of the masks says who is who."""
    u = torch.nn.functional.normalize(torch.tensor([1.0, 0.0, 0.0]), dim=0)
    v = torch.nn.functional.normalize(torch.tensor([1.0, 0.3, 0.0]), dim=0)
    looks = [v, u] if swap_appearance else [u, v]
    tubes = [_box_tube(2 + 2 * step, 4), _box_tube(2 + 2 * step, 20)]
    det = TubeDetections(
        embeds=torch.stack(looks) * 4,
        scores=torch.tensor([0.9, 0.9]),
        labels=torch.tensor([1, 1]),
        frame_index=step * N_FRAMES,
        num_frames=N_FRAMES,
        track_all=track_all,
        first_frame_masks=torch.stack([t[0] for t in tubes]),
        last_frame_masks=torch.stack([t[-1] for t in tubes]),
    )
    return tracker.update(det).tolist()


OVERLAP_TRACKERS = [
    pytest.param(lambda w: QuasiDenseTracker(match_metric="cosine", mask_iou_weight=w), False, id="greedy_cosine"),
    pytest.param(lambda w: HungarianQueryTracker(mask_iou_weight=w), False, id="hungarian"),
    pytest.param(lambda w: QuasiDenseTracker(mask_iou_weight=w), True, id="track_all"),
]


@pytest.mark.parametrize("track_all", [False, True])
def test_one_to_one_matching_ignores_the_similarity_of_rejected_pairs(track_all):
    """Tube a resembles track X (cosine 0.8) more than tube b does (0.7), and b resembles no other track (0.1 with
    Y). Summing raw similarities prefers a->Y (0.45, rejected) + b->X: 1.15 > 0.8 + 0.1, which would give X to
    the worse tube. Rejected pairs count as the threshold, so a keeps X and b starts a track."""
    looks = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])  # tracks X, Y
    tubes = torch.tensor([[0.8, 0.45, (1 - 0.8**2 - 0.45**2) ** 0.5], [0.7, 0.1, (1 - 0.7**2 - 0.1**2) ** 0.5]])
    common = dict(scores=torch.tensor([0.9, 0.9]), labels=torch.tensor([1, 1]), num_frames=N_FRAMES)
    # QDTrack matches one to one only for track_all sets
    trackers = [HungarianQueryTracker()] + ([QuasiDenseTracker()] if track_all else [])
    for tracker in trackers:
        assert tracker.update(TubeDetections(looks, frame_index=0, track_all=track_all, **common)).tolist() == [0, 1]
        second = tracker.update(TubeDetections(tubes, frame_index=2, track_all=track_all, **common)).tolist()
        assert second == [0, 2], (type(tracker).__name__, second)


@pytest.mark.parametrize("make,track_all", OVERLAP_TRACKERS)
def test_overlap_cue_tells_look_alike_twins_apart(make, track_all):
    for weight, expect_kept in ((0.0, False), (1.0, True)):
        tracker = make(weight)
        first = _twin_step(tracker, 0, swap_appearance=False, track_all=track_all)
        second = _twin_step(tracker, 1, swap_appearance=True, track_all=track_all)
        assert sorted(first) == sorted(second) == [0, 1]  # both matched, no new track
        # appearance only: the ids follow the swapped embeddings; with the cue they stay with the positions
        assert (second == first) is expect_kept, (weight, first, second)


def test_overlap_cue_never_accepts_a_dissimilar_pair():
    """The cue only reorders acceptable matches: a tube exactly where a track was, but with an embedding below
    MATCH_SCORE_THR, starts a new track however large the weight."""
    for track_all in (False, True):
        tracker = QuasiDenseTracker(match_metric="cosine", mask_iou_weight=100.0)
        tube = _box_tube(4, 4)
        common = dict(scores=torch.tensor([0.9]), labels=torch.tensor([1]), num_frames=N_FRAMES, track_all=track_all)
        masks = dict(first_frame_masks=tube[:1], last_frame_masks=tube[-1:])
        first = TubeDetections(torch.tensor([[4.0, 0, 0]]), frame_index=0, **common, **masks)
        assert tracker.update(first).tolist() == [0]
        other = TubeDetections(torch.tensor([[0.0, 4.0, 0]]), frame_index=2, **common, **masks)  # cosine 0
        assert tracker.update(other).tolist() == [1]
        # ... nor steals the assignment: a tube where track 0 was, looking like track 1 (elsewhere), joins track 1
        elsewhere = _box_tube(20, 20)
        tracker.update(
            TubeDetections(
                torch.tensor([[0.0, 4.0, 0]]),
                frame_index=4,
                **common,
                first_frame_masks=elsewhere[:1],
                last_frame_masks=elsewhere[-1:],
            )
        )
        again = TubeDetections(torch.tensor([[0.0, 4.0, 0]]), frame_index=6, **common, **masks)
        assert tracker.update(again).tolist() == [1]


def test_overlap_cue_keeps_the_backdrop_veto():
    """QDTrack's backdrops: a tube most similar to an untracked tube of the previous subclip is not forced onto a
    track, even one that passes MATCH_SCORE_THR and overlaps it."""
    looks = torch.tensor([[4.0, 0, 0], [0, 4.0, 0], [2.8, 2.8, 0]])  # track, backdrop, a tube between them
    tube = _box_tube(4, 4)

    def det(embeds, scores, frame_index):
        k = len(embeds)
        return TubeDetections(
            embeds=embeds,
            scores=torch.tensor(scores),
            labels=torch.zeros(k, dtype=torch.int64),
            frame_index=frame_index,
            num_frames=N_FRAMES,
            first_frame_masks=tube[:1].expand(k, -1, -1).clone(),
            last_frame_masks=tube[-1:].expand(k, -1, -1).clone(),
        )

    for weight in (0.0, 1.0):
        tracker = QuasiDenseTracker(match_metric="cosine", mask_iou_weight=weight, match_score_thr=0.5)
        assert tracker.update(det(looks[:2], [0.9, 0.4], 0)).tolist() == [0, -1]  # the second becomes a backdrop
        between = looks[2:] + torch.tensor([[0.0, 0.3, 0.0]])  # cosine 0.66 with the track, 0.75 with the backdrop
        assert tracker.update(det(between, [0.4], 2)).tolist() == [-1], weight


def test_zero_weight_ignores_masks():
    """MASK_IOU_WEIGHT 0: masks in the detections change nothing (the swap of the twins test happens) and are not
    stored."""
    tracker = HungarianQueryTracker(mask_iou_weight=0.0)
    first = _twin_step(tracker, 0, swap_appearance=False)
    second = _twin_step(tracker, 1, swap_appearance=True)
    assert second == first[::-1] and tracker.memory.last_masks() is None


def test_memory_keeps_each_tracks_last_frame_mask():
    tracker = HungarianQueryTracker(mask_iou_weight=1.0)
    ident = _identities(num=2)

    def det(boxes, frame_index, with_masks=True):
        tubes = [_box_tube(x, y) for x, y in boxes]
        return TubeDetections(
            embeds=ident[: len(boxes)],
            scores=torch.full((len(boxes),), 0.9),
            labels=torch.zeros(len(boxes), dtype=torch.int64),
            frame_index=frame_index,
            num_frames=N_FRAMES,
            first_frame_masks=torch.stack([t[0] for t in tubes]) if with_masks else None,
            last_frame_masks=torch.stack([t[-1] for t in tubes]) if with_masks else None,
        )

    assert tracker.memory.last_masks() is None
    tracker.update(det([(0, 0)], 0, with_masks=False))  # a track stored before any mask: an empty mask row
    tracker.update(det([(0, 0), (20, 20)], 2))
    stored = tracker.memory.last_masks()
    assert stored.shape == (2, SIZE, SIZE) and stored.dtype == torch.bool
    assert torch.equal(stored[1], _box_tube(20, 20)[-1])  # the new track's mask
    assert torch.equal(stored[0], _box_tube(0, 0)[-1])  # the matched track's mask replaced the empty row
    tracker.update(det([(2, 0)], 4))
    assert torch.equal(tracker.memory.last_masks()[0], _box_tube(2, 0)[-1])
    assert torch.equal(tracker.memory.last_masks()[1], _box_tube(20, 20)[-1])  # unmatched: kept as last seen
    tracker.update(det([(4, 0)], 16))  # track 1 last seen at frame 3: retired with its mask
    assert tracker.memory.ids() == [0] and tracker.memory.last_masks().shape == (1, SIZE, SIZE)
    with pytest.raises(ValueError, match="come together"):
        TubeDetections(ident[:1], torch.ones(1), torch.zeros(1, dtype=torch.int64), 0, first_frame_masks=stored[:1])
    with pytest.raises(ValueError, match="bool"):
        float_masks = dict(first_frame_masks=stored[:1].float(), last_frame_masks=stored[:1].float())
        TubeDetections(ident[:1], torch.ones(1), torch.zeros(1, dtype=torch.int64), 0, **float_masks)
    with pytest.raises(ValueError, match="in one video"):
        tracker.memory.update_many([0], ident[:1], torch.zeros(1), 18, torch.zeros(1, 8, 8, dtype=torch.bool))


def test_mask_iou_weight_from_config():
    cfg = get_cfg()
    assert build_tracker(cfg).uses_masks is False  # appearance only by default, as QDTrack and the original
    cfg.MODEL.TRACKER.MASK_IOU_WEIGHT = 0.5
    tracker = build_tracker(cfg)
    assert tracker.uses_masks and tracker.mask_iou_weight == 0.5
    cfg.MODEL.TRACKER.MASK_IOU_WEIGHT = -1.0
    with pytest.raises(ValueError, match="MASK_IOU_WEIGHT"):
        build_tracker(cfg)


def test_match_threshold_below_the_gates_is_refused():
    """The category gate puts cross-class pairs at similarity -1: a threshold below it would accept them."""
    cfg = get_cfg()
    cfg.MODEL.TRACKER.MATCH_SCORE_THR = -1.0  # the lowest meaningful one: only pairs above -1 are accepted
    tracker = build_tracker(cfg)
    common = dict(scores=torch.tensor([0.9]), num_frames=N_FRAMES, track_all=True)
    assert tracker.update(
        TubeDetections(torch.tensor([[1.0, 0]]), labels=torch.tensor([1]), frame_index=0, **common)
    ).tolist() == [0]
    other_class = TubeDetections(torch.tensor([[1.0, 0]]), labels=torch.tensor([2]), frame_index=2, **common)
    assert tracker.update(other_class).tolist() == [1]  # same look, other class: a new track
    cfg.MODEL.TRACKER.MATCH_SCORE_THR = -1.5
    with pytest.raises(ValueError, match="MATCH_SCORE_THR"):
        build_tracker(cfg)
