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
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..data.codecs import rgb2id
from .stq import STQStats, stq_result, stq_update
from .vpq import DEFAULT_WINDOWS, PanopticFrame, merge_window_stats, vpq_summary, vpq_video_stats

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
    """Yield (video_id, gt frames, pred frames, gt segment lists, pred segment lists) per GT video.

    Frames are `PanopticFrame`s with dataset category ids; the segment lists are the JSON segments_info lists.
    """
    gt = _load_json(gt_json)
    pred = _load_json(pred_json)
    gt_by_video = {a["video_id"]: a["annotations"] for a in gt["annotations"]}
    pred_by_video = {a["video_id"]: a["annotations"] for a in pred.get("annotations", [])}
    categories = {c["id"] for c in gt["categories"]}
    for video in gt["videos"]:
        vid = video["video_id"]
        if vid not in pred_by_video:
            raise KeyError(f"{pred_json}: no prediction for video {vid!r}")
        gt_anns, pred_anns = gt_by_video[vid], pred_by_video[vid]
        if len(gt_anns) != len(pred_anns):
            raise ValueError(f"{pred_json}: video {vid!r} has {len(pred_anns)} predicted frames, {len(gt_anns)} in GT")
        gt_frames, pred_frames = [], []
        for image, ga, pa in zip(video["images"], gt_anns, pred_anns):
            name = os.path.splitext(image["file_name"])[0] + ".png"
            gt_segments: Dict[int, tuple] = {}
            for s in ga["segments_info"]:
                cat, crowd, area = gt_segments.get(s["id"], (s["category_id"], bool(s.get("iscrowd", 0)), 0))
                gt_segments[s["id"]] = (cat, crowd, area + s["area"])
            pred_segments = {}
            for s in pa["segments_info"]:
                if s["category_id"] not in categories:
                    raise ValueError(f"{pred_json}: video {vid!r} segment {s['id']} has unknown category "
                                     f"{s['category_id']}")
                pred_segments[s["id"]] = (s["category_id"], False, 0)
            gt_frames.append(PanopticFrame(_read_ids(os.path.join(gt_pan_dir, vid, name)), gt_segments))
            pred_frames.append(PanopticFrame(_read_ids(os.path.join(pred_pan_dir, vid, name)), pred_segments))
        yield vid, gt_frames, pred_frames, [a["segments_info"] for a in gt_anns], [a["segments_info"] for a in pred_anns]


def _numbered_labels(frame: PanopticFrame, numbering: Dict[int, int], segments: Sequence[dict]):
    semantic = np.full(frame.ids.shape, _VOID, np.int64)
    instance = np.full(frame.ids.shape, _VOID, np.int64)
    for s in segments:
        mask = frame.ids == s["id"]
        semantic[mask] = s["category_id"]
        instance[mask] = numbering[s["id"]]
    return semantic, instance


def _first_appearance(segment_lists: Sequence[Sequence[dict]]) -> Dict[int, int]:
    order: Dict[int, int] = {}
    for segs in segment_lists:
        for s in segs:
            order.setdefault(s["id"], len(order))
    return order


def evaluate_vipseg_submission(
    gt_json: str,
    gt_pan_dir: str,
    pred_json: str,
    pred_pan_dir: str,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    progress: bool = True,
) -> Dict[str, float]:
    """VPQ (per window, paper mean, official mean; percent) and STQ / AQ / SQ (fractions) of a submission."""
    gt = _load_json(gt_json)
    cats = sorted(gt["categories"], key=lambda c: c["id"])
    index = {c["id"]: i for i, c in enumerate(cats)}  # category id -> row of the statistics
    is_thing = [bool(c["isthing"]) for c in cats]
    to_row = np.full(max(256, max(index) + 1), _VOID, np.int64)  # category id -> row; void stays void
    for cat_id, row in index.items():
        to_row[cat_id] = row
    per_video: List = []
    sequences: List[STQStats] = []
    videos = iter_vipseg_videos(gt_json, gt_pan_dir, pred_json, pred_pan_dir)
    for vid, gt_frames, pred_frames, gt_lists, pred_lists in tqdm(videos, total=len(gt["videos"]), disable=not progress,
                                                                  desc="VPQ/STQ"):
        remap = lambda frames: [PanopticFrame(f.ids, {k: (index[c], cr, a) for k, (c, cr, a) in f.segments.items()})
                                for f in frames]
        per_video.append(vpq_video_stats(remap(gt_frames), remap(pred_frames), len(cats), windows, vid))
        gt_num, pred_num = _first_appearance(gt_lists), _first_appearance(pred_lists)
        seq = STQStats.empty(len(cats))
        for gf, pf, gl, pl in zip(gt_frames, pred_frames, gt_lists, pred_lists):
            gs, gi = _numbered_labels(gf, gt_num, gl)
            ps, pi = _numbered_labels(pf, pred_num, pl)
            stq_update(seq, to_row[gs], gi, to_row[ps], pi, is_thing, void=_VOID)
        sequences.append(seq)
    out = vpq_summary(merge_window_stats(per_video), is_thing)
    out.update(stq_result(sequences))
    return out
