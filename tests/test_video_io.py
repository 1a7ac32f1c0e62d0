"""Video input (files, folders, globs) and H.264 output keep frames, order and frame rate; bad input is named."""

import numpy as np
import pytest
from PIL import Image

from tubelink.utils.video_io import VideoWriter, open_video_source


def _frames(n=6, h=34, w=50):
    out = []
    for t in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : 8 * (t + 1)] = (200, 40, 40)  # a red bar growing over time
        out.append(f)
    return out


def test_write_then_read_mp4_keeps_count_fps_and_content(tmp_path):
    path = str(tmp_path / "v.mp4")
    with VideoWriter(path, fps=12.5) as writer:
        for f in _frames():
            writer.write(f)
    src = open_video_source(path)
    assert src.fps == pytest.approx(12.5) and src.name == "v"
    read = list(src)
    assert len(read) == 6 and read[0].shape == (34, 50, 3)  # even size kept
    red = [(r[:, :, 0] > 128).mean() for r in read]
    assert all(a < b for a, b in zip(red, red[1:]))  # order preserved


def test_odd_sizes_are_padded_and_size_changes_rejected(tmp_path):
    writer = VideoWriter(str(tmp_path / "odd.mp4"), fps=5)
    writer.write(_frames(1, 33, 49)[0])
    with pytest.raises(ValueError, match="expected 33x49"):
        writer.write(_frames(1, 34, 50)[0])
    writer.close()
    assert next(iter(open_video_source(str(tmp_path / "odd.mp4")))).shape == (34, 50, 3)


def test_folder_and_glob_sources(tmp_path):
    for t, f in enumerate(_frames(3)):
        Image.fromarray(f).save(tmp_path / f"{t:05d}.png")
    src = open_video_source(str(tmp_path), default_fps=7)
    assert src.num_frames == 3 and src.fps == 7
    assert np.array_equal(list(src)[2], _frames(3)[2])
    assert open_video_source(str(tmp_path / "*.png")).num_frames == 3


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        open_video_source(str(tmp_path / "missing.mp4"))
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x01 this is not a video" * 50)
    with pytest.raises(ValueError, match="corrupt.mp4"):
        open_video_source(str(bad))
    with pytest.raises(FileNotFoundError, match="no image"):
        open_video_source(str(tmp_path / "*.jpg"))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    src = open_video_source(str(tmp_path / "broken.png"))
    with pytest.raises(ValueError, match="broken.png: cannot decode image"):
        list(src)
