"""The training stream is deterministic, resumable at any iteration, worker-count independent, and mixes datasets."""

import itertools

import numpy as np
import pytest

from tubelink.data.build import ClipStream, build_train_loader


def _videos(tag, n):
    return [{"video_id": f"{tag}{i}", "length": 5} for i in range(n)]


def _map(video, rng):
    return {"video_id": video["video_id"], "draw": float(rng.random())}


def _take(loader, n):
    return [[(c["video_id"], c["draw"]) for c in batch] for batch in itertools.islice(loader, n)]


def _stream(**kw):
    args = dict(datasets=[_videos("a", 7), _videos("b", 3)], map_fns=[_map, _map], seed=5, clips_per_iter=2, rank=0)
    args.update(kw)
    return ClipStream(**args)


def test_resume_reproduces_the_uninterrupted_stream_with_any_workers():
    full = _take(build_train_loader(_stream(), num_workers=0), 8)
    resumed = _take(build_train_loader(_stream(start_iter=5), num_workers=0), 3)
    assert resumed == full[5:8]
    with_workers = _take(build_train_loader(_stream(start_iter=3), num_workers=2), 5)
    assert with_workers == full[3:8]


def test_ranks_and_seeds_differ():
    a = _take(build_train_loader(_stream(rank=0), 0), 4)
    b = _take(build_train_loader(_stream(rank=1), 0), 4)
    c = _take(build_train_loader(_stream(seed=6), 0), 4)
    assert a != b and a != c


def test_ratio_mixing():
    stream = _stream(ratios=[1.0, 3.0], clips_per_iter=1)
    ids = [stream.item(k)["video_id"][0] for k in range(2000)]
    assert abs(ids.count("b") / len(ids) - 0.75) < 0.04
    only_a = _stream(ratios=[1.0, 0.0], clips_per_iter=1)
    assert {only_a.item(k)["video_id"][0] for k in range(200)} == {"a"}
    with pytest.raises(ValueError, match="DATASET_RATIO"):
        _stream(ratios=[1.0])
    assert np.isclose(_stream().probs, [0.7, 0.3]).all()  # default: proportional to the number of videos


def test_image_split_mixed_with_video_split_by_ratio(tmp_path, monkeypatch):
    """An image data set as pseudo-video plus a video data set, 1 : 3, through the real mapper."""
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    import tubelink  # noqa: F401
    from tubelink.config import get_cfg
    from tubelink.data.build import load_video_dicts
    from tubelink.data.mappers import TubeClipMapper

    cfg = get_cfg()
    cfg.merge_from_list(["INPUT.MIN_SIZE_TRAIN", (48,), "INPUT.CROP.SIZE", [48, 48]])
    names = ["synthetic_vipseg_images", "synthetic_vipseg_train"]
    mapper = TubeClipMapper.from_config(cfg)
    stream = ClipStream(load_video_dicts(names), [mapper, mapper], seed=0, ratios=[1.0, 3.0], rank=0)
    clips = [stream.item(k) for k in range(120)]
    from_images = [c for c in clips if c["dataset_name"] == names[0]]
    assert 0.15 < len(from_images) / len(clips) < 0.35
    assert all(c["frame_indices"] == [0, 0, 0, 0] for c in from_images)
    assert all(c["image"].shape == (4, 3, 48, 48) for c in clips)
