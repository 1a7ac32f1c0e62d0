"""Every built-in split, registered in one table on `import tubelink` (nothing is read until a split is used).

Roots are under $DETECTRON2_DATASETS (default ./datasets), resolved when a split is loaded; see
datasets/README.md for each benchmark's layout. Synthetic splits are generated there on first use.
"""

from __future__ import annotations

import os
from typing import Callable, List

from .catalog import DatasetCatalog, MetadataCatalog
from .datasets import (
    ClassTable,
    load_category_file,
    load_kitti_step_videos,
    load_vipseg_videos,
    load_vspw_videos,
    load_ytvis_videos,
)
from .synthetic import SyntheticOptions, ensure_synthetic_dataset, load_class_table

__all__ = ["datasets_root", "register_all", "SYNTHETIC_OPTIONS"]

# Sizes of the registered synthetic splits: small enough to train and evaluate on a laptop CPU.
SYNTHETIC_OPTIONS = {
    "train": SyntheticOptions(num_videos=24, num_frames=12, seed=0),
    "val": SyntheticOptions(num_videos=8, num_frames=12, seed=0),
    # An image data set (one-frame videos, other scenes): mixed into training as pseudo-videos (INPUT.PSEUDO_VIDEO).
    "images": SyntheticOptions(num_videos=48, num_frames=1, seed=1),
}
_EVALUATOR = {"vipseg": "vps", "kitti_step": "step", "vspw": "vss", "ytvis": "ytvis"}


def datasets_root() -> str:
    """$DETECTRON2_DATASETS, default ./datasets (read at call time)."""
    return os.path.expanduser(os.environ.get("DETECTRON2_DATASETS", "datasets"))


def _require(path: str, dataset: str, what: str) -> str:
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"dataset '{dataset}': {what} not found at {path}. Set $DETECTRON2_DATASETS to the folder holding the "
            "benchmarks; datasets/README.md describes the expected layout."
        )
    return path


def _synthetic_table(fmt: str) -> ClassTable:
    rows = load_class_table()
    if fmt == "vspw":  # VSPW has no instances: every class is a semantic class
        rows = [dict(r, isthing=0) for r in rows]
    elif fmt == "ytvis":  # YouTube-VIS: things only, ids 1..K
        rows = [dict(r, id=k + 1) for k, r in enumerate(r for r in rows if r["isthing"])]
    return ClassTable.from_rows(rows)


def _loader(fmt: str, name: str, split: str, table: ClassTable, rel_root: str, synthetic: bool) -> Callable[[], List]:
    def load() -> List[dict]:
        root = os.path.join(datasets_root(), rel_root)
        if synthetic:
            root = ensure_synthetic_dataset(root, fmt, split, SYNTHETIC_OPTIONS[split])
        if fmt == "vipseg":
            return load_vipseg_videos(_require(root, name, "VIPSeg_720P"), split, name, table)
        if fmt == "kitti_step":
            return load_kitti_step_videos(_require(root, name, "KITTI-STEP"), split, name, table)
        if fmt == "vspw":
            return load_vspw_videos(_require(root, name, "VSPW_480p"), split, name, table)
        on_disk = split if synthetic else {"val": "valid"}.get(split, split)
        json_file, image_root = _ytvis_paths(root, rel_root, on_disk, synthetic)
        return load_ytvis_videos(_require(json_file, name, "annotation JSON"), image_root, name, table)

    return load


def _ytvis_paths(root: str, rel_root: str, split: str, synthetic: bool):
    if synthetic:
        return os.path.join(root, f"{split}.json"), os.path.join(root, split, "JPEGImages")
    if rel_root == "ovis":
        return os.path.join(root, f"annotations_{split}.json"), os.path.join(root, split)
    return os.path.join(root, f"{split}.json"), os.path.join(root, split, "JPEGImages")


def _register(name: str, fmt: str, split: str, table: ClassTable, rel_root: str, synthetic: bool = False) -> None:
    DatasetCatalog.register(name, _loader(fmt, name, split, table, rel_root, synthetic))
    things = [r for r in table.contiguous_order if r["isthing"]]
    stuff = [r for r in table.contiguous_order if not r["isthing"]]
    mapping = table.dataset_id_to_contiguous
    MetadataCatalog.get(name).set(
        evaluator_type=_EVALUATOR[fmt],
        annotation_format=fmt,
        split=split,
        class_table=table,
        num_classes=len(table.categories),
        is_thing=table.is_thing,
        thing_classes=[r["name"] for r in things],
        thing_colors=[r["color"] for r in things],
        stuff_classes=table.names,  # detectron2's panoptic convention: every class, in contiguous order
        stuff_colors=table.colors,
        thing_dataset_id_to_contiguous_id={int(r["id"]): mapping[int(r["id"])] for r in things},
        stuff_dataset_id_to_contiguous_id={int(r["id"]): mapping[int(r["id"])] for r in stuff},
        ignore_label=255,
        synthetic=synthetic,
    )


def register_all() -> None:
    """Register every built-in split (idempotent)."""
    if "synthetic_vipseg_train" in DatasetCatalog:
        return
    benchmarks = [
        ("vipseg", "vipseg", "VIPSeg_720P", ("train", "val", "test")),
        ("kitti_step", "kitti_step", "kitti-step", ("train", "val", "test")),
        ("vspw", "vspw", "VSPW_480p", ("train", "val", "test")),
        ("ytvis_2019", "ytvis", "ytvis_2019", ("train", "val")),
        ("ytvis_2021", "ytvis", "ytvis_2021", ("train", "val")),
        ("ovis", "ytvis", "ovis", ("train", "val")),
    ]
    for prefix, fmt, rel_root, splits in benchmarks:
        table = load_category_file(prefix)
        for split in splits:
            _register(f"{prefix}_{split}", fmt, split, table, rel_root)
    for fmt in ("vipseg", "ytvis", "vspw", "kitti_step"):
        for split in SYNTHETIC_OPTIONS:
            _register(
                f"synthetic_{fmt}_{split}",
                fmt,
                split,
                _synthetic_table(fmt),
                os.path.join("synthetic", fmt),
                synthetic=True,
            )


register_all()
