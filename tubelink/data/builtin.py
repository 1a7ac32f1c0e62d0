"""Every built-in split, registered from one table on `import tubelink` (nothing is read until a split is used).

Roots are under $DETECTRON2_DATASETS (default ./datasets), resolved when a split is loaded; see
datasets/README.md for each benchmark's layout and preparation. Synthetic splits, one set per registered format,
are generated there on first use.
"""

from __future__ import annotations

import os
from typing import Dict

from .catalog import DatasetCatalog
from .datasets import FORMATS, ClassTable, get_format, load_category_file
from .register import register_split
from .synthetic import SyntheticOptions, ensure_synthetic_dataset, load_class_table

__all__ = ["datasets_root", "register_all", "synthetic_class_table", "BUILTIN_SPLITS", "SYNTHETIC_OPTIONS"]

# Sizes of the registered synthetic splits: small enough to train and evaluate on a laptop CPU.
SYNTHETIC_OPTIONS = {
    # 96 videos: trained on 24, the main job scored VPQ 73.4 on them against 65.2 on val (docs/main_job_history.md).
    "train": SyntheticOptions(num_videos=96, num_frames=12, seed=0),
    # 40 videos: with 8, the same five models' VPQ spread 2.48 across seeds, against 1.04 on 40
    # (docs/main_job_history.md).
    "val": SyntheticOptions(num_videos=40, num_frames=12, seed=0),
    # An image data set (one-frame videos, other scenes): mixed into training as pseudo-videos (INPUT.PSEUDO_VIDEO).
    "images": SyntheticOptions(num_videos=48, num_frames=1, seed=1),
}


def _ytvis(train_json, val_json, train_images, val_images) -> Dict[str, dict]:
    return {
        "train": {"json_file": train_json, "image_root": train_images},
        "val": {"json_file": val_json, "image_root": val_images},
    }


# prefix -> (format, class table file, folder under $DETECTRON2_DATASETS, {split: load paths inside the folder}).
# A tuple of paths lists the layouts accepted (the first that exists is read).
BUILTIN_SPLITS = {
    "vipseg": (
        "vipseg",
        "vipseg",
        "VIPSeg_720P",
        {
            s: {
                "image_root": "images",
                "panoptic_root": "panomasksRGB",
                "panoptic_json": f"panoptic_gt_VIPSeg_{s}.json",
            }
            for s in ("train", "val", "test")
        },
    ),
    "kitti_step": (
        "kitti_step",
        "kitti_step",
        "kitti-step",
        {s: {"sequence_root": f"video_sequence/{s}"} for s in ("train", "val", "test")},
    ),
    "vspw": (
        "vspw",
        "vspw",
        "VSPW_480p",
        {s: {"data_root": "data", "split_file": f"{s}.txt"} for s in ("train", "val", "test")},
    ),
    # Mask2Former's layout ({train,valid}.json) or the release's ({train,valid}/instances.json, 2021).
    **{
        prefix: (
            "ytvis",
            prefix,
            prefix,
            _ytvis(
                ("train.json", "train/instances.json"),
                ("valid.json", "valid/instances.json"),
                "train/JPEGImages",
                "valid/JPEGImages",
            ),
        )
        for prefix in ("ytvis_2019", "ytvis_2021")
    },
    "ovis": (
        "ytvis",
        "ovis",
        "ovis",
        _ytvis(
            ("annotations_train.json", "annotations/annotations_train.json"),
            ("annotations_valid.json", "annotations/annotations_valid.json"),
            "train",
            "valid",
        ),
    ),
}


def datasets_root() -> str:
    """$DETECTRON2_DATASETS, default ./datasets (read at call time)."""
    return os.path.expanduser(os.environ.get("DETECTRON2_DATASETS", "datasets"))


def _join(folder: str, value):
    if isinstance(value, (tuple, list)):
        return tuple(os.path.join(folder, v) for v in value)
    return os.path.join(folder, value)


def _builtin_paths(name: str, folder: str, relative: dict):
    def resolve() -> dict:
        root = os.path.join(datasets_root(), folder)
        if not os.path.isdir(root):
            raise FileNotFoundError(
                f"dataset '{name}': {folder} not found at {root}. Set $DETECTRON2_DATASETS to the folder holding the "
                "benchmarks; datasets/README.md describes the expected layout."
            )
        return {key: _join(root, value) for key, value in relative.items()}

    return resolve


def synthetic_class_table(fmt: str) -> ClassTable:
    """The synthetic benchmark's classes as format `fmt` holds them."""
    return ClassTable.from_rows(get_format(fmt).synthetic_class_rows(load_class_table()))


def _synthetic_paths(fmt: str, split: str):
    def resolve() -> dict:
        root = ensure_synthetic_dataset(
            os.path.join(datasets_root(), "synthetic", fmt), fmt, split, SYNTHETIC_OPTIONS[split]
        )
        return get_format(fmt).synthetic_paths(root, split)

    return resolve


def register_all() -> None:
    """Register every built-in split (idempotent)."""
    if "synthetic_vipseg_train" in DatasetCatalog:
        return
    for prefix, (fmt, categories, folder, splits) in BUILTIN_SPLITS.items():
        table = load_category_file(categories)
        for split, relative in splits.items():
            name = f"{prefix}_{split}"
            register_split(
                name,
                fmt,
                {"class_table": table, "split": split, "synthetic": False},
                _builtin_paths(name, folder, relative),
            )
    for fmt in list(FORMATS):
        for split in SYNTHETIC_OPTIONS:
            register_split(
                f"synthetic_{fmt}_{split}",
                fmt,
                {"class_table": synthetic_class_table(fmt), "split": split, "synthetic": True},
                _synthetic_paths(fmt, split),
            )


register_all()
