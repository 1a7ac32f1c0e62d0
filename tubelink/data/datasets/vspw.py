"""VSPW (VSPW_480p, as released): frames, per-frame single-channel label PNGs and split lists.

Layout under the dataset root:
    data/<video>/origin/<frame>.jpg
    data/<video>/mask/<frame>.png      raw label values: 0 "others", 1..124 the 124 classes, 255 (and 253, 254) void
    {train,val,test}.txt               video names, one per line

Two label conventions, both kept here and nowhere else:
  - training (Tube-Link's): raw 0, 253, 254, 255 are void; class = raw - 1 (0..123). `decode_frame` uses it.
  - "vspw_official", what the official `evaluator_test.py` (utils.Evaluator(124)) and `VC_perclip.py` score: raw
    values 0..123 are the classes, unshifted (raw 0 "others" is a class, raw 124 falls outside the 124 classes and
    is dropped), 255 ignored; predictions are PNGs of raw values. tubelink writes a class c as raw c + 1 (as
    Tube-Link's pre-evaluation does), so a prediction of class 123 (raw 124) is outside the official classes: the
    official tool folds or crashes on it, tubelink counts it as a wrong prediction of the pixel's true class.
  The `vspw` splits report "vspw_official" (metadata `vss_protocol`); "train_labels" scores the training classes.
"""

from __future__ import annotations

import os
from typing import Iterator, List, Set, Tuple

import numpy as np

from ..video_dict import FrameSegments
from .common import (
    ClassTable,
    check_file,
    check_label_size,
    image_size,
    read_label_png,
    segments_from_id_map,
    write_jpg,
    write_png,
)
from .format import BenchmarkFormat, MissingPrediction, PredictionReader, PredictionWriter, register_format

__all__ = ["VSPWFormat", "VSPW_VOID_VALUES", "VSS_PROTOCOLS", "scored_labels", "label_values"]

VSPW_VOID_VALUES = (0, 253, 254, 255)
"""Raw values that are void in the training convention."""
UNSCORED = -1
"""A scored-label value outside the classes: not counted as GT; as a prediction, wrong for every class."""
VSS_PROTOCOLS = ("vspw_official", "train_labels")


def label_values(sem_seg: np.ndarray, table: ClassTable) -> np.ndarray:
    """Contiguous classes (H, W) -> raw VSPW label values (dataset id + 1), as prediction PNGs hold them."""
    lut = np.asarray([int(r["id"]) + 1 for r in table.contiguous_order], np.int64)
    sem_seg = np.asarray(sem_seg, np.int64)
    if sem_seg.size and (sem_seg.min() < 0 or sem_seg.max() >= len(lut)):
        raise ValueError(f"predicted classes must lie in [0, {len(lut)}), got [{sem_seg.min()}, {sem_seg.max()}]")
    return lut[sem_seg]


def scored_labels(raw: np.ndarray, protocol: str, table: ClassTable) -> np.ndarray:
    """Raw label values -> the class indices a protocol scores (UNSCORED outside its classes).

    "vspw_official": index = raw value for 0 <= raw < C (C = number of classes), as utils.Evaluator(C).
    "train_labels": index = contiguous class of dataset id raw - 1; the void values are UNSCORED.
    GT and prediction are mapped alike.
    """
    raw = np.asarray(raw, np.int64)
    num_classes = len(table.categories)
    if protocol == "vspw_official":
        return np.where((raw >= 0) & (raw < num_classes), raw, UNSCORED)
    if protocol == "train_labels":
        lut = np.full(max(256, num_classes + 2), UNSCORED, np.int64)
        for dataset_id, contiguous in table.dataset_id_to_contiguous.items():
            lut[dataset_id + 1] = contiguous
        lut[list(VSPW_VOID_VALUES)] = UNSCORED
        if raw.size and (raw.min() < 0 or raw.max() >= len(lut)):
            raise ValueError(f"label values must lie in [0, {len(lut)}), got [{raw.min()}, {raw.max()}]")
        return lut[raw]
    raise ValueError(f"unknown VSS protocol {protocol!r}; known: {', '.join(VSS_PROTOCOLS)}")


class _Writer(PredictionWriter):
    """`<video>/<frame>.png` holding raw label values (class + 1), what the official tools read."""

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            video, t = inp["video"], inp["frame_index"]
            stem = os.path.splitext(os.path.basename(video["file_names"][t]))[0]
            labels = out["raw_labels"] if "raw_labels" in out else label_values(out["sem_seg"], self.table)
            write_png(os.path.join(self.output_dir, str(video["video_id"]), stem + ".png"), labels.astype(np.uint8))


class _Reader(PredictionReader):
    @property
    def video_ids(self) -> Set[str]:
        if not os.path.isdir(self.pred_dir):
            raise FileNotFoundError(f"{self.pred_dir}: prediction folder does not exist")
        return {d for d in os.listdir(self.pred_dir) if os.path.isdir(os.path.join(self.pred_dir, d))}

    def read(self, video):
        vid = str(video["video_id"])
        if not os.path.isdir(os.path.join(self.pred_dir, vid)):
            raise MissingPrediction(f"{os.path.join(self.pred_dir, vid)}: no prediction folder for video {vid!r}")
        for t, frame_path in enumerate(video["file_names"]):
            stem = os.path.splitext(os.path.basename(frame_path))[0]
            labels = read_label_png(os.path.join(self.pred_dir, vid, stem + ".png"))
            if labels.ndim != 2:
                raise ValueError(f"{os.path.join(self.pred_dir, vid, stem + '.png')}: expected a single-channel PNG")
            yield {"video": video, "frame_index": t}, {"raw_labels": labels}


class VSPWFormat(BenchmarkFormat):
    """VSPW_480p (video semantic segmentation), scored by mIoU + mVC (`vss`)."""

    name = "vspw"
    evaluator_type = "vss"
    default_metadata = {"vss_protocol": "vspw_official"}

    def load(self, dataset_name: str, table: ClassTable, data_root: str, split_file: str) -> List[dict]:
        """Video dicts of the videos listed in `split_file`. A video with a `mask/` folder is labelled and its
        frames are the sorted mask PNGs (the frames the official tools score); otherwise its frames are the sorted
        JPEGs of `origin/`; a frame of `origin/` without its label is an error. Sizes come from the first file's
        header: no frame image is needed to evaluate."""
        check_file(split_file, "VSPW split list")
        with open(split_file, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
        videos = []
        for name in names:
            origin, mask = os.path.join(data_root, name, "origin"), os.path.join(data_root, name, "mask")
            if os.path.isdir(mask):
                stems = sorted(os.path.splitext(f)[0] for f in os.listdir(mask) if f.lower().endswith(".png"))
                anns = [os.path.join(mask, s + ".png") for s in stems]
                if os.path.isdir(origin):  # frames and labels must pair up (the images may be absent altogether)
                    frames = {os.path.splitext(f)[0] for f in os.listdir(origin) if f.lower().endswith(".jpg")}
                    unlabelled = sorted(frames - set(stems))
                    if unlabelled:
                        path = os.path.join(mask, unlabelled[0] + ".png")
                        raise FileNotFoundError(f"{path}: VSPW label PNG of frame {unlabelled[0]}.jpg does not exist")
            elif os.path.isdir(origin):
                stems = sorted(os.path.splitext(f)[0] for f in os.listdir(origin) if f.lower().endswith(".jpg"))
                anns = None
            else:
                raise FileNotFoundError(
                    f"{os.path.join(data_root, name)}: video '{name}' listed in {split_file} has "
                    "neither mask/ nor origin/"
                )
            if not stems:
                raise ValueError(f"{mask if anns else origin}: video '{name}' has no frame")
            h, w = image_size(anns[0] if anns else os.path.join(origin, stems[0] + ".jpg"))
            videos.append(
                {
                    "dataset_name": dataset_name,
                    "video_id": name,
                    "height": h,
                    "width": w,
                    "length": len(stems),
                    "file_names": [os.path.join(origin, s + ".jpg") for s in stems],
                    "annotation_format": self.name,
                    "frame_annotations": anns,
                }
            )
        return videos

    def ground_truth(self, video: dict, t: int, metadata) -> np.ndarray:
        """Raw label values (H, W) of frame t, as the official tools read them; the PNG size is checked."""
        path = video["frame_annotations"][t]
        raw = read_label_png(path)
        if raw.ndim != 2:
            raise ValueError(f"{path}: expected a single-channel (palette or L) VSPW label PNG")
        return check_label_size(raw, video["height"], video["width"], path)

    @staticmethod
    def protocol(metadata) -> str:
        """The split's scoring protocol (metadata `vss_protocol`, default "vspw_official")."""
        protocol = metadata.get("vss_protocol", "vspw_official")
        if protocol not in VSS_PROTOCOLS:
            raise ValueError(f"dataset {metadata.name!r}: vss_protocol {protocol!r} is not one of {VSS_PROTOCOLS}")
        return protocol

    def prediction_labels(self, output: dict, metadata) -> np.ndarray:
        """Raw label values (H, W) of an evaluator output: {"raw_labels"} as read from a submission PNG, or
        {"sem_seg"} contiguous classes from a model (written as dataset id + 1)."""
        if "raw_labels" in output:
            return np.asarray(output["raw_labels"], np.int64)
        if "sem_seg" in output:
            return label_values(output["sem_seg"], metadata.class_table)
        raise ValueError("a VSS output must hold 'sem_seg' (contiguous classes) or 'raw_labels' (PNG values)")

    def scored_labels(self, raw: np.ndarray, metadata) -> np.ndarray:
        """Raw values -> class indices of the split's protocol, UNSCORED outside (see `scored_labels`)."""
        return scored_labels(raw, self.protocol(metadata), metadata.class_table)

    def consistency_labels(self, raw: np.ndarray, metadata) -> np.ndarray:
        """The labels mVC compares: raw values (VC_perclip.py) or, for "train_labels", void values as one."""
        raw = np.asarray(raw, np.int64)
        if self.protocol(metadata) == "train_labels":
            return np.where(np.isin(raw, VSPW_VOID_VALUES), 255, raw)
        return raw

    def decode_frame(self, video, t, metadata) -> FrameSegments:
        """Training convention: one stuff-like entity per class present; raw 0, 253, 254, 255 ignored."""
        raw = self.ground_truth(video, t, metadata)
        path = video["frame_annotations"][t]
        table: ClassTable = metadata.class_table
        segments = {
            value: (table.contiguous_id(value - 1, path), False, None, False)
            for value in np.unique(raw).tolist()
            if value not in VSPW_VOID_VALUES
        }
        return segments_from_id_map(raw, segments, ignore_ids=VSPW_VOID_VALUES, where=path)

    def prediction_writer(self, output_dir, metadata):
        return _Writer(output_dir, metadata)

    def prediction_reader(self, pred_dir, metadata):
        return _Reader(pred_dir, metadata)

    def empty_prediction(self, video) -> Iterator[Tuple[dict, dict]]:
        """Void (255) everywhere: wrong for every scored pixel under both protocols."""
        for t in range(video["length"]):
            yield {"video": video, "frame_index": t}, {"raw_labels": np.full((video["height"], video["width"]), 255)}

    def synthetic_class_rows(self, rows):
        return [dict(r, isthing=0) for r in rows]  # VSPW has no instances: every class is a semantic class

    def write_synthetic_split(self, root, split, videos, class_rows):
        """Label value = class id + 1, void = 255 (as VSPW's void)."""
        names = []
        for video in videos:
            names.append(video.video_id)
            lut = {eid: info.category_id + 1 for eid, info in video.entities.items()}
            for t in range(len(video.frames)):
                stem = f"{t:08d}"
                emap = video.entity_map[t]
                label = np.full(emap.shape, 255, np.uint8)
                for eid, value in lut.items():
                    label[emap == eid] = value
                write_jpg(os.path.join(root, "data", video.video_id, "origin", stem + ".jpg"), video.frames[t])
                write_png(os.path.join(root, "data", video.video_id, "mask", stem + ".png"), label)
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, f"{split}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(n + "\n" for n in names))

    def synthetic_paths(self, root, split):
        return {"data_root": os.path.join(root, "data"), "split_file": os.path.join(root, f"{split}.txt")}


register_format(VSPWFormat())
