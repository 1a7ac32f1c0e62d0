"""The TubeLink meta-architecture: checkpoint layout, inference for any n, training losses, and overfitting."""

import os

import numpy as np
import pytest
import torch

import tubelink  # noqa: F401
from test_model_keys import fixture_keys, module_keys
from tubelink.config import get_cfg
from tubelink.data import DatasetCatalog
from tubelink.data.mappers import TubeClipMapper
from tubelink.modeling import build_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_cfg():
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    return cfg


@pytest.mark.parametrize(
    "fixture,config", [("R50", "vipseg/tubelink_R50.yaml"), ("SwinB384", "vipseg/tubelink_SwinB.yaml")]
)
def test_full_model_keys_equal_mask2former_except_new_prefixes_and_classifier(fixture, config):
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, "configs", config))
    cfg.MODEL.DEVICE = "cpu"
    ours = module_keys(build_model(cfg))
    theirs = fixture_keys(fixture, "")
    new = {k for k in ours if k.startswith(("link_head.", "embed_head."))}
    assert new and set(ours) - set(theirs) == new
    skip = {
        "sem_seg_head.predictor.class_embed.weight",
        "sem_seg_head.predictor.class_embed.bias",
        "criterion.empty_weight",
    }  # classifier shape differs; empty_weight is derived, not saved
    assert {k: v for k, v in ours.items() if k not in new | skip} == {k: v for k, v in theirs.items() if k not in skip}


def test_mask2former_checkpoint_layout_loads_into_the_full_model(tmp_path):
    """A .pkl with every key of the official R50 checkpoint loads fully; only the classifier (other class count),
    the derived empty_weight and Tube-Link's new heads are reported."""
    import pickle

    from tubelink.checkpoint import load_weights

    rng = np.random.default_rng(0)
    state = {k: rng.standard_normal(shape).astype(np.float32) for k, shape in fixture_keys("R50", "").items()}
    state["sem_seg_head.predictor.static_query.weight"] = state.pop("sem_seg_head.predictor.query_feat.weight")
    with open(tmp_path / "model_final.pkl", "wb") as f:
        pickle.dump({"model": state, "__author__": "Mask2Former"}, f)
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, "configs", "vipseg", "tubelink_R50.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    report = load_weights(model, str(tmp_path / "model_final.pkl"))
    assert {k for k, _, _ in report.skipped} == {
        "sem_seg_head.predictor.class_embed.weight",
        "sem_seg_head.predictor.class_embed.bias",
    }
    assert report.unexpected == ["criterion.empty_weight"]
    assert report.missing and all(k.startswith(("link_head.", "embed_head.")) for k in report.missing)
    assert torch.equal(
        model.sem_seg_head.predictor.query_feat.weight,
        torch.from_numpy(state["sem_seg_head.predictor.static_query.weight"]),
    )


@pytest.mark.parametrize("n", [1, 2, 6])
def test_inference_shapes_for_any_window(n):
    torch.manual_seed(0)
    model = build_model(small_cfg()).eval()
    image = torch.randint(0, 255, (n, 3, 50, 70), dtype=torch.uint8)
    (out,) = model([{"image": image}])
    assert out["pred_logits"].shape == (20, 10) and out["pred_masks"].shape == (20, n, 50, 70)
    assert out["pred_queries"].shape == (20, 64) and out["pred_embeds"].shape == (20, 64)
    prev = torch.randn_like(out["pred_queries"])
    (linked,) = model([{"image": image, "prev_queries": prev}])
    assert not torch.allclose(linked["pred_embeds"], out["pred_embeds"])  # the link used the previous tube
    assert torch.equal(linked["pred_queries"], out["pred_queries"])  # the next subclip links to the raw queries
    model.link_test_mode = "per_index"  # the original code's test-time link: query i sees previous query i only
    (per_index,) = model([{"image": image, "prev_queries": prev}])
    shuffled = prev[torch.arange(prev.shape[0]).roll(1)]
    (per_index_shuffled,) = model([{"image": image, "prev_queries": shuffled}])
    assert not torch.allclose(per_index["pred_embeds"], per_index_shuffled["pred_embeds"])
    model.link_test_mode = "cross_attention"  # full attention is invariant to the order of the previous queries
    (cross_shuffled,) = model([{"image": image, "prev_queries": shuffled}])
    assert torch.allclose(cross_shuffled["pred_embeds"], linked["pred_embeds"], atol=1e-5)


def _clip(tmp_path, monkeypatch, size=64):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    cfg = small_cfg()
    cfg.INPUT.MIN_SIZE_TRAIN = (size,)
    cfg.INPUT.CROP.SIZE = [size, size]
    cfg.INPUT.RANDOM_FLIP = "none"
    video = DatasetCatalog.get("synthetic_vipseg_val")[0]
    return cfg, TubeClipMapper.from_config(cfg)(video, np.random.default_rng(0))


def test_training_returns_weighted_finite_losses_with_gradients(tmp_path, monkeypatch):
    cfg, clip = _clip(tmp_path, monkeypatch, size=48)
    torch.manual_seed(0)
    model = build_model(cfg).train()
    losses = model([clip, clip])
    assert {"loss_ce", "loss_mask", "loss_dice", "loss_ce_0", "loss_tcl", "loss_tcl_aux"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.link_head.cross_attn.multihead_attn.in_proj_weight.grad.abs().sum() > 0
    cfg.MODEL.TUBE_LINK.TASK = "vss"  # semantic segmentation trains without tracking losses
    assert "loss_tcl" not in build_model(cfg).train()([clip])


def test_overfits_one_synthetic_clip(tmp_path, monkeypatch):
    """Acceptance: loss goes down and matched tube masks reach IoU >= 0.8 with the ground truth."""
    cfg, clip = _clip(tmp_path, monkeypatch, size=64)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = build_model(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = last = None
    for it in range(120):
        losses = model([clip])
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        first = total.item() if first is None else first
        last = total.item()
    assert last < 0.3 * first
    model.eval()
    n = clip["subclips"][0]["masks"].shape[1]
    ious = []
    for k, sub in enumerate(clip["subclips"]):
        (out,) = model([{"image": clip["image"][k * n : (k + 1) * n]}])
        pred = out["pred_masks"].to_dense() > 0  # (Q, n, H, W)
        gt = sub["masks"]
        inter = (pred[:, None] & gt[None]).flatten(2).sum(-1).float()
        union = (pred[:, None] | gt[None]).flatten(2).sum(-1).float()
        ious.append((inter / union.clamp(min=1)).max(0).values)  # best query per GT tube
    mean_iou = torch.cat(ious).mean().item()
    print(f"overfit: loss {first:.3f} -> {last:.3f}, mean tube IoU {mean_iou:.3f}")
    assert mean_iou >= 0.8, mean_iou
