"""A test split seen through its own task and classes: a panoptic model scored as VIS and VSS, by class name."""

import numpy as np
import pytest

import tubelink  # noqa: F401  (registers the datasets)
from tubelink.config import get_cfg
from tubelink.data.catalog import MetadataCatalog
from tubelink.data.datasets.common import ClassTable
from tubelink.engine.evaluation import SplitView, class_mapping


def _table(rows):
    return ClassTable.from_rows(
        [{"id": i + 1, "name": n, "isthing": t, "color": [0, 0, 0]} for i, (n, t) in enumerate(rows)]
    )


def test_class_mapping_matches_names_and_marks_missing_classes():
    model = _table([("sky", 0), ("car", 1), ("person", 1)])  # contiguous: car, person, sky
    split = _table([("person", 1), ("car", 1)])  # contiguous: person, car
    assert class_mapping(model, split) == [1, 0, -1]


def _cfg(train, test):
    cfg = get_cfg()
    cfg.DATASETS.TRAIN = (train,)
    cfg.DATASETS.TEST = (test,)
    return cfg


def test_panoptic_model_seen_as_vis_drops_stuff_and_renumbers_things():
    view = SplitView(_cfg("synthetic_vipseg_train", "synthetic_ytvis_val"), "synthetic_ytvis_val")
    model_names = MetadataCatalog.get("synthetic_vipseg_train").class_table.names
    split_names = MetadataCatalog.get("synthetic_ytvis_val").class_table.names
    assert view.task == "vis" and view.is_thing == MetadataCatalog.get("synthetic_vipseg_train").is_thing
    stuff = model_names.index("sky")
    kite = model_names.index("kite")
    out = view.translate_instances([{"category_id": stuff, "score": 0.9}, {"category_id": kite, "score": 0.5}])
    assert out == [{"category_id": split_names.index("kite"), "score": 0.5}]


def test_semantic_view_relabels_pixels_by_name():
    view = SplitView(_cfg("synthetic_vipseg_train", "synthetic_vspw_val"), "synthetic_vspw_val")
    model_names = MetadataCatalog.get("synthetic_vipseg_train").class_table.names
    split_names = MetadataCatalog.get("synthetic_vspw_val").class_table.names
    assert view.task == "vss" and sorted(model_names) == sorted(split_names) and model_names != split_names
    sem = np.arange(len(model_names)).reshape(1, -1)
    out = view.translate_output({"sem_seg": sem, "frame_index": 0})["sem_seg"]
    assert [split_names[k] for k in out[0]] == model_names


def test_per_pixel_view_with_other_classes_is_refused_naming_the_split():
    with pytest.raises(ValueError, match="kitti_step_val"):
        SplitView(_cfg("synthetic_vipseg_train", "kitti_step_val"), "kitti_step_val")
