"""Loading detectron2 (.pkl) and PyTorch (.pth) checkpoints safely, with key normalisation and a coverage report.

Loading never runs code from the file: `.pkl` goes through an unpickler that admits only plain containers and
numpy arrays, `.pth` through `torch.load(weights_only=True)`. Known key variants are normalised explicitly (no
version hooks): a `module.` prefix from DistributedDataParallel, and `static_query` -> `query_feat` of older
Mask2Former checkpoints, and (only where the model has no such key) the old head layout `sem_seg_head.X` ->
`sem_seg_head.pixel_decoder.X`. Entries whose shape differs from the model's (e.g. the classifier of another dataset)
are skipped and reported, never silently copied.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
import torch
from tabulate import tabulate

__all__ = [
    "load_checkpoint_file",
    "normalize_keys",
    "load_state_into",
    "load_weights",
    "LoadReport",
    "UnsafeCheckpointError",
]

logger = logging.getLogger(__name__)


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The pickle references something other than plain containers and numpy arrays."""


_ALLOWED = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path: str) -> None:
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafeCheckpointError(
            f"{self.path}: refused to load: the pickle references {module}.{name}; only plain containers and numpy "
            "arrays are allowed in a checkpoint"
        )


def load_checkpoint_file(path: str) -> Dict[str, torch.Tensor]:
    """The state dict stored in a detectron2 `.pkl` or a PyTorch `.pth` / `.pt` file (keys not yet normalised)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: checkpoint file does not exist")
    if path.endswith(".pkl"):
        with open(path, "rb") as f:
            data = _RestrictedUnpickler(io.BytesIO(f.read()), path).load()
    elif path.endswith((".pth", ".pt")):
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise UnsafeCheckpointError(f"{path}: refused to load (weights_only): {err}") from None
    else:
        raise ValueError(f"{path}: unknown checkpoint type; expected .pkl (detectron2) or .pth / .pt (PyTorch)")
    # detectron2 / tubelink: "model"; MMDetection (the original Tube-Link): "state_dict"
    state = data.get("model", data.get("state_dict", data)) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: no state dict found (expected a dict, or a dict with a 'model' entry)")
    out = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(np.ascontiguousarray(value))
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, not an array")
        out[key] = value
    return out


def normalize_keys(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename known key variants (idempotent): strip `module.`, `static_query` -> `query_feat`."""
    out = {}
    for key, value in state.items():
        new = key[len("module.") :] if key.startswith("module.") else key
        new = new.replace("predictor.static_query.", "predictor.query_feat.")
        out[new] = value
    return out


@dataclass
class LoadReport:
    """What a load did: loaded keys, skipped (shape mismatch) with both shapes, missing and unexpected keys."""

    loaded: List[str] = field(default_factory=list)
    skipped: List[Tuple[str, tuple, tuple]] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)

    def table(self) -> str:
        """A per-module coverage table (first two key components) plus the skipped entries."""
        groups: Dict[str, List[int]] = {}
        for kind, keys in (
            ("loaded", self.loaded),
            ("skipped", [k for k, _, _ in self.skipped]),
            ("missing", self.missing),
            ("unexpected", self.unexpected),
        ):
            for key in keys:
                row = groups.setdefault(".".join(key.split(".")[:2]), [0, 0, 0, 0])
                row[("loaded", "skipped", "missing", "unexpected").index(kind)] += 1
        rows = [[name, *counts] for name, counts in sorted(groups.items())]
        text = tabulate(rows, headers=["module", "loaded", "skipped", "missing", "unexpected"])
        for key, ckpt_shape, model_shape in self.skipped:
            text += f"\nskipped {key}: checkpoint {list(ckpt_shape)} vs model {list(model_shape)}"
        return text


def _move_old_head_keys(state: Dict[str, torch.Tensor], own_keys) -> Dict[str, torch.Tensor]:
    """Old MaskFormer-head layout: `sem_seg_head.X` -> `sem_seg_head.pixel_decoder.X`, only when the model has the
    latter and not the former (driven by the model's keys, so correct checkpoints are never touched)."""
    out = {}
    for key, value in state.items():
        if key.startswith("sem_seg_head.") and key not in own_keys and not key.startswith("sem_seg_head.predictor."):
            moved = "sem_seg_head.pixel_decoder." + key[len("sem_seg_head.") :]
            if moved in own_keys and moved not in state:
                key = moved
        out[key] = value
    return out


def load_state_into(model: torch.nn.Module, state: Dict[str, torch.Tensor]) -> LoadReport:
    """Copy every entry of `state` whose key and shape match `model`; report the rest."""
    own = model.state_dict()
    state = _move_old_head_keys(normalize_keys(state), set(own))
    report = LoadReport()
    to_load = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.skipped.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            to_load[key] = value.to(own[key].dtype)
            report.loaded.append(key)
    report.missing = [k for k in own if k not in to_load and k not in {s[0] for s in report.skipped}]
    model.load_state_dict(to_load, strict=False)
    logger.info("Checkpoint coverage:\n" + report.table())
    return report


def load_weights(model: torch.nn.Module, path: str) -> LoadReport:
    """Load MODEL.WEIGHTS into `model`: a detectron2 / Mask2Former / tubelink checkpoint, a torchvision ResNet
    (ImageNet) file, renamed to the backbone's detectron2 layout first, or an original Tube-Link (MMDetection)
    checkpoint, converted to our keys and refused when it does not fit the model's config."""
    from .converters import (
        is_original_tube_link,
        is_torchvision_resnet,
        original_tube_link_to_tubelink,
        torchvision_resnet_to_detectron2,
    )

    state = load_checkpoint_file(path)
    if is_original_tube_link(state):
        state, conversion = original_tube_link_to_tubelink(state, model.state_dict(), path)
        logger.info(f"{path}: original Tube-Link (MMDetection) layout converted:\n" + conversion.table())
    elif is_torchvision_resnet(state):
        logger.info(f"{path}: torchvision ResNet layout, renamed to detectron2's backbone keys")
        state = torchvision_resnet_to_detectron2(state)
    return load_state_into(model, state)
