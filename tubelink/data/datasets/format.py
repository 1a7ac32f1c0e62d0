"""One object per benchmark format, registered in one place (`FORMATS`).

A format knows everything about its benchmark's files: how to load a split into video dicts, decode one frame into
`FrameSegments`, give its evaluator the ground truth the official tool reads, write and read predictions in the
official submission format, produce an empty prediction, which evaluator scores it, and how to write a synthetic
split in its layout. Code elsewhere asks the format of a split (`format_of(metadata)`) instead of testing names.
"""

from __future__ import annotations

import abc
from typing import Any, Dict, Iterator, List, Set, Tuple

from ..video_dict import FrameSegments
from .common import ClassTable

__all__ = [
    "BenchmarkFormat",
    "FORMATS",
    "MissingPrediction",
    "PredictionReader",
    "PredictionWriter",
    "format_of",
    "get_format",
    "register_format",
]

Pair = Tuple[Dict[str, Any], Dict[str, Any]]
"""(evaluator input, evaluator output), the streaming contract of tubelink.evaluation.evaluators."""


class MissingPrediction(FileNotFoundError):
    """A whole video has no prediction in a submission (as opposed to one missing file of a predicted video)."""


class PredictionWriter(abc.ABC):
    """Writes model outputs in a benchmark's submission format; fed like an evaluator."""

    def __init__(self, output_dir: str, metadata: Any) -> None:
        self.output_dir = output_dir
        self.table: ClassTable = metadata.class_table
        self.to_dataset = [int(r["id"]) for r in self.table.contiguous_order]  # contiguous -> dataset id

    @abc.abstractmethod
    def process(self, inputs: List[dict], outputs: List[dict]) -> None:
        """Write the outputs of frames (or of whole videos, for video-level formats)."""

    def close(self) -> List[str]:
        """Write index files, if the format has any; returns them."""
        return []


class PredictionReader(abc.ABC):
    """Reads a submission folder back into evaluator outputs."""

    def __init__(self, pred_dir: str, metadata: Any) -> None:
        self.pred_dir = pred_dir
        self.table: ClassTable = metadata.class_table

    @property
    @abc.abstractmethod
    def video_ids(self) -> Set[str]:
        """The video ids (as str) the submission holds predictions for."""

    @abc.abstractmethod
    def read(self, video: dict) -> Iterator[Pair]:
        """(input, output) pairs of `video`. Raises MissingPrediction when the whole video is absent."""


class BenchmarkFormat(abc.ABC):
    """A benchmark's on-disk format. Subclasses set `name` and `evaluator_type` and implement the methods.

    Attributes:
        name: the value of video dicts' `annotation_format` and of the metadata's `annotation_format`.
        evaluator_type: the evaluator that scores this format (tubelink.evaluation.evaluators).
        absent_video_is_empty: a submission may omit a video to mean "no prediction" (YouTube-VIS results.json
            lists detections only); otherwise an omitted video is an error unless --missing-as-empty.
        default_metadata: extra metadata every split of this format gets unless its registration overrides it.

    Evaluation ground truth, as the official tool reads it, comes from the method its evaluator type calls (the
    shapes differ per task): "vps" `ground_truth(video, t, metadata)` -> (segment ids (H, W), {id: (contiguous
    category, iscrowd, area)}, ids in JSON order); "step" `ground_truth(...)` -> (semantic (H, W), instance (H, W));
    "vss" `ground_truth(...)` -> raw labels (H, W), with `prediction_labels`, `scored_labels`, `consistency_labels`;
    "ytvis" `video_ground_truth(video)` -> the ytvos API's annotations (tubelink.evaluation.evaluators).
    """

    name: str = ""
    evaluator_type: str = ""
    absent_video_is_empty: bool = False
    default_metadata: Dict[str, Any] = {}

    @abc.abstractmethod
    def load(self, dataset_name: str, table: ClassTable, **paths: str) -> List[dict]:
        """Video dicts of one split (see tubelink.data.video_dict); `paths` are the format's split paths."""

    @abc.abstractmethod
    def decode_frame(self, video: dict, t: int, metadata: Any) -> FrameSegments:
        """FrameSegments of frame t of `video`."""

    @abc.abstractmethod
    def prediction_writer(self, output_dir: str, metadata: Any) -> PredictionWriter:
        """A writer of the official submission format."""

    @abc.abstractmethod
    def prediction_reader(self, pred_dir: str, metadata: Any) -> PredictionReader:
        """A reader of a submission folder."""

    @abc.abstractmethod
    def empty_prediction(self, video: dict) -> Iterator[Pair]:
        """(input, output) pairs of a prediction that finds nothing in `video`."""

    def synthetic_class_rows(self, rows: List[dict]) -> List[dict]:
        """The synthetic class table as this format's benchmark would have it (default: unchanged)."""
        return rows

    @abc.abstractmethod
    def write_synthetic_split(self, root: str, split: str, videos, class_rows: List[dict]) -> None:
        """Write synthetic videos under `root` in this format's layout."""

    @abc.abstractmethod
    def synthetic_paths(self, root: str, split: str) -> Dict[str, str]:
        """The `load` paths of a synthetic split written by `write_synthetic_split(root, split, ...)`."""


FORMATS: Dict[str, BenchmarkFormat] = {}
"""Format name -> format object (the only table of formats)."""


def register_format(fmt: BenchmarkFormat) -> BenchmarkFormat:
    """Register a format object under its `name`; a name registered twice is an error."""
    if not fmt.name or not fmt.evaluator_type:
        raise ValueError(f"{type(fmt).__name__}: a format needs a name and an evaluator_type")
    if fmt.name in FORMATS:
        raise KeyError(f"annotation format {fmt.name!r} is already registered")
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str) -> BenchmarkFormat:
    """The registered format `name`."""
    try:
        return FORMATS[name]
    except KeyError:
        raise KeyError(f"unknown annotation format {name!r}; known: {sorted(FORMATS)}") from None


def format_of(metadata: Any) -> BenchmarkFormat:
    """The format of a split, from its metadata's `annotation_format`."""
    name = metadata.get("annotation_format")
    if name is None:
        raise KeyError(f"dataset {metadata.name!r} has no annotation_format in its metadata")
    return get_format(name)
