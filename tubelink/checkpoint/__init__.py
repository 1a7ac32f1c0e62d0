"""Checkpoint loading (detectron2 .pkl, PyTorch .pth) with safe unpickling and coverage reports."""

from .converters import torchvision_resnet_to_detectron2
from .loader import (
    LoadReport,
    UnsafeCheckpointError,
    load_checkpoint_file,
    load_state_into,
    load_weights,
    normalize_keys,
)

__all__ = [
    "LoadReport",
    "UnsafeCheckpointError",
    "load_checkpoint_file",
    "load_state_into",
    "load_weights",
    "normalize_keys",
    "torchvision_resnet_to_detectron2",
]
