"""Starting one process per device (detectron2's `launch` contract), on GPUs with NCCL or on CPUs with gloo.

`--num-gpus N` starts N worker processes on this machine. Without CUDA the workers run on the CPU and talk over
gloo, so multi-process training is testable anywhere. Under `torchrun` (RANK / WORLD_SIZE / LOCAL_RANK set) the
process group is initialised from the environment instead and nothing is spawned.

An exception in a spawned worker is raised again in the launching process as the same exception (when it can be
pickled), so a caller's error handling (e.g. one line for a ConfigError) works the same for 1 and N processes.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import socket
import tempfile
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
    error_dir = tempfile.mkdtemp(prefix="tubelink_launch_")
    try:
        context = mp.start_processes(
            _worker,
            nprocs=num_gpus_per_machine,
            args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout, error_dir),
            daemon=False,
            start_method="spawn",
            join=False,
        )
        # After a failure the other workers get a moment to stop on their own (they usually fail the same way).
        while not context.join(grace_period=10):
            pass
    except mp.ProcessRaisedException as failure:
        original = _worker_exception(error_dir, failure.error_index)
        if original is None:
            raise
        raise original from failure
    finally:
        shutil.rmtree(error_dir, ignore_errors=True)


def _worker_exception(error_dir: str, first_failed: int) -> BaseException | None:
    """The exception a worker saved (the first failed one's if it saved one), or None."""
    names = sorted((n for n in os.listdir(error_dir) if n.endswith(".pkl")), key=lambda n: n != f"{first_failed}.pkl")
    for name in names:
        try:
            with open(os.path.join(error_dir, name), "rb") as f:
                return pickle.load(f)
        except Exception:  # an exception class that does not unpickle here: keep torch's traceback text
            continue
    return None


def _init_from_env(timeout: timedelta) -> None:
    local_rank = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=default_backend(), init_method="env://", timeout=timeout)


def _worker(
    local_rank, main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout, error_dir
) -> None:
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
    except Exception as err:
        _save_exception(err, os.path.join(error_dir, f"{local_rank}.pkl"))
        raise
    finally:
        dist.destroy_process_group()


def _save_exception(err: Exception, path: str) -> None:
    try:
        payload = pickle.dumps(err)
    except Exception:  # unpicklable: the parent reports torch's traceback text instead
        return
    with open(path + ".tmp", "wb") as f:
        f.write(payload)
    os.replace(path + ".tmp", path)
