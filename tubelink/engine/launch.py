"""Starting one process per device (detectron2's `launch` contract), on GPUs with NCCL or on CPUs with gloo.

`--num-gpus N` starts N worker processes on this machine. Without CUDA the workers run on the CPU and talk over
gloo, so multi-process training is testable anywhere. Under `torchrun` (RANK / WORLD_SIZE / LOCAL_RANK set) the
process group is initialised from the environment instead and nothing is spawned.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any, Callable, Tuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

__all__ = ["launch", "find_free_port", "default_backend", "launched_by_torchrun"]

logger = logging.getLogger(__name__)
DEFAULT_TIMEOUT = timedelta(minutes=30)


def find_free_port() -> int:
    """A TCP port free on localhost right now (for single-machine dist_url="auto")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_backend() -> str:
    """ "nccl" when CUDA is available, else "gloo"."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def launched_by_torchrun() -> bool:
    """True when the environment describes a process of a torchrun / torch.distributed.run job."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"))


def launch(
    main_func: Callable[..., Any],
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str = "auto",
    args: Tuple = (),
    timeout: timedelta = DEFAULT_TIMEOUT,
) -> None:
    """Run `main_func(*args)` in every process of the job.

    Args:
        num_gpus_per_machine: processes on this machine (GPUs, or CPU workers without CUDA).
        num_machines, machine_rank: multi-machine layout; `dist_url` must then be "tcp://HOST:PORT" of machine 0.
        dist_url: "auto" picks a free local port (single machine only).
    """
    if launched_by_torchrun():
        _init_from_env(timeout)
        try:
            main_func(*args)
        finally:
            dist.destroy_process_group()
        return
    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1:
        main_func(*args)
        return
    if dist_url == "auto":
        if num_machines != 1:
            raise ValueError("--dist-url auto only works on one machine; pass tcp://HOST:PORT of machine 0")
        dist_url = f"tcp://127.0.0.1:{find_free_port()}"
    if num_machines > 1 and dist_url.startswith("file://"):
        logger.warning("file:// init for several machines needs a file system shared by all of them")
    if torch.cuda.is_available() and num_gpus_per_machine > torch.cuda.device_count():
        raise ValueError(
            f"--num-gpus {num_gpus_per_machine} asks for more GPUs than this machine has ({torch.cuda.device_count()})"
        )
    mp.start_processes(
        _worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout),
        daemon=False,
        start_method="spawn",
    )


def _init_from_env(timeout: timedelta) -> None:
    local_rank = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=default_backend(), init_method="env://", timeout=timeout)


def _worker(local_rank, main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout) -> None:
    global_rank = machine_rank * num_gpus_per_machine + local_rank
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    else:
        # Share the CPU cores between the workers instead of oversubscribing them.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // num_gpus_per_machine))
    os.environ["LOCAL_RANK"] = str(local_rank)
    dist.init_process_group(
        backend=default_backend(), init_method=dist_url, world_size=world_size, rank=global_rank, timeout=timeout
    )
    try:
        dist.barrier()
        main_func(*args)
    finally:
        dist.destroy_process_group()
