"""Deterministic synthetic ground truth with perturbed predictions, in the official submission formats.

The perturbations cover what the metrics must tell apart: an ID switch (a twin changes id half-way), a missed
object, a shifted mask, a wrong stuff class, a false-positive blob, and unlabelled (void) predicted pixels.
The same fixture was fed to the official tools to obtain the reference numbers in the tests.
"""

import json
import os

import numpy as np
from PIL import Image

from tubelink.data.catalog import MetadataCatalog
from tubelink.data.codecs import id2rgb, kitti_step_decode, rgb2id
from tubelink.data.datasets.common import read_label_png
from tubelink.data.datasets.vspw import VSPW_VOID_VALUES
from tubelink.data.datasets import get_format
from tubelink.data.synthetic import SyntheticOptions, generate_videos, load_class_table

OPTIONS = SyntheticOptions(num_videos=3, num_frames=9, height=64, width=80, difficulty=0.7, seed=3)


def _perturb_video(v, frames, rng, thing_cats, stuff_cats):
    """frames: list of (ids (H, W) int64, segments list of dicts) of one video, perturbed in place."""
    things = sorted({s["id"] for _, segs in frames for s in segs if s["category_id"] in thing_cats})
    stuff = sorted({s["id"] for _, segs in frames for s in segs if s["category_id"] in stuff_cats})
    half = len(frames) // 2
    switched = things[0] if things else None
    missed = things[1] if len(things) > 2 and v % 2 == 0 else None
    shifted = things[-1] if len(things) > 1 else None
    relabelled = stuff[v % len(stuff)] if stuff else None
    for t, (ids, segs) in enumerate(frames):
        by_id = {s["id"]: s for s in segs}
        if missed in by_id:
            ids[ids == missed] = 0
            segs.remove(by_id.pop(missed))
        if shifted in by_id and t % 3 == 1:
            mask = np.roll(ids == shifted, 3, axis=1)
            ids[(ids == shifted) & ~mask] = 0  # uncovered pixels become unlabelled
            ids[mask] = shifted
        if relabelled in by_id and v == 2:
            by_id[relabelled]["category_id"] = sorted(stuff_cats - {by_id[relabelled]["category_id"]})[0]
        if switched in by_id and t >= half:
            new_id = switched + 50
            ids[ids == switched] = new_id
            by_id[switched]["id"] = new_id
        if t == 2:  # a false-positive blob of a thing class over stuff
            y, x = int(rng.integers(0, 48)), int(rng.integers(0, 64))
            ids[y : y + 10, x : x + 12] = 9999
            segs.append({"id": 9999, "category_id": sorted(thing_cats)[0], "iscrowd": 0})
        ids[:3, :5] = 0  # unlabelled predicted pixels
        present = set(np.unique(ids).tolist())
        segs[:] = [s for s in segs if s["id"] in present]


def make_vipseg_fixture(root: str) -> dict:
    """Write GT (VIPSeg format) and a perturbed submission under `root`; returns the official tools' paths."""
    table = load_class_table()
    gt_root = os.path.join(root, "gt")
    get_format("vipseg").write_synthetic_split(gt_root, "val", generate_videos(OPTIONS, "val"), table)
    gt = json.load(open(os.path.join(gt_root, "panoptic_gt_VIPSeg_val.json")))
    thing_cats = {r["id"] for r in table if r["isthing"]}
    stuff_cats = {r["id"] for r in table if not r["isthing"]}
    rng = np.random.default_rng(0)
    pred_annotations = []
    for v, (video, anns) in enumerate(zip(gt["videos"], gt["annotations"])):
        vid = video["video_id"]
        frames = []
        for ann in anns["annotations"]:
            ids = rgb2id(np.asarray(Image.open(os.path.join(gt_root, "panomasksRGB", vid, ann["file_name"]))))
            frames.append(
                (ids, [{"id": s["id"], "category_id": s["category_id"], "iscrowd": 0} for s in ann["segments_info"]])
            )
        _perturb_video(v, frames, rng, thing_cats, stuff_cats)
        out = []
        for (ids, segs), ann in zip(frames, anns["annotations"]):
            os.makedirs(os.path.join(root, "pred", "pan_pred", vid), exist_ok=True)
            Image.fromarray(id2rgb(ids)).save(os.path.join(root, "pred", "pan_pred", vid, ann["file_name"]))
            out.append({"segments_info": segs, "file_name": ann["file_name"]})
        pred_annotations.append({"video_id": vid, "annotations": out})
    with open(os.path.join(root, "pred", "pred.json"), "w") as f:
        json.dump({"annotations": pred_annotations}, f)
    return {
        "gt_json": os.path.join(gt_root, "panoptic_gt_VIPSeg_val.json"),
        "gt_pan_dir": os.path.join(gt_root, "panomasksRGB"),
        "pred_json": os.path.join(root, "pred", "pred.json"),
        "pred_pan_dir": os.path.join(root, "pred", "pan_pred"),
        "submit_dir": os.path.join(root, "pred"),
    }


def make_ytvis_fixture(root: str):
    """(GT dict, results list): GT from the synthetic benchmark in YouTube-VIS format; results perturb each GT
    instance (shifted masks, dropped frames, wrong classes, low scores) and add false positives."""
    import pycocotools.mask as mask_util

    get_format("ytvis").write_synthetic_split(root, "val", generate_videos(OPTIONS, "val"), load_class_table())
    gt = json.load(open(os.path.join(root, "val.json")))
    rng = np.random.default_rng(1)
    num_cats = len(gt["categories"])
    results = []
    for k, ann in enumerate(gt["annotations"]):
        segs = []
        for t, seg in enumerate(ann["segmentations"]):
            if seg is None or (k % 4 == 1 and t % 3 == 0):  # frames dropped
                segs.append(None)
                continue
            mask = mask_util.decode(seg)
            if k % 3 == 0:
                mask = np.roll(mask, 2 + k % 5, axis=1)  # shifted mask
            rle = mask_util.encode(np.asfortranarray(mask))
            rle["counts"] = rle["counts"].decode("ascii")
            segs.append(rle)
        category = ann["category_id"] if k % 5 != 2 else ann["category_id"] % num_cats + 1
        results.append(
            {
                "video_id": ann["video_id"],
                "category_id": category,
                "score": float(rng.uniform(0.3, 1.0)),
                "segmentations": segs,
            }
        )
    for video in gt["videos"]:  # false positives
        mask = np.zeros((video["height"], video["width"]), np.uint8)
        mask[5:25, 10:40] = 1
        rle = mask_util.encode(np.asfortranarray(mask))
        rle["counts"] = rle["counts"].decode("ascii")
        results.append(
            {"video_id": video["id"], "category_id": 1, "score": 0.5, "segmentations": [rle] * video["length"]}
        )
    return gt, results


def make_vss_fixture():
    """Per video (GT, prediction) lists of (H, W) label maps with class changes, void and flicker."""
    videos = []
    rng = np.random.default_rng(2)
    for v, video in enumerate(
        generate_videos(
            SyntheticOptions(num_videos=2, num_frames=20, height=48, width=64, difficulty=0.6, seed=5), "val"
        )
    ):
        lut = {eid: info.category_id for eid, info in video.entities.items()}
        gt = [np.vectorize(lambda e: lut.get(e, 255), otypes=[np.int64])(m) for m in video.entity_map]
        pred = []
        for t, g in enumerate(gt):
            p = np.where(g == 255, 0, g).copy()
            p[rng.random(p.shape) < 0.03] = 3  # noise
            if t % 4 == 1:
                p[:, :10] = 2  # flicker
            if v == 1:
                p[p == 5] = 6  # a wrong class
            pred.append(p)
        videos.append((gt, pred))
    return videos


def make_kitti_step_fixture(root: str):
    """Synthetic KITTI-STEP ground truth (written to `root`) and perturbed (semantic, instance) predictions per
    sequence: an ID switch, a thing predicted as another class, void predictions and a shifted stuff boundary."""
    get_format("kitti_step").write_synthetic_split(root, "val", generate_videos(OPTIONS, "val"), load_class_table())
    folder = os.path.join(root, "video_sequence", "val")
    sequences = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith("_panoptic.png"):
            seq, frame = int(name[:6]), int(name[7:13])
            sem, inst = kitti_step_decode(np.asarray(Image.open(os.path.join(folder, name))))
            psem, pinst = sem.copy(), inst.copy()
            if frame >= 4:
                pinst[pinst == 1] = 7  # ID switch
            psem[(psem == 5) & (pinst == 2)] = 6  # a thing predicted as another thing class
            psem[:4, :6] = 255  # void predictions
            psem[40:44] = np.roll(psem[40:44], 5, axis=1)
            sequences.setdefault(seq, []).append((sem, inst, psem, pinst))
    return sequences


def ground_truth_outputs(name, video):
    """(input, output) pairs of perfect model outputs for `video` of split `name`, from its ground-truth files."""
    table = MetadataCatalog.get(name).class_table
    fmt = MetadataCatalog.get(name).annotation_format
    if fmt == "ytvis":
        tracks = {}
        for t, anns in enumerate(video["frame_annotations"]):
            for a in anns:
                tracks.setdefault(
                    a["track_id"],
                    {"score": 0.9, "category_id": a["category_id"] - 1, "segmentations": [None] * video["length"]},
                )
                tracks[a["track_id"]]["segmentations"][t] = a["segmentation"]
        yield {"video": video}, {"instances": list(tracks.values())}
        return
    for t in range(video["length"]):
        inp = {"video": video, "frame_index": t}
        ann = video["frame_annotations"][t]
        if fmt == "vipseg":
            ids = rgb2id(read_label_png(ann["pan_file"]))
            yield (
                inp,
                {
                    "panoptic_seg": (
                        ids,
                        [
                            {"id": s["id"], "category_id": table.contiguous_id(s["category_id"], "")}
                            for s in ann["segments_info"]
                        ],
                    )
                },
            )
        elif fmt == "kitti_step":
            sem, inst = kitti_step_decode(read_label_png(ann))
            ids = np.where(sem == 255, 0, (sem + 1) * 1000 + inst)
            yield (
                inp,
                {
                    "panoptic_seg": (
                        ids,
                        [
                            {"id": int(i), "category_id": table.contiguous_id(int(i) // 1000 - 1, "")}
                            for i in np.unique(ids)
                            if i
                        ],
                    )
                },
            )
        else:  # VSPW labels hold dataset id + 1 (the synthetic ids are the contiguous ones); void pixels -> class 0
            raw = read_label_png(ann)
            yield inp, {"sem_seg": np.where(np.isin(raw, VSPW_VOID_VALUES), 0, raw - 1)}
