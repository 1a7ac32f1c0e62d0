"""Logging set-up: a console handler on the main process and `log.txt` (per rank) in the output folder."""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional

__all__ = ["setup_logger"]

_FORMAT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"


def setup_logger(output_dir: Optional[str] = None, distributed_rank: int = 0, name: str = "tubelink") -> logging.Logger:
    """Configure and return the `name` logger; idempotent (handlers are replaced, not added twice).

    Rank 0 logs INFO to stdout; every rank writes `log.txt` (rank r > 0: `log.txt.rank{r}`) under `output_dir`.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(_FORMAT, datefmt="%m/%d %H:%M:%S")
    if distributed_rank == 0:
        console = logging.StreamHandler(stream=sys.stdout)
        console.setLevel(logging.INFO)
        console.setFormatter(formatter)
        logger.addHandler(console)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        filename = "log.txt" if distributed_rank == 0 else f"log.txt.rank{distributed_rank}"
        file_handler = logging.FileHandler(os.path.join(output_dir, filename), mode="a")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    return logger
