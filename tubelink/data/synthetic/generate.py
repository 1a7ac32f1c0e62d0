"""Deterministic synthetic videos: textured moving shapes (things) over textured regions (stuff).

Each video is a pure function of (options, split, index). What makes association hard here is deliberate:
objects are drawn in depth order so nearer ones occlude farther ones, enter and leave the frame, change scale,
and every video has look-alike twins (same class, colour and texture) whose paths cross. A small unlabelled
patch exercises void handling. The ground truth (`entity_map`) is exactly what is visible in each frame.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterator, List

import numpy as np

__all__ = ["SyntheticOptions", "EntityInfo", "SyntheticVideo", "load_class_table", "generate_video", "generate_videos"]

_TABLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "categories", "synthetic.json")
_SPLIT_OFFSET = {"train": 0, "val": 1_000_003, "test": 2_000_003, "images": 3_000_003}
DIFFICULTY_PRESETS = {"easy": 0.2, "medium": 0.5, "hard": 0.9}


@dataclass(frozen=True)
class SyntheticOptions:
    """Options of the generator; the defaults give a small CPU-friendly benchmark.

    difficulty in [0, 1] scales the number of objects, their speed, scale change and the number of twin pairs.
    """

    num_videos: int = 16
    num_frames: int = 12
    height: int = 120
    width: int = 160
    seed: int = 0
    difficulty: float = 0.5
    noise_std: float = 4.0
    void_patch: bool = True

    def __post_init__(self) -> None:
        if self.num_videos < 1 or self.num_frames < 1:
            raise ValueError(f"num_videos and num_frames must be >= 1, got {self.num_videos}, {self.num_frames}")
        if self.height < 32 or self.width < 32:
            raise ValueError(f"frames must be at least 32x32, got {self.height}x{self.width}")
        if not 0.0 <= self.difficulty <= 1.0:
            raise ValueError(
                f"difficulty must lie in [0, 1] (or a preset {list(DIFFICULTY_PRESETS)}), got {self.difficulty}"
            )

    def to_json(self) -> str:
        """Canonical JSON (used as the completion marker of generated splits)."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class EntityInfo:
    """What an entity id of `SyntheticVideo.entity_map` is."""

    category_id: int  # index into the synthetic class table
    is_thing: bool


@dataclass
class SyntheticVideo:
    """One generated video.

    Attributes:
        video_id: e.g. "syn_000003".
        frames: uint8 (T, H, W, 3) RGB.
        entity_map: int32 (T, H, W); 0 = void (unlabelled), > 0 = entity id, stable over time.
        entities: every id > 0 that appears in `entity_map` -> EntityInfo (stuff: one entity per class).
    """

    video_id: str
    frames: np.ndarray
    entity_map: np.ndarray
    entities: Dict[int, EntityInfo] = field(default_factory=dict)


def load_class_table() -> List[dict]:
    """The synthetic classes: [{"id", "name", "isthing", "color"}], ids 0..C-1."""
    with open(_TABLE, encoding="utf-8") as f:
        return json.load(f)


@dataclass
class _Thing:
    entity_id: int
    category_id: int
    shape: str
    color: np.ndarray
    texture_phase: float
    depth: float
    start: np.ndarray  # (x, y) at t = 0, pixels
    velocity: np.ndarray  # pixels per frame
    radius: float
    growth: float  # relative radius change per frame


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Binary mask of a shape of radius r centred at the origin, from local pixel offsets dx, dy."""
    if shape == "ball":
        return dx * dx + dy * dy <= r * r
    if shape == "box":
        return (np.abs(dx) <= 0.85 * r) & (np.abs(dy) <= 0.85 * r)
    if shape == "kite":  # an upward triangle
        return (dy <= 0.8 * r) & (dy >= -r + 1.7 * np.abs(dx))
    if shape == "star":
        angle = np.arctan2(dy, dx)
        return np.hypot(dx, dy) <= r * (0.62 + 0.38 * np.cos(5 * angle))
    if shape == "ring":
        d2 = dx * dx + dy * dy
        return (d2 <= r * r) & (d2 >= (0.45 * r) ** 2)
    raise ValueError(f"unknown synthetic shape {shape!r}")


def _texture(shape: str, dx: np.ndarray, dy: np.ndarray, phase: float) -> np.ndarray:
    """A class-specific pattern in [0, 1] in object coordinates, so the texture moves with the object."""
    if shape in ("ball", "ring"):
        return 0.5 + 0.5 * np.sin(0.9 * np.hypot(dx, dy) + phase)
    if shape == "box":
        return ((np.floor(dx / 4 + phase) + np.floor(dy / 4)) % 2).astype(np.float32)
    if shape == "kite":
        return 0.5 + 0.5 * np.sin(0.8 * (dx + dy) + phase)
    return 0.5 + 0.5 * np.sin(0.7 * dx + phase) * np.cos(0.7 * dy)


def _plan_things(rng: np.random.Generator, opt: SyntheticOptions, table: List[dict]) -> List[_Thing]:
    h, w, T = opt.height, opt.width, opt.num_frames
    thing_classes = [c for c in table if c["isthing"]]
    d = opt.difficulty
    scale = min(h, w)
    things: List[_Thing] = []

    def add(cat, start, velocity, color, phase, depth):
        radius = scale * rng.uniform(0.08, 0.14)
        growth = rng.uniform(-0.03, 0.03) * (0.5 + d)
        things.append(
            _Thing(
                len(things) + 1,
                cat["id"],
                cat["name"],
                color,
                phase,
                depth,
                np.asarray(start, float),
                np.asarray(velocity, float),
                radius,
                growth,
            )
        )

    def jitter_color(base):
        return np.clip(np.asarray(base, float) + rng.normal(0, 25, 3), 20, 245)

    # Look-alike twins: same class, colour and texture phase, crossing paths at different depths.
    for _ in range(1 + int(round(d))):
        cat = thing_classes[rng.integers(len(thing_classes))]
        color, phase = jitter_color(cat["color"]), float(rng.uniform(0, 6.28))
        y0 = rng.uniform(0.3, 0.7) * h
        cross_t = rng.uniform(0.35, 0.65) * max(T - 1, 1)
        cross_x = rng.uniform(0.35, 0.65) * w
        speed = rng.uniform(0.6, 1.4) * (0.5 + d) * w / max(T, 8) * 0.6
        dy = rng.uniform(-0.1, 0.1) * h / max(T, 8)
        for sign, depth in ((1, rng.uniform(0, 1)), (-1, rng.uniform(0, 1))):
            start = (cross_x - sign * speed * cross_t, y0 - sign * dy * cross_t)
            add(cat, start, (sign * speed, sign * dy), color, phase, depth)
    # Other objects: random classes; some start outside the frame and enter, some leave.
    for _ in range(2 + int(round(4 * d))):
        cat = thing_classes[rng.integers(len(thing_classes))]
        start = (rng.uniform(-0.15, 1.15) * w, rng.uniform(0.1, 0.9) * h)
        velocity = rng.normal(0, 1, 2) * (0.4 + d) * scale / max(T, 8) * 0.5
        add(cat, start, velocity, jitter_color(cat["color"]), float(rng.uniform(0, 6.28)), rng.uniform(0, 1))
    return things


def generate_video(options: SyntheticOptions, index: int, split: str = "train") -> SyntheticVideo:
    """Render video `index` of `split`; a pure function of (options, split, index)."""
    if split not in _SPLIT_OFFSET:
        raise ValueError(f"unknown split {split!r}; expected one of {list(_SPLIT_OFFSET)}")
    rng = np.random.default_rng([options.seed, _SPLIT_OFFSET[split], index])
    table = load_class_table()
    h, w, T = options.height, options.width, options.num_frames
    stuff_classes = [c for c in table if not c["isthing"]]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)

    # Stuff: horizontal bands whose wavy boundaries drift over time; 3 or 4 of the stuff classes per video.
    num_bands = int(rng.integers(3, len(stuff_classes) + 1))
    band_classes = [stuff_classes[i] for i in sorted(rng.choice(len(stuff_classes), num_bands, replace=False))]
    cuts = np.sort(rng.uniform(0.15, 0.85, num_bands - 1)) * h
    wave_amp, wave_freq = rng.uniform(2, 6), rng.uniform(0.02, 0.06)
    drift = rng.uniform(-0.6, 0.6, num_bands - 1)
    things = _plan_things(rng, options, table)
    void_box = None
    if options.void_patch:
        vh, vw = int(rng.integers(4, max(5, h // 8))), int(rng.integers(4, max(5, w // 8)))
        vy, vx = int(rng.integers(0, h - vh)), int(rng.integers(0, w - vw))
        void_box = (vy, vy + vh, vx, vx + vw)

    stuff_entity = {c["id"]: 1000 + c["id"] for c in band_classes}
    frames = np.empty((T, h, w, 3), np.uint8)
    entity_map = np.zeros((T, h, w), np.int32)
    for t in range(T):
        band = np.zeros((h, w), np.int64)
        for k, cut in enumerate(cuts):
            boundary = cut + drift[k] * t + wave_amp * np.sin(wave_freq * xs + 0.3 * t + k)
            band += ys >= boundary
        image = np.empty((h, w, 3), np.float32)
        ids = np.empty((h, w), np.int32)
        for k, cat in enumerate(band_classes):
            region = band == k
            pattern = 0.85 + 0.15 * np.sin(0.35 * xs[region] * (k + 1) + 0.5 * ys[region])
            image[region] = np.asarray(cat["color"], np.float32) * pattern[:, None]
            ids[region] = stuff_entity[cat["id"]]
        for thing in sorted(things, key=lambda o: -o.depth):  # far to near: nearer objects overwrite
            cx, cy = thing.start + thing.velocity * t
            r = thing.radius * max(0.3, 1.0 + thing.growth * t)
            x0, x1 = int(max(0, np.floor(cx - r))), int(min(w, np.ceil(cx + r + 1)))
            y0, y1 = int(max(0, np.floor(cy - r))), int(min(h, np.ceil(cy + r + 1)))
            if x0 >= x1 or y0 >= y1:
                continue
            dx, dy = xs[y0:y1, x0:x1] - cx, ys[y0:y1, x0:x1] - cy
            inside = _shape_mask(thing.shape, dx, dy, r)
            pattern = 0.6 + 0.4 * _texture(thing.shape, dx, dy, thing.texture_phase)
            patch = image[y0:y1, x0:x1]
            patch[inside] = thing.color[None, :] * pattern[inside][:, None]
            ids[y0:y1, x0:x1][inside] = thing.entity_id
        if void_box is not None:
            vy0, vy1, vx0, vx1 = void_box
            image[vy0:vy1, vx0:vx1] = rng.uniform(0, 255, (vy1 - vy0, vx1 - vx0, 3))
            ids[vy0:vy1, vx0:vx1] = 0
        image += rng.normal(0, options.noise_std, image.shape)
        frames[t] = np.clip(image, 0, 255).astype(np.uint8)
        entity_map[t] = ids

    present = set(np.unique(entity_map).tolist()) - {0}
    entities = {}
    for thing in things:
        if thing.entity_id in present:
            entities[thing.entity_id] = EntityInfo(thing.category_id, True)
    for cat_id, eid in stuff_entity.items():
        if eid in present:
            entities[eid] = EntityInfo(cat_id, False)
    return SyntheticVideo(f"syn_{index:06d}", frames, entity_map, entities)


def generate_videos(options: SyntheticOptions, split: str = "train") -> Iterator[SyntheticVideo]:
    """Yield the split's videos one at a time (memory stays bounded by one video)."""
    for index in range(options.num_videos):
        yield generate_video(options, index, split)
