"""Matching, losses, criterion and temporal contrastive learning on constructed cases."""

import itertools

import pytest
import torch

from tubelink.modeling.criterion import TubeSetCriterion
from tubelink.modeling.heads.link_head import CrossTubeLink, TubeEmbeddingHead
from tubelink.modeling.losses import cosine_l2_loss, dice_loss, multi_positive_contrastive_loss, sigmoid_ce_loss
from tubelink.modeling.matcher import TubeHungarianMatcher, tube_matching_cost
from tubelink.modeling.tcl import IGNORED, NEGATIVE, assign_queries_by_iou, tcl_losses, tcl_targets

BIG = 12.0


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
    crit = TubeSetCriterion(3, TubeHungarianMatcher(num_points=4096), {}, num_points=4096, importance_sample_ratio=0)
    losses = crit(out, [gt])
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_ce"] < 1e-3 and losses["loss_mask"] < 0.05 and losses["loss_dice"] < 0.02
    assert sorted(crit.last_indices[0][0].tolist()) == [0, 3, 4]
    worse = crit(_perfect(gt, perm=[3, 0, 4], num_classes=3) | {"pred_masks": -out["pred_masks"]}, [gt])
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
    crit = TubeSetCriterion(3, TubeHungarianMatcher(num_points=64), {}, num_points=64)
    losses = crit(out, [gt, dict(empty, ignore=torch.zeros(2, 32, 32, dtype=torch.bool))])
    assert set(losses) == {"loss_ce", "loss_mask", "loss_dice", "loss_ce_0", "loss_mask_0", "loss_dice_0"}
    sum(losses.values()).backward()
    assert logits.grad.abs().sum() > 0 and masks.grad.abs().sum() > 0
    no_gt = crit({"pred_logits": logits, "pred_masks": masks}, [empty, empty])
    assert no_gt["loss_mask"] == 0 and no_gt["loss_ce"] > 0  # every query must say "no object"


def test_ignored_points_do_not_count():
    logits = torch.tensor([[5.0, -5.0]])
    targets = torch.tensor([[1.0, 1.0]])
    assert sigmoid_ce_loss(logits, targets, 1, torch.tensor([[1.0, 0.0]])) < 0.01
    assert sigmoid_ce_loss(logits, targets, 1) > 2
    assert dice_loss(logits, targets, 1, torch.tensor([[1.0, 0.0]])) < 0.01


def test_tcl_assignment_by_iou_thresholds():
    gt = torch.stack([_tube(2, 16, 16, 0, 8, 0, 8), _tube(2, 16, 16, 8, 16, 8, 16)])

    def logit(t):
        return torch.where(t, BIG, -BIG)

    preds = torch.stack(
        [
            logit(_tube(2, 16, 16, 0, 8, 0, 8)),  # IoU 1 with gt 0 -> positive of 0
            logit(_tube(2, 16, 16, 8, 16, 8, 15)),  # IoU 56/64 = 0.875 with gt 1 -> positive of 1
            logit(_tube(2, 16, 16, 0, 8, 0, 4)),  # IoU 0.5 with gt 0 -> ignored
            logit(_tube(2, 16, 16, 0, 2, 0, 2)),  # IoU 4/64 -> negative
            torch.full((2, 16, 16), -BIG),  # empty -> negative
        ]
    )
    assert assign_queries_by_iou(preds, gt).tolist() == [0, 1, IGNORED, NEGATIVE, NEGATIVE]
    assert assign_queries_by_iou(preds, gt[:0]).tolist() == [NEGATIVE] * 5


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
