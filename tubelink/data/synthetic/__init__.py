"""The built-in synthetic video benchmark: a seeded generator and its splits in every benchmark's format."""

from .ensure import ensure_synthetic_dataset
from .generate import (
    DIFFICULTY_PRESETS,
    EntityInfo,
    SyntheticOptions,
    SyntheticVideo,
    generate_video,
    generate_videos,
    load_class_table,
)

__all__ = [
    "DIFFICULTY_PRESETS",
    "EntityInfo",
    "SyntheticOptions",
    "SyntheticVideo",
    "ensure_synthetic_dataset",
    "generate_video",
    "generate_videos",
    "load_class_table",
]
