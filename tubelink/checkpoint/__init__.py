"""Checkpoint loading (detectron2 .pkl, PyTorch .pth) with safe unpickling and coverage reports."""

from .converters import torchvision_resnet_to_detectron2
from .loader import (
    CheckpointReadError,
    CoveragePolicy,
    LoadReport,
    PartialLoadError,
    UnsafeCheckpointError,
    check_coverage,
    load_checkpoint_file,
    load_state_into,
    load_weights,
    normalize_keys,
    read_torch_file,
)

__all__ = [
    "CheckpointReadError",
    "CoveragePolicy",
    "PartialLoadError",
    "check_coverage",
    "read_torch_file",
    "LoadReport",
    "UnsafeCheckpointError",
    "load_checkpoint_file",
    "load_state_into",
    "load_weights",
    "normalize_keys",
    "torchvision_resnet_to_detectron2",
]
