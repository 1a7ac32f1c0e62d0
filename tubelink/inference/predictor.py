"""Near-online video inference: subclips of n frames streamed through the model, tubes linked into identities.

Frames are consumed lazily. Every window of n frames (the last one padded by repeating its last frame; padded
outputs dropped; optionally starting `overlap` frames before the previous window ended, the first prediction of a
frame wins) goes through the model with the previous window's linked queries, is turned into task outputs and
associated by the tracker. Memory is bounded by one window, whatever the video length.

Outputs per task (`task` of the model / config):
  - "vps": per frame {"frame_index", "panoptic_seg": (ids int32 (H, W), segments_info [{"id", "category_id",
    "isthing", "track_id", "score"}])}; a tracked thing keeps its id over the video, stuff of a class has one id.
  - "vss": per frame {"frame_index", "sem_seg": int64 (H, W)}.
  - "vis": per frame {"frame_index", "instances": [{"track_id", "category_id", "score", "mask" bool (H, W)}]}
    while streaming, then `video_instances()`: [{"score", "category_id", "track_id", "segmentations": [COCO RLE or
    None per frame]}].
Outputs are at each frame's original size (the input dicts' "height" / "width").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np
import pycocotools.mask as mask_util
import torch

from ..modeling.mask_logits import TubeMaskLogits
from ..modeling.postprocess import instance_inference, panoptic_fusion, semantic_inference
from ..tracking import Tracker, TubeDetections, build_tracker

__all__ = ["VideoPredictor", "amp_dtype_from_config"]


AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def amp_dtype_from_config(cfg) -> Optional[torch.dtype]:
    """TEST.AMP: the inference autocast dtype (None when TEST.AMP.ENABLED is off)."""
    amp = cfg.TEST.AMP
    if not amp.ENABLED:
        return None
    if amp.DTYPE not in AMP_DTYPES:
        raise ValueError(f"TEST.AMP.DTYPE must be one of {sorted(AMP_DTYPES)}, got {amp.DTYPE!r}")
    return AMP_DTYPES[amp.DTYPE]


class VideoPredictor:
    """Streams one video at a time through `model` (the TubeLink inference contract) and a tracker."""

    def __init__(
        self,
        model: Callable,
        task: str,
        is_thing: Sequence[bool],
        tracker: Tracker,
        window: int = 2,
        overlap: int = 0,
        object_mask_threshold: float = 0.8,
        overlap_threshold: float = 0.8,
        instances_per_window: int = 10,
        amp_dtype: Optional[torch.dtype] = None,
        vis_aggregation: str = "subclip",
    ) -> None:
        """amp_dtype: run the model under autocast in this dtype (torch.bfloat16 / torch.float16); None: fp32.
        vis_aggregation: "video" or "subclip", how VIS instances are scored and formed (see `video_instances`)."""
        if task not in ("vps", "vss", "vis"):
            raise ValueError(f"task must be vps, vss or vis, got {task!r}")
        if window < 1 or not 0 <= overlap < window:
            raise ValueError(f"need window >= 1 and 0 <= overlap < window, got window={window}, overlap={overlap}")
        if vis_aggregation not in ("video", "subclip"):
            raise ValueError(f"TEST.VIS_AGGREGATION: expected 'video' or 'subclip', got {vis_aggregation!r}")
        self.model, self.task, self.is_thing, self.tracker = model, task, list(is_thing), tracker
        self.window, self.overlap = window, overlap
        # the frame of a window where the previous window's last frame lies (or, without overlap, the one after it):
        # the overlap cue compares masks there
        self._link_frame = max(overlap - 1, 0)
        self.object_mask_threshold, self.overlap_threshold = object_mask_threshold, overlap_threshold
        self.instances_per_window = instances_per_window
        self.num_classes = len(self.is_thing)
        self.amp_dtype = amp_dtype
        self.vis_aggregation = vis_aggregation

    @classmethod
    def from_config(
        cls,
        cfg,
        model: Callable,
        task: str,
        is_thing: Sequence[bool],
        window: Optional[int] = None,
        tracker: Optional[Tracker] = None,
    ) -> "VideoPredictor":
        """The predictor of evaluation and the demo: MODEL.TRACKER.*, TEST.WINDOW_SIZE (or `window`),
        TEST.WINDOW_OVERLAP, MODEL.MASK_FORMER.TEST.* thresholds, TEST.AMP (ENABLED, DTYPE) and TEST.VIS_AGGREGATION."""
        tests = cfg.MODEL.MASK_FORMER.TEST
        return cls(
            model,
            task,
            is_thing,
            tracker if tracker is not None else build_tracker(cfg),
            window or cfg.TEST.WINDOW_SIZE,
            cfg.TEST.WINDOW_OVERLAP,
            tests.OBJECT_MASK_THRESHOLD,
            tests.OVERLAP_THRESHOLD,
            tests.INSTANCES_PER_VIDEO,
            amp_dtype_from_config(cfg),
            cfg.TEST.VIS_AGGREGATION,
        )

    def _model_outputs(self, item: dict) -> dict:
        """One subclip through the model (under autocast with `amp_dtype`); tensors back in fp32."""
        if self.amp_dtype is None:
            (out,) = self.model([item])
            return out
        device = getattr(self.model, "device", torch.device("cpu"))
        with torch.autocast(torch.device(device).type, dtype=self.amp_dtype):
            (out,) = self.model([item])
        # masks stay in the autocast dtype: TubeMaskLogits upsamples selected rows in fp32
        return {k: v.float() if isinstance(v, torch.Tensor) else v for k, v in out.items()}

    def __call__(self, frames: Iterable[dict]) -> Iterator[dict]:
        """frames: per-frame dicts {"image": uint8 (3, H', W'), "height", "width"} of ONE video, in order."""
        self.tracker.reset()
        self._prev_queries = None
        self._tracks: Dict[int, dict] = defaultdict(lambda: {"scores": [], "labels": [], "masks": {}})
        self._instance_ids: Dict[tuple, int] = {}  # VIS: (tracked tube id, class) -> instance id
        self._num_frames = 0
        buffer: List[dict] = []
        emitted = 0  # frames of the video already returned
        start = 0  # video index of buffer[0]
        for frame in frames:
            buffer.append(frame)
            if len(buffer) == self.window:
                yield from self._run(buffer, start, emitted, len(buffer))
                emitted = start + len(buffer)
                keep = buffer[len(buffer) - self.overlap :] if self.overlap else []
                start += len(buffer) - len(keep)
                buffer = keep
        if len(buffer) - (self.overlap if emitted else 0) > 0:  # frames not returned yet remain
            real = len(buffer)
            buffer = buffer + [buffer[-1]] * (self.window - real)  # pad by repeating the last frame
            yield from self._run(buffer, start, emitted, real)

    def _run(self, window: List[dict], start: int, emitted: int, real: int) -> Iterator[dict]:
        images = torch.stack([f["image"] for f in window])
        item = {"image": images}
        if self._prev_queries is not None:
            item["prev_queries"] = self._prev_queries
        out = self._model_outputs(item)
        self._prev_queries = out["pred_queries"]
        size = (int(window[0]["height"]), int(window[0]["width"]))
        masks = out["pred_masks"]
        if not isinstance(masks, TubeMaskLogits):  # dense logits at the model's input size
            masks = TubeMaskLogits.dense(masks)
        masks = masks.resized(size)  # rows are computed when post-processing selects them
        results = getattr(self, f"_{self.task}")(out, masks, start)
        for t in range(real):
            index = start + t
            if index >= emitted:  # overlapping frames keep their first prediction
                self._num_frames = max(self._num_frames, index + 1)
                yield dict(results[t], frame_index=index)

    def _vss(self, out, masks, start) -> List[dict]:
        sem = semantic_inference(out["pred_logits"], masks)
        return [{"sem_seg": sem[t].numpy()} for t in range(masks.shape[1])]

    def _vps(self, out, masks, start) -> List[dict]:
        panoptic, segments = panoptic_fusion(
            out["pred_logits"], masks, self.is_thing, self.object_mask_threshold, self.overlap_threshold
        )
        things = [s for s in segments if s["isthing"]]
        ids = torch.full((0,), -1)
        if things:
            first = last = None
            if self.tracker.uses_masks:
                segment_ids = torch.tensor([s["id"] for s in things], dtype=panoptic.dtype)[:, None, None]
                first = panoptic[self._link_frame][None] == segment_ids
                last = panoptic[-1][None] == segment_ids
            det = TubeDetections(
                embeds=out[self.tracker.association_feature][[s["query_index"] for s in things]].float(),
                scores=torch.tensor([s["score"] for s in things]),
                labels=torch.tensor([s["category_id"] for s in things]),
                frame_index=start,
                num_frames=masks.shape[1],  # no masks: panoptic segments never overlap, so no duplicates to remove
                first_frame_masks=first,
                last_frame_masks=last,
            )
            ids = self.tracker.update(det)
        track_of = {s["id"]: int(i) for s, i in zip(things, ids.tolist())}
        remap = torch.zeros(len(segments) + 1, dtype=torch.int64)
        infos, segment_of_info = [], []
        for s in segments:
            if s["isthing"]:
                tid = track_of[s["id"]]
                if tid < 0:  # a duplicate the tracker suppressed: left unlabelled
                    continue
                new_id = 1 + self.num_classes + tid
            else:
                tid, new_id = -1, 1 + s["category_id"]
            remap[s["id"]] = new_id
            segment_of_info.append(s["id"])
            infos.append(
                {
                    "id": new_id,
                    "category_id": s["category_id"],
                    "isthing": s["isthing"],
                    "track_id": tid,
                    "score": s["score"],
                }
            )
        video_ids = remap[panoptic.long()].to(torch.int32)
        # the segments present in each frame, from the (n, id) presence table of one pass over the pixels
        present = torch.zeros(masks.shape[1], len(segments) + 1, dtype=torch.bool)
        frame = torch.arange(masks.shape[1])[:, None].expand(-1, panoptic[0].numel())
        present[frame.reshape(-1), panoptic.reshape(-1).long()] = True
        return [
            {"panoptic_seg": (video_ids[t].numpy(), [i for i, s in zip(infos, segment_of_info) if present[t, s]])}
            for t in range(masks.shape[1])
        ]

    def _vis(self, out, masks, start) -> List[dict]:
        # A model with stuff classes (panoptic) seen as VIS: only its thing classes are instances.
        allowed = torch.tensor(self.is_thing) if not all(self.is_thing) else None
        scores, labels, inst_masks, queries = instance_inference(
            out["pred_logits"], masks, self.instances_per_window, allowed
        )
        keep = torch.nonzero(scores > 0).flatten().tolist()
        frames = [{"instances": []} for _ in range(masks.shape[1])]
        if not keep:
            return frames
        # The top-k holds (query, class) pairs, low scores included (AP needs them, as Mask2Former-VIS's top-k).
        # A query's tube is tracked once, with its best pair (the first: pairs come by descending score).
        best: Dict[int, int] = {}
        for i in keep:
            best.setdefault(int(queries[i]), i)
        rows = list(best.values())
        det = TubeDetections(
            embeds=out[self.tracker.association_feature][queries[rows]].float(),
            scores=scores[rows],
            labels=labels[rows],
            frame_index=start,
            track_all=True,  # all kept: no duplicate removal, no tube masks needed
            num_frames=masks.shape[1],
            first_frame_masks=inst_masks[rows, self._link_frame] if self.tracker.uses_masks else None,
            last_frame_masks=inst_masks[rows, -1] if self.tracker.uses_masks else None,
        )
        tube_of_query = dict(zip(best, self.tracker.update(det).tolist()))
        if self.vis_aggregation == "video":
            probs = out["pred_logits"].float().softmax(-1)[:, :-1]
            if allowed is not None:
                probs = probs * allowed.to(probs.dtype)
            for query, i in best.items():
                tube_id = tube_of_query[query]
                if tube_id < 0:
                    continue
                # the pair's score is class probability x mask score; the mask score is the query's, any class
                mask_score = float(scores[i] / probs[query, labels[i]].clamp(min=1e-12))
                track = self._tracks[tube_id]
                track["probs"] = probs[query] + track.get("probs", 0)  # summed over the tube's subclips
                track.setdefault("mask_scores", []).append(mask_score)
                self._record_masks(track, frames, start, tube_id, int(labels[i]), float(scores[i]), inst_masks[i])
            return frames
        for i in keep:
            tube_id = tube_of_query[int(queries[i])]
            if tube_id < 0:
                continue
            score, label = float(scores[i]), int(labels[i])
            tid = self._instance_ids.setdefault((tube_id, label), len(self._instance_ids))
            track = self._tracks[tid]
            track["scores"].append(score)
            track["labels"].append(label)
            self._record_masks(track, frames, start, tid, label, score, inst_masks[i])
        return frames

    @staticmethod
    def _record_masks(track: dict, frames: List[dict], start: int, track_id: int, label: int, score: float, tube):
        """Store the tube's per-frame RLEs (the first prediction of a frame wins) and list it in the frame outputs."""
        for t in range(tube.shape[0]):
            if start + t not in track["masks"] and tube[t].any():
                track["masks"][start + t] = mask_util.encode(np.asfortranarray(tube[t].numpy().astype(np.uint8)))
                frames[t]["instances"].append(
                    {"track_id": track_id, "category_id": label, "score": score, "mask": tube[t].numpy()}
                )

    def video_instances(self) -> List[dict]:
        """VIS: the last video's instances, the `instances_per_window` best by score (the video-level top-k), each
        {"track_id", "score", "category_id", "segmentations": per-frame COCO RLE or None}.

        TEST.VIS_AGGREGATION "video" (MinVIS, Mask2Former-VIS and the original): a tracked tube's class
        probabilities are averaged over its subclips, times its mean mask score; the top-k (tube, class) pairs each
        carry the tube's masks in every frame it was tracked. "subclip": an instance per (tube, class) pair of the
        subclips' top-k, with its mean score and masks only where that pair was in a subclip's top-k.
        """
        out = []
        for tid, track in sorted(self._tracks.items()):
            segs: List[Optional[dict]] = [track["masks"].get(t) for t in range(self._num_frames)]
            if self.vis_aggregation == "video":
                mask_scores = track["mask_scores"]
                video_scores = track["probs"] / len(mask_scores) * float(np.mean(mask_scores))
                for label in torch.nonzero(video_scores > 0).flatten().tolist():
                    out.append(
                        {
                            "track_id": tid,
                            "score": float(video_scores[label]),
                            "category_id": label,
                            "segmentations": segs,
                        }
                    )
                continue
            out.append(
                {
                    "track_id": tid,
                    "score": float(np.mean(track["scores"])),
                    "category_id": Counter(track["labels"]).most_common(1)[0][0],
                    "segmentations": segs,
                }
            )
        return sorted(out, key=lambda inst: -inst["score"])[: self.instances_per_window]
