"""Submission writers and readers of the official formats; each split's format (tubelink.data.datasets) owns them.

- VIPSeg: `pan_pred/<video>/<frame>.png` (COCO panoptic RGB) + `pred.json` {annotations: [{video_id,
  annotations: [{file_name, segments_info: [{id, category_id}]}]}]} with the dataset's category ids.
- KITTI-STEP: `<seq>_<frame>_panoptic.png` with R = train id (255 void), G*256+B = instance (things), 0 for stuff.
- VSPW: `<video>/<frame>.png` holding raw label values, class + 1 (what the official tools read).
- YouTube-VIS / OVIS: `results.json` (per instance: video_id, category_id, score, per-frame RLE or None) and the
  zipped `submission.zip` the challenge servers take.
Writers are fed like evaluators (`process(inputs, outputs)`, then `close`); readers turn the files back into
evaluator outputs.
"""

from __future__ import annotations

from ..data.catalog import MetadataCatalog
from ..data.datasets import MissingPrediction, format_of
from ..data.datasets.format import PredictionReader, PredictionWriter

__all__ = ["MissingPrediction", "build_submission_writer", "build_prediction_reader"]


def build_submission_writer(dataset_name: str, output_dir: str) -> PredictionWriter:
    """Writer of the official submission format of the split."""
    metadata = MetadataCatalog.get(dataset_name)
    return format_of(metadata).prediction_writer(output_dir, metadata)


def build_prediction_reader(dataset_name: str, pred_dir: str) -> PredictionReader:
    """Reader of a submission folder in the official format of the split."""
    metadata = MetadataCatalog.get(dataset_name)
    return format_of(metadata).prediction_reader(pred_dir, metadata)
