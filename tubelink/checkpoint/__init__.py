"""Checkpoint loading (detectron2 .pkl, PyTorch .pth) with safe unpickling and coverage reports."""
from .loader import LoadReport, UnsafeCheckpointError, load_checkpoint_file, load_state_into, normalize_keys

__all__ = ["LoadReport", "UnsafeCheckpointError", "load_checkpoint_file", "load_state_into", "normalize_keys"]
