"""Post-processing of tube predictions: panoptic fusion rules, semantic and instance inference."""

import pytest
import torch

from tubelink.modeling.postprocess import instance_inference, panoptic_fusion, semantic_inference

BIG = 20.0


def _logits(classes, num_classes=3, conf=BIG):
    """One row per query: a confident logit on its class (num_classes = no object)."""
    out = torch.zeros(len(classes), num_classes + 1)
    for q, c in enumerate(classes):
        out[q, c] = conf
    return out


def _mask(n, h, w, region):
    m = torch.full((n, h, w), -BIG)
    m[region] = BIG
    return m


def test_fusion_segments_never_overlap_and_keep_one_id_per_tube():
    n, h, w = 2, 8, 8
    masks = torch.stack(
        [
            _mask(n, h, w, (slice(None), slice(0, 4), slice(0, 4))),  # thing A, both frames
            _mask(n, h, w, (slice(None), slice(2, 6), slice(2, 6))),  # thing B overlaps A
            _mask(n, h, w, (slice(None), slice(4, 8), slice(None))),  # stuff
        ]
    )
    logits = _logits([0, 0, 2])
    logits[1, 0] = BIG - 1  # B is slightly less confident: A and the stuff win the pixels B overlaps
    pan, segs = panoptic_fusion(logits, masks, is_thing=[True, True, False], overlap_threshold=0.5)
    assert pan.shape == (n, h, w)
    ids = [s["id"] for s in segs]
    assert len(set(ids)) == len(ids) and set(pan.unique().tolist()) <= set(ids) | {0}
    for s in segs:  # the reported area is the segment's exclusive pixel count over the tube
        assert (pan == s["id"]).sum().item() == s["area"]
    assert torch.equal(pan[0], pan[1])  # a tube is one segment over its frames


def test_fusion_thresholds():
    n, h, w = 1, 4, 4
    masks = torch.stack(
        [
            _mask(n, h, w, (slice(None), slice(0, 2), slice(None))),
            _mask(n, h, w, (slice(None), slice(0, 4), slice(None))),
        ]
    )
    weak = _logits([0, 1])
    weak[0, 0] = 0.5  # class probability well below 0.8 -> query 0 dropped
    _, segs = panoptic_fusion(weak, masks, is_thing=[True, True, False])
    assert [s["query_index"] for s in segs] == [1]
    # Query 1 loses half its mask to a more confident query 0 -> kept at overlap 0.5, dropped at 0.8.
    strong = _logits([0, 1])
    strong[1, 1] = BIG - 2
    _, segs = panoptic_fusion(strong, masks, is_thing=[True, True, False], overlap_threshold=0.5)
    assert sorted(s["query_index"] for s in segs) == [0, 1]
    _, segs = panoptic_fusion(strong, masks, is_thing=[True, True, False], overlap_threshold=0.8)
    assert [s["query_index"] for s in segs] == [0]
    no_object = torch.zeros(2, 4)
    no_object[:, 3] = BIG
    pan, segs = panoptic_fusion(no_object, masks, is_thing=[True, True, False])
    assert segs == [] and pan.eq(0).all()


def test_fusion_merges_stuff_of_one_class():
    n, h, w = 1, 4, 4
    masks = torch.stack(
        [
            _mask(n, h, w, (slice(None), slice(0, 2), slice(None))),
            _mask(n, h, w, (slice(None), slice(2, 4), slice(None))),
        ]
    )
    pan, segs = panoptic_fusion(_logits([2, 2]), masks, is_thing=[True, True, False])
    assert len(segs) == 1 and segs[0]["area"] == 16 and pan.eq(segs[0]["id"]).all()
    with pytest.raises(ValueError, match="is_thing"):
        panoptic_fusion(_logits([2, 2]), masks, is_thing=[True, False])


def test_semantic_inference_labels_every_pixel():
    n, h, w = 2, 4, 4
    masks = torch.stack(
        [
            _mask(n, h, w, (slice(None), slice(0, 2), slice(None))),
            _mask(n, h, w, (slice(None), slice(2, 4), slice(None))),
        ]
    )
    sem = semantic_inference(_logits([1, 2]), masks)
    assert sem.shape == (n, h, w)
    assert sem[:, :2].eq(1).all() and sem[:, 2:].eq(2).all()


def test_instance_inference_topk_sorted():
    n, h, w = 2, 4, 4
    masks = torch.stack(
        [
            _mask(n, h, w, (slice(None), slice(0, 2), slice(None))),
            _mask(n, h, w, (slice(None), slice(2, 4), slice(None))),
        ]
    )
    logits = _logits([1, 0])
    logits[1, 0] = 2.0  # query 1 is less confident
    scores, labels, inst_masks, queries = instance_inference(logits, masks, top_k=3)
    assert scores.shape == (3,) and torch.all(scores[:-1] >= scores[1:])
    assert labels[0].item() == 1 and queries[0].item() == 0 and inst_masks[0, :, :2].all()
    assert inst_masks.shape == (3, n, h, w)


def test_instance_inference_allowed_classes_are_excluded_before_topk():
    """A panoptic model seen as VIS: a confident stuff query must not take a thing instance's place."""
    n, h, w = 1, 4, 4
    masks = torch.stack([_mask(n, h, w, (slice(None), slice(0, 2), slice(None)))] * 2)
    logits = _logits([2, 0])  # query 0 is stuff (class 2), query 1 a thing (class 0)
    logits[1, 0] = 3.0  # the thing is less confident than the stuff query
    allowed = torch.tensor([True, True, False])
    scores, labels, _, queries = instance_inference(logits, masks, top_k=1, allowed_classes=allowed)
    assert labels.tolist() == [0] and queries.tolist() == [1] and scores[0] > 0
    scores_all, labels_all, _, _ = instance_inference(logits, masks, top_k=1)
    assert labels_all.tolist() == [2]  # without the restriction the stuff query wins
