"""demo/demo.py writes a playable annotated video (same frame count and rate) and a JSON, and names bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tubelink.data.synthetic import SyntheticOptions, generate_video
from tubelink.utils.video_io import VideoWriter, open_video_source

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml")


def _run(*args):
    return subprocess.run(
        # random weights: these tests check the pipeline and the files, not the segmentation
        [sys.executable, os.path.join(REPO, "demo", "demo.py"), "--config-file", CONFIG, "--allow-partial-weights"]
        + list(args),
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="2"),
    )


@pytest.fixture(scope="module")
def synthetic_mp4(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    video = generate_video(SyntheticOptions(num_videos=1, num_frames=7, height=64, width=96), 0)
    path = str(root / "synthetic.mp4")
    with VideoWriter(path, fps=12) as writer:  # H.264: a real encoded mp4
        for frame in video.frames:
            writer.write(frame)
    return root, path, video


@pytest.mark.parametrize("task", ["vps", "vis"])
def test_demo_writes_playable_video_and_json(synthetic_mp4, task):
    root, path, video = synthetic_mp4
    out_dir = str(root / f"out_{task}")
    proc = _run(
        "--input",
        path,
        "--output",
        out_dir,
        "--window",
        "3",
        "--save-frames",
        "--opts",
        "MODEL.TUBE_LINK.TASK",
        task,
        "MODEL.DEVICE",
        "cpu",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = open_video_source(os.path.join(out_dir, "synthetic.mp4"))
    frames = list(result)
    assert result.fps == pytest.approx(12) and len(frames) == 7 and frames[0].shape == (64, 96, 3)
    assert len(os.listdir(os.path.join(out_dir, "synthetic"))) == 7
    data = json.load(open(os.path.join(out_dir, "synthetic.json")))
    assert data["task"] == task and data["window"] == 3
    if task == "vps":
        assert [r["frame_index"] for r in data["results"]] == list(range(7))


def test_opencv_encoded_mp4_input(synthetic_mp4, tmp_path):
    import cv2

    _, _, video = synthetic_mp4
    path = str(tmp_path / "opencv.mp4")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (96, 64))  # MPEG-4 part 2 encoder
    for frame in video.frames[:5]:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    proc = _run("--input", path, "--output", str(tmp_path / "out"), "--opts", "MODEL.DEVICE", "cpu")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = open_video_source(str(tmp_path / "out" / "opencv.mp4"))
    assert result.fps == pytest.approx(25) and len(list(result)) == 5


def test_frame_folder_input_and_bad_inputs(synthetic_mp4, tmp_path):
    root, _, video = synthetic_mp4
    from PIL import Image

    for t, frame in enumerate(video.frames[:3]):
        Image.fromarray(frame).save(tmp_path / f"{t:03d}.png")
    proc = _run("--input", str(tmp_path), "--output", str(tmp_path / "out"), "--opts", "MODEL.DEVICE", "cpu")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(list(open_video_source(str(tmp_path / "out" / f"{tmp_path.name}.mp4")))) == 3
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 100)
    proc = _run("--input", str(tmp_path / "broken.mp4"), "--output", str(tmp_path / "o2"))
    assert proc.returncode != 0 and "broken.mp4" in proc.stderr and "not a readable video" in proc.stderr
    proc = _run("--input", str(tmp_path / "missing.mp4"), "--output", str(tmp_path / "o3"))
    assert proc.returncode != 0 and "missing.mp4" in proc.stderr
