"""Training mapper: sample a clip of neighbouring subclips, augment it once, build per-subclip tube targets."""

from __future__ import annotations

import logging
from typing import Dict, List, Optional

import numpy as np
import torch

from ..catalog import MetadataCatalog
from ..clip_transforms import ClipAugmentation, apply_to_image, apply_to_masks, valid_region
from ..datasets.common import read_rgb
from ..sampling import sample_subclip_indices
from ..video_dict import FrameSegments, decode_frame

__all__ = ["TubeClipMapper", "build_tube_targets"]

logger = logging.getLogger(__name__)


def build_tube_targets(frames: List[FrameSegments], where: str) -> Dict[str, torch.Tensor]:
    """Stack per-frame segments of one subclip into tubes.

    Args:
        frames: the subclip's n FrameSegments (already augmented, same size).
        where: named in errors (video and frames).
    Returns:
        {"masks": bool (G, n, H, W), "classes": int64 (G,), "track_ids": int64 (G,), "is_thing": bool (G,),
         "ignore": bool (n, H, W)}; one tube per track id with a non-empty mask in some frame, sorted by track id.
    Raises:
        ValueError: an entity changes class within the subclip.
    """
    n = len(frames)
    h, w = frames[0].image_size
    info: Dict[int, tuple] = {}
    for fs in frames:
        for tid, cat, thing, mask in zip(
            fs.track_ids.tolist(), fs.category_ids.tolist(), fs.is_thing.tolist(), fs.masks
        ):
            if not mask.any():
                continue
            if tid in info and info[tid][0] != cat:
                raise ValueError(f"{where}: entity {tid} changes class from {info[tid][0]} to {cat}")
            info[tid] = (cat, thing)
    tracks = sorted(info)
    masks = np.zeros((len(tracks), n, h, w), bool)
    row = {tid: i for i, tid in enumerate(tracks)}
    for t, fs in enumerate(frames):
        for tid, mask in zip(fs.track_ids.tolist(), fs.masks):
            if tid in row:
                masks[row[tid], t] |= mask
    return {
        "masks": torch.from_numpy(masks),
        "classes": torch.tensor([info[t][0] for t in tracks], dtype=torch.int64),
        "track_ids": torch.tensor(tracks, dtype=torch.int64),
        "is_thing": torch.tensor([info[t][1] for t in tracks], dtype=torch.bool),
        "ignore": torch.from_numpy(np.stack([fs.ignore for fs in frames])),
    }


class TubeClipMapper:
    """Callable `mapper(video_dict, rng) -> clip dict` (format in tubelink.data.mappers)."""

    def __init__(
        self,
        augmentation: ClipAugmentation,
        frames_per_subclip: int = 2,
        num_subclips: int = 2,
        frame_stride: int = 1,
        max_gap: int = 0,
        max_attempts: int = 10,
        pseudo_video: bool = True,
    ) -> None:
        """frames_per_subclip: n; max_gap: largest extra gap between neighbouring subclips; max_attempts: clips
        drawn before giving up on a video whose sampled clips have no labelled pixel; pseudo_video: a one-frame
        "video" (an image data set) becomes a clip with its own scale and crop per frame instead of a still clip."""
        self.augmentation = augmentation
        self.frames_per_subclip = frames_per_subclip
        self.num_subclips = num_subclips
        self.frame_stride = frame_stride
        self.max_gap = max_gap
        self.max_attempts = max_attempts
        self.pseudo_video = pseudo_video

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> "TubeClipMapper":
        """Build from MODEL.TUBE_LINK.NUM_FRAMES / NUM_SUBCLIPS and INPUT.*."""
        return cls(
            ClipAugmentation.from_config(cfg, is_train),
            frames_per_subclip=cfg.MODEL.TUBE_LINK.NUM_FRAMES,
            num_subclips=cfg.MODEL.TUBE_LINK.NUM_SUBCLIPS,
            frame_stride=cfg.INPUT.SAMPLING_FRAME_STRIDE,
            max_gap=cfg.INPUT.SAMPLING_MAX_SUBCLIP_GAP,
            pseudo_video=cfg.INPUT.PSEUDO_VIDEO,
        )

    def __call__(self, video: dict, rng: Optional[np.random.Generator] = None) -> dict:
        """Map one video dict to a training clip; `rng` makes every random draw reproducible."""
        rng = rng if rng is not None else np.random.default_rng()
        metadata = MetadataCatalog.get(video["dataset_name"])
        for _ in range(self.max_attempts):
            clip = self._try(video, metadata, rng)
            if clip is not None:
                return clip
        raise ValueError(
            f"dataset {video['dataset_name']!r} video {video['video_id']!r}: {self.max_attempts} sampled clips had "
            "no labelled pixel; remove the video or check its annotations"
        )

    def _try(self, video: dict, metadata, rng: np.random.Generator) -> Optional[dict]:
        subclip_indices = sample_subclip_indices(
            video["length"], self.num_subclips, self.frames_per_subclip, self.frame_stride, self.max_gap, rng
        )
        flat = [t for sub in subclip_indices for t in sub]
        images = [read_rgb(video["file_names"][t]) for t in flat]
        h, w = images[0].shape[:2]
        for t, img in zip(flat, images):
            if img.shape[:2] != (h, w):
                raise ValueError(f"{video['file_names'][t]}: frame is {img.shape[0]}x{img.shape[1]}, expected {h}x{w}")
        if self.pseudo_video and video["length"] == 1:
            tfms = self.augmentation.pseudo_video(h, w, len(flat), rng)
        else:
            tfms = [self.augmentation(h, w, rng)] * len(flat)
        decoded = {}
        frames = []
        for t, tfm in zip(flat, tfms):
            if t not in decoded:
                decoded[t] = decode_frame(video, t, metadata)
            fs = decoded[t]
            if fs.image_size != (h, w):
                raise ValueError(
                    f"video {video['video_id']!r} frame {t}: annotation is {fs.image_size}, "
                    f"image {video['file_names'][t]} is {(h, w)}"
                )
            frames.append(
                FrameSegments(
                    apply_to_masks(tfm, fs.masks),
                    fs.track_ids,
                    fs.category_ids,
                    fs.is_thing,
                    apply_to_masks(tfm, fs.ignore[None])[0] | ~valid_region(tfm, (h, w)),
                )
            )
        where = f"dataset {video['dataset_name']!r} video {video['video_id']!r} frames {flat}"
        n = self.frames_per_subclip
        subclips = []
        for k, sub in enumerate(subclip_indices):
            targets = build_tube_targets(frames[k * n : (k + 1) * n], where)
            targets["frame_indices"] = list(sub)
            subclips.append(targets)
        if all(len(s["classes"]) == 0 for s in subclips):
            return None
        image = np.stack([apply_to_image(tfm, img) for tfm, img in zip(tfms, images)])
        return {
            "dataset_name": video["dataset_name"],
            "video_id": video["video_id"],
            "height": h,
            "width": w,
            "frame_indices": flat,
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2))),
            "subclips": subclips,
        }
