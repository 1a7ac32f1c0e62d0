"""Offline evaluation of a folder of predictions in a benchmark's official submission format.

    python -m tubelink.evaluation.offline --dataset vipseg_val --predictions SUBMISSION_DIR
    python -m tubelink.evaluation.offline --dataset synthetic_ytvis_val --predictions DIR --missing-as-empty

Formats (see tubelink.evaluation.writers): VIPSeg pan_pred/ + pred.json, KITTI-STEP *_panoptic.png, VSPW
<video>/<frame>.png (class + 1), YouTube-VIS results.json. Predictions go through the split's evaluator, so the
numbers equal the official tools'. A video without predictions is an error naming it, or, with
--missing-as-empty, counts as an empty prediction (every GT segment missed). Predictions of videos that are not
in the split are ignored with a warning.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Dict, Optional

import numpy as np
from tqdm import tqdm

import tubelink  # noqa: F401  (registers the splits)

from ..data.catalog import DatasetCatalog, MetadataCatalog
from .evaluators import build_evaluator
from .writers import MissingPrediction, load_prediction_index, read_predictions

__all__ = ["evaluate_predictions", "main"]


def _empty_outputs(dataset_name: str, video: dict):
    fmt = MetadataCatalog.get(dataset_name).annotation_format
    if fmt == "ytvis":
        yield {"video": video}, {"instances": []}
        return
    shape = (video["height"], video["width"])
    for t in range(video["length"]):
        if fmt == "vspw":  # every pixel must carry a class; "empty" = class 0 everywhere
            yield {"video": video, "frame_index": t}, {"sem_seg": np.zeros(shape, np.int64)}
        else:
            yield {"video": video, "frame_index": t}, {"panoptic_seg": (np.zeros(shape, np.int64), [])}


def evaluate_predictions(
    dataset_name: str,
    pred_dir: str,
    missing_as_empty: bool = False,
    progress: bool = True,
    max_videos: Optional[int] = None,
) -> Dict[str, float]:
    """Metrics of the predictions in `pred_dir` on the registered split `dataset_name`."""
    videos = DatasetCatalog.get(dataset_name)[:max_videos]
    evaluator = build_evaluator(dataset_name)
    index = load_prediction_index(dataset_name, pred_dir)
    extra = sorted(set(map(str, index)) - {str(v["video_id"]) for v in videos})
    if extra:  # documented convention: predictions of videos outside the split are ignored, loudly
        logging.getLogger(__name__).warning(
            f"{pred_dir}: ignoring predictions of {len(extra)} videos not in {dataset_name}: {extra[:5]}"
        )
    for video in tqdm(videos, desc=f"evaluating {dataset_name}", disable=not progress):
        try:
            pairs = list(read_predictions(dataset_name, video, pred_dir, index))
        except MissingPrediction:
            if not missing_as_empty:
                raise
            logging.getLogger(__name__).warning(f"video {video['video_id']!r}: no prediction, counted as empty")
            pairs = list(_empty_outputs(dataset_name, video))
        for inp, out in pairs:
            evaluator.process([inp], [out])
    return evaluator.evaluate()


def main(argv=None) -> None:
    """Command line entry point; prints the metrics as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="a registered split, e.g. vipseg_val")
    parser.add_argument("--predictions", required=True, help="folder with the official submission files")
    parser.add_argument("--missing-as-empty", action="store_true", help="count a video without predictions as empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(evaluate_predictions(args.dataset, args.predictions, args.missing_as_empty), indent=1))


if __name__ == "__main__":
    from ..utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
