"""A tiny VSPW_480p split and a prediction folder in the official conventions (test helper, independent of tubelink).

GT masks are palette PNGs of raw values: 0 ("others"), classes 1..124 (124 = "train"), 255 void; predictions are
PNGs of raw values 0..123, the range the official `evaluator_test.py` accepts. No frame image is written: the
official tools read masks only. Reference numbers of the official tools on this fixture are in
tests/test_official_conventions.py.
"""

import os

import numpy as np
from PIL import Image

VIDEOS = ("vid_a", "vid_b")
FRAMES, HEIGHT, WIDTH = 18, 12, 16


def _save_palette(path: str, values: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = Image.fromarray(values.astype(np.uint8), mode="L")
    img.putpalette([k % 256 for k in range(768)])  # indices stay the raw values (mode becomes "P")
    img.save(path)


def write_fixture(root: str, pred_dir: str) -> None:
    """GT under `root` (data/<video>/mask/*.png, val.txt) and predictions under `pred_dir/<video>/*.png`."""
    rng = np.random.default_rng(7)
    values = np.array([0, 1, 2, 5, 77, 123, 124, 255])
    for v, video in enumerate(VIDEOS):
        base = rng.choice(values, size=(HEIGHT // 4, WIDTH // 4))
        for t in range(FRAMES):
            gt = np.kron(np.roll(base, (t // 9) * v, axis=1), np.ones((4, 4), np.int64))  # video b moves once
            if t % 5 == 2:
                gt[:2] = 124  # a band of raw 124 that comes and goes
            gt[-1, : 3 + v] = 0
            pred = np.where(gt >= 124, rng.integers(0, 124, gt.shape), gt)
            noise = rng.random(gt.shape) < 0.03
            pred[noise] = rng.choice([0, 1, 5, 77, 123], size=int(noise.sum()))
            if t % 4 == 1:
                pred[:, :3] = 2  # flicker
            _save_palette(os.path.join(root, "data", video, "mask", f"{t:08d}.png"), gt)
            _save_palette(os.path.join(pred_dir, video, f"{t:08d}.png"), pred)
    with open(os.path.join(root, "val.txt"), "w") as f:
        f.write("".join(v + "\n" for v in VIDEOS))
