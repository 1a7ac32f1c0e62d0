"""kill -9 at random moments of a training run (train_net.py subprocesses): every checkpoint left behind loads,
and --resume reproduces the uninterrupted run's losses bitwise, each iteration logged once (metrics.json and
TensorBoard). The logic lives in tools/kill_resume_check.py, which runs longer versions of the same check."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

from kill_resume_check import kill_and_resume  # noqa: E402


@pytest.mark.parametrize("seed", [0])
def test_kill_minus_9_then_resume_reproduces_the_run(tmp_path, seed):
    config = os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml")
    env = {"DETECTRON2_DATASETS": str(tmp_path / "data"), "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}
    summary = kill_and_resume(str(tmp_path), kills=3, max_iter=6, seed=seed, config=config, extra=[], env=env)
    assert summary["bitwise_equal"]
    # at least one kill landed inside the training loop, with checkpoints already on disk
    assert any(0 < k["checkpoints"] and k["after_iterations"] < 6 for k in summary["kills"]), summary
