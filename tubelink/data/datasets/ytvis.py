"""YouTube-VIS 2019 / 2021 and OVIS: JPEG frames and one annotation JSON with per-frame masks (things only).

Layout (as the official releases and Mask2Former's `register_ytvis_instances` read them): <image_root>/<video>/
<frame>.jpg and a JSON
    {videos: [{id, width, height, length, file_names}], annotations: [{id, video_id, category_id, iscrowd,
     segmentations: [RLE | polygons | None per frame], areas: [int | None per frame], bboxes}] | null,
     categories: [{id, name}]}
The annotation id is the instance's track id. "annotations" absent, null or [] means an unlabelled split (the 2021
valid/test JSONs have null). `length` must equal len(file_names). Uncompressed (list-count) RLEs are compressed at
load (pycocotools frPyObjects, as Mask2Former's loader), so a split costs a few KiB per mask in memory; the GT areas
the evaluator uses are the JSON's `areas`, as the official ytvos API reads them.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections import defaultdict
from typing import Iterable, List, Sequence, Set, Union

import numpy as np
import pycocotools.mask as mask_util

from ..video_dict import FrameSegments
from .common import ClassTable, json_structure, read_json, write_jpg
from .format import BenchmarkFormat, PredictionReader, PredictionWriter, register_format

__all__ = ["YTVISFormat", "decode_segmentation", "compress_segmentation"]

logger = logging.getLogger(__name__)


def compress_segmentation(seg, height: int, width: int, where: str):
    """A per-frame segmentation as kept in memory: list-count RLE -> compressed RLE; compressed RLE and polygons
    unchanged; None / empty -> None."""
    if not seg:
        return None
    if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
        try:
            return mask_util.frPyObjects(seg, *seg.get("size", (height, width)))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: malformed uncompressed RLE: {err}") from None
    if isinstance(seg, dict):
        if not isinstance(seg.get("counts"), (str, bytes)):
            raise ValueError(f"{where}: malformed segmentation: RLE counts must be a string or a list of run lengths")
        return seg
    if isinstance(seg, list) and all(
        isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0 for poly in seg
    ):
        return seg
    raise ValueError(f"{where}: malformed segmentation: expected an RLE dict or a list of polygons")


def decode_segmentation(seg, height: int, width: int, where: str) -> np.ndarray:
    """bool (H, W) mask from a COCO RLE (compressed or not) or a list of polygons."""
    try:
        if isinstance(seg, list):
            rle = mask_util.merge(mask_util.frPyObjects(seg, height, width))
        elif isinstance(seg.get("counts"), list):
            rle = mask_util.frPyObjects(seg, height, width)
        else:
            rle = seg
        mask = mask_util.decode(rle).astype(bool)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise ValueError(f"{where}: malformed segmentation: {err}") from None
    if mask.shape != (height, width):
        raise ValueError(f"{where}: mask is {mask.shape[0]}x{mask.shape[1]}, the video is {height}x{width}")
    return mask


def _first_existing(json_file: Union[str, Sequence[str]]) -> str:
    candidates = [json_file] if isinstance(json_file, str) else list(json_file)
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{' or '.join(candidates)}: YouTube-VIS annotation JSON does not exist")


class _Writer(PredictionWriter):
    """`results.json` (per instance: video_id, category_id, score, per-frame RLE or None) and the zipped
    `submission.zip` the challenge servers take."""

    def __init__(self, output_dir, metadata):
        super().__init__(output_dir, metadata)
        self._results: List[dict] = []

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            for inst in out["instances"]:
                segs = [
                    dict(s, counts=s["counts"].decode("ascii") if isinstance(s["counts"], bytes) else s["counts"])
                    if s is not None
                    else None
                    for s in inst["segmentations"]
                ]
                self._results.append(
                    {
                        "video_id": inp["video"]["video_id"],
                        "score": float(inst["score"]),
                        "category_id": self.to_dataset[int(inst["category_id"])],
                        "segmentations": segs,
                    }
                )

    def close(self):
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, "results.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self._results, f)
        archive = os.path.join(self.output_dir, "submission.zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, "results.json")
        return [path, archive]


class _Reader(PredictionReader):
    def __init__(self, pred_dir, metadata):
        super().__init__(pred_dir, metadata)
        self._json = os.path.join(pred_dir, "results.json")
        data = read_json(self._json, "YouTube-VIS results.json")
        if not isinstance(data, list):
            raise ValueError(f"{self._json}: expected a list of results")
        self._by_video = defaultdict(list)
        for r in data:
            self._by_video[str(r["video_id"])].append(r)

    @property
    def video_ids(self) -> Set[str]:
        return set(self._by_video)

    def read(self, video):
        instances = [
            dict(r, category_id=self.table.contiguous_id(r["category_id"], self._json))
            for r in self._by_video.get(str(video["video_id"]), [])
        ]
        yield {"video": video}, {"instances": instances}


class YTVISFormat(BenchmarkFormat):
    """YouTube-VIS / OVIS (video instance segmentation), scored by AP (`ytvis`)."""

    name = "ytvis"
    evaluator_type = "ytvis"
    absent_video_is_empty = True

    def load(self, dataset_name: str, table: ClassTable, json_file: Union[str, Sequence[str]], image_root: str):
        """Video dicts of a split. `json_file` may list alternatives (the first that exists is read)."""
        json_file = _first_existing(json_file)
        data = read_json(json_file, "YouTube-VIS annotation JSON")
        if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
            raise ValueError(f"{json_file}: missing top-level list 'videos'")
        with json_structure(json_file, "YouTube-VIS annotation JSON"):
            return self._videos(dataset_name, table, json_file, data, image_root)

    def _videos(self, dataset_name: str, table: ClassTable, json_file: str, data: dict, image_root: str):
        """`load` on the parsed JSON `data` of `json_file`."""
        annotations = data.get("annotations") or []
        by_video = defaultdict(list)
        for ann in annotations:
            table.contiguous_id(ann["category_id"], f"{json_file} (annotation {ann.get('id')})")
            by_video[ann["video_id"]].append(ann)
        orphans = len(set(by_video) - {v["id"] for v in data["videos"]})
        if orphans:  # as Mask2Former's loader, which also drops them
            logger.warning(f"{json_file}: annotations of {orphans} video ids not in 'videos' are ignored")
        videos = []
        for video in data["videos"]:
            n = len(video["file_names"])
            if "length" in video and video["length"] != n:
                raise ValueError(f"{json_file}: video {video['id']} has length {video['length']} but {n} file_names")
            if n == 0:
                logger.warning(f"{json_file}: video {video['id']} has no frame; skipped")
                continue
            h, w = video["height"], video["width"]
            frame_anns = None
            if annotations:
                frame_anns = [[] for _ in range(n)]
                for ann in by_video.get(video["id"], []):
                    segs = ann["segmentations"]
                    where = f"{json_file} (annotation {ann['id']} of video {video['id']})"
                    if len(segs) != n:
                        raise ValueError(f"{where}: {len(segs)} per-frame segmentations for {n} frames")
                    areas = ann.get("areas")
                    if areas is not None and len(areas) != n:
                        raise ValueError(f"{where}: {len(areas)} per-frame areas for {n} frames")
                    for t, seg in enumerate(segs):
                        seg = compress_segmentation(seg, h, w, f"{where} frame {t}")
                        if seg is None:
                            continue
                        frame_anns[t].append(
                            {
                                "track_id": int(ann["id"]),
                                "category_id": ann["category_id"],
                                "iscrowd": int(ann.get("iscrowd", 0)),
                                "segmentation": seg,
                                "area": areas[t] if areas is not None else None,
                            }
                        )
            videos.append(
                {
                    "dataset_name": dataset_name,
                    "video_id": video["id"],
                    "height": h,
                    "width": w,
                    "length": n,
                    "file_names": [os.path.join(image_root, fn) for fn in video["file_names"]],
                    "annotation_format": self.name,
                    "frame_annotations": frame_anns,
                }
            )
        return videos

    def decode_frame(self, video, t, metadata) -> FrameSegments:
        """One thing per annotated instance (masks may overlap); crowd -> ignore."""
        h, w = video["height"], video["width"]
        table: ClassTable = metadata.class_table
        where = f"{video['dataset_name']} video {video['video_id']} frame {t}"
        masks, tracks, cats = [], [], []
        ignore = np.zeros((h, w), bool)
        for ann in video["frame_annotations"][t]:
            mask = decode_segmentation(ann["segmentation"], h, w, where)
            if ann["iscrowd"]:
                ignore |= mask
                continue
            masks.append(mask)
            tracks.append(ann["track_id"])
            cats.append(table.contiguous_id(ann["category_id"], where))
        return FrameSegments(
            masks=np.stack(masks) if masks else np.zeros((0, h, w), bool),
            track_ids=np.asarray(tracks, np.int64),
            category_ids=np.asarray(cats, np.int64),
            is_thing=np.ones(len(tracks), bool),
            ignore=ignore,
        )

    def video_ground_truth(self, video: dict) -> List[dict]:
        """The video's GT annotations as the official ytvos API holds them: {video_id, category_id (dataset id),
        iscrowd, segmentations: [RLE | polygons | None per frame], areas: [JSON area | None per frame]}. A JSON
        without `areas` gets each mask's pixel count instead."""
        n, h, w = video["length"], video["height"], video["width"]
        tracks = {}
        for t, anns in enumerate(video["frame_annotations"]):
            for a in anns:
                track = tracks.setdefault(
                    a["track_id"],
                    {
                        "video_id": video["video_id"],
                        "category_id": a["category_id"],
                        "iscrowd": a["iscrowd"],
                        "segmentations": [None] * n,
                        "areas": [None] * n,
                    },
                )
                track["segmentations"][t] = a["segmentation"]
                area = a["area"]
                if area is None:
                    area = int(decode_segmentation(a["segmentation"], h, w, f"video {video['video_id']}").sum())
                track["areas"][t] = area
        return list(tracks.values())

    def prediction_writer(self, output_dir, metadata):
        return _Writer(output_dir, metadata)

    def prediction_reader(self, pred_dir, metadata):
        return _Reader(pred_dir, metadata)

    def empty_prediction(self, video):
        yield {"video": video}, {"instances": []}

    def synthetic_class_rows(self, rows):
        return [dict(r, id=k + 1) for k, r in enumerate(r for r in rows if r["isthing"])]  # things only, ids 1..K

    def synthetic_paths(self, root, split):
        return {"json_file": os.path.join(root, f"{split}.json"), "image_root": os.path.join(root, split, "JPEGImages")}

    def write_synthetic_split(self, root: str, split: str, videos: Iterable, class_rows: List[dict]) -> None:
        """Write synthetic videos as YouTube-VIS: things only, category ids 1..K over the table's thing classes,
        frames under <root>/<split>/JPEGImages/, annotations in <root>/<split>.json."""
        things = [r for r in class_rows if r["isthing"]]
        category_of = {int(r["id"]): k + 1 for k, r in enumerate(things)}
        json_videos, json_anns = [], []
        for video_index, video in enumerate(videos, start=1):
            T, h, w = video.entity_map.shape
            names = [f"{video.video_id}/{t:08d}.jpg" for t in range(T)]
            for t, name in enumerate(names):
                write_jpg(os.path.join(root, split, "JPEGImages", name), video.frames[t])
            json_videos.append({"id": video_index, "width": w, "height": h, "length": T, "file_names": names})
            for eid in sorted(video.entities):
                info = video.entities[eid]
                if not info.is_thing:
                    continue
                segs, areas, boxes = [], [], []
                for t in range(T):
                    mask = video.entity_map[t] == eid
                    if not mask.any():
                        segs.append(None)
                        areas.append(None)
                        boxes.append(None)
                        continue
                    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
                    rle["counts"] = rle["counts"].decode("ascii")
                    segs.append(rle)
                    areas.append(int(mask.sum()))
                    boxes.append([float(v) for v in mask_util.toBbox(rle)])
                json_anns.append(
                    {
                        "id": len(json_anns) + 1,
                        "video_id": video_index,
                        "category_id": category_of[info.category_id],
                        "iscrowd": 0,
                        "segmentations": segs,
                        "areas": areas,
                        "bboxes": boxes,
                        "width": w,
                        "height": h,
                        "length": 1,
                    }
                )
        categories = [{"id": k + 1, "name": r["name"], "supercategory": "object"} for k, r in enumerate(things)]
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, f"{split}.json"), "w", encoding="utf-8") as f:
            json.dump(
                {
                    "videos": json_videos,
                    "annotations": json_anns,
                    "categories": categories,
                    "info": {"description": "tubelink synthetic benchmark"},
                    "licenses": [],
                },
                f,
            )


register_format(YTVISFormat())
