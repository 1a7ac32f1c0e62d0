"""VIPSeg in the authors' VIPSeg_720P panoptic format: JPEG frames, COCO-panoptic RGB PNGs and a video JSON.

The authors' route from the raw release (VIPSeg-Dataset README: `change2_720p.py`, then
`create_panoptic_video_labels.py`, then `splitjson.py`) produces, under VIPSeg_720P/:
    images/<video>/<frame>.jpg                  height 720, width int(720 * w / h), bilinear
    panomasksRGB/<video>/<frame>.png            segment id = R + 256 G + 256^2 B, 0 = void
    panoptic_gt_VIPSeg_{train,val}.json         {videos: [{video_id, images: [{id, width, height, file_name}]}],
                                                annotations: [{video_id, annotations: [{image_id, file_name,
                                                segments_info: [{id, category_id, iscrowd, area}]}]}],
                                                categories: [{id, name, isthing, color}]}
images[].file_name names the PNG (the frame is the JPEG of the same stem); category ids are 0..123. Raw panomask
values (what `panoptic_from_raw` converts): 0 void; v < 125: category v - 1; v >= 125: category v // 100 - 1,
instance v % 100, where instance 0 is a real instance (the README's person = 6100, 6101, ...). Segment ids of an
instance are the same in every frame of a video, so they serve as track ids. The official scripts write no test
split; `datasets/prepare_vipseg.py` adds one (frames only).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Dict, Iterator, List, Sequence, Set, Tuple

import numpy as np

from ..codecs import id2rgb, rgb2id
from ..video_dict import FrameSegments
from .common import (
    ClassTable,
    check_label_size,
    json_structure,
    read_json,
    read_label_png,
    segments_from_id_map,
    write_jpg,
    write_png,
)
from .format import BenchmarkFormat, MissingPrediction, PredictionReader, PredictionWriter, register_format

__all__ = ["VIPSegFormat", "panoptic_from_raw", "RAW_THING_MIN"]

logger = logging.getLogger(__name__)

RAW_THING_MIN = 125
"""Raw panomask values >= 125 are thing codes (category + 1) * 100 + instance (create_panoptic_video_labels.py)."""


def panoptic_from_raw(raw: np.ndarray, is_thing: Sequence[bool], where: str) -> Tuple[np.ndarray, List[dict]]:
    """One raw VIPSeg panomask -> (segment ids, segments_info), with the conventions of the authors'
    `create_panoptic_video_labels.py`.

    Every non-zero value is a segment (thing instance 0 included); category = v - 1 below 125, v // 100 - 1 from
    125; stuff segments of one category merge into one (the official script gives stuff its category colour);
    segments are listed in ascending raw value (the order the official STQ driver numbers them by); iscrowd 0;
    area = pixel count. The segment id is the raw value for things and category + 1 for stuff: deterministic,
    where panopticapi draws random colours, and like those stable over a video when applied frame by frame.

    Args:
        raw: int (H, W) raw panomask values.
        is_thing: per category id 0..C-1, whether it is a thing class.
        where: the file named in errors.
    Returns:
        ids int64 (H, W) (0 = void) and [{"id", "category_id", "iscrowd", "area", "bbox"}].
    """
    raw = np.asarray(raw, dtype=np.int64)
    ids = np.zeros(raw.shape, np.int64)
    infos: Dict[int, dict] = {}
    for value in np.unique(raw).tolist():
        if value == 0:
            continue
        category = value - 1 if value < RAW_THING_MIN else value // 100 - 1
        if not 0 <= category < len(is_thing):
            raise ValueError(f"{where}: raw value {value} has category {category}, outside 0..{len(is_thing) - 1}")
        segment_id = value if is_thing[category] else category + 1
        mask = raw == value
        ids[mask] = segment_id
        info = infos.setdefault(segment_id, {"id": segment_id, "category_id": category, "iscrowd": 0})
        info["area"] = info.get("area", 0) + int(mask.sum())
    for info in infos.values():
        ys, xs = np.nonzero(ids == info["id"])
        info["bbox"] = [int(xs.min()), int(ys.min()), int(np.ptp(xs) + 1), int(np.ptp(ys) + 1)]
    return ids, list(infos.values())


def _frame_name(file_name: str) -> str:
    """The JPEG frame of a JSON image entry (the official JSON names the mask PNG there)."""
    return os.path.splitext(file_name)[0] + ".jpg"


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


class _Writer(PredictionWriter):
    """`pan_pred/<video>/<frame>.png` (COCO panoptic RGB) and `pred.json` {annotations: [{video_id, annotations:
    [{file_name, segments_info: [{id, category_id}]}]}]} with the dataset's category ids, as eval_vpq_vspw.py reads."""

    def __init__(self, output_dir, metadata):
        super().__init__(output_dir, metadata)
        self._pred_json: Dict[str, List[dict]] = {}

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            video, t = inp["video"], inp["frame_index"]
            ids, segments = out["panoptic_seg"]
            name = _stem(video["file_names"][t]) + ".png"
            write_png(os.path.join(self.output_dir, "pan_pred", str(video["video_id"]), name), id2rgb(np.asarray(ids)))
            infos = [{"id": int(s["id"]), "category_id": self.to_dataset[int(s["category_id"])]} for s in segments]
            self._pred_json.setdefault(str(video["video_id"]), []).append({"file_name": name, "segments_info": infos})

    def close(self):
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, "pred.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"annotations": [{"video_id": v, "annotations": a} for v, a in self._pred_json.items()]}, f)
        return [path]


class _Reader(PredictionReader):
    def __init__(self, pred_dir, metadata):
        super().__init__(pred_dir, metadata)
        self._json = os.path.join(pred_dir, "pred.json")
        data = read_json(self._json, "VIPSeg submission index pred.json")
        try:
            self._index = {str(a["video_id"]): a["annotations"] for a in data["annotations"]}
        except (KeyError, TypeError):
            raise ValueError(f"{self._json}: expected {{'annotations': [{{'video_id', 'annotations'}}]}}") from None

    @property
    def video_ids(self) -> Set[str]:
        return set(self._index)

    def read(self, video):
        vid = str(video["video_id"])
        if vid not in self._index:
            raise MissingPrediction(f"{self._json}: no prediction for video {vid!r}")
        frames = self._index[vid]
        if len(frames) != video["length"]:
            raise ValueError(f"{self._json}: video {vid!r} has {len(frames)} predicted frames, {video['length']} in GT")
        for t, frame_path in enumerate(video["file_names"]):
            ids = rgb2id(read_label_png(os.path.join(self.pred_dir, "pan_pred", vid, _stem(frame_path) + ".png")))
            segs = [
                {"id": s["id"], "category_id": self.table.contiguous_id(s["category_id"], self._json)}
                for s in frames[t]["segments_info"]
            ]
            yield {"video": video, "frame_index": t}, {"panoptic_seg": (ids, segs)}


class VIPSegFormat(BenchmarkFormat):
    """VIPSeg_720P (video panoptic segmentation), scored by VPQ + STQ (`vps`)."""

    name = "vipseg"
    evaluator_type = "vps"

    def load(self, dataset_name: str, table: ClassTable, image_root: str, panoptic_root: str, panoptic_json: str):
        """Video dicts of a split; category ids are checked against `table` here, so a bad JSON fails at load.

        Args:
            image_root: folder of <video>/<frame>.jpg; panoptic_root: folder of <video>/<frame>.png;
            panoptic_json: the split's panoptic_gt_VIPSeg_<split>.json. A JSON without "annotations" (or with
            null / []) is an unlabelled split.
        """
        data = read_json(panoptic_json, "VIPSeg panoptic JSON")
        if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
            raise ValueError(f"{panoptic_json}: missing top-level list 'videos'")
        with json_structure(panoptic_json, "VIPSeg panoptic JSON"):
            return self._videos(dataset_name, table, image_root, panoptic_root, panoptic_json, data)

    def _videos(self, dataset_name, table, image_root, panoptic_root, panoptic_json, data):
        """`load` on the parsed JSON `data` of `panoptic_json`."""
        annotations = {a["video_id"]: a["annotations"] for a in data.get("annotations") or []}
        videos = []
        for video in data["videos"]:
            vid, images = video["video_id"], video["images"]
            if not images:
                logger.warning(f"{panoptic_json}: video {vid} has no frame; skipped")
                continue
            frame_anns = None
            if annotations:
                if vid not in annotations:
                    raise ValueError(f"{panoptic_json}: video {vid} has images but no annotations")
                anns = annotations[vid]
                if len(anns) != len(images):
                    raise ValueError(
                        f"{panoptic_json}: video {vid} lists {len(images)} images but {len(anns)} annotated frames"
                    )
                frame_anns = []
                for image, ann in zip(images, anns):
                    where = f"{panoptic_json} (video {vid}, {ann['file_name']})"
                    for seg in ann["segments_info"]:
                        missing = sorted({"id", "category_id", "area"} - set(seg))  # what the official VPQ reads
                        if missing:
                            raise ValueError(f"{where}: a segment of segments_info lacks {', '.join(missing)}")
                        table.contiguous_id(seg["category_id"], where)
                    frame_anns.append(
                        {
                            "pan_file": os.path.join(panoptic_root, vid, ann["file_name"]),
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
                    "file_names": [os.path.join(image_root, vid, _frame_name(im["file_name"])) for im in images],
                    "annotation_format": self.name,
                    "frame_annotations": frame_anns,
                }
            )
        return videos

    def ground_truth(self, video: dict, t: int, metadata) -> Tuple[np.ndarray, Dict[int, tuple], List[int]]:
        """What eval_vpq_vspw.py / eval_stq_vspw.py read for frame t: (segment ids int64 (H, W), {segment id:
        (contiguous category, iscrowd, JSON area)}, segment ids in JSON order). The PNG size is checked."""
        ann = video["frame_annotations"][t]
        path = ann["pan_file"]
        rgb = read_label_png(path)
        if rgb.ndim != 3:
            raise ValueError(f"{path}: expected an RGB panoptic PNG, got a single-channel image")
        check_label_size(rgb, ann["height"], ann["width"], path)
        table: ClassTable = metadata.class_table
        segments = {
            int(s["id"]): (table.contiguous_id(s["category_id"], path), bool(s.get("iscrowd", 0)), int(s["area"]))
            for s in ann["segments_info"]
        }
        return rgb2id(rgb), segments, [int(s["id"]) for s in ann["segments_info"]]

    def decode_frame(self, video, t, metadata) -> FrameSegments:
        """Void id 0 and crowd segments -> ignore; thing track id = segment id; stuff merges per class."""
        ids, segments, _ = self.ground_truth(video, t, metadata)
        table: ClassTable = metadata.class_table
        described = {
            sid: (cat, table.is_thing[cat], sid if table.is_thing[cat] else None, crowd)
            for sid, (cat, crowd, _) in segments.items()
        }
        return segments_from_id_map(ids, described, ignore_ids=(0,), where=video["frame_annotations"][t]["pan_file"])

    def prediction_writer(self, output_dir, metadata):
        return _Writer(output_dir, metadata)

    def prediction_reader(self, pred_dir, metadata):
        return _Reader(pred_dir, metadata)

    def empty_prediction(self, video) -> Iterator:
        shape = (video["height"], video["width"])
        for t in range(video["length"]):
            yield {"video": video, "frame_index": t}, {"panoptic_seg": (np.zeros(shape, np.int64), [])}

    def write_synthetic_split(self, root, split, videos, class_rows):
        """Synthetic videos as raw panomasks ((c + 1) * 100 + k for things, k from 0; c + 1 for stuff), converted
        with `panoptic_from_raw` as `datasets/prepare_vipseg.py` converts the real release."""
        is_thing = [bool(r["isthing"]) for r in sorted(class_rows, key=lambda r: int(r["id"]))]
        json_videos, json_anns, names = [], [], []
        for video in videos:
            vid = video.video_id
            names.append(vid)
            raw_of, per_class = {}, {}
            for eid in sorted(video.entities):
                info = video.entities[eid]
                if info.is_thing:
                    k = per_class[info.category_id] = per_class.get(info.category_id, -1) + 1
                    if k >= 100:
                        raise ValueError(f"video {vid}: more than 100 instances of class {info.category_id}")
                    raw_of[eid] = (info.category_id + 1) * 100 + k
                else:
                    raw_of[eid] = info.category_id + 1
            images, anns = [], []
            for t in range(len(video.frames)):
                stem = f"{t:08d}"
                write_jpg(os.path.join(root, "images", vid, stem + ".jpg"), video.frames[t])
                emap = video.entity_map[t]
                lut = np.zeros(int(emap.max()) + 1, np.int64)
                for eid, value in raw_of.items():
                    if eid < len(lut):
                        lut[eid] = value
                ids, infos = panoptic_from_raw(lut[emap], is_thing, f"synthetic video {vid} frame {t}")
                write_png(os.path.join(root, "panomasksRGB", vid, stem + ".png"), id2rgb(ids))
                h, w = ids.shape
                images.append({"id": stem, "width": w, "height": h, "file_name": stem + ".png"})
                anns.append({"image_id": stem, "file_name": stem + ".png", "segments_info": infos})
            json_videos.append({"video_id": vid, "images": images})
            json_anns.append({"video_id": vid, "annotations": anns})
        categories = [{k: r[k] for k in ("id", "name", "isthing", "color")} for r in class_rows]
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, f"panoptic_gt_VIPSeg_{split}.json"), "w", encoding="utf-8") as f:
            json.dump({"videos": json_videos, "annotations": json_anns, "categories": categories}, f)
        with open(os.path.join(root, f"{split}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(n + "\n" for n in names))

    def synthetic_paths(self, root, split):
        return {
            "image_root": os.path.join(root, "images"),
            "panoptic_root": os.path.join(root, "panomasksRGB"),
            "panoptic_json": os.path.join(root, f"panoptic_gt_VIPSeg_{split}.json"),
        }


register_format(VIPSegFormat())
