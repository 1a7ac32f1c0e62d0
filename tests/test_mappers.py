"""Clip sampling, one augmentation per clip for every frame and mask, tube targets, and test-time streaming."""

import types

import numpy as np
import pytest
import torch
from PIL import Image

from tubelink.config import get_cfg
from tubelink.data import MetadataCatalog
from tubelink.data.clip_transforms import ClipAugmentation, apply_to_image, apply_to_masks
from tubelink.data.mappers import TubeClipMapper, iter_test_frames
from tubelink.data.mappers.train import build_tube_targets
from tubelink.data.sampling import sample_subclip_indices
from tubelink.data.datasets.format import FORMATS
from tubelink.data.video_dict import FrameSegments


@pytest.mark.parametrize("length,stride,gap", [(30, 1, 0), (30, 2, 3), (9, 1, 5), (3, 1, 0)])
def test_sampling_bounds_order_and_gaps(length, stride, gap):
    rng = np.random.default_rng(0)
    for _ in range(200):
        subs = sample_subclip_indices(length, 2, 2, stride, gap, rng)
        flat = [t for s in subs for t in s]
        assert len(subs) == 2 and all(len(s) == 2 for s in subs)
        assert all(0 <= t < length for t in flat) and flat == sorted(flat)
        if length >= 4 * stride:
            assert subs[0][1] - subs[0][0] == stride
            between = subs[1][0] - subs[0][1] - stride
            assert 0 <= between <= gap
    assert sample_subclip_indices(1, 2, 2, 1, 0, rng) == [[0, 0], [0, 0]]  # too short: last frame repeated
    with pytest.raises(ValueError, match="empty video"):
        sample_subclip_indices(0, 2, 2, 1, 0, rng)


def test_contiguous_default_covers_every_start():
    rng = np.random.default_rng(1)
    starts = {sample_subclip_indices(10, 2, 2, 1, 0, rng)[0][0] for _ in range(500)}
    assert starts == set(range(7))


def _textured(h=60, w=80):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([(xx * 3) % 256, (yy * 5) % 256, ((xx + yy) * 7) % 256], -1).astype(np.uint8)


def test_one_augmentation_for_every_frame_and_mask():
    aug = ClipAugmentation([60], 10_000, (1.0, 2.0), crop_size=(48, 48), flip=True)
    img = _textured()
    mask = np.zeros((1, 60, 80), bool)
    mask[0, 10:30, 5:40] = True
    seen_flip = seen_scale = False
    for seed in range(20):
        tfm = aug(60, 80, np.random.default_rng(seed))
        names = [type(t).__name__ for t in tfm.transforms]
        seen_flip |= "HFlipTransform" in names
        seen_scale |= "ScaleTransform" in names
        frames = [apply_to_image(tfm, img) for _ in range(4)]  # four identical frames stay identical
        assert all(np.array_equal(frames[0], f) for f in frames[1:]) and frames[0].shape == (48, 48, 3)
        out_mask = apply_to_masks(tfm, mask)[0]
        # image and mask moved together: the region painted into an image lands where the mask lands
        painted = np.zeros_like(img)
        painted[mask[0]] = 255
        via_image = apply_to_image(tfm, painted)[..., 0] > 127  # bilinear, so threshold
        if out_mask.any() or via_image.any():
            iou = (via_image & out_mask).sum() / (via_image | out_mask).sum()
            assert iou > 0.9, (seed, names, iou)
    assert seen_flip and seen_scale


def test_crop_larger_than_image_pads_and_marks_ignore():
    aug = ClipAugmentation([0], 10_000, (1.0, 1.0), crop_size=(80, 100), flip=False)
    tfm = aug(60, 80, np.random.default_rng(0))
    assert apply_to_image(tfm, _textured()).shape == (80, 100, 3)
    from tubelink.data.clip_transforms import valid_region

    valid = valid_region(tfm, (60, 80))
    assert valid[:60, :80].all() and not valid[60:].any() and not valid[:, 80:].any()


def _frame(h, w, entities):
    """entities: list of (track id, class, is_thing, (y0, y1, x0, x1))."""
    masks = np.zeros((len(entities), h, w), bool)
    for i, (_, _, _, (y0, y1, x0, x1)) in enumerate(entities):
        masks[i, y0:y1, x0:x1] = True
    ignore = np.zeros((h, w), bool)
    ignore[0, 0] = True
    return FrameSegments(
        masks,
        np.array([e[0] for e in entities], np.int64),
        np.array([e[1] for e in entities]),
        np.array([e[2] for e in entities]),
        ignore,
    )


def test_tube_targets_track_ids_and_absent_entities():
    a = (7, 1, True, (0, 4, 0, 4))
    b = (9, 2, True, (4, 8, 4, 8))
    stuff = (100, 3, False, (6, 8, 0, 8))
    frames = [_frame(8, 8, [a, stuff]), _frame(8, 8, [a, b, stuff])]
    out = build_tube_targets(frames, "test")
    assert out["track_ids"].tolist() == [7, 9, 100] and out["classes"].tolist() == [1, 2, 3]
    assert out["masks"].shape == (3, 2, 8, 8)
    assert not out["masks"][1, 0].any() and out["masks"][1, 1].any()  # b absent in frame 0
    assert out["is_thing"].tolist() == [True, True, False] and out["ignore"][:, 0, 0].all()
    with pytest.raises(ValueError, match="changes class"):
        build_tube_targets([_frame(8, 8, [a]), _frame(8, 8, [(7, 5, True, (0, 4, 0, 4))])], "clip X")


@pytest.fixture
def toy_video(tmp_path):
    """A 6-frame video on disk with a square moving right; decoded by a test-only annotation format."""
    files = []
    for t in range(6):
        path = tmp_path / f"{t}.png"
        Image.fromarray(_textured(32, 40)).save(path)
        files.append(str(path))

    def decode(video, t, metadata):
        return _frame(32, 40, [(1, 0, True, (8, 16, 4 * t, 4 * t + 8)), (50, 1, False, (20, 32, 0, 40))])

    FORMATS["toy_test_format"] = types.SimpleNamespace(decode_frame=decode)  # decode_frame is all mappers use
    MetadataCatalog.get("toy_dataset")
    yield {
        "dataset_name": "toy_dataset",
        "video_id": "toy",
        "height": 32,
        "width": 40,
        "length": 6,
        "file_names": files,
        "annotation_format": "toy_test_format",
        "frame_annotations": [None] * 6,
    }
    del FORMATS["toy_test_format"]


def test_train_mapper_output_contract(toy_video):
    cfg = get_cfg()
    cfg.INPUT.MIN_SIZE_TRAIN = (32,)
    cfg.INPUT.CROP.SIZE = [24, 24]
    mapper = TubeClipMapper.from_config(cfg)
    out = mapper(toy_video, np.random.default_rng(3))
    again = mapper(toy_video, np.random.default_rng(3))
    assert torch.equal(out["image"], again["image"])  # reproducible from the rng
    assert out["image"].dtype == torch.uint8 and out["image"].shape == (4, 3, 24, 24)
    assert len(out["subclips"]) == 2 and out["frame_indices"] == sorted(out["frame_indices"])
    for sub in out["subclips"]:
        g = len(sub["classes"])
        assert sub["masks"].shape == (g, 2, 24, 24) and sub["ignore"].shape == (2, 24, 24)
        assert (sub["masks"].flatten(1).sum(1) > 0).all()  # empty tubes dropped


def test_mapper_gives_up_clearly_on_unlabelled_video(toy_video):
    FORMATS["toy_test_format"].decode_frame = lambda v, t, m: FrameSegments.empty(32, 40)
    mapper = TubeClipMapper(ClipAugmentation([0], 10_000, (1.0, 1.0), None, False), max_attempts=3)
    with pytest.raises(ValueError, match="'toy'.*no labelled pixel"):
        mapper(toy_video, np.random.default_rng(0))


def test_test_mapper_streams_frames_and_names_missing_files(toy_video):
    aug = ClipAugmentation([64], 10_000, (1.0, 1.0), None, False)
    stream = iter_test_frames(toy_video, aug)
    assert isinstance(stream, types.GeneratorType)
    first = next(stream)
    assert first["image"].shape == (3, 64, 80) and first["frame_index"] == 0 and first["height"] == 32
    toy_video["file_names"][3] = toy_video["file_names"][3] + ".missing"
    with pytest.raises(FileNotFoundError, match="3.png.missing"):
        list(stream)


def test_image_becomes_a_pseudo_video_with_its_own_crop_per_frame(tmp_path, monkeypatch):
    """A one-frame video (an image data set): every frame of the clip is the image under its own scale and crop,
    one flip for the clip, masks transformed with their frame's transform, ids kept across frames."""
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    import tubelink  # noqa: F401
    from tubelink.data import DatasetCatalog, decode_frame
    from tubelink.data.datasets.common import read_rgb

    video = DatasetCatalog.get("synthetic_vipseg_images")[3]
    meta = MetadataCatalog.get("synthetic_vipseg_images")
    assert video["length"] == 1
    aug = ClipAugmentation([120], 10_000, (1.0, 2.0), crop_size=(64, 64), flip=True)
    mapper = TubeClipMapper(aug, frames_per_subclip=2, num_subclips=2)
    image, truth = read_rgb(video["file_names"][0]), decode_frame(video, 0, meta)
    flips = set()
    for seed in range(6):
        clip = mapper(video, np.random.default_rng(seed))
        replay = np.random.default_rng(seed)  # the mapper's draws: frame indices, then the per-frame transforms
        sample_subclip_indices(1, 2, 2, 1, 0, replay)
        tfms = aug.pseudo_video(*image.shape[:2], 4, replay)
        per_frame = {any(type(t).__name__ == "HFlipTransform" for t in tfm.transforms) for tfm in tfms}
        assert len(per_frame) == 1  # one flip decision per clip
        flips |= per_frame
        for k, tfm in enumerate(tfms):
            assert torch.equal(clip["image"][k], torch.from_numpy(apply_to_image(tfm, image).copy()).permute(2, 0, 1))
            sub = clip["subclips"][k // 2]
            expected = apply_to_masks(tfm, truth.masks)
            for tid, tube in zip(sub["track_ids"].tolist(), sub["masks"]):
                assert np.array_equal(tube[k % 2].numpy(), expected[truth.track_ids.tolist().index(tid)])
        assert not torch.equal(clip["image"][0], clip["image"][1])  # simulated motion
    assert flips == {True, False}
    still = TubeClipMapper(aug, frames_per_subclip=2, num_subclips=2, pseudo_video=False)(
        video, np.random.default_rng(0)
    )
    assert all(torch.equal(still["image"][0], still["image"][k]) for k in range(4))
