"""Pieces every format module shares: class tables, contiguous ids, checked image I/O, id-map decoding."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..video_dict import STUFF_TRACK_BASE, FrameSegments

__all__ = [
    "ClassTable",
    "load_category_file",
    "read_rgb",
    "read_label_png",
    "write_png",
    "write_jpg",
    "segments_from_id_map",
    "check_file",
    "check_label_size",
    "image_size",
    "read_json",
    "json_structure",
]

_CATEGORY_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "categories")


@dataclass(frozen=True)
class ClassTable:
    """A dataset's classes and the contiguous order used inside tubelink: things first, then stuff, each in the
    table's order (Tube-Link's and detectron2's panoptic convention).

    Attributes:
        categories: the table rows [{"id", "name", "isthing", "color"}] as in the dataset's own files.
    """

    categories: tuple

    @classmethod
    def from_rows(cls, rows: Sequence[dict]) -> "ClassTable":
        """Validate and build from table rows."""
        ids = [int(r["id"]) for r in rows]
        if len(set(ids)) != len(ids):
            raise ValueError(f"class table has duplicate ids: {ids}")
        return cls(tuple(dict(r) for r in rows))

    @property
    def contiguous_order(self) -> List[dict]:
        """Rows in contiguous order (things, then stuff)."""
        return [r for r in self.categories if r["isthing"]] + [r for r in self.categories if not r["isthing"]]

    @property
    def dataset_id_to_contiguous(self) -> Dict[int, int]:
        """Dataset category id -> contiguous id."""
        return {int(r["id"]): i for i, r in enumerate(self.contiguous_order)}

    @property
    def names(self) -> List[str]:
        return [r["name"] for r in self.contiguous_order]

    @property
    def colors(self) -> List[List[int]]:
        return [list(r["color"]) for r in self.contiguous_order]

    @property
    def is_thing(self) -> List[bool]:
        return [bool(r["isthing"]) for r in self.contiguous_order]

    def contiguous_id(self, dataset_id: int, where: str) -> int:
        """Contiguous id of `dataset_id`; `where` (a file) is named when the id is unknown."""
        try:
            return self.dataset_id_to_contiguous[int(dataset_id)]
        except KeyError:
            raise ValueError(
                f"{where}: category id {dataset_id} is not in the class table "
                f"(valid ids: {min(self.dataset_id_to_contiguous)}..{max(self.dataset_id_to_contiguous)})"
            ) from None


def load_category_file(name: str) -> ClassTable:
    """The class table shipped in tubelink/data/categories/<name>.json."""
    with open(os.path.join(_CATEGORY_DIR, f"{name}.json"), encoding="utf-8") as f:
        return ClassTable.from_rows(json.load(f))


def check_file(path: str, what: str) -> str:
    """Return `path`, or raise FileNotFoundError naming it and what it should be."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: {what} does not exist")
    return path


def read_json(path: str, what: str):
    """Parsed JSON file; a missing file or invalid JSON is a one-line error naming it."""
    check_file(path, what)
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON: {err}") from None


@contextmanager
def json_structure(path: str, what: str):
    """Within the block, a missing key or a wrongly typed entry of the parsed JSON `path` becomes a one-line
    ValueError naming the file, instead of a bare KeyError / TypeError."""
    try:
        yield
    except KeyError as err:
        raise ValueError(f"{path}: {what} lacks the key {err.args[0]!r}") from None
    except TypeError as err:
        raise ValueError(f"{path}: malformed {what}: {err}") from None


def image_size(path: str) -> tuple:
    """(H, W) of an image file from its header (no pixel is decoded)."""
    check_file(path, "image file")
    try:
        with Image.open(path) as img:
            w, h = img.size
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path}: corrupt or unreadable image: {err}") from None
    return h, w


def check_label_size(label: np.ndarray, height: int, width: int, path: str) -> np.ndarray:
    """Return `label` if its (H, W) is (height, width), else raise naming the annotation file."""
    if label.shape[:2] != (height, width):
        raise ValueError(
            f"{path}: annotation is {label.shape[0]}x{label.shape[1]}, the video's frames are {height}x{width}"
        )
    return label


def _open_image(path: str) -> Image.Image:
    check_file(path, "image file")
    try:
        img = Image.open(path)
        img.load()
        return img
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path}: corrupt or unreadable image: {err}") from None


def read_rgb(path: str) -> np.ndarray:
    """uint8 (H, W, 3) RGB pixels of an image file; errors name the file."""
    return np.array(_open_image(path).convert("RGB"))  # writable copy (torch.from_numpy needs one)


def read_label_png(path: str) -> np.ndarray:
    """Raw label values of a PNG: (H, W) for single-channel / palette PNGs (indices, not colours), else (H, W, 3)."""
    img = _open_image(path)
    if img.mode in ("P", "L", "I", "I;16"):
        return np.asarray(img).astype(np.int64)
    return np.asarray(img.convert("RGB"))


def write_png(path: str, array: np.ndarray) -> None:
    """Write uint8 (H, W) or (H, W, 3) losslessly, creating folders."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(path)


def write_jpg(path: str, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB frame as JPEG, creating folders."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.ascontiguousarray(rgb)).save(path, quality=quality)


def segments_from_id_map(
    id_map: np.ndarray,
    segments: Dict[int, tuple],
    ignore_ids: Sequence[int],
    where: str,
) -> FrameSegments:
    """Build FrameSegments from an (H, W) id map.

    Args:
        id_map: int (H, W) segment ids.
        segments: segment id -> (contiguous category, is_thing, track id, iscrowd); track id None for stuff, which
            gets STUFF_TRACK_BASE + category (stuff segments of one class merge into one entity).
        ignore_ids: ids that mark void pixels.
        where: the file named in errors.
    Raises:
        ValueError: the map contains an id that is neither void nor a described segment.
    """
    present = np.unique(id_map)
    unknown = [int(i) for i in present if int(i) not in segments and int(i) not in ignore_ids]
    if unknown:
        raise ValueError(f"{where}: segment ids {unknown[:10]} appear in the image but not in the annotation")
    ignore = np.isin(id_map, list(ignore_ids))
    by_entity: Dict[int, list] = {}
    for seg_id in present.tolist():
        if seg_id not in segments:
            continue
        category, thing, track, crowd = segments[seg_id]
        mask = id_map == seg_id
        if crowd:
            ignore |= mask
            continue
        track = track if thing else STUFF_TRACK_BASE + category
        if track in by_entity:
            by_entity[track][0] |= mask
        else:
            by_entity[track] = [mask, category, thing]
    tracks = sorted(by_entity)
    h, w = id_map.shape
    return FrameSegments(
        masks=np.stack([by_entity[t][0] for t in tracks]) if tracks else np.zeros((0, h, w), bool),
        track_ids=np.asarray(tracks, np.int64),
        category_ids=np.asarray([by_entity[t][1] for t in tracks], np.int64),
        is_thing=np.asarray([by_entity[t][2] for t in tracks], bool),
        ignore=ignore,
    )
