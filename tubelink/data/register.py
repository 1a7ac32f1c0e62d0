"""Registering a split of a benchmark format, detectron2-style: one call per format for one's own data.

    from tubelink.data import register_ytvis_instances
    register_ytvis_instances("my_vis_train", {"categories": rows}, "my/train.json", "my/train/JPEGImages")

`metadata` is a dict holding the class table, as `{"categories": [{"id", "name", "isthing", "color"}, ...]}` (the
dataset's own ids, e.g. a benchmark's `tubelink/data/categories/*.json`) or `{"class_table": ClassTable}`; every
other key is set on the split's metadata as given. Nothing is read until the split is used. The built-in splits
(tubelink.data.builtin) go through `register_split` too.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Sequence, Union

from .catalog import DatasetCatalog, MetadataCatalog
from .datasets import ClassTable, get_format

__all__ = [
    "register_split",
    "register_vipseg_panoptic",
    "register_kitti_step_panoptic",
    "register_vspw_semantic",
    "register_ytvis_instances",
]

PathsFn = Callable[[], Dict[str, Any]]


def _class_table(name: str, metadata: Mapping[str, Any]) -> ClassTable:
    if isinstance(metadata.get("class_table"), ClassTable):
        return metadata["class_table"]
    if metadata.get("categories"):
        return ClassTable.from_rows(metadata["categories"])
    raise ValueError(
        f"dataset '{name}': metadata needs 'categories' (rows {{id, name, isthing, color}}) or 'class_table'"
    )


def register_split(name: str, fmt: str, metadata: Mapping[str, Any], paths: Union[Dict[str, Any], PathsFn]) -> None:
    """Register split `name` of format `fmt` in DatasetCatalog and MetadataCatalog.

    Args:
        metadata: the class table ("categories" or "class_table") and extra metadata keys.
        paths: the format's `load` arguments, or a function returning them when the split is loaded (so that
            $DETECTRON2_DATASETS is read at use time).
    """
    benchmark = get_format(fmt)
    table = _class_table(name, metadata)
    resolve = paths if callable(paths) else (lambda: paths)
    DatasetCatalog.register(name, lambda: benchmark.load(name, table, **resolve()))
    things = [r for r in table.contiguous_order if r["isthing"]]
    stuff = [r for r in table.contiguous_order if not r["isthing"]]
    mapping = table.dataset_id_to_contiguous
    extra = {k: v for k, v in metadata.items() if k not in ("categories", "class_table")}
    MetadataCatalog.get(name).set(
        **{
            "evaluator_type": benchmark.evaluator_type,
            "annotation_format": benchmark.name,
            "class_table": table,
            "num_classes": len(table.categories),
            "is_thing": table.is_thing,
            "thing_classes": [r["name"] for r in things],
            "thing_colors": [r["color"] for r in things],
            "stuff_classes": table.names,  # detectron2's panoptic convention: every class, in contiguous order
            "stuff_colors": table.colors,
            "thing_dataset_id_to_contiguous_id": {int(r["id"]): mapping[int(r["id"])] for r in things},
            "stuff_dataset_id_to_contiguous_id": {int(r["id"]): mapping[int(r["id"])] for r in stuff},
            "ignore_label": 255,
            **benchmark.default_metadata,
            **extra,
        }
    )


def register_vipseg_panoptic(
    name: str, metadata: Mapping[str, Any], image_root: str, panoptic_root: str, panoptic_json: str
) -> None:
    """A split in VIPSeg_720P's format: `image_root/<video>/<frame>.jpg`, `panoptic_root/<video>/<frame>.png`
    (COCO panoptic RGB) and the video panoptic JSON (evaluated by VPQ + STQ)."""
    register_split(
        name,
        "vipseg",
        dict(metadata, image_root=image_root, panoptic_root=panoptic_root, panoptic_json=panoptic_json),
        {"image_root": image_root, "panoptic_root": panoptic_root, "panoptic_json": panoptic_json},
    )


def register_kitti_step_panoptic(name: str, metadata: Mapping[str, Any], sequence_root: str) -> None:
    """A split in the KITTI-STEP video_sequence layout: `sequence_root/<seq>_<frame>_{leftImg8bit,panoptic}.png`
    (evaluated by STQ)."""
    register_split(name, "kitti_step", dict(metadata, sequence_root=sequence_root), {"sequence_root": sequence_root})


def register_vspw_semantic(name: str, metadata: Mapping[str, Any], data_root: str, split_file: str) -> None:
    """A split in VSPW_480p's format: `data_root/<video>/{origin,mask}/` and a list of video names (evaluated by
    mIoU + mVC; metadata "vss_protocol" = "vspw_official" (default) or "train_labels", see
    tubelink.data.datasets.vspw)."""
    register_split(
        name,
        "vspw",
        dict(metadata, data_root=data_root, split_file=split_file),
        {"data_root": data_root, "split_file": split_file},
    )


def register_ytvis_instances(
    name: str, metadata: Mapping[str, Any], json_file: Union[str, Sequence[str]], image_root: str
) -> None:
    """A split in YouTube-VIS's JSON format (also OVIS), as Mask2Former's `register_ytvis_instances` (evaluated by
    AP). `json_file` may list alternative paths; the first that exists is read."""
    register_split(
        name,
        "ytvis",
        dict(metadata, json_file=json_file, image_root=image_root),
        {"json_file": json_file, "image_root": image_root},
    )
