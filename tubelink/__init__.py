"""tubelink: Tube-Link universal video segmentation (VPS, VIS, VSS), detectron2-style and detectron2-optional.

Importing the package registers every built-in dataset split (cheap: nothing is read until a split is used).
"""

from .config import add_tubelink_config, get_cfg
from .data import builtin as _builtin  # noqa: F401  (registration side effect lives here only)

__version__ = "0.1.0"
__all__ = ["get_cfg", "add_tubelink_config", "__version__"]
