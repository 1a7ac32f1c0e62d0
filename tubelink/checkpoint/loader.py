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
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from tabulate import tabulate

from ..utils.errors import InputError

__all__ = [
    "load_checkpoint_file",
    "normalize_keys",
    "load_state_into",
    "load_weights",
    "LoadReport",
    "UnsafeCheckpointError",
    "CheckpointReadError",
    "PartialLoadError",
    "CoveragePolicy",
    "check_coverage",
    "read_torch_file",
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


class CheckpointReadError(InputError):
    """A checkpoint file cannot be read: it is empty, truncated, or not a checkpoint at all."""


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default (zip) format
_PICKLE_PROTOCOL_2_PLUS = b"\x80"  # pickles of protocol >= 2 (detectron2 .pkl, legacy torch.save) start with PROTO


def _check_readable(path: str) -> bytes:
    """The first bytes of `path`, after checking that it is a non-empty file."""
    if os.path.isdir(path):
        raise CheckpointReadError(path, "is a folder, not a checkpoint file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: checkpoint file does not exist")
    if os.path.getsize(path) == 0:
        raise CheckpointReadError(path, "empty file (0 bytes), not a checkpoint", "the file was not written completely")
    with open(path, "rb") as f:
        return f.read(4)


def read_torch_file(path: str) -> Any:
    """`torch.load(path, weights_only=True)` with errors that name the file and say empty / truncated / not a
    checkpoint / refused (code in the pickle)."""
    head = _check_readable(path)
    if not head.startswith((_ZIP_MAGIC, _PICKLE_PROTOCOL_2_PLUS)):
        raise CheckpointReadError(path, "not a checkpoint (neither a PyTorch zip archive nor a pickle)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower() or "weights_only" in str(err):
            raise UnsafeCheckpointError(f"{path}: refused to load (weights_only): {str(err).splitlines()[0]}") from None
        raise CheckpointReadError(path, f"truncated or corrupt checkpoint ({str(err).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        if head.startswith(_ZIP_MAGIC):
            problem = "truncated or corrupt checkpoint (its zip archive is incomplete)"
        elif "magic number" in str(err).lower():
            problem = "not a PyTorch checkpoint (a plain pickle; detectron2 checkpoints end in .pkl)"
        else:
            problem = "truncated or corrupt checkpoint (the pickle ends early)"
        raise CheckpointReadError(path, problem, "write or download the file again") from None


def _read_pickle(path: str) -> Any:
    head = _check_readable(path)
    if head.startswith(_ZIP_MAGIC):
        raise CheckpointReadError(path, "is a PyTorch (zip) checkpoint, not a pickle", "rename it to .pth")
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(io.BytesIO(f.read()), path).load()
        except UnsafeCheckpointError:
            raise
        except EOFError:
            raise CheckpointReadError(path, "truncated checkpoint (the pickle ends early)") from None
        except (pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, AttributeError) as err:
            raise CheckpointReadError(path, f"not a checkpoint (not a readable pickle: {err})") from None


def load_checkpoint_file(path: str) -> Dict[str, torch.Tensor]:
    """The state dict stored in a detectron2 `.pkl` or a PyTorch `.pth` / `.pt` file (keys not yet normalised)."""
    if path.endswith(".pkl"):
        data = _read_pickle(path)
    elif path.endswith((".pth", ".pt")):
        data = read_torch_file(path)
    else:
        raise CheckpointReadError(path, "unknown checkpoint type; expected .pkl (detectron2) or .pth / .pt (PyTorch)")
    # detectron2 / tubelink: "model"; MMDetection (the original Tube-Link): "state_dict"
    state = data.get("model", data.get("state_dict", data)) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise CheckpointReadError(path, "not a checkpoint: no state dict (expected a dict, or a dict with 'model')")
    out = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(np.ascontiguousarray(value))
        if not isinstance(value, torch.Tensor):
            kind = type(value).__name__
            raise CheckpointReadError(path, f"not a checkpoint: entry {key!r} is a {kind}, not an array")
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

    @property
    def num_model_tensors(self) -> int:
        """Entries of the model's state dict (loaded + skipped + missing)."""
        return len(self.loaded) + len(self.skipped) + len(self.missing)

    @property
    def share(self) -> float:
        """Share of the model's tensors that came from the checkpoint, in [0, 1]."""
        return len(self.loaded) / max(1, self.num_model_tensors)


class PartialLoadError(InputError):
    """A checkpoint covers too little of the model to use it (the result would come from random weights)."""


# The classifier legitimately differs between data sets (fine-tuning); any other skipped tensor is a surprise.
CLASSIFIER_KEY_PARTS = (".class_embed.",)
# Where a skipped tensor's shape comes from in the config: named in the message.
_SHAPE_KEYS = {
    ".query_feat.": "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES",
    ".query_embed.": "MODEL.MASK_FORMER.NUM_OBJECT_QUERIES",
    ".class_embed.": "MODEL.SEM_SEG_HEAD.NUM_CLASSES",
}
ALLOW_PARTIAL_HINT = "to use it anyway, set MODEL.WEIGHTS_COVERAGE.ALLOW_PARTIAL True (demo: --allow-partial-weights)"


@dataclass(frozen=True)
class CoveragePolicy:
    """When a partial load warns and when it is refused (MODEL.WEIGHTS_COVERAGE).

    warn_below: a share of loaded model tensors below which the load warns (so does any skipped tensor that is not
        the classifier's). refuse_below: a share below which the load is refused (inference: the demo and
        --eval-only); a load of no tensor at all is always refused. allow_partial: never refuse, only warn.
    """

    warn_below: float = 1.0
    refuse_below: float = 0.0
    allow_partial: bool = False

    @classmethod
    def from_config(cls, cfg, inference: bool) -> "CoveragePolicy":
        """The policy of a training initialisation (`inference=False`) or of a model used for predictions."""
        c = cfg.MODEL.WEIGHTS_COVERAGE
        return cls(float(c.WARN_BELOW), float(c.REFUSE_BELOW) if inference else 0.0, bool(c.ALLOW_PARTIAL))


def _describe_coverage(report: LoadReport) -> str:
    text = f"loaded {len(report.loaded)} of the model's {report.num_model_tensors} tensors ({report.share:.0%})"
    if report.skipped:
        key, ckpt_shape, model_shape = report.skipped[0]
        where = next((k for part, k in _SHAPE_KEYS.items() if part in key), None)
        text += (
            f"; {len(report.skipped)} skipped for a different shape, e.g. {key}: {list(ckpt_shape)} in the file, "
            f"{list(model_shape)} in the model" + (f" (see {where})" if where else "")
        )
    if report.missing:
        modules = sorted({".".join(k.split(".")[:2]) for k in report.missing})
        text += f"; {len(report.missing)} not in the file (in {', '.join(modules[:4])}{', ...' if modules[4:] else ''})"
    if report.unexpected:
        text += f"; {len(report.unexpected)} entries of the file are not in the model (e.g. {report.unexpected[0]})"
    return text


def check_coverage(report: LoadReport, path: str, policy: CoveragePolicy) -> None:
    """Warn about, or refuse (PartialLoadError naming `path`), a load that covers too little of the model."""
    surprising_skips = [k for k, _, _ in report.skipped if not any(p in k for p in CLASSIFIER_KEY_PARTS)]
    refuse = not report.loaded or report.share < policy.refuse_below
    if refuse and not policy.allow_partial:
        raise PartialLoadError(
            path, _describe_coverage(report) + "; the rest would be random weights", ALLOW_PARTIAL_HINT
        )
    if refuse or report.share < policy.warn_below or surprising_skips:
        logger.warning(f"{path}: {_describe_coverage(report)}; the rest keeps its random initialisation")
    elif report.unexpected:  # the whole model came from the file, but the file holds a larger model
        logger.warning(
            f"{path}: {_describe_coverage(report)}: a checkpoint of another config (e.g. more decoder layers, "
            "MODEL.MASK_FORMER.DEC_LAYERS)?"
        )


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


def load_weights(model: torch.nn.Module, path: str, policy: CoveragePolicy = CoveragePolicy()) -> LoadReport:
    """Load MODEL.WEIGHTS into `model`: a detectron2 / Mask2Former / tubelink checkpoint, a torchvision ResNet
    (ImageNet) file, renamed to the backbone's detectron2 layout first, or an original Tube-Link (MMDetection)
    checkpoint, converted to our keys and refused when it does not fit the model's config. The coverage table is
    logged; `policy` decides whether a partial load warns or is refused (PartialLoadError)."""
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
    report = load_state_into(model, state)
    check_coverage(report, path, policy)
    return report
