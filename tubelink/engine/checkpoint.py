"""Training checkpoints: written atomically, with everything needed to resume a run exactly.

A checkpoint holds the model, optimizer, LR scheduler and grad-scaler states, the iteration and the random states
(Python, numpy, torch). It is written to a temporary file in the same folder and renamed into place, then
`last_checkpoint` (a one-line text file, also renamed into place) names it, so an interrupted write never leaves a
truncated checkpoint behind and `--resume` always finds the last complete one.
"""

from __future__ import annotations

import os
import random
import tempfile
from typing import Any, Dict, Optional

import numpy as np
import torch

__all__ = ["save_checkpoint", "load_training_checkpoint", "last_checkpoint", "rng_states", "set_rng_states"]

POINTER = "last_checkpoint"


def rng_states() -> Dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) random states, as plain containers and tensors (weights_only-safe)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    """Restore what `rng_states` returned."""
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in states["python"]))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _atomic_write(path: str, write) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="incomplete_", suffix=".tmp", dir=folder)  # torch.save rejects dot-names
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_checkpoint(output_dir: str, name: str, state: Dict[str, Any]) -> str:
    """Write `state` to output_dir/name atomically and point `last_checkpoint` at it; returns the path."""
    path = os.path.join(output_dir, name)
    _atomic_write(path, lambda tmp: torch.save(state, tmp))

    def write_pointer(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(name + "\n")

    _atomic_write(os.path.join(output_dir, POINTER), write_pointer)
    return path


def last_checkpoint(output_dir: str) -> Optional[str]:
    """Path of the checkpoint `last_checkpoint` names, or None when there is none."""
    pointer = os.path.join(output_dir, POINTER)
    if not os.path.isfile(pointer):
        return None
    with open(pointer, encoding="utf-8") as f:
        name = f.read().strip()
    path = os.path.join(output_dir, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{pointer} names {name}, which does not exist in {output_dir}")
    return path


def load_training_checkpoint(path: str) -> Dict[str, Any]:
    """A training checkpoint written by `save_checkpoint` (loaded with weights_only=True: no code runs)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: checkpoint does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)
