"""VIPSeg (VIPSeg_720P panoptic format): JPEG frames, COCO-panoptic RGB PNGs and a video panoptic JSON.

Layout under the dataset root:
    images/<video_id>/<frame>.jpg
    panomasksRGB/<video_id>/<frame>.png            segment id = R + 256 G + 256^2 B, 0 = void
    panoptic_gt_VIPSeg_<split>.json               {videos: [{video_id, images: [{id, width, height,
                                                  file_name}]}], annotations: [{video_id, annotations:
                                                  [{image_id, file_name, segments_info: [{id, category_id,
                                                  iscrowd, area, bbox}]}]}], categories: [...]}
                                                  (images[].file_name names the PNG, as VIPSeg's own script
                                                  writes it; the frame is the JPEG of the same stem)
    <split>.txt                                   video ids, one per line
Segment ids of an instance are the same in every frame of a video (VIPSeg: (class+1)*100 + k for things,
class+1 for stuff), so they serve as track ids.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Iterable, List, Optional

import numpy as np

from ..codecs import id2rgb, rgb2id
from ..video_dict import FrameSegments, register_annotation_decoder
from .common import ClassTable, check_file, read_label_png, segments_from_id_map, write_jpg, write_png

__all__ = ["load_vipseg_videos", "write_vipseg_split", "vipseg_json_path"]

logger = logging.getLogger(__name__)


def _frame_name(file_name: str) -> str:
    """The JPEG frame of a JSON image entry (the official JSON names the mask PNG there)."""
    return os.path.splitext(file_name)[0] + ".jpg"


def vipseg_json_path(root: str, split: str) -> str:
    """Path of the split's panoptic JSON."""
    return os.path.join(root, f"panoptic_gt_VIPSeg_{split}.json")


def load_vipseg_videos(root: str, split: str, dataset_name: str, table: ClassTable) -> List[dict]:
    """Video dicts of a VIPSeg-format split (see tubelink.data.video_dict); nothing is decoded yet.

    Category ids of every segment are checked against `table` here, so a bad JSON fails at load time.
    """
    json_file = check_file(vipseg_json_path(root, split), "VIPSeg panoptic JSON")
    with open(json_file, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{json_file}: invalid JSON: {err}") from None
    for key in ("videos",):
        if key not in data:
            raise ValueError(f"{json_file}: missing top-level key '{key}'")
    annotations = {a["video_id"]: a["annotations"] for a in data.get("annotations", [])}
    videos = []
    for video in data["videos"]:
        vid, images = video["video_id"], video["images"]
        if not images:
            logger.warning(f"{json_file}: video {vid} has no frame; skipped")
            continue
        frame_anns: Optional[list] = None
        if annotations:
            if vid not in annotations:
                raise ValueError(f"{json_file}: video {vid} has images but no annotations")
            anns = annotations[vid]
            if len(anns) != len(images):
                raise ValueError(
                    f"{json_file}: video {vid} lists {len(images)} images but {len(anns)} annotated frames"
                )
            frame_anns = []
            for image, ann in zip(images, anns):
                for seg in ann["segments_info"]:
                    table.contiguous_id(seg["category_id"], f"{json_file} (video {vid}, {ann['file_name']})")
                frame_anns.append(
                    {
                        "pan_file": os.path.join(root, "panomasksRGB", vid, ann["file_name"]),
                        "segments_info": ann["segments_info"],
                        "height": image["height"],
                        "width": image["width"],
                    }
                )
        videos.append(
            {
                "dataset_name": dataset_name,
                "video_id": vid,
                "height": images[0]["height"],
                "width": images[0]["width"],
                "length": len(images),
                "file_names": [os.path.join(root, "images", vid, _frame_name(im["file_name"])) for im in images],
                "annotation_format": "vipseg",
                "frame_annotations": frame_anns,
            }
        )
    return videos


@register_annotation_decoder("vipseg")
def decode_vipseg_frame(video: dict, t: int, metadata) -> FrameSegments:
    """FrameSegments of frame t from its RGB PNG and segments_info (void id 0 and crowd segments -> ignore)."""
    ann = video["frame_annotations"][t]
    path = ann["pan_file"]
    rgb = read_label_png(path)
    if rgb.ndim != 3:
        raise ValueError(f"{path}: expected an RGB panoptic PNG, got a single-channel image")
    if rgb.shape[:2] != (ann["height"], ann["width"]):
        raise ValueError(f"{path}: image is {rgb.shape[0]}x{rgb.shape[1]}, JSON says {ann['height']}x{ann['width']}")
    table: ClassTable = metadata.class_table
    segments = {}
    for seg in ann["segments_info"]:
        cat = table.contiguous_id(seg["category_id"], path)
        thing = table.is_thing[cat]
        segments[int(seg["id"])] = (cat, thing, int(seg["id"]) if thing else None, bool(seg.get("iscrowd", 0)))
    return segments_from_id_map(rgb2id(rgb), segments, ignore_ids=(0,), where=path)


def _bbox(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def write_vipseg_split(root: str, split: str, videos: Iterable, class_table: List[dict]) -> None:
    """Write synthetic videos as a VIPSeg-format split (segment ids as VIPSeg's: (c+1)*100+k things, c+1 stuff)."""
    thing_of = {int(r["id"]): bool(r["isthing"]) for r in class_table}
    json_videos, json_anns, names = [], [], []
    for video in videos:
        vid = video.video_id
        names.append(vid)
        segment_id, per_class = {}, {}
        for eid in sorted(video.entities):
            info = video.entities[eid]
            if info.is_thing:
                per_class[info.category_id] = per_class.get(info.category_id, 0) + 1
                if per_class[info.category_id] >= 100:
                    raise ValueError(f"video {vid}: more than 99 instances of class {info.category_id}")
                segment_id[eid] = (info.category_id + 1) * 100 + per_class[info.category_id]
            else:
                segment_id[eid] = info.category_id + 1
        images, anns = [], []
        for t in range(len(video.frames)):
            stem = f"{t:08d}"
            write_jpg(os.path.join(root, "images", vid, stem + ".jpg"), video.frames[t])
            ids = np.zeros(video.entity_map[t].shape, np.int64)
            infos = []
            # Segments listed by id, as in VIPSeg's own JSONs (stuff ids < thing ids); the official STQ script
            # numbers instances by this order and treats the first-listed segment as crowd.
            for eid in sorted(set(np.unique(video.entity_map[t]).tolist()) - {0}, key=lambda e: segment_id[e]):
                mask = video.entity_map[t] == eid
                ids[mask] = segment_id[eid]
                cat = video.entities[eid].category_id
                infos.append(
                    {
                        "id": segment_id[eid],
                        "category_id": cat,
                        "iscrowd": 0,
                        "area": int(mask.sum()),
                        "bbox": _bbox(mask),
                        "isthing": int(thing_of[cat]),
                    }
                )
            write_png(os.path.join(root, "panomasksRGB", vid, stem + ".png"), id2rgb(ids))
            h, w = ids.shape
            images.append({"id": f"{vid}_{stem}", "width": w, "height": h, "file_name": stem + ".png"})
            anns.append({"image_id": f"{vid}_{stem}", "file_name": stem + ".png", "segments_info": infos})
        json_videos.append({"video_id": vid, "images": images})
        json_anns.append({"video_id": vid, "annotations": anns})
    categories = [{"id": r["id"], "name": r["name"], "isthing": r["isthing"], "color": r["color"]} for r in class_table]
    os.makedirs(root, exist_ok=True)
    with open(vipseg_json_path(root, split), "w", encoding="utf-8") as f:
        json.dump({"videos": json_videos, "annotations": json_anns, "categories": categories}, f)
    with open(os.path.join(root, f"{split}.txt"), "w", encoding="utf-8") as f:
        f.write("".join(n + "\n" for n in names))
