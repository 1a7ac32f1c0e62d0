"""torch.distributed helpers that also work in a single process (detectron2's `comm` contract)."""

from __future__ import annotations

from typing import Any, List

import torch.distributed as dist

__all__ = ["get_world_size", "get_rank", "is_main_process", "synchronize", "all_gather", "reduce_sum_scalar"]


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if _active() else 1


def get_rank() -> int:
    """Rank of this process (0 when not distributed)."""
    return dist.get_rank() if _active() else 0


def is_main_process() -> bool:
    """True on rank 0."""
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; no-op in a single process."""
    if _active() and get_world_size() > 1:
        dist.barrier()


def all_gather(obj: Any) -> List[Any]:
    """Gather a picklable object from every rank; returns [obj_rank0, obj_rank1, ...] on every rank."""
    if get_world_size() == 1:
        return [obj]
    out: List[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def reduce_sum_scalar(value: float) -> float:
    """Sum a Python scalar over all ranks (used for loss normalisers such as the number of masks)."""
    if get_world_size() == 1:
        return float(value)
    return float(sum(all_gather(float(value))))
