"""Writers of the official submission formats, fed like evaluators (`process(inputs, outputs)`, then `close`).

- VIPSeg: `pan_pred/<video>/<frame>.png` (COCO panoptic RGB) + `pred.json` {annotations: [{video_id,
  annotations: [{file_name, segments_info: [{id, category_id}]}]}]} with the dataset's category ids.
- KITTI-STEP: `<seq>_<frame>_panoptic.png` with R = train id (255 void), G*256+B = instance (things), 0 for stuff.
- VSPW: `<video>/<frame>.png` holding class + 1 (the raw label convention the official tools read).
- YouTube-VIS / OVIS: `results.json` (per instance: video_id, category_id, score, per-frame RLE or None) and the
  zipped `submission.zip` the challenge servers take.
Readers of these formats (`read_*_predictions`) turn the files back into evaluator outputs.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Dict, Iterator, List

import numpy as np

from ..data.catalog import MetadataCatalog
from ..data.codecs import id2rgb, kitti_step_decode, kitti_step_encode, rgb2id
from ..data.datasets.common import ClassTable, read_label_png, write_png

__all__ = [
    "MissingPrediction",
    "SubmissionWriter",
    "build_submission_writer",
    "load_prediction_index",
    "read_predictions",
]

_VOID = 255


class MissingPrediction(FileNotFoundError):
    """A whole video has no prediction in the submission (as opposed to a single missing file)."""


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


class SubmissionWriter:
    """Base: routes outputs to the format of the split's `annotation_format`."""

    def __init__(self, dataset_name: str, output_dir: str) -> None:
        meta = MetadataCatalog.get(dataset_name)
        self.fmt = meta.annotation_format
        self.table: ClassTable = meta.class_table
        self.output_dir = output_dir
        self._to_dataset = [int(r["id"]) for r in self.table.contiguous_order]
        self._pred_json: Dict[str, List[dict]] = {}
        self._results: List[dict] = []
        os.makedirs(output_dir, exist_ok=True)

    def process(self, inputs: List[dict], outputs: List[dict]) -> None:
        """Write the outputs of frames (VIPSeg, KITTI-STEP, VSPW) or of whole videos (YouTube-VIS)."""
        for inp, out in zip(inputs, outputs):
            getattr(self, f"_write_{self.fmt}")(inp, out)

    def _write_vipseg(self, inp: dict, out: dict) -> None:
        video, t = inp["video"], inp["frame_index"]
        ids, segments = out["panoptic_seg"]
        name = _stem(video["file_names"][t]) + ".png"
        write_png(os.path.join(self.output_dir, "pan_pred", str(video["video_id"]), name), id2rgb(np.asarray(ids)))
        infos = [{"id": int(s["id"]), "category_id": self._to_dataset[int(s["category_id"])]} for s in segments]
        self._pred_json.setdefault(str(video["video_id"]), []).append({"file_name": name, "segments_info": infos})

    def _write_kitti_step(self, inp: dict, out: dict) -> None:
        video, t = inp["video"], inp["frame_index"]
        ids, segments = out["panoptic_seg"]
        ids = np.asarray(ids)
        semantic = np.full(ids.shape, _VOID, np.int64)
        instance = np.zeros(ids.shape, np.int64)
        for s in segments:
            mask = ids == s["id"]
            semantic[mask] = self._to_dataset[int(s["category_id"])]
            if self.table.is_thing[int(s["category_id"])]:
                instance[mask] = int(s["id"]) % 65536
        name = _stem(video["file_names"][t]).replace("_leftImg8bit", "") + "_panoptic.png"
        write_png(os.path.join(self.output_dir, name), kitti_step_encode(semantic, instance))

    def _write_vspw(self, inp: dict, out: dict) -> None:
        video, t = inp["video"], inp["frame_index"]
        label = np.asarray(out["sem_seg"]).astype(np.int64) + 1
        path = os.path.join(self.output_dir, str(video["video_id"]), _stem(video["file_names"][t]) + ".png")
        write_png(path, label.astype(np.uint8))

    def _write_ytvis(self, inp: dict, out: dict) -> None:
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
                    "category_id": self._to_dataset[int(inst["category_id"])],
                    "segmentations": segs,
                }
            )

    def close(self) -> List[str]:
        """Write the index files (pred.json / results.json + zip); returns the files written."""
        written = []
        if self.fmt == "vipseg":
            path = os.path.join(self.output_dir, "pred.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"annotations": [{"video_id": v, "annotations": a} for v, a in self._pred_json.items()]}, f)
            written.append(path)
        if self.fmt == "ytvis":
            path = os.path.join(self.output_dir, "results.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(self._results, f)
            archive = os.path.join(self.output_dir, "submission.zip")
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(path, "results.json")
            written += [path, archive]
        return written


def build_submission_writer(dataset_name: str, output_dir: str) -> SubmissionWriter:
    """Writer of the official submission format of the split."""
    return SubmissionWriter(dataset_name, output_dir)


def load_prediction_index(dataset_name: str, pred_dir: str) -> Dict:
    """The submission's index: pred.json by video (VIPSeg), results.json by video (YouTube-VIS), else {}."""
    fmt = MetadataCatalog.get(dataset_name).annotation_format
    if fmt not in ("vipseg", "ytvis"):
        return {}
    path = os.path.join(pred_dir, "pred.json" if fmt == "vipseg" else "results.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: submission index does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON: {err}") from None
    if fmt == "vipseg":
        return {str(a["video_id"]): a["annotations"] for a in data["annotations"]}
    by_video: Dict = {}
    for r in data:
        by_video.setdefault(r["video_id"], []).append(r)
    return by_video


def read_predictions(dataset_name: str, video: dict, pred_dir: str, index: Dict) -> Iterator[tuple]:
    """Yield (input, output) pairs for `video` from official-format predictions in `pred_dir`.

    Args:
        index: `load_prediction_index(dataset_name, pred_dir)`.
    Raises:
        MissingPrediction: the whole video has no prediction.
        FileNotFoundError: a prediction file of a frame is missing.
    """
    meta = MetadataCatalog.get(dataset_name)
    table: ClassTable = meta.class_table
    vid = str(video["video_id"])
    fmt = meta.annotation_format
    if fmt == "ytvis":
        where = os.path.join(pred_dir, "results.json")
        instances = [
            dict(r, category_id=table.contiguous_id(r["category_id"], where)) for r in index.get(video["video_id"], [])
        ]
        yield {"video": video}, {"instances": instances}
        return
    if fmt == "vipseg":
        if vid not in index:
            raise MissingPrediction(f"{os.path.join(pred_dir, 'pred.json')}: no prediction for video {vid!r}")
        frames = index[vid]
        if len(frames) != video["length"]:
            raise ValueError(f"{pred_dir}: video {vid!r} has {len(frames)} predicted frames, {video['length']} in GT")
    if fmt == "vspw" and not os.path.isdir(os.path.join(pred_dir, vid)):
        raise MissingPrediction(f"{os.path.join(pred_dir, vid)}: no prediction folder for video {vid!r}")
    if fmt == "kitti_step":
        first = _stem(video["file_names"][0]).replace("_leftImg8bit", "") + "_panoptic.png"
        if not os.path.isfile(os.path.join(pred_dir, first)):
            raise MissingPrediction(f"{os.path.join(pred_dir, first)}: no prediction for sequence {vid!r}")
    for t, frame_path in enumerate(video["file_names"]):
        stem = _stem(frame_path)
        if fmt == "vipseg":
            ids = rgb2id(read_label_png(os.path.join(pred_dir, "pan_pred", vid, stem + ".png")))
            segs = [
                {"id": s["id"], "category_id": table.contiguous_id(s["category_id"], f"{pred_dir}/pred.json")}
                for s in frames[t]["segments_info"]
            ]
            yield {"video": video, "frame_index": t}, {"panoptic_seg": (ids, segs)}
        elif fmt == "kitti_step":
            sem, inst = kitti_step_decode(
                read_label_png(os.path.join(pred_dir, stem.replace("_leftImg8bit", "") + "_panoptic.png"))
            )
            ids = np.where(sem == _VOID, 0, (sem + 1) * 65536 + inst)
            segs = [
                {"id": int(i), "category_id": table.contiguous_id(int(i) // 65536 - 1, pred_dir)}
                for i in np.unique(ids)
                if i
            ]
            yield {"video": video, "frame_index": t}, {"panoptic_seg": (ids, segs)}
        else:  # vspw: class + 1
            label = read_label_png(os.path.join(pred_dir, vid, stem + ".png"))
            if label.min(initial=1) < 1:
                raise ValueError(
                    f"{os.path.join(pred_dir, vid, stem + '.png')}: VSPW predictions hold class + 1 (1..C); found 0"
                )
            yield {"video": video, "frame_index": t}, {"sem_seg": label - 1}
