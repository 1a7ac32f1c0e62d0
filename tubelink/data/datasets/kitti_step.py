"""KITTI-STEP in the Video K-Net / Tube-Link layout: one PNG per frame with semantic and instance ids.

Layout of a split folder (`datasets/prepare_kitti_step.py` arranges the official release so):
    <seq:06d>_<frame:06d>_leftImg8bit.png     RGB frame
    <seq:06d>_<frame:06d>_panoptic.png        deeplab2's encoding: R = semantic train id (255 = void),
                                              instance = G*256 + B (0 = none)
Thing pixels with instance 0 are crowd (ignored), as in deeplab2. Instance ids are stable within a sequence, so
(semantic, instance) is the track id. Evaluation reads only the panoptic PNGs; frame images are not needed.
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from typing import Iterable, List, Set

import numpy as np

from ..codecs import kitti_step_decode, kitti_step_encode
from ..video_dict import FrameSegments
from .common import ClassTable, check_label_size, image_size, read_label_png, segments_from_id_map, write_png
from .format import BenchmarkFormat, MissingPrediction, PredictionReader, PredictionWriter, register_format

__all__ = ["KittiStepFormat"]

logger = logging.getLogger(__name__)
_FRAME = re.compile(r"^(\d{6})_(\d{6})_(leftImg8bit|panoptic)\.png$")
VOID = 255


def _panoptic_name(frame_path: str) -> str:
    return os.path.basename(frame_path).replace("_leftImg8bit.png", "_panoptic.png")


def _read_panoptic(path: str, height: int, width: int):
    label = read_label_png(path)
    if label.ndim != 3:
        raise ValueError(f"{path}: expected an RGB KITTI-STEP panoptic PNG")
    return kitti_step_decode(check_label_size(label, height, width, path))


class _Writer(PredictionWriter):
    """`<seq>_<frame>_panoptic.png`: R = train id (255 void), G*256+B = instance for things, 0 for stuff."""

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            video, t = inp["video"], inp["frame_index"]
            ids, segments = out["panoptic_seg"]
            ids = np.asarray(ids)
            semantic = np.full(ids.shape, VOID, np.int64)
            instance = np.zeros(ids.shape, np.int64)
            for s in segments:
                mask = ids == s["id"]
                semantic[mask] = self.to_dataset[int(s["category_id"])]
                if self.table.is_thing[int(s["category_id"])]:
                    instance[mask] = int(s["id"]) % 65536
            name = _panoptic_name(video["file_names"][t])
            write_png(os.path.join(self.output_dir, name), kitti_step_encode(semantic, instance))


class _Reader(PredictionReader):
    @property
    def video_ids(self) -> Set[str]:
        if not os.path.isdir(self.pred_dir):
            raise FileNotFoundError(f"{self.pred_dir}: prediction folder does not exist")
        return {m.group(1) for m in map(_FRAME.match, os.listdir(self.pred_dir)) if m and m.group(3) == "panoptic"}

    def read(self, video):
        vid = str(video["video_id"])
        first = os.path.join(self.pred_dir, _panoptic_name(video["file_names"][0]))
        if not os.path.isfile(first):
            raise MissingPrediction(f"{first}: no prediction for sequence {vid!r}")
        for t, frame_path in enumerate(video["file_names"]):
            path = os.path.join(self.pred_dir, _panoptic_name(frame_path))
            sem, inst = _read_panoptic(path, video["height"], video["width"])
            ids = np.where(sem == VOID, 0, (sem + 1) * 65536 + inst)
            segs = [
                {"id": int(i), "category_id": self.table.contiguous_id(int(i) // 65536 - 1, path)}
                for i in np.unique(ids)
                if i
            ]
            yield {"video": video, "frame_index": t}, {"panoptic_seg": (ids, segs)}


class KittiStepFormat(BenchmarkFormat):
    """KITTI-STEP (video panoptic segmentation), scored by STQ (`step`)."""

    name = "kitti_step"
    evaluator_type = "step"

    def load(self, dataset_name: str, table: ClassTable, sequence_root: str) -> List[dict]:
        """Video dicts of a split folder, one per sequence, frames in order. The split is labelled when it holds
        panoptic PNGs, and then every frame needs one; sizes come from the first PNG's header."""
        if not os.path.isdir(sequence_root):
            raise FileNotFoundError(f"{sequence_root}: KITTI-STEP split folder does not exist (see datasets/README.md)")
        frames = defaultdict(dict)
        labelled = False
        for name in sorted(os.listdir(sequence_root)):
            m = _FRAME.match(name)
            if m:
                frames[m.group(1)].setdefault(int(m.group(2)), set()).add(m.group(3))
                labelled |= m.group(3) == "panoptic"
        if not frames:
            raise ValueError(f"{sequence_root}: no '<seq>_<frame>_leftImg8bit.png' or '_panoptic.png' file found")
        videos = []
        for seq in sorted(frames):
            stems = [os.path.join(sequence_root, f"{seq}_{k:06d}") for k in sorted(frames[seq])]
            images = [s + "_leftImg8bit.png" for s in stems]
            anns = None
            if labelled:
                anns = [s + "_panoptic.png" for s in stems]
                missing = [p for p in anns if not os.path.isfile(p)]
                if missing:
                    raise FileNotFoundError(f"{missing[0]}: panoptic label of a frame does not exist")
            h, w = image_size(anns[0] if anns else images[0])
            videos.append(
                {
                    "dataset_name": dataset_name,
                    "video_id": seq,
                    "height": h,
                    "width": w,
                    "length": len(images),
                    "file_names": images,
                    "annotation_format": self.name,
                    "frame_annotations": anns,
                }
            )
        return videos

    def ground_truth(self, video: dict, t: int, metadata):
        """(semantic contiguous int64 (H, W) with 255 = void, instance int64 (H, W)) of frame t, as deeplab2 reads
        the PNG; the PNG size is checked."""
        path = video["frame_annotations"][t]
        raw_sem, instance = _read_panoptic(path, video["height"], video["width"])
        lut = np.full(256, VOID, np.int64)
        for dataset_id, contiguous in metadata.class_table.dataset_id_to_contiguous.items():
            lut[dataset_id] = contiguous
        return lut[raw_sem], instance

    def decode_frame(self, video, t, metadata) -> FrameSegments:
        """Void (255) and crowd (thing pixels with instance 0) are ignored."""
        path = video["frame_annotations"][t]
        semantic, instance = _read_panoptic(path, video["height"], video["width"])
        table: ClassTable = metadata.class_table
        combined = (semantic << 16) + instance
        segments = {}
        for value in np.unique(combined).tolist():
            sem, inst = value >> 16, value & 0xFFFF
            if sem == VOID:
                continue
            cat = table.contiguous_id(sem, path)
            thing = table.is_thing[cat]
            segments[value] = (cat, thing, value if thing else None, thing and inst == 0)
        void_values = [v for v in np.unique(combined).tolist() if v >> 16 == VOID]
        return segments_from_id_map(combined, segments, ignore_ids=void_values, where=path)

    def prediction_writer(self, output_dir, metadata):
        return _Writer(output_dir, metadata)

    def prediction_reader(self, pred_dir, metadata):
        return _Reader(pred_dir, metadata)

    def empty_prediction(self, video):
        for t in range(video["length"]):
            ids = np.zeros((video["height"], video["width"]), np.int64)
            yield {"video": video, "frame_index": t}, {"panoptic_seg": (ids, [])}

    def write_synthetic_split(self, root: str, split: str, videos: Iterable, class_rows: List[dict]) -> None:
        """Write synthetic videos as KITTI-STEP PNGs; the class table's ids take the place of train ids."""
        folder = os.path.join(root, "video_sequence", split)
        for seq, video in enumerate(videos):
            instance_of, per_class = {}, defaultdict(int)
            for eid in sorted(video.entities):
                info = video.entities[eid]
                if info.is_thing:
                    per_class[info.category_id] += 1
                    instance_of[eid] = per_class[info.category_id]
            for t in range(len(video.frames)):
                emap = video.entity_map[t]
                semantic = np.full(emap.shape, VOID, np.int64)
                instance = np.zeros(emap.shape, np.int64)
                for eid in np.unique(emap).tolist():
                    if eid == 0:
                        continue
                    mask = emap == eid
                    semantic[mask] = video.entities[eid].category_id
                    instance[mask] = instance_of.get(eid, 0)
                stem = os.path.join(folder, f"{seq:06d}_{t:06d}")
                write_png(stem + "_leftImg8bit.png", video.frames[t])
                write_png(stem + "_panoptic.png", kitti_step_encode(semantic, instance))

    def synthetic_paths(self, root, split):
        return {"sequence_root": os.path.join(root, "video_sequence", split)}


register_format(KittiStepFormat())
