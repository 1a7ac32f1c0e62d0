"""Acceptance of the data pipeline: generator -> on-disk format -> registered loader -> mapper reproduces the
generator's ground truth tubes (masks, classes, track ids across subclips) in every benchmark format."""

import numpy as np
import pytest

import tubelink  # noqa: F401
from tubelink.config import get_cfg
from tubelink.data import DatasetCatalog, MetadataCatalog
from tubelink.data.builtin import SYNTHETIC_OPTIONS
from tubelink.data.mappers import TubeClipMapper
from tubelink.data.synthetic import generate_video, load_class_table

NAMES = {r["id"]: r["name"] for r in load_class_table()}


def _identity_mapper():
    cfg = get_cfg()
    cfg.INPUT.MIN_SIZE_TRAIN = (0,)  # keep the size
    cfg.INPUT.RESIZE_RATIO_RANGE = [1.0, 1.0]
    cfg.INPUT.CROP.ENABLED = False
    cfg.INPUT.RANDOM_FLIP = "none"
    cfg.INPUT.SAMPLING_MAX_SUBCLIP_GAP = 2  # neighbouring subclips with gaps too
    return TubeClipMapper.from_config(cfg)


@pytest.mark.parametrize("fmt", ["vipseg", "kitti_step", "vspw", "ytvis"])
def test_generator_loader_mapper_roundtrip(fmt, tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    name = f"synthetic_{fmt}_val"
    videos = DatasetCatalog.get(name)  # generated on first use, in the real on-disk format
    options = SYNTHETIC_OPTIONS["val"]
    assert len(videos) == options.num_videos
    meta = MetadataCatalog.get(name)
    mapper = _identity_mapper()
    rng = np.random.default_rng(0)
    for index in (0, 3, 7):
        truth = generate_video(options, index, "val")
        clip = mapper(videos[index], rng)
        assert (
            np.abs(
                clip["image"].permute(0, 2, 3, 1).numpy().astype(int) - truth.frames[clip["frame_indices"]].astype(int)
            ).mean()
            < 10
        )  # the same frames (JPEG loses a little)
        entity_of_track = {}
        for sub in clip["subclips"]:
            emap = truth.entity_map[sub["frame_indices"]]  # (n, H, W)
            assert np.array_equal(sub["ignore"].numpy(), emap == 0) or fmt == "ytvis"
            if fmt == "vspw":  # semantic only: a tube per class present
                for mask, cls in zip(sub["masks"].numpy(), sub["classes"].tolist()):
                    cat_name = meta.stuff_classes[cls]
                    expected = np.isin(emap, [e for e, i in truth.entities.items() if NAMES[i.category_id] == cat_name])
                    assert np.array_equal(mask, expected)
                continue
            present = {e for e in np.unique(emap).tolist() if e and (fmt != "ytvis" or truth.entities[e].is_thing)}
            assert len(sub["track_ids"]) == len(present)
            for mask, cls, tid, thing in zip(
                sub["masks"].numpy(), sub["classes"].tolist(), sub["track_ids"].tolist(), sub["is_thing"].tolist()
            ):
                eid = int(np.bincount(emap[mask]).argmax())
                assert np.array_equal(mask, emap == eid)  # the whole tube, all n frames
                assert meta.stuff_classes[cls] == NAMES[truth.entities[eid].category_id]
                assert thing == truth.entities[eid].is_thing
                assert entity_of_track.setdefault(tid, eid) == eid  # stable across subclips
        assert len(set(entity_of_track.values())) == len(entity_of_track)
