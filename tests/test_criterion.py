"""Matching, losses, criterion and temporal contrastive learning on constructed cases."""

import itertools

import pytest
import torch

from tubelink.modeling.criterion import TubeLinkCriterion, TubeSetCriterion, select_subclips
from tubelink.modeling.heads.link_head import CrossTubeLink, QuasiDenseEmbedHead, TubeEmbeddingHead
from tubelink.modeling.losses import cosine_l2_loss, dice_loss, multi_positive_contrastive_loss, sigmoid_ce_loss
from tubelink.modeling.matcher import TubeHungarianMatcher, tube_matching_cost
from tubelink.modeling.tcl import (
    IGNORED,
    NEGATIVE,
    TemporalContrastiveLoss,
    assign_thing_queries,
    tcl_losses,
    tcl_targets,
)

BIG = 12.0
UNIT = {"loss_ce": 1.0, "loss_mask": 1.0, "loss_dice": 1.0}
NO_MATCH = (torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))


def _tube(n, h, w, y0, y1, x0, x1):
    m = torch.zeros(n, h, w, dtype=torch.bool)
    m[:, y0:y1, x0:x1] = True
    return m


def _gt(s=16):
    h = s // 2
    return {
        "labels": torch.tensor([1, 0, 2]),
        "masks": torch.stack([_tube(2, s, s, 0, h, 0, h), _tube(2, s, s, h, s, h, s), _tube(2, s, s, 0, h, h, s)]),
    }


def _perfect(gt, perm, num_queries=5, num_classes=3):
    logits = torch.full((num_queries, num_classes + 1), -BIG)
    logits[:, num_classes] = BIG
    masks = torch.full((num_queries, *gt["masks"].shape[1:]), -BIG)
    for g, q in enumerate(perm):
        logits[q] = -BIG
        logits[q, gt["labels"][g]] = BIG
        masks[q] = torch.where(gt["masks"][g], BIG, -BIG)
    return {"pred_logits": logits[None], "pred_masks": masks[None]}


def test_matcher_finds_the_brute_force_optimum():
    torch.manual_seed(0)
    gt = _gt()
    out = {"pred_logits": torch.randn(1, 4, 4), "pred_masks": torch.randn(1, 4, 2, 16, 16)}
    matcher = TubeHungarianMatcher(num_points=256)
    torch.manual_seed(1)
    ((q_idx, g_idx),) = matcher(out, [gt])
    torch.manual_seed(1)  # the same random points as the matcher drew
    coords = torch.rand(1, 256, 2)
    cost = tube_matching_cost(out["pred_logits"][0], out["pred_masks"][0], gt["labels"], gt["masks"], coords, 2, 5, 5)
    best = min(itertools.permutations(range(4), 3), key=lambda p: sum(cost[p[g], g] for g in range(3)))
    assert sorted(zip(g_idx.tolist(), q_idx.tolist())) == sorted(zip(range(3), best))


def test_perfect_prediction_has_near_zero_loss_and_is_matched():
    gt = _gt(64)
    out = _perfect(gt, perm=[3, 0, 4])
    # Uniform points: bilinear sampling makes target and logit fractional within half a pixel of an edge, where BCE
    # cannot go below the entropy; importance sampling would put most points exactly there.
    crit = TubeSetCriterion(3, TubeHungarianMatcher(num_points=4096), UNIT, num_points=4096, importance_sample_ratio=0)
    losses, indices = crit(out, [gt])
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_ce"] < 1e-3 and losses["loss_mask"] < 0.05 and losses["loss_dice"] < 0.02
    assert sorted(zip(indices[0][1].tolist(), indices[0][0].tolist())) == [(0, 3), (1, 0), (2, 4)]
    worse, _ = crit(_perfect(gt, perm=[3, 0, 4], num_classes=3) | {"pred_masks": -out["pred_masks"]}, [gt])
    assert (
        worse["loss_mask"] > 5 and worse["loss_dice"] > 0.4
    )  # inverted masks: the matcher takes the best of bad options


def test_criterion_deep_supervision_empty_targets_and_gradients():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 4, requires_grad=True)
    masks = torch.randn(2, 5, 2, 8, 8, requires_grad=True)
    out = {
        "pred_logits": logits,
        "pred_masks": masks,
        "aux_outputs": [{"pred_logits": logits * 1.0, "pred_masks": masks * 1.0}],
    }
    empty = {"labels": torch.zeros(0, dtype=torch.int64), "masks": torch.zeros(0, 2, 32, 32, dtype=torch.bool)}
    gt = {
        "labels": torch.tensor([1]),
        "masks": _tube(2, 32, 32, 0, 16, 0, 16)[None],
        "ignore": torch.zeros(2, 32, 32, dtype=torch.bool),
    }
    weights = {"loss_ce": 2.0, "loss_mask": 5.0, "loss_dice": 3.0}
    crit = TubeSetCriterion(3, TubeHungarianMatcher(num_points=64), weights, num_points=64)
    torch.manual_seed(0)
    losses, _ = crit(out, [gt, dict(empty, ignore=torch.zeros(2, 32, 32, dtype=torch.bool))])
    assert set(losses) == {"loss_ce", "loss_mask", "loss_dice", "loss_ce_0", "loss_mask_0", "loss_dice_0"}
    sum(losses.values()).backward()
    assert logits.grad.abs().sum() > 0 and masks.grad.abs().sum() > 0
    torch.manual_seed(0)
    unit, _ = TubeSetCriterion(3, TubeHungarianMatcher(num_points=64), UNIT, num_points=64)(
        out, [gt, dict(empty, ignore=torch.zeros(2, 32, 32, dtype=torch.bool))]
    )
    for name, value in losses.items():  # the criterion owns the weights, aux predictions included
        assert value.item() == pytest.approx(
            unit[name].item() * weights[name.rsplit("_", 1)[0] if name[-1] == "0" else name]
        )
    no_gt, _ = crit({"pred_logits": logits, "pred_masks": masks}, [empty, empty])
    assert no_gt["loss_mask"] == 0 and no_gt["loss_ce"] > 0  # every query must say "no object"
    shallow = TubeSetCriterion(3, TubeHungarianMatcher(num_points=64), UNIT, num_points=64, deep_supervision=False)
    assert set(shallow(out, [gt, gt])[0]) == {"loss_ce", "loss_mask", "loss_dice"}


def test_ignored_points_do_not_count():
    logits = torch.tensor([[5.0, -5.0]])
    targets = torch.tensor([[1.0, 1.0]])
    assert sigmoid_ce_loss(logits, targets, 1, torch.tensor([[1.0, 0.0]])) < 0.01
    assert sigmoid_ce_loss(logits, targets, 1) > 2
    assert dice_loss(logits, targets, 1, torch.tensor([[1.0, 0.0]])) < 0.01


def test_tcl_assignment_by_iou_thresholds_and_matching():
    gt = torch.stack([_tube(2, 16, 16, 0, 8, 0, 8), _tube(2, 16, 16, 8, 16, 8, 16), _tube(2, 16, 16, 0, 16, 0, 16)])
    is_thing = torch.tensor([True, True, False])  # tube 2 is stuff: never a TCL target

    def logit(t):
        return torch.where(t, BIG, -BIG)

    preds = torch.stack(
        [
            logit(_tube(2, 16, 16, 0, 8, 0, 8)),  # IoU 1 with gt 0 -> positive of 0
            logit(_tube(2, 16, 16, 8, 16, 8, 15)),  # IoU 56/64 = 0.875 with gt 1 -> positive of 1
            logit(_tube(2, 16, 16, 0, 8, 0, 4)),  # IoU 0.5 with gt 0 -> ignored
            logit(_tube(2, 16, 16, 0, 2, 0, 2)),  # IoU 4/64 -> negative
            torch.full((2, 16, 16), -BIG),  # empty -> negative
            logit(_tube(2, 16, 16, 0, 16, 0, 16)),  # the stuff tube: IoU 0.25 with each thing -> negative
        ]
    )
    assert assign_thing_queries(preds, gt, is_thing, NO_MATCH).tolist() == [0, 1, IGNORED, NEGATIVE, NEGATIVE, NEGATIVE]
    # the matcher's query of a thing tube is its positive whatever its IoU (a fresh model has no IoU > 0.7);
    # matched stuff changes nothing
    matched = (torch.tensor([4, 0, 5]), torch.tensor([1, 0, 2]))
    assert assign_thing_queries(preds, gt, is_thing, matched).tolist() == [0, 1, IGNORED, NEGATIVE, 1, NEGATIVE]
    # the original code: only the matched queries of thing tubes take part
    original = assign_thing_queries(preds, gt, is_thing, matched, mode="hungarian")
    assert original.tolist() == [0, IGNORED, IGNORED, IGNORED, 1, IGNORED]
    assert assign_thing_queries(preds, gt[:0], is_thing[:0], NO_MATCH).tolist() == [NEGATIVE] * 6
    with pytest.raises(ValueError, match="ASSIGNMENT"):
        assign_thing_queries(preds, gt, is_thing, matched, mode="max_iou")


def test_tcl_targets_and_losses_on_two_subclips():
    # key subclip: q0 -> track 7, q1 -> track 9, q2 ignored; reference: q0 negative, q1 -> track 9, q2 -> track 7
    assign_a, tracks_a = torch.tensor([0, 1, IGNORED]), torch.tensor([7, 9])
    assign_b, tracks_b = torch.tensor([NEGATIVE, 1, 0]), torch.tensor([7, 9])
    rows, cols, targets = tcl_targets(assign_a, tracks_a, assign_b, tracks_b)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1, 2]
    assert targets.tolist() == [[0, 0, 1], [0, 1, 0]]
    emb_a = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]) * 5
    emb_b = torch.tensor([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]]) * 5  # consistent identities
    good = tcl_losses(emb_a, emb_b, assign_a, tracks_a, assign_b, tracks_b)
    bad = tcl_losses(emb_a, emb_b.flip(0), assign_a, tracks_a, assign_b, tracks_b)
    assert good["loss_tcl"] < 1e-6 and bad["loss_tcl"] > 10 and good["loss_tcl_aux"] < bad["loss_tcl_aux"]
    assert (good["num_pos"], good["num_neg"]) == (2, 4)
    # no shared track: exactly zero, with a graph
    emb = emb_a.clone().requires_grad_(True)
    none = tcl_losses(emb, emb_b, assign_a, torch.tensor([1, 2]), assign_b, tracks_b)
    assert none["loss_tcl"] == 0 and none["loss_tcl_aux"] == 0 and none["loss_tcl"].requires_grad


def test_multi_positive_loss_closed_form_and_aux_options():
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[2.0, 0.0], [0.5, 0.0], [1.0, 0.0]])
    t = torch.tensor([[1.0, 0.0, 1.0]])  # d = [2, 0.5, 1]; pos {2, 1}, neg {0.5}
    expected = torch.log(1 + torch.exp(torch.tensor(0.5 - 2)) + torch.exp(torch.tensor(0.5 - 1)))
    assert multi_positive_contrastive_loss(a, b, t) == pytest.approx(expected.item(), rel=1e-6)
    cos_t = torch.tensor([[1.0, 0.0, 0.0]])
    assert cosine_l2_loss(a, b, cos_t).item() == pytest.approx((0 + 1 + 1) / 3, rel=1e-6)  # all cosines are 1
    assert cosine_l2_loss(a, b, cos_t, neg_margin=0.1, hard_negative_ratio=1).item() == pytest.approx(0.81 / 2)


def test_link_and_embedding_heads_shapes():
    link, emb = CrossTubeLink(32, 4, 64), TubeEmbeddingHead(32, 16, 3)
    q, other = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    linked = link(q, other)
    assert linked.shape == (2, 5, 32) and emb(linked).shape == (2, 5, 16)
    assert not torch.allclose(link(q, other), link(q, torch.randn(2, 7, 32)))  # depends on the other tube


def test_original_embedding_head_layout():
    head = QuasiDenseEmbedHead(32, 16, 2)
    keys = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert keys == {
        "embed_fcs.0.weight": (32, 32),  # no bias, as the original
        "embed_fcs.1.weight": (32,),
        "embed_fcs.1.bias": (32,),
        "fc_embed.weight": (32, 32),
        "fc_embed.bias": (32,),
        "track_head.fcs.0.weight": (32, 32),
        "track_head.fcs.0.bias": (32,),
        "track_head.fcs.1.weight": (32, 32),
        "track_head.fcs.1.bias": (32,),
        "track_head.fc_embed.weight": (16, 32),
        "track_head.fc_embed.bias": (16,),
    }
    x = torch.randn(3, 32)
    norm = head.embed_fcs[1]
    ref = head.fc_embed(
        torch.relu(torch.nn.functional.layer_norm(x @ head.embed_fcs[0].weight.t(), (32,), norm.weight, norm.bias))
    )
    for fc in head.track_head.fcs:
        ref = torch.relu(fc(ref))
    assert torch.allclose(head(x), head.track_head.fc_embed(ref), atol=1e-6)


def _two_subclip_batch():
    """Outputs of 4 subclips (2 clips x 2 subclips, clip-major) and targets with 2 or 3 GT tubes."""
    torch.manual_seed(0)
    logits = torch.randn(4, 6, 4, requires_grad=True)
    masks = torch.randn(4, 6, 2, 16, 16, requires_grad=True)
    gt = _gt(16)
    two = {"labels": gt["labels"][:2], "masks": gt["masks"][:2]}
    targets = [two, gt, two, gt]
    for t in targets:
        t["is_thing"] = torch.ones(len(t["labels"]), dtype=torch.bool)
        t["track_ids"] = torch.arange(len(t["labels"]))
    aux = [{"pred_logits": logits * 0.5, "pred_masks": masks * 0.5}]
    return {"pred_logits": logits, "pred_masks": masks, "aux_outputs": aux}, targets


def test_segmentation_losses_are_normalised_per_subclip_and_summed():
    outputs, targets = _two_subclip_batch()
    seg = TubeSetCriterion(3, TubeHungarianMatcher(num_points=64), UNIT, num_points=64)
    crit = TubeLinkCriterion(seg)
    torch.manual_seed(1)
    losses, scalars = crit(outputs, targets, num_subclips=2)
    assert scalars == {} and "loss_tcl" not in losses
    torch.manual_seed(1)  # the same random draws, subclip 0 of both clips first, then subclip 1
    first, _ = seg(select_subclips(outputs, [0, 2]), [targets[0], targets[2]])
    second, _ = seg(select_subclips(outputs, [1, 3]), [targets[1], targets[3]])
    for name in losses:
        assert losses[name].item() == pytest.approx((first[name] + second[name]).item(), rel=1e-5)
    torch.manual_seed(1)
    joint, _ = seg(outputs, targets)  # 2 and 3 tubes normalised together weigh the subclips differently
    assert abs(joint["loss_dice"].item() - losses["loss_dice"].item()) > 0.1
    torch.manual_seed(1)
    together, _ = TubeLinkCriterion(seg, normalization="joint")(outputs, targets, num_subclips=2)
    assert together["loss_dice"].item() == pytest.approx(joint["loss_dice"].item(), rel=1e-5)
    with pytest.raises(ValueError, match="SEGMENTATION_LOSS_NORM"):
        TubeLinkCriterion(seg, normalization="per_clip")


def test_criterion_computes_tcl_from_its_own_matching_with_counts():
    outputs, targets = _two_subclip_batch()
    seg = TubeSetCriterion(3, TubeHungarianMatcher(num_points=64), UNIT, num_points=64)
    crit = TubeLinkCriterion(seg, TemporalContrastiveLoss("hungarian"), tcl_weight=0.5, tcl_aux_weight=2.0)
    embeds = torch.randn(4, 6, 8, requires_grad=True)
    torch.manual_seed(1)
    losses, scalars = crit(outputs, targets, 2, embeds, pairs=[(1, 0), (3, 2)])
    # per pair, key subclip: 3 matched things (tracks 0, 1, 2); reference: 2 (tracks 0, 1) -> 2 positive pairs of 6
    assert scalars == {"tcl_num_pos": 4.0, "tcl_num_neg": 8.0}
    assert losses["loss_tcl"] > 0 and losses["loss_tcl_aux"] > 0
    (losses["loss_tcl"] + losses["loss_tcl_aux"]).backward()
    assert embeds.grad[[0, 1, 2, 3]].abs().sum() > 0
