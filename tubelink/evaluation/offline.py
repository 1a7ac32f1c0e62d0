"""Offline evaluation of a folder of predictions in a benchmark's official submission format.

    python -m tubelink.evaluation.offline --dataset vipseg_val --predictions SUBMISSION_DIR
    python -m tubelink.evaluation.offline --dataset synthetic_ytvis_val --predictions DIR --missing-as-empty

Formats (see tubelink.evaluation.writers): VIPSeg pan_pred/ + pred.json, KITTI-STEP *_panoptic.png, VSPW
<video>/<frame>.png (raw label values, class + 1), YouTube-VIS results.json. Predictions go through the split's
evaluator, so the numbers equal the official tools'. Before anything is scored, the submission's videos are
checked against the split: predictions of a video outside the split are an error, and so is a video of the split
without predictions, unless --missing-as-empty counts it as an empty prediction (every GT segment missed).
YouTube-VIS results list detections only, so a video absent from results.json simply has none.
Evaluating files needs no torch (nothing here imports it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Dict, Optional

from tqdm import tqdm

from ..data import builtin  # noqa: F401  (registers the splits)
from ..data.catalog import DatasetCatalog, MetadataCatalog
from ..data.datasets import format_of
from .evaluators import build_evaluator
from .writers import build_prediction_reader

__all__ = ["evaluate_predictions", "main", "SubmissionMismatch"]

logger = logging.getLogger(__name__)


class SubmissionMismatch(ValueError):
    """The submission's videos are not the split's."""


def _listing(ids) -> str:
    ids = sorted(ids)
    return ", ".join(repr(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def evaluate_predictions(
    dataset_name: str,
    pred_dir: str,
    missing_as_empty: bool = False,
    progress: bool = True,
    max_videos: Optional[int] = None,
) -> Dict[str, float]:
    """Metrics of the predictions in `pred_dir` on the registered split `dataset_name` (its first `max_videos`).

    Raises:
        SubmissionMismatch: predictions of videos outside the split, or (without `missing_as_empty`) videos of
            the split without predictions; raised before any video is scored.
    """
    videos = DatasetCatalog.get(dataset_name)
    benchmark = format_of(MetadataCatalog.get(dataset_name))
    reader = build_prediction_reader(dataset_name, pred_dir)
    split_ids = {str(v["video_id"]) for v in videos}
    extra = reader.video_ids - split_ids
    if extra:
        raise SubmissionMismatch(
            f"{pred_dir}: predictions of {len(extra)} videos that are not in {dataset_name}: {_listing(extra)}"
        )
    videos = videos[:max_videos]
    missing = set() if benchmark.absent_video_is_empty else {str(v["video_id"]) for v in videos} - reader.video_ids
    if missing and not missing_as_empty:
        raise SubmissionMismatch(
            f"{pred_dir}: no prediction for {len(missing)} videos of {dataset_name}: {_listing(missing)} "
            "(--missing-as-empty counts them as empty predictions)"
        )
    evaluator = build_evaluator(dataset_name)
    for video in tqdm(videos, desc=f"evaluating {dataset_name}", disable=not progress):
        if str(video["video_id"]) in missing:
            logger.warning(f"video {video['video_id']!r}: no prediction, counted as empty")
            pairs = benchmark.empty_prediction(video)
        else:
            pairs = reader.read(video)
        for inp, out in pairs:
            evaluator.process([inp], [out])
    return evaluator.evaluate()


def main(argv=None) -> None:
    """Command line entry point; prints the metrics as JSON. Bad input: one line on stderr, exit status 1."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="a registered split, e.g. vipseg_val")
    parser.add_argument("--predictions", required=True, help="folder with the official submission files")
    parser.add_argument("--missing-as-empty", action="store_true", help="count a video without predictions as empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        metrics = evaluate_predictions(args.dataset, args.predictions, args.missing_as_empty)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err.args[0] if isinstance(err, KeyError) and err.args else err}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    from ..utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
