"""The synthetic benchmark is deterministic and has the difficulties it promises."""

import json

import numpy as np
import pytest

from tubelink.data.synthetic import SyntheticOptions, ensure_synthetic_dataset, generate_video, load_class_table

OPT = SyntheticOptions(num_videos=6, num_frames=16, height=96, width=128, difficulty=0.8)


def _boxes(video, eid):
    out = {}
    for t in range(video.entity_map.shape[0]):
        ys, xs = np.nonzero(video.entity_map[t] == eid)
        if ys.size:
            out[t] = (xs.min(), ys.min(), xs.max(), ys.max(), ys.size)
    return out


def test_deterministic_and_seed_and_split_dependent():
    a, b = generate_video(OPT, 1), generate_video(OPT, 1)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.entity_map, b.entity_map)
    other_seed = generate_video(SyntheticOptions(**{**OPT.__dict__, "seed": 7}), 1)
    assert not np.array_equal(a.entity_map, other_seed.entity_map)
    assert not np.array_equal(a.entity_map, generate_video(OPT, 1, split="val").entity_map)


def test_classes_entities_and_void():
    table = load_class_table()
    assert sum(r["isthing"] for r in table) >= 4 and sum(not r["isthing"] for r in table) >= 3
    things, stuff = set(), set()
    for i in range(OPT.num_videos):
        v = generate_video(OPT, i)
        assert v.frames.shape == (16, 96, 128, 3) and v.frames.dtype == np.uint8
        present = set(np.unique(v.entity_map).tolist()) - {0}
        assert present == set(v.entities)
        assert (v.entity_map == 0).any()  # void pixels exist
        for info in v.entities.values():
            (things if info.is_thing else stuff).add(info.category_id)
        per_class = {}
        for info in v.entities.values():
            if info.is_thing:
                per_class[info.category_id] = per_class.get(info.category_id, 0) + 1
        assert max(per_class.values()) >= 2  # several instances of a class (twins at least)
    assert len(things) >= 4 and len(stuff) >= 3


def test_occlusion_entering_scale_change_and_crossing_twins():
    occluded = entered = scaled = crossed = False
    for i in range(OPT.num_videos):
        v = generate_video(OPT, i)
        h, w = v.entity_map.shape[1:]
        thing_ids = [e for e, inf in v.entities.items() if inf.is_thing]
        boxes = {e: _boxes(v, e) for e in thing_ids}
        for e, bx in boxes.items():
            inside = {t: b for t, b in bx.items() if b[0] > 0 and b[1] > 0 and b[2] < w - 1 and b[3] < h - 1}
            areas = [b[4] for b in inside.values()]
            if areas and min(areas) < 0.7 * max(areas):
                # fully inside the frame yet visibly smaller: covered by a nearer object or shrinking
                occluded = True
            sizes = [(b[2] - b[0]) * (b[3] - b[1]) for b in inside.values()]
            if sizes and max(sizes) > 1.3 * max(min(sizes), 1):
                scaled = True
            touching = [t for t, b in bx.items() if b[0] == 0 or b[2] == w - 1]
            if touching and (min(bx) > 0 or max(bx) < v.entity_map.shape[0] - 1):
                entered = True
        for a in thing_ids:
            for b in thing_ids:
                if a < b and v.entities[a].category_id == v.entities[b].category_id:
                    common = sorted(set(boxes[a]) & set(boxes[b]))
                    order = {
                        np.sign((boxes[a][t][0] + boxes[a][t][2]) - (boxes[b][t][0] + boxes[b][t][2])) for t in common
                    }
                    crossed |= {-1, 1} <= order  # the twins' left-right order swaps
    assert occluded and entered and scaled and crossed


def test_ensure_generates_once_and_regenerates_on_new_options(tmp_path, monkeypatch):
    import types

    from tubelink.data.datasets.format import FORMATS

    calls = []

    def fake_writer(root, split, videos, class_table):
        vids = list(videos)
        calls.append(len(vids))
        (tmp_path / "written").write_text(str(len(vids)))
        open(f"{root}/payload.json", "w").write(json.dumps([v.video_id for v in vids]))

    monkeypatch.setitem(FORMATS, "fake", types.SimpleNamespace(write_synthetic_split=fake_writer))
    small = SyntheticOptions(num_videos=2, num_frames=2, height=32, width=32)
    path = ensure_synthetic_dataset(str(tmp_path / "syn"), "fake", "train", small)
    assert json.load(open(f"{path}/payload.json")) == ["syn_000000", "syn_000001"]
    ensure_synthetic_dataset(str(tmp_path / "syn"), "fake", "train", small)
    assert calls == [2]  # reused
    ensure_synthetic_dataset(
        str(tmp_path / "syn"), "fake", "train", SyntheticOptions(num_videos=3, num_frames=2, height=32, width=32)
    )
    assert calls == [2, 3] and len(json.load(open(f"{path}/payload.json"))) == 3
    assert [p.name for p in (tmp_path / "syn").iterdir()] == ["train"]  # no temporary leftovers
    with pytest.raises(KeyError, match="unknown annotation format 'nope'"):
        ensure_synthetic_dataset(str(tmp_path / "syn"), "nope", "train", small)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="difficulty"):
        SyntheticOptions(difficulty=2.0)
    with pytest.raises(ValueError, match="at least 32x32"):
        SyntheticOptions(height=8)
