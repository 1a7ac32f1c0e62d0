"""Keys kept only so that Mask2Former / detectron2 YAML files load, and keys that were removed or renamed.

A compatibility key has no effect in tubelink. It stays in the default config so that a Mask2Former YAML which
sets it to the value tubelink behaves like loads unchanged; any other value is refused when the file (or the
command-line override) is merged, with one line naming the file, the key and why. A removed key is refused with
the name of its replacement instead of fvcore's bare "Non-existent config key".
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Tuple

__all__ = [
    "COMPAT_KEYS",
    "COMPAT_ALSO_ACCEPTED",
    "REMOVED_KEYS",
    "refuse_removed_keys",
    "refuse_compat_values",
    "flatten_keys",
    "find_key",
]

_TASK_DECIDES = "the outputs follow the task (MODEL.TUBE_LINK.TASK, or each test split's own task), not these switches"

COMPAT_KEYS: Dict[str, str] = {
    "VERSION": "tubelink has a single config version (2)",
    "MODEL.RESNETS.RES5_MULTI_GRID": "DeepLab-style multi-grid res5 is not implemented",
    "MODEL.SWIN.PRETRAIN_IMG_SIZE": "it only sizes absolute position embeddings (MODEL.SWIN.APE), which tubelink "
    "does not support",
    "MODEL.SEM_SEG_HEAD.NAME": "the Tube-Link head is fixed; choose its parts with "
    "MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME and MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME",
    "MODEL.SEM_SEG_HEAD.IGNORE_VALUE": "void pixels come from each dataset's own void convention (its loader's "
    "ignore mask), not from a label value",
    "MODEL.SEM_SEG_HEAD.LOSS_WEIGHT": "there is no separate semantic-segmentation loss; weigh the mask losses with "
    "MODEL.MASK_FORMER.{CLASS,MASK,DICE}_WEIGHT",
    "MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE": "the tube decoder always reads the multi-scale pixel decoder",
    "MODEL.MASK_FORMER.DROPOUT": "the tube decoder has no dropout (Mask2Former's value 0.0)",
    "MODEL.MASK_FORMER.ENC_LAYERS": "there is no transformer encoder in the decoder (Mask2Former's value 0)",
    "MODEL.MASK_FORMER.PRE_NORM": "the tube decoder is post-norm, as Mask2Former's",
    "MODEL.MASK_FORMER.TEST.SEMANTIC_ON": _TASK_DECIDES,
    "MODEL.MASK_FORMER.TEST.INSTANCE_ON": _TASK_DECIDES,
    "MODEL.MASK_FORMER.TEST.PANOPTIC_ON": _TASK_DECIDES,
    "INPUT.FORMAT": "frames are read as RGB and MODEL.PIXEL_MEAN / PIXEL_STD are RGB",
    "INPUT.MIN_SIZE_TRAIN_SAMPLING": "one short side is chosen from INPUT.MIN_SIZE_TRAIN per clip, then scaled by "
    "INPUT.RESIZE_RATIO_RANGE",
    "INPUT.SAMPLING_FRAME_RANGE": "it is Mask2Former's window around a key frame; tubelink samples neighbouring "
    "subclips: set INPUT.SAMPLING_MAX_SUBCLIP_GAP (extra frames between two subclips) instead",
    "DATALOADER.SAMPLER_TRAIN": "training clips come from tubelink's deterministic clip stream (DATASETS.DATASET_RATIO "
    "weighs the datasets)",
    "DATALOADER.ASPECT_RATIO_GROUPING": "a batch is a list of clips padded per clip; there is no grouping",
    "DATALOADER.FILTER_EMPTY_ANNOTATIONS": "videos without frames are always dropped and clips without a labelled "
    "pixel are always drawn again",
}
"""Key -> why only its default value (or one of `COMPAT_ALSO_ACCEPTED`) is accepted."""

COMPAT_ALSO_ACCEPTED: Dict[str, tuple] = {
    # Mask2Former's Swin-B / Swin-L 384 configs; the value only sizes the absolute position embeddings (APE is refused)
    "MODEL.SWIN.PRETRAIN_IMG_SIZE": (384,),
    # Mask2Former-VIS's name for one size per clip, which is what tubelink does
    "INPUT.MIN_SIZE_TRAIN_SAMPLING": ("choice_by_clip",),
}
"""Compatibility key -> values other than the default under which tubelink behaves the same."""

REMOVED_KEYS: Dict[str, str] = {
    "DATALOADER.CLIPS_PER_GPU": "use SOLVER.IMS_PER_BATCH, the number of clips per iteration over all processes "
    "(each process loads SOLVER.IMS_PER_BATCH / world size)",
}
"""Key no longer in the config -> what to use instead."""


def flatten_keys(tree: Mapping, prefix: str = "") -> List[str]:
    """Full dotted names of the leaves of a nested mapping (a parsed YAML file): {"A": {"B": 1}} -> ["A.B"]."""
    keys = []
    for name, value in tree.items():
        full = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            keys.extend(flatten_keys(value, full + "."))
        else:
            keys.append(full)
    return keys


def refuse_removed_keys(keys: Iterable[str], where: str) -> None:
    """Raise ConfigError naming `where` when one of `keys` (dotted names) was removed from the config."""
    from .config import ConfigError

    for key in keys:
        if key in REMOVED_KEYS:
            raise ConfigError(f"{where}: {key} was removed: {REMOVED_KEYS[key]}")


def refuse_compat_values(cfg, keys: Iterable[str], where: str) -> None:
    """Raise ConfigError naming `where` when a compatibility key among `keys` has a non-default value in `cfg`."""
    from .config import ConfigError
    from .defaults import _C as defaults

    for key in keys:
        if key not in COMPAT_KEYS:
            continue
        value, default = find_key(cfg, key)[1], find_key(defaults, key)[1]
        accepted = [default, *COMPAT_ALSO_ACCEPTED.get(key, ())]
        if _normalise(value) not in [_normalise(v) for v in accepted]:
            only = " or ".join(repr(v) for v in accepted)
            raise ConfigError(
                f"{where}: {key} = {value!r} is not supported, only {only}: {COMPAT_KEYS[key]} "
                "(the key is kept for Mask2Former YAML compatibility)"
            )


def find_key(cfg, key: str) -> Tuple[bool, Any]:
    """(whether the dotted `key` exists in `cfg`, its value or None)."""
    node = cfg
    for part in key.split("."):
        if not hasattr(node, "keys") or part not in node:
            return False, None
        node = node[part]
    return True, node


def _normalise(value: Any) -> Any:
    return [_normalise(v) for v in value] if isinstance(value, (list, tuple)) else value
