"""The evaluator registry, importable without torch (offline evaluation of files needs none)."""

from fvcore.common.registry import Registry

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = "Dataset evaluators keyed by the metadata's `evaluator_type` (vps, step, vss, ytvis)."

__all__ = ["EVALUATOR_REGISTRY"]
