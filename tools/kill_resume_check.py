#!/usr/bin/env python
"""Kill -9 a training run at random moments, resume it each time, and check that nothing was lost or doubled.

    python tools/kill_resume_check.py --kills 5 --max-iter 12 --seed 0

1. An uninterrupted reference run of train_net.py (a checkpoint after every iteration, so kills land in saves too).
2. The same run started with --resume again and again, each time SIGKILLed at a random moment: after a random
   number of logged iterations plus a random fraction of an iteration. After every kill each checkpoint file in
   OUTPUT_DIR must load, and last_checkpoint must name one of them.
3. A last --resume to the end. Its metrics.json must hold every iteration once with the reference's losses,
   bitwise, and so must TensorBoard's total_loss (as float32).
Prints a JSON summary; exits 1 with `error: ...` when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tubelink.utils.errors import InputError, run_command  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [  # a model and data small enough for a few seconds per run on a CPU
    "MODEL.DEVICE", "cpu", "SEED", "3", "SOLVER.WARMUP_ITERS", "2", "SOLVER.CHECKPOINT_PERIOD", "1",
    "DATALOADER.NUM_WORKERS", "0", "INPUT.MIN_SIZE_TRAIN", "(48,)", "INPUT.CROP.SIZE", "[48, 48]",
    "MODEL.MASK_FORMER.TRAIN_NUM_POINTS", "256", "MODEL.MASK_FORMER.DEC_LAYERS", "3", "DATASETS.TEST", "()",
]  # fmt: skip


def _command(config: str, output_dir: str, max_iter: int, extra: List[str], resume: bool) -> List[str]:
    return [
        sys.executable,
        os.path.join(REPO, "train_net.py"),
        "--config-file",
        config,
        *(["--resume"] if resume else []),
        *TINY,
        "SOLVER.MAX_ITER",
        str(max_iter),
        "SOLVER.STEPS",
        f"({max_iter - 1},)",
        "OUTPUT_DIR",
        output_dir,
        *extra,
    ]


def _losses(output_dir: str) -> List[Dict]:
    """The per-iteration records of metrics.json, in file order."""
    with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
        return [r for r in map(json.loads, f) if "evaluation" not in r]


def _logged_iterations(output_dir: str) -> int:
    try:
        with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
            return sum(1 for line in f if line.endswith("\n"))
    except FileNotFoundError:
        return 0


def check_checkpoints(output_dir: str) -> int:
    """Every checkpoint in `output_dir` loads and last_checkpoint names one; returns how many there are."""
    from tubelink.engine.checkpoint import last_checkpoint, load_training_checkpoint

    names = sorted(n for n in os.listdir(output_dir) if n.endswith(".pth"))
    for name in names:
        load_training_checkpoint(os.path.join(output_dir, name))  # raises, naming the file, when it does not load
    pointed = last_checkpoint(output_dir)
    if names and (pointed is None or os.path.basename(pointed) not in names):
        raise InputError(output_dir, f"last_checkpoint names {pointed}, not one of the checkpoints {names}")
    return len(names)


def _tensorboard_losses(output_dir: str) -> Dict[int, float]:
    import logging

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.ERROR)  # its "purging expired events" notes are expected

    events = EventAccumulator(output_dir, size_guidance={"scalars": 0})
    events.Reload()
    steps = [(e.step, e.value) for e in events.Scalars("total_loss")]
    if len({s for s, _ in steps}) != len(steps):
        raise InputError(output_dir, f"TensorBoard holds some iterations twice: {[s for s, _ in steps]}")
    return dict(steps)


def _timed_run(command: List[str], env: Dict[str, str], output_dir: str) -> float:
    """Run `command` to its end; returns the seconds per iteration (metrics.json lines watched as they appear)."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: Dict[int, float] = {}
    while proc.poll() is None:
        seen.setdefault(_logged_iterations(output_dir), time.perf_counter())
        time.sleep(0.002)
    if proc.returncode != 0:
        raise InputError(output_dir, f"the reference run failed: {proc.stderr.read()[-2000:]}")
    counts = sorted(k for k in seen if k > 0)
    if len(counts) < 2:
        return 0.05
    return (seen[counts[-1]] - seen[counts[0]]) / (counts[-1] - counts[0])


def kill_and_resume(
    work_dir: str, kills: int, max_iter: int, seed: int, config: str, extra: List[str], env: Dict[str, str]
) -> Dict:
    """Run the reference, then the killed-and-resumed run in `work_dir`; returns a summary (raises on failure)."""
    import numpy as np

    rng = random.Random(seed)
    env = dict(os.environ, **env)
    reference_dir, killed_dir = os.path.join(work_dir, "reference"), os.path.join(work_dir, "killed")
    per_iteration = _timed_run(_command(config, reference_dir, max_iter, extra, False), env, reference_dir)
    reference = _losses(reference_dir)
    moments = []
    for _ in range(kills):
        done_before = _logged_iterations(killed_dir)
        if done_before >= max_iter:
            break
        target = rng.randint(done_before, max_iter - 1)  # kill after this many logged iterations ...
        delay = rng.uniform(0, per_iteration)  # ... plus a random part of the next one
        proc = subprocess.Popen(
            _command(config, killed_dir, max_iter, extra, True), env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while proc.poll() is None and _logged_iterations(killed_dir) < target:
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        logged = _logged_iterations(killed_dir)
        moments.append({"after_iterations": logged, "checkpoints": check_checkpoints(killed_dir)})
    final = subprocess.run(_command(config, killed_dir, max_iter, extra, True), env=env, capture_output=True, text=True)
    if final.returncode != 0:
        raise InputError(killed_dir, f"the last --resume failed: {final.stderr.strip().splitlines()[-1:]}")
    check_checkpoints(killed_dir)
    resumed = _losses(killed_dir)
    if [r["iteration"] for r in resumed] != list(range(1, max_iter + 1)):
        raise InputError(killed_dir, f"metrics.json iterations are {[r['iteration'] for r in resumed]}")
    if resumed != reference:
        first = next(i for i, (a, b) in enumerate(zip(resumed, reference)) if a != b)
        raise InputError(killed_dir, f"iteration {first + 1} differs from the uninterrupted run: {resumed[first]}")
    board = _tensorboard_losses(killed_dir)
    expected = {r["iteration"]: float(np.float32(r["total_loss"])) for r in reference}
    if board != expected:
        raise InputError(killed_dir, f"TensorBoard total_loss {board} differs from metrics.json {expected}")
    return {"kills": moments, "iterations": max_iter, "bitwise_equal": True, "reference_dir": reference_dir}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml"))
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--work-dir", default="", help="keep the runs here (default: a temporary folder)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for both runs")
    args = parser.parse_args()
    if args.max_iter < 2 or args.kills < 0:
        raise InputError("--max-iter / --kills", "need --max-iter >= 2 and --kills >= 0")
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="tubelink_kill_")
    summary = kill_and_resume(work_dir, args.kills, args.max_iter, args.seed, args.config_file, args.opts, {})
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    run_command(main)
