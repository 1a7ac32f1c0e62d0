"""Metrics identical to the official benchmark tools (VPQ, STQ, mIoU, mVC, YouTube-VIS AP), as pure functions."""

from .evaluators import DatasetEvaluator, build_evaluator
from .stq import STQStats, stq_result, stq_update
from .vpq import PanopticFrame, PQStats, vpq_summary, vpq_video_stats
from .vss import confusion_matrix, miou_from_confusion, mvc_from_accuracies, video_consistency_accuracies
from .ytvis import YTVISeval, ytvis_ap

__all__ = [
    "DatasetEvaluator",
    "build_evaluator",
    "PanopticFrame",
    "PQStats",
    "STQStats",
    "YTVISeval",
    "confusion_matrix",
    "miou_from_confusion",
    "mvc_from_accuracies",
    "stq_result",
    "stq_update",
    "video_consistency_accuracies",
    "vpq_summary",
    "vpq_video_stats",
    "ytvis_ap",
]
