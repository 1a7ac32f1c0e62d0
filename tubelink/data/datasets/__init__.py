"""Benchmark formats, one module each, every one a `BenchmarkFormat` registered in `FORMATS` on import."""

from . import kitti_step, vipseg, vspw, ytvis  # noqa: F401  (each registers its format)
from .common import ClassTable, load_category_file
from .format import FORMATS, BenchmarkFormat, MissingPrediction, format_of, get_format, register_format

__all__ = [
    "FORMATS",
    "BenchmarkFormat",
    "ClassTable",
    "MissingPrediction",
    "format_of",
    "get_format",
    "load_category_file",
    "register_format",
]
