"""Non-loss training scalars (e.g. TCL positive / negative pairs per step), detectron2's EventStorage contract.

A model calls `put_scalars(name=value, ...)` during its forward. Inside `collect_scalars()` (tubelink's trainer wraps
every step in it) the values land in the collector's dict; otherwise they go to detectron2's current EventStorage when
detectron2 runs the loop, and are dropped when nothing listens (e.g. a bare forward in a test).
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, List

__all__ = ["put_scalars", "collect_scalars"]

_COLLECTORS: List[Dict[str, float]] = []


@contextlib.contextmanager
def collect_scalars() -> Iterator[Dict[str, float]]:
    """Context whose dict receives every `put_scalars` made inside it (the innermost collector wins)."""
    values: Dict[str, float] = {}
    _COLLECTORS.append(values)
    try:
        yield values
    finally:
        _COLLECTORS.pop()


def put_scalars(**values: float) -> None:
    """Record scalars for the current training step (see the module docstring)."""
    if not values:
        return
    if _COLLECTORS:
        _COLLECTORS[-1].update({k: float(v) for k, v in values.items()})
        return
    try:
        from detectron2.utils.events import get_event_storage

        storage = get_event_storage()
    except (ImportError, AssertionError):  # no detectron2, or no training loop running
        return
    storage.put_scalars(**values)
