"""Generate a synthetic split on first use, atomically, in a benchmark's on-disk format."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Optional

from .generate import SyntheticOptions, generate_videos, load_class_table

__all__ = ["ensure_synthetic_dataset", "MARKER"]

logger = logging.getLogger(__name__)
MARKER = "synthetic_options.json"


def ensure_synthetic_dataset(root: str, fmt: str, split: str, options: Optional[SyntheticOptions] = None) -> str:
    """Return `<root>/<split>`, generating it in format `fmt` when absent or made with other options.

    The split is written to a temporary folder beside it and renamed into place, so concurrent processes never
    see a partial split (the first rename wins; the others discard their copy).
    """
    from ..datasets.format import get_format  # the formats depend on this package's types

    options = options or SyntheticOptions()
    benchmark = get_format(fmt)
    target = os.path.join(root, split)
    marker = os.path.join(target, MARKER)
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            if f.read() == options.to_json():
                return target
        logger.info(f"{target}: generated with other options; regenerating")
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{split}.tmp-", dir=root)
    try:
        logger.info(f"Generating synthetic {fmt} split '{split}' ({options.num_videos} videos) in {target}")
        benchmark.write_synthetic_split(tmp, split, generate_videos(options, split), load_class_table())
        with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as f:
            f.write(options.to_json())
        if os.path.isdir(target):
            stale = tempfile.mkdtemp(prefix=f".{split}.stale-", dir=root)
            os.rename(target, os.path.join(stale, "old"))
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:  # another process published the split first
            if not os.path.isfile(marker):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
