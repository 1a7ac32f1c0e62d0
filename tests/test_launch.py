"""The launcher runs a function in several gloo processes on the CPU that see each other."""

import json
import os

import torch.distributed as dist

from tubelink.engine.launch import launch
from tubelink.utils import comm


def _report_rank(out_dir):
    gathered = comm.all_gather(comm.get_rank())
    with open(os.path.join(out_dir, f"rank{comm.get_rank()}.json"), "w") as f:
        json.dump({"world": comm.get_world_size(), "gathered": gathered, "backend": dist.get_backend()}, f)


def test_two_cpu_processes_with_gloo(tmp_path):
    launch(_report_rank, num_gpus_per_machine=2, args=(str(tmp_path),))
    reports = [json.load(open(tmp_path / f"rank{r}.json")) for r in range(2)]
    for rep in reports:
        assert rep == {"world": 2, "gathered": [0, 1], "backend": "gloo"}


def test_single_process_runs_inline(tmp_path):
    launch(_single, 1, args=(str(tmp_path),))
    assert (tmp_path / "single.txt").read_text() == "1 0"


def _single(out_dir):
    with open(os.path.join(out_dir, "single.txt"), "w") as f:
        f.write(f"{comm.get_world_size()} {comm.get_rank()}")


def _fail_on_rank_1():
    from tubelink.config import ConfigError

    if comm.get_rank() == 1:
        raise ConfigError("bad.yaml: SOLVER.SOMETHING is wrong")


def test_worker_exception_is_raised_again_in_the_launcher():
    import pytest

    from tubelink.config import ConfigError

    with pytest.raises(ConfigError, match=r"^bad.yaml: SOLVER.SOMETHING is wrong$"):
        launch(_fail_on_rank_1, num_gpus_per_machine=2)
