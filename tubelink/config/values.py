"""Value checks fvcore's type check leaves out: null in place of a typed default, strings outside their choices.

fvcore accepts None in place of any value (and any value in place of a None default), so `SOLVER.MAX_ITER None`
would merge and fail much later inside training. Checked when a file or an override is merged, naming it.
"""

from __future__ import annotations

from typing import Dict, Iterable, Tuple

from .compat import find_key

__all__ = ["CHOICES", "NULLABLE", "refuse_bad_values"]

AMP_DTYPES = ("bfloat16", "float16")

CHOICES: Dict[str, Tuple[str, ...]] = {
    "SOLVER.AMP.DTYPE": AMP_DTYPES,
    "TEST.AMP.DTYPE": AMP_DTYPES,
}
"""Key -> the values it may take (keys whose consumers would otherwise fail deep inside a run)."""

NULLABLE: Dict[str, Tuple[type, ...]] = {
    "MODEL.SWIN.QK_SCALE": (int, float),  # None: head_dim ** -0.5, as Swin's
}
"""Key whose default is None -> the types it may take besides None."""


def refuse_bad_values(cfg, keys: Iterable[str], where: str) -> None:
    """Raise ConfigError naming `where` and the key when a merged key among `keys` (dotted names) holds null in
    place of a default that is not null, a value of another type where the default is null, or a string outside
    its `CHOICES`. Keys tubelink does not define (detectron2's own, on its config) are left to their owner."""
    from .config import ConfigError
    from .defaults import _C as defaults

    for key in keys:
        known, default = find_key(defaults, key)
        present, value = find_key(cfg, key)
        if not known or not present:
            continue
        if value is None and default is not None:
            raise ConfigError(f"{where}: {key} = null is not allowed; the default is {default!r}")
        if default is None and value is not None:
            types = NULLABLE.get(key, ())
            if isinstance(value, bool) or not isinstance(value, types):
                names = " or ".join(t.__name__ for t in types) or "nothing"
                raise ConfigError(f"{where}: {key} = {value!r} must be null or {names}")
        if key in CHOICES and value not in CHOICES[key]:
            raise ConfigError(f"{where}: {key} = {value!r} must be one of {', '.join(CHOICES[key])}")
