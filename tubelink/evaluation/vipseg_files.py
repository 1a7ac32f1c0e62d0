"""Offline VPQ and STQ of a VIPSeg-format submission, as `eval_vpq_vspw.py` and `eval_stq_vspw.py` compute them.

Inputs are the official files: the GT panoptic JSON and `panomasksRGB/`, and a submission folder with
`pan_pred/<video>/<file_name>.png` and `pred.json` ({annotations: [{video_id, annotations: [{segments_info}]}]}).
Prediction frames are paired with GT frames by position and their PNG is looked up by the GT file name, as the
official scripts do. A video missing from pred.json is an error naming it (the official tool raises KeyError).

STQ follows the official driver exactly: within a video every segment id, stuff included, is numbered by first
appearance in the segments_info lists (frame order, list order) from 0, and that number is the instance; so a thing
listed first gets instance 0 and is treated as crowd (dropped from AQ). Pixels outside every segment are void.
"""

from __future__ import annotations

import json
import os
from multiprocessing import Pool
from typing import Dict, Iterator, Sequence, Tuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..data.codecs import rgb2id
from .stq import STQStats, stq_result, stq_update
from .vpq import DEFAULT_WINDOWS, PanopticFrame, VPQAccumulator, merge_window_stats, vpq_summary

__all__ = ["evaluate_vipseg_submission", "iter_vipseg_videos"]

_VOID = 255


def _read_ids(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: panoptic PNG does not exist")
    with Image.open(path) as img:
        return rgb2id(np.asarray(img.convert("RGB")))


def _load_json(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: JSON file does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON: {err}") from None


def iter_vipseg_videos(gt_json: str, gt_pan_dir: str, pred_json: str, pred_pan_dir: str) -> Iterator[Tuple]:
    """Yield one picklable job per GT video: (video_id, [(gt PNG, pred PNG, gt segments_info, pred segments_info)]).

    Raises:
        KeyError / ValueError: a video missing from pred.json, or a frame count that differs from the GT.
    """
    gt = _load_json(gt_json)
    pred = _load_json(pred_json)
    gt_by_video = {a["video_id"]: a["annotations"] for a in gt["annotations"]}
    pred_by_video = {a["video_id"]: a["annotations"] for a in pred.get("annotations", [])}
    for video in gt["videos"]:
        vid = video["video_id"]
        if vid not in pred_by_video:
            raise KeyError(f"{pred_json}: no prediction for video {vid!r}")
        gt_anns, pred_anns = gt_by_video[vid], pred_by_video[vid]
        if len(gt_anns) != len(pred_anns):
            raise ValueError(f"{pred_json}: video {vid!r} has {len(pred_anns)} predicted frames, {len(gt_anns)} in GT")
        frames = []
        for image, ga, pa in zip(video["images"], gt_anns, pred_anns):
            name = os.path.splitext(image["file_name"])[0] + ".png"
            frames.append(
                (
                    os.path.join(gt_pan_dir, vid, name),
                    os.path.join(pred_pan_dir, vid, name),
                    ga["segments_info"],
                    pa["segments_info"],
                )
            )
        yield vid, frames


def _numbered_labels(ids: np.ndarray, segments: Sequence[dict], numbering: Dict[int, int], to_row: np.ndarray):
    semantic = np.full(ids.shape, _VOID, np.int64)
    instance = np.full(ids.shape, _VOID, np.int64)
    for s in segments:
        mask = ids == s["id"]
        semantic[mask] = to_row[s["category_id"]]
        instance[mask] = numbering[s["id"]]
    return semantic, instance


def _evaluate_video(job) -> Tuple[Dict, STQStats]:
    """VPQ window statistics and STQ statistics of one video (runs in a worker process)."""
    (vid, frames), index, is_thing, windows = job
    to_row = np.full(max(256, max(index) + 1), _VOID, np.int64)  # category id -> row; void stays void
    for cat_id, row in index.items():
        to_row[cat_id] = row
    vpq = VPQAccumulator(len(index), windows, vid)
    stq = STQStats.empty(len(index))
    gt_order: Dict[int, int] = {}
    pred_order: Dict[int, int] = {}
    for gt_png, pred_png, gt_list, pred_list in frames:
        gt_ids, pred_ids = _read_ids(gt_png), _read_ids(pred_png)
        gt_segments: Dict[int, tuple] = {}
        for s in gt_list:
            cat, crowd, area = gt_segments.get(s["id"], (index[s["category_id"]], bool(s.get("iscrowd", 0)), 0))
            gt_segments[s["id"]] = (cat, crowd, area + s["area"])
        pred_segments = {}
        for s in pred_list:
            if s["category_id"] not in index:
                raise ValueError(f"{pred_png}: segment {s['id']} has unknown category {s['category_id']}")
            pred_segments[s["id"]] = (index[s["category_id"]], False, 0)
        vpq.add(PanopticFrame(gt_ids, gt_segments), PanopticFrame(pred_ids, pred_segments))
        for order, segs in ((gt_order, gt_list), (pred_order, pred_list)):
            for seg in segs:  # numbered by first appearance in the video's segment lists, as eval_stq_vspw.py
                order.setdefault(seg["id"], len(order))
        gs, gi = _numbered_labels(gt_ids, gt_list, gt_order, to_row)
        ps, pi = _numbered_labels(pred_ids, pred_list, pred_order, to_row)
        stq_update(stq, gs, gi, ps, pi, is_thing, void=_VOID)
    return vpq.stats, stq


def evaluate_vipseg_submission(
    gt_json: str,
    gt_pan_dir: str,
    pred_json: str,
    pred_pan_dir: str,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    progress: bool = True,
    num_workers: int = 0,
) -> Dict[str, float]:
    """VPQ (per window, paper mean, official mean; percent) and STQ / AQ / SQ (fractions) of a submission.

    num_workers > 0 evaluates videos in that many processes (statistics are summed, so results are identical).
    """
    gt = _load_json(gt_json)
    cats = sorted(gt["categories"], key=lambda c: c["id"])
    index = {c["id"]: i for i, c in enumerate(cats)}  # category id -> row of the statistics
    is_thing = [bool(c["isthing"]) for c in cats]
    jobs = (
        (video, index, is_thing, tuple(windows))
        for video in iter_vipseg_videos(gt_json, gt_pan_dir, pred_json, pred_pan_dir)
    )
    bar = dict(total=len(gt["videos"]), disable=not progress, desc="VPQ/STQ")
    if num_workers > 0:
        with Pool(num_workers) as pool:
            results = list(tqdm(pool.imap(_evaluate_video, jobs, chunksize=4), **bar))
    else:
        results = [_evaluate_video(job) for job in tqdm(jobs, **bar)]
    out = vpq_summary(merge_window_stats([r[0] for r in results]), is_thing)
    out.update(stq_result([r[1] for r in results]))
    return out
