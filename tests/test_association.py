"""Association learns and is used as trained: TCL is live on a fresh model, the cross-tube link runs in the same
direction in training and at test time, untrained heads are bypassed, and VIS keeps low-scored tubes (AP needs them)."""

import os

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch

import tubelink  # noqa: F401
from tubelink.config import get_cfg
from tubelink.data import DatasetCatalog
from tubelink.data.mappers import TubeClipMapper
from tubelink.inference import VideoPredictor
from tubelink.modeling import build_model
from tubelink.tracking import HungarianQueryTracker, QuasiDenseTracker
from tubelink.utils.events import collect_scalars

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cfg(*opts):
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.INPUT.MIN_SIZE_TRAIN = (48,)
    cfg.INPUT.CROP.SIZE = [48, 48]
    cfg.INPUT.RANDOM_FLIP = "none"
    cfg.merge_from_list(list(opts))
    return cfg


@pytest.fixture
def clip(tmp_path, monkeypatch):
    """A training clip of 2 subclips of 2 frames that share thing tracks."""
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    video = DatasetCatalog.get("synthetic_vipseg_val")[0]
    out = TubeClipMapper.from_config(_cfg())(video, np.random.default_rng(0))
    things = [set(s["track_ids"][s["is_thing"]].tolist()) for s in out["subclips"]]
    assert things[0] & things[1], "the fixture needs a thing present in both subclips"
    return out


def _recorder(module, calls):
    return module.register_forward_hook(lambda mod, args, output: calls.append((args, output)))


@pytest.mark.parametrize("assignment", ["iou", "hungarian"])
def test_tcl_loss_and_gradient_are_non_zero_on_a_fresh_model(clip, assignment):
    torch.manual_seed(0)
    model = build_model(_cfg("MODEL.TUBE_LINK.TCL.ASSIGNMENT", assignment)).train()
    with collect_scalars() as scalars:
        losses = model([clip])
    assert losses["loss_tcl"] > 0 and losses["loss_tcl_aux"] > 0
    assert scalars["tcl_num_pos"] >= 1 and scalars["tcl_num_neg"] >= 1
    (losses["loss_tcl"] + losses["loss_tcl_aux"]).backward()
    for head in (model.embed_head, model.link_head):
        assert sum(p.grad.abs().sum() for p in head.parameters() if p.grad is not None) > 0
    assert model.link_head.cross_attn.multihead_attn.in_proj_weight.grad.abs().sum() > 0
    assert model.embed_head.fc_embed.weight.grad.abs().sum() > 0


def test_cross_tube_link_direction_is_the_same_in_training_and_at_test_time(clip):
    """Eq. 4: the current subclip's queries attend to the previous subclip's raw decoder queries, in training and at
    test time; the first subclip (of a clip, of a video) is embedded unlinked in both."""
    torch.manual_seed(0)
    model = build_model(_cfg())
    decoded, linked, embedded = [], [], []
    hooks = [
        _recorder(model.sem_seg_head.predictor, decoded),
        _recorder(model.link_head, linked),
        _recorder(model.embed_head, embedded),
    ]
    model.train()
    model([clip])
    queries = decoded[0][1]["pred_queries"]  # (2 subclips, Q, D)
    ((link_args, link_out),) = linked
    assert torch.equal(link_args[0], queries[1:2]) and torch.equal(link_args[1], queries[0:1])  # later -> earlier
    ((embed_args, _),) = embedded
    assert torch.equal(embed_args[0][0], queries[0]) and torch.equal(embed_args[0][1], link_out[0])

    model.eval()
    decoded.clear(), linked.clear(), embedded.clear()
    n = clip["image"].shape[0] // 2
    with torch.no_grad():
        (first,) = model([{"image": clip["image"][:n]}])
        assert not linked  # the first subclip of a video: not linked, as the first subclip of a training clip
        assert torch.equal(embedded[0][0][0], decoded[0][1]["pred_queries"][0])
        (second,) = model([{"image": clip["image"][n:], "prev_queries": first["pred_queries"]}])
    ((link_args, link_out),) = linked
    assert torch.equal(link_args[0], decoded[1][1]["pred_queries"])  # the current subclip's queries ...
    assert torch.equal(link_args[1], decoded[0][1]["pred_queries"])  # ... attend to the previous raw ones
    assert torch.equal(embedded[1][0][0], link_out[0]) and torch.equal(second["pred_embeds"], embedded[1][1])
    for hook in hooks:
        hook.remove()


def test_original_link_directions_are_options(clip):
    torch.manual_seed(0)
    model = build_model(
        _cfg(
            "MODEL.TUBE_LINK.LINK.TRAIN_DIRECTION",
            "earlier_attends_later",
            "MODEL.TUBE_LINK.LINK.TEST_PREVIOUS",
            "linked",
        )
    )
    decoded, linked = [], []
    hooks = [_recorder(model.sem_seg_head.predictor, decoded), _recorder(model.link_head, linked)]
    model.train()
    model([clip])
    queries = decoded[0][1]["pred_queries"]
    assert torch.equal(linked[0][0][0], queries[0:1]) and torch.equal(linked[0][0][1], queries[1:2])
    model.eval()
    n = clip["image"].shape[0] // 2
    with torch.no_grad():
        (first,) = model([{"image": clip["image"][:n]}])
        (second,) = model([{"image": clip["image"][n:], "prev_queries": first["pred_queries"]}])
    assert torch.equal(second["pred_queries"], linked[-1][1][0])  # the next subclip sees the linked queries
    for hook in hooks:
        hook.remove()


def test_without_tcl_raw_queries_are_the_association_features(clip):
    torch.manual_seed(0)
    model = build_model(_cfg("MODEL.TUBE_LINK.TCL.ENABLED", "False"))
    losses = model.train()([clip])
    assert not any(k.startswith("loss_tcl") for k in losses)
    model.eval()
    with torch.no_grad():
        (out,) = model([{"image": clip["image"][:2], "prev_queries": torch.randn(20, 64)}])
    assert torch.equal(out["pred_embeds"], out["pred_queries"])  # neither the random link nor Emb is used


class _TubeModel:
    """Fake model: fixed tubes over the video; `pred_queries` carry identity, `pred_embeds` too or are noise."""

    def __init__(self, logits, masks, identity, noisy_embeds):
        self.logits, self.masks, self.identity, self.noisy_embeds = logits, masks, identity, noisy_embeds
        self.start = 0
        self.rng = torch.Generator().manual_seed(0)

    def __call__(self, items):
        (item,) = items
        n = item["image"].shape[0]
        masks = self.masks[:, self.start : self.start + n]
        masks = torch.cat([masks, masks[:, -1:].expand(-1, n - masks.shape[1], -1, -1)], 1)  # padded window
        self.start += n
        embeds = torch.randn(self.identity.shape, generator=self.rng) if self.noisy_embeds else self.identity
        return [{"pred_logits": self.logits, "pred_masks": masks, "pred_queries": self.identity, "pred_embeds": embeds}]


def _two_objects(noisy_embeds=False, num_frames=6, size=16):
    """Query 0: a thing of class 0 at probability 0.25 (a low-scored ground-truth tube); query 1: a confident thing of
    class 1 elsewhere; query 2: no object."""
    logits = torch.full((3, 3), -20.0)
    logits[0, 0], logits[0, 2] = np.log(0.25), np.log(0.75)
    logits[1, 1] = 20.0
    logits[2, 2] = 20.0
    masks = torch.full((3, num_frames, size, size), -20.0)
    masks[0, :, :8, :8] = 20.0
    masks[1, :, 8:, 8:] = 20.0
    identity = torch.nn.functional.normalize(torch.randn(3, 8, generator=torch.Generator().manual_seed(1)), dim=1)
    frames = [{"image": torch.zeros(3, size, size, dtype=torch.uint8), "height": size, "width": size}] * num_frames
    return _TubeModel(logits, masks, 4 * identity, noisy_embeds), frames


def test_vis_keeps_a_low_scored_ground_truth_tube():
    model, frames = _two_objects()
    predictor = VideoPredictor(model, "vis", [True, True], QuasiDenseTracker(match_metric="cosine"), window=2)
    list(predictor(frames))
    instances = predictor.video_instances()
    low = [i for i in instances if i["category_id"] == 0 and i["segmentations"][0] is not None]
    assert low, "the tube scored 0.25 (below the tracker's 0.3 / 0.5 thresholds) was dropped"
    assert low[0]["score"] == pytest.approx(0.25, abs=1e-3)
    assert all(s is not None for s in low[0]["segmentations"])  # one identity over all windows


class _FlippingTubeModel(_TubeModel):
    """`_TubeModel` whose query 0 is class 0 at 0.6 (class 1 at 0.4) in even windows and the reverse in odd ones."""

    def __call__(self, items):
        window = self.start // items[0]["image"].shape[0]
        (out,) = super().__call__(items)
        logits = out["pred_logits"].clone()
        first, second = (0.6, 0.4) if window % 2 == 0 else (0.4, 0.6)
        logits[0, :3] = torch.tensor([np.log(first), np.log(second), -20.0])
        return [dict(out, pred_logits=logits)]


@pytest.mark.parametrize("aggregation", ["video", "subclip"])
def test_vis_instance_of_a_class_flipping_tube_covers_every_frame(aggregation):
    """A tube whose best class alternates between windows is one object: with video-level aggregation (MinVIS,
    Mask2Former-VIS, the original) its instances average the class probabilities and carry the tube's masks in all
    frames; per-subclip (tube, class) instances leave out the windows where that class was not the tube's best."""
    model, frames = _two_objects()
    model = _FlippingTubeModel(model.logits, model.masks, model.identity, False)
    predictor = VideoPredictor(
        model,
        "vis",
        [True, True],
        HungarianQueryTracker(with_category=False),  # one identity whatever the window's best class
        window=2,
        instances_per_window=2,
        vis_aggregation=aggregation,
    )
    list(predictor(frames))
    instances = predictor.video_instances()
    tube0 = [i for i in instances if i["segmentations"][0] is not None and i["category_id"] in (0, 1)]
    tube0 = [i for i in tube0 if mask_util.decode(i["segmentations"][0])[:8, :8].all()]
    if aggregation == "video":
        (top,) = tube0  # the top-2 are query 1's class 1 and query 0's best class averaged over the video
        assert top["category_id"] == 0 and top["score"] == pytest.approx((0.6 + 0.4 + 0.6) / 3, abs=1e-3)
        assert all(s is not None for s in top["segmentations"])
    else:
        assert tube0 and all(any(s is None for s in i["segmentations"]) for i in tube0)


def test_minvis_tracker_matches_raw_queries():
    model, frames = _two_objects(noisy_embeds=True)
    assert HungarianQueryTracker.association_feature == "pred_queries"
    predictor = VideoPredictor(model, "vis", [True, True], HungarianQueryTracker(), window=2)
    list(predictor(frames))
    confident = [i for i in predictor.video_instances() if i["score"] > 0.5]
    # the embeddings are noise: only the raw queries can keep one identity over the 3 windows
    assert len(confident) == 1 and all(s is not None for s in confident[0]["segmentations"])


def test_track_all_sets_are_matched_one_to_one_despite_duplicates():
    """VIS keeps every top-k tube, near-duplicates included: the greedy bi-softmax would split them (each scores
    about 1/2 against two identical tracks and none is matched); one-to-one matching keeps every identity."""
    from tubelink.tracking import TubeDetections

    e = torch.nn.functional.normalize(torch.randn(2, 8, generator=torch.Generator().manual_seed(0)), dim=1) * 4
    embeds = torch.stack([e[0], e[0] + 0.01, e[1]])  # tubes 0 and 1 are near-duplicates
    masks = torch.zeros(3, 2, 8, 8, dtype=torch.bool)
    for i in range(3):
        masks[i, :, i * 2 : i * 2 + 2] = True

    def ids(track_all):
        tracker = QuasiDenseTracker(init_score_thr=0.0, obj_score_thr=0.0)
        out = []
        for frame in (0, 2):
            det = TubeDetections(
                embeds,
                torch.tensor([0.9, 0.8, 0.7]),
                torch.zeros(3, dtype=torch.int64),
                frame,
                masks,
                track_all=track_all,
            )
            out.append(tracker.update(det).tolist())
        return out

    first, second = ids(track_all=True)
    assert first == second == [0, 1, 2]
    greedy = ids(track_all=False)
    assert greedy[1][:2] != greedy[0][:2]  # the duplicates lose their identities under bi-softmax


def test_unknown_vis_aggregation_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="TEST.VIS_AGGREGATION"):
        VideoPredictor(None, "vis", [True], HungarianQueryTracker(), window=2, vis_aggregation="per_frame")
