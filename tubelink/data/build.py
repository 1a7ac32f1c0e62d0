"""Training and test data loading: a deterministic, resumable, distributed clip stream, and per-video test streams.

Training item k of rank r is a pure function of (seed, k, r): which dataset (ratio mixing), which video and every
random draw of the mapper come from `numpy.random.default_rng([seed, k, r])`. Iteration i consists of items
i*B .. i*B + B - 1, where B = SOLVER.IMS_PER_BATCH / world size is the rank's share of the global batch (detectron2's
split of IMS_PER_BATCH). So the stream needs no sampler state: resuming at iteration i restarts it
there and reproduces the uninterrupted run exactly, with any number of worker processes (worker w produces the
batches of iterations w, w + W, ...; the DataLoader returns workers' batches round-robin, i.e. in iteration order).
"""

from __future__ import annotations

import logging
from typing import Callable, Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..config import ConfigError
from ..utils import comm
from .catalog import DatasetCatalog
from .mappers import TubeClipMapper

__all__ = [
    "ClipStream",
    "build_train_loader",
    "build_train_loader_from_config",
    "clips_per_process",
    "load_video_dicts",
    "trivial_batch_collator",
]

logger = logging.getLogger(__name__)

MapFn = Callable[[dict, np.random.Generator], dict]
"""map_fn(video_dict, rng) -> training clip dict (see tubelink.data.mappers)."""


def load_video_dicts(names: Sequence[str], filter_empty: bool = True) -> List[List[dict]]:
    """Video dicts of each dataset in `names` (one list per dataset); empty videos are dropped with a log line."""
    out = []
    for name in names:
        videos = DatasetCatalog.get(name)
        if filter_empty:
            kept = [v for v in videos if v.get("length", len(v.get("file_names", []))) > 0]
            if len(kept) < len(videos):
                logger.warning(f"{name}: skipped {len(videos) - len(kept)} empty videos")
            videos = kept
        if not videos:
            raise ValueError(f"dataset '{name}' has no usable video")
        logger.info(f"{name}: {len(videos)} videos")
        out.append(videos)
    return out


class ClipStream(IterableDataset):
    """Infinite stream of training clips, item k a pure function of (seed, k, rank)."""

    def __init__(
        self,
        datasets: Sequence[Sequence[dict]],
        map_fns: Sequence[MapFn],
        seed: int,
        clips_per_iter: int = 1,
        ratios: Optional[Sequence[float]] = None,
        start_iter: int = 0,
        rank: Optional[int] = None,
    ) -> None:
        """
        Args:
            datasets: one list of video dicts per dataset.
            map_fns: one mapper per dataset, called as map_fn(video_dict, rng).
            seed: base seed (>= 0) of the stream.
            clips_per_iter: clips of one iteration on this rank, its share of SOLVER.IMS_PER_BATCH (the
                DataLoader's batch size equals it).
            ratios: sampling weight of each dataset (default: proportional to the number of videos).
            start_iter: first iteration produced (the resume point).
        """
        if len(datasets) != len(map_fns):
            raise ValueError(f"{len(datasets)} datasets but {len(map_fns)} mappers")
        if ratios is None or len(ratios) == 0:
            ratios = [float(len(d)) for d in datasets]
        if len(ratios) != len(datasets) or min(ratios) < 0 or sum(ratios) <= 0:
            raise ValueError(
                f"DATASETS.DATASET_RATIO: need one non-negative weight per training dataset "
                f"({len(datasets)}), got {list(ratios)}"
            )
        self.datasets = [list(d) for d in datasets]
        self.map_fns = list(map_fns)
        self.probs = np.asarray(ratios, dtype=np.float64) / float(sum(ratios))
        self.seed = int(seed)
        self.clips_per_iter = int(clips_per_iter)
        self.start_iter = int(start_iter)
        self.rank = comm.get_rank() if rank is None else rank

    def item(self, k: int) -> dict:
        """Training item number k of this rank."""
        rng = np.random.default_rng([self.seed, k, self.rank])
        which = int(rng.choice(len(self.datasets), p=self.probs)) if len(self.datasets) > 1 else 0
        videos = self.datasets[which]
        video = videos[int(rng.integers(len(videos)))]
        return self.map_fns[which](video, rng)

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        iteration = self.start_iter + worker
        while True:
            for b in range(self.clips_per_iter):
                yield self.item(iteration * self.clips_per_iter + b)
            iteration += num_workers


def trivial_batch_collator(batch: List[dict]) -> List[dict]:
    """Keep a batch as a list of dicts (detectron2's convention: the model does the batching)."""
    return batch


def build_train_loader(stream: ClipStream, num_workers: int) -> DataLoader:
    """DataLoader over `stream` yielding one list of clip dicts per iteration, in iteration order."""
    return DataLoader(
        stream,
        batch_size=stream.clips_per_iter,
        num_workers=num_workers,
        collate_fn=trivial_batch_collator,
        persistent_workers=num_workers > 0,
        # Its own generator: creating an iterator must not draw from the global RNG, which resume restores.
        generator=torch.Generator().manual_seed(0),
        prefetch_factor=2 if num_workers > 0 else None,
        worker_init_fn=_worker_init,
    )


def clips_per_process(total_clips: int, world_size: int) -> int:
    """This process's share of the global batch SOLVER.IMS_PER_BATCH = `total_clips` over `world_size` processes.

    Raises:
        ConfigError: naming SOLVER.IMS_PER_BATCH when it is not a positive multiple of `world_size`.
    """
    if total_clips < 1 or total_clips % world_size:
        raise ConfigError(
            f"SOLVER.IMS_PER_BATCH = {total_clips} must be a positive multiple of the number of processes "
            f"({world_size}): it is the number of clips per iteration over all of them"
        )
    return total_clips // world_size


def build_train_loader_from_config(cfg, start_iter: int = 0) -> DataLoader:
    """The training loader of a config: DATASETS.TRAIN mixed by DATASETS.DATASET_RATIO, the clip mapper,
    SOLVER.IMS_PER_BATCH / world size clips per iteration on this process from iteration `start_iter` on (the
    resume point)."""
    per_process = clips_per_process(cfg.SOLVER.IMS_PER_BATCH, comm.get_world_size())
    datasets = load_video_dicts(cfg.DATASETS.TRAIN)
    mapper = TubeClipMapper.from_config(cfg, is_train=True)
    stream = ClipStream(
        datasets,
        [mapper] * len(datasets),
        cfg.SEED if cfg.SEED >= 0 else 0,
        per_process,
        list(cfg.DATASETS.DATASET_RATIO) or None,
        start_iter=start_iter,
    )
    return build_train_loader(stream, cfg.DATALOADER.NUM_WORKERS)


def _worker_init(worker_id: int) -> None:
    # Workers must not each spawn a full thread pool on a small CPU.
    torch.set_num_threads(1)
