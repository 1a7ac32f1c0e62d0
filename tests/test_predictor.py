"""The streaming predictor: one result per frame with padding and overlap, identities through the tracker, and
near-perfect VPQ / STQ from ground-truth tubes with noisy embeddings, degrading gracefully with noise."""

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_util

import tubelink  # noqa: F401
from tubelink.data import DatasetCatalog, MetadataCatalog
from tubelink.data.builtin import SYNTHETIC_OPTIONS
from tubelink.data.clip_transforms import ClipAugmentation
from tubelink.data.mappers import iter_test_frames
from tubelink.data.synthetic import generate_video
from tubelink.evaluation import build_evaluator
from tubelink.inference import VideoPredictor
from tubelink.tracking import QuasiDenseTracker

BIG = 10.0


class GroundTruthModel:
    """Stands in for TubeLink: tubes, classes and embeddings derived from the generator's ground truth."""

    def __init__(self, video, table, noise, seed=0):
        self.video, self.noise = video, noise
        self.entities = sorted(video.entities)
        self.rng = torch.Generator().manual_seed(seed)
        cat_name = {r["id"]: r["name"] for r in tubelink.data.synthetic.load_class_table()}
        self.classes = [table.names.index(cat_name[video.entities[e].category_id]) for e in self.entities]
        self.num_classes = len(table.names)
        self.identity = torch.nn.functional.normalize(torch.randn(len(self.entities), 32, generator=self.rng), dim=1)
        self.position = 0
        self.calls = []

    def __call__(self, items):
        (item,) = items
        n = item["image"].shape[0]
        frames = [min(self.position + t, self.video.entity_map.shape[0] - 1) for t in range(n)]
        self.calls.append((frames, "prev_queries" in item))
        emap = torch.from_numpy(self.video.entity_map[frames])
        q = len(self.entities)
        logits = torch.full((q, self.num_classes + 1), -BIG)
        masks = torch.full((q, n, *emap.shape[1:]), -BIG)
        for i, e in enumerate(self.entities):
            present = emap == e
            logits[i, self.classes[i] if present.any() else self.num_classes] = BIG
            masks[i][present] = BIG
        embeds = 4 * self.identity + self.noise * torch.randn(self.identity.shape, generator=self.rng)
        self.position += n
        return [{"pred_logits": logits, "pred_masks": masks, "pred_queries": embeds, "pred_embeds": embeds}]


def _frames(video_dict):
    return iter_test_frames(video_dict, ClipAugmentation([0], 10_000, (1.0, 1.0), None, False))


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    name = "synthetic_vipseg_val"
    return name, DatasetCatalog.get(name), MetadataCatalog.get(name)


@pytest.mark.parametrize("window,overlap", [(1, 0), (2, 0), (4, 0), (5, 0), (4, 1), (5, 3)])
def test_exactly_one_result_per_frame(synthetic, window, overlap):
    name, videos, meta = synthetic
    truth = generate_video(SYNTHETIC_OPTIONS["val"], 0, "val")
    model = GroundTruthModel(truth, meta.class_table, noise=0.0)
    model_step = window - overlap

    def stepping_model(items):  # the fake model must know where the window starts
        out = model(items)
        model.position += model_step - items[0]["image"].shape[0]
        return out

    predictor = VideoPredictor(stepping_model, "vps", meta.is_thing, QuasiDenseTracker(), window, overlap)
    results = list(predictor(_frames(videos[0])))
    assert [r["frame_index"] for r in results] == list(range(12))
    assert all(r["panoptic_seg"][0].shape == (120, 160) for r in results)
    assert not model.calls[0][1] and all(prev for _, prev in model.calls[1:])  # link state carried


class LookAlikeModel(GroundTruthModel):
    """Ground-truth tubes whose entities all share one embedding: only class and position tell them apart."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.identity[:] = self.identity[:1].clone()


def _vps_metrics(synthetic, noise, num_videos=3, model_type=GroundTruthModel, make_tracker=QuasiDenseTracker):
    name, videos, meta = synthetic
    evaluator = build_evaluator(name)
    for index in range(num_videos):
        truth = generate_video(SYNTHETIC_OPTIONS["val"], index, "val")
        model = model_type(truth, meta.class_table, noise, seed=index)
        predictor = VideoPredictor(model, "vps", meta.is_thing, make_tracker(), window=2)
        for result in predictor(_frames(videos[index])):
            evaluator.process([{"video": videos[index], "frame_index": result["frame_index"]}], [result])
    return evaluator.evaluate()


def test_ground_truth_tubes_score_near_100_and_degrade_with_noise(synthetic):
    clean = _vps_metrics(synthetic, noise=0.05)
    assert clean["VPQ"] > 95 and clean["STQ"] > 0.95
    noisy = _vps_metrics(synthetic, noise=3.0)
    assert noisy["AQ"] < clean["AQ"] and noisy["VPQ"] <= clean["VPQ"]
    assert noisy["SQ"] == pytest.approx(clean["SQ"], abs=1e-6)  # segmentation unchanged: only identities suffer


def test_overlap_cue_links_look_alike_entities(synthetic):
    """With every entity looking the same, appearance-only tracking swaps same-class things; MASK_IOU_WEIGHT links
    them by the overlap of consecutive tubes, through the predictor's VPS path (segment masks) and VIS path (top-k)."""

    def tracker(weight):
        return lambda: QuasiDenseTracker(match_metric="cosine", mask_iou_weight=weight)

    blind = _vps_metrics(synthetic, 0.3, model_type=LookAlikeModel, make_tracker=tracker(0.0))
    seeing = _vps_metrics(synthetic, 0.3, model_type=LookAlikeModel, make_tracker=tracker(1.0))
    assert seeing["SQ"] == pytest.approx(blind["SQ"], abs=1e-6)  # same segments: only the identities differ
    assert seeing["AQ"] > blind["AQ"] + 0.15 and seeing["AQ"] > 0.8, (blind["AQ"], seeing["AQ"])  # 0.58 -> 0.84

    name, videos, meta = synthetic
    switching = {}
    for weight in (0.0, 1.0):
        switching[weight] = 0
        for index in range(3):
            truth = generate_video(SYNTHETIC_OPTIONS["val"], index, "val")
            vis = VideoPredictor(
                LookAlikeModel(truth, meta.class_table, 0.3, seed=index),
                "vis",
                meta.is_thing,
                QuasiDenseTracker(mask_iou_weight=weight),
                window=2,
                instances_per_window=20,
            )
            list(vis(_frames(videos[index])))
            for inst in vis.video_instances():
                # the ground-truth entity under each frame's mask: one entity over the video, or a switch
                covered = {
                    int(np.bincount(truth.entity_map[t][mask_util.decode(rle).astype(bool)]).argmax())
                    for t, rle in enumerate(inst["segmentations"])
                    if rle is not None and mask_util.area(rle) > 0
                }
                switching[weight] += inst["score"] > 0.5 and len(covered) > 1
    assert switching[0.0] >= 8 and 3 * switching[1.0] <= switching[0.0], switching  # 13 switching instances -> 4


def test_vss_and_vis_outputs(synthetic):
    name, videos, meta = synthetic
    truth = generate_video(SYNTHETIC_OPTIONS["val"], 0, "val")
    predictor = VideoPredictor(
        GroundTruthModel(truth, meta.class_table, 0.05), "vss", meta.is_thing, QuasiDenseTracker(), window=3
    )
    sem = [r["sem_seg"] for r in predictor(_frames(videos[0]))]
    assert len(sem) == 12 and sem[0].shape == (120, 160)
    vis = VideoPredictor(
        GroundTruthModel(truth, meta.class_table, 0.05),
        "vis",
        meta.is_thing,
        QuasiDenseTracker(),
        window=3,
        instances_per_window=20,
    )
    assert len(list(vis(_frames(videos[0])))) == 12
    # one confident identity per thing over the whole video (the top-k also holds the other classes of each tube,
    # at near-zero scores); a panoptic model's stuff classes are never VIS instances
    instances = [i for i in vis.video_instances() if i["score"] > 0.5]
    things = [e for e in truth.entities.values() if e.is_thing]
    assert len(instances) == len(things)
    names = meta.class_table.names
    assert sorted(names[i["category_id"]] for i in instances) == sorted(
        next(r["name"] for r in meta.class_table.categories if r["id"] == e.category_id) for e in things
    )
    assert all(len(i["segmentations"]) == 12 for i in instances)
    with pytest.raises(ValueError, match="overlap"):
        VideoPredictor(None, "vps", meta.is_thing, QuasiDenseTracker(), window=2, overlap=2)
