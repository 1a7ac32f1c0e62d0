"""Training checkpoints: written atomically, with everything needed to resume a run exactly.

A checkpoint holds the model, optimizer, LR scheduler and grad-scaler states, the iteration and the random states
(Python, numpy, torch). It is written to a temporary file in the same folder, flushed to disk (`fsync` of the file
and of the folder) and renamed into place, the folder is synced again so the rename itself is on disk, then
`last_checkpoint` (a one-line text file, written the same way) names it. So neither a kill nor a power loss leaves
an empty or truncated file behind a checkpoint's name, and `--resume` always finds the last complete one.
"""

from __future__ import annotations

import os
import random
import tempfile
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..utils.errors import InputError

__all__ = [
    "save_checkpoint",
    "load_training_checkpoint",
    "last_checkpoint",
    "rng_states",
    "set_rng_states",
    "remove_incomplete_writes",
    "durable_write",
]

POINTER = "last_checkpoint"
_INCOMPLETE_PREFIX = "incomplete_"  # temporary files of interrupted writes; torch.save rejects dot-names


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


def _fsync_path(path: str) -> None:
    """Flush a file's data, or a folder's entries, to the disk (folders cannot be synced on Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if os.path.isdir(path) else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        if os.path.isdir(path):
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(path: str, write) -> None:
    """Call `write(tmp)` on a temporary file next to `path`, then sync it and move it into place durably."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_INCOMPLETE_PREFIX, suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        _fsync_path(tmp)  # the data is on disk before a name points at it
        _fsync_path(folder)
        os.replace(tmp, path)
        _fsync_path(folder)  # the rename is on disk
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def remove_incomplete_writes(output_dir: str) -> None:
    """Delete the temporary files that writes killed before their rename left in `output_dir`."""
    if os.path.isdir(output_dir):
        for name in os.listdir(output_dir):
            if name.startswith(_INCOMPLETE_PREFIX) and name.endswith(".tmp"):
                os.remove(os.path.join(output_dir, name))


def save_checkpoint(output_dir: str, name: str, state: Dict[str, Any]) -> str:
    """Write `state` to output_dir/name atomically and point `last_checkpoint` at it; returns the path."""
    path = os.path.join(output_dir, name)
    durable_write(path, lambda tmp: torch.save(state, tmp))

    def write_pointer(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(name + "\n")

    durable_write(os.path.join(output_dir, POINTER), write_pointer)
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
        raise InputError(pointer, f"names {name}, which does not exist in {output_dir}", "delete it to start afresh")
    return path


def load_training_checkpoint(path: str) -> Dict[str, Any]:
    """A training checkpoint written by `save_checkpoint` (loaded with weights_only=True: no code runs)."""
    from ..checkpoint.loader import read_torch_file

    state = read_torch_file(path)
    if not isinstance(state, dict) or not {"model", "iteration"} <= set(state):
        raise InputError(path, "not a training checkpoint (no 'model' and 'iteration'); --resume needs one of ours")
    return state
