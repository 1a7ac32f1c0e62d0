"""Reading frames lazily from video files, frame folders or globs, and writing H.264 videos (PyAV).

OpenCV's bundled FFmpeg cannot write H.264, which most players need; PyAV ships an FFmpeg with libx264.
Frames are always RGB uint8 (H, W, 3).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, List, Optional

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError

__all__ = ["VideoSource", "open_video_source", "VideoWriter", "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass
class VideoSource:
    """A lazily read sequence of RGB frames.

    Attributes:
        name: a display name (file or folder name, without extension).
        fps: frames per second (the container's average rate; `default_fps` for frame folders).
        num_frames: frame count when known up front (folders, most containers), else None.
        paths: frame file paths for folder/glob sources, else None.
    """

    name: str
    fps: float
    num_frames: Optional[int]
    path: str
    paths: Optional[List[str]] = None

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield frames one by one as uint8 (H, W, 3) RGB, all of the first frame's size; errors name the file and
        the frame."""
        if self.paths is not None:
            first = None
            for p in self.paths:
                frame = _read_image(p)
                if first is None:
                    first = (p, frame.shape[:2])
                elif frame.shape[:2] != first[1]:
                    raise InputError(
                        p,
                        f"frame is {_size(frame)}, but the first frame {os.path.basename(first[0])} is "
                        f"{first[1][0]}x{first[1][1]}; all frames of a video must have one size",
                    )
                yield frame
            return
        try:
            container = av.open(self.path)
        except av.error.FFmpegError as err:
            raise ValueError(f"{self.path}: cannot open video: {err}") from None
        with container:
            index, size = -1, None
            try:
                for index, frame in enumerate(container.decode(video=0)):
                    rgb = frame.to_ndarray(format="rgb24")
                    if size is None:
                        size = rgb.shape[:2]
                    elif rgb.shape[:2] != size:  # a stream whose resolution changes mid-way
                        raise InputError(
                            self.path, f"frame {index} is {_size(rgb)}, earlier frames are {size[0]}x{size[1]}"
                        )
                    yield rgb
            except av.error.FFmpegError as err:
                raise ValueError(f"{self.path}: corrupt video data after frame {index}: {err}") from None
            if index < 0:
                raise ValueError(f"{self.path}: the video contains no decodable frame")


def _size(frame: np.ndarray) -> str:
    return f"{frame.shape[0]}x{frame.shape[1]}"


def _is_frame_file(path: str) -> bool:
    """An image by its extension, and not a hidden file (macOS `._name.jpg` resource forks, `.DS_Store`, ...)."""
    name = os.path.basename(path)
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _read_image(path: str) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: frame file does not exist") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path}: cannot decode image: {err}") from None


def open_video_source(spec: str, default_fps: float = 10.0) -> VideoSource:
    """Open a video file, a folder of frames (sorted by name) or a glob of frames; hidden files are not frames.

    Raises:
        FileNotFoundError: nothing exists at `spec` / the glob matches no image.
        ValueError: an unsupported file type, or a file that is not a readable video.
    """
    if any(ch in spec for ch in "*?["):
        paths = sorted(p for p in glob.glob(spec) if _is_frame_file(p))
        if not paths:
            raise FileNotFoundError(f"{spec}: the glob matches no image file ({', '.join(IMAGE_EXTENSIONS)})")
        return VideoSource(
            os.path.basename(os.path.dirname(paths[0])) or "frames", default_fps, len(paths), spec, paths
        )
    if os.path.isdir(spec):
        paths = sorted(os.path.join(spec, f) for f in os.listdir(spec) if _is_frame_file(f))
        if not paths:
            raise FileNotFoundError(f"{spec}: the folder contains no image file ({', '.join(IMAGE_EXTENSIONS)})")
        return VideoSource(os.path.basename(os.path.normpath(spec)), default_fps, len(paths), spec, paths)
    if not os.path.exists(spec):
        raise FileNotFoundError(f"{spec}: no such video file, frame folder or glob")
    name = os.path.splitext(os.path.basename(spec))[0]
    if spec.lower().endswith(IMAGE_EXTENSIONS):
        return VideoSource(name, default_fps, 1, spec, [spec])
    try:
        with av.open(spec) as container:
            if not container.streams.video:
                raise ValueError(f"{spec}: the file has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else default_fps
            num_frames = stream.frames or None
    except av.error.FFmpegError as err:
        raise ValueError(
            f"{spec}: not a readable video ({err}); supported: video files ({', '.join(VIDEO_EXTENSIONS)}), "
            "a folder of frames or a glob of frames"
        ) from None
    return VideoSource(name, fps, num_frames, spec)


class VideoWriter:
    """Writes RGB frames to an H.264 (yuv420p) file at a given frame rate; odd sizes are padded by one pixel."""

    def __init__(self, path: str, fps: float, codec: str = "libx264", crf: int = 20) -> None:
        """path: output file (.mp4/.mkv); fps: frame rate kept from the input; crf: x264 quality (lower = better)."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._container = av.open(path, mode="w")
        self._stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"crf": str(crf)}
        self._size = None
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) RGB frame; all frames must have the size of the first."""
        h, w = frame.shape[:2]
        if self._size is None:
            self._size = (h, w)
            self._stream.height, self._stream.width = h + h % 2, w + w % 2
        elif (h, w) != self._size:
            raise ValueError(
                f"{self.path}: frame {self.frames_written} is {h}x{w}, expected {self._size[0]}x{self._size[1]}"
            )
        if h % 2 or w % 2:  # yuv420p needs even sizes
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        packet_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(packet_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
