"""SOLVER.IMS_PER_BATCH is the global batch: `train_net.py --num-gpus 2 SOLVER.IMS_PER_BATCH 4` feeds the model 2 clips
per process (gloo on the CPU), an indivisible batch and a refused key stop with one line naming the key."""

import json
import os
import subprocess
import sys


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml")
TINY = [
    "MODEL.DEVICE", "cpu", "SEED", "3", "SOLVER.MAX_ITER", "2", "SOLVER.STEPS", "(1,)", "SOLVER.WARMUP_ITERS", "1",
    "SOLVER.CHECKPOINT_PERIOD", "0", "DATALOADER.NUM_WORKERS", "0", "INPUT.MIN_SIZE_TRAIN", "(48,)",
    "INPUT.CROP.SIZE", "[48, 48]", "MODEL.MASK_FORMER.TRAIN_NUM_POINTS", "256", "MODEL.MASK_FORMER.DEC_LAYERS", "3",
    "DATASETS.TEST", "()",
]  # fmt: skip


def _train_counting_clips(argv, out_dir):
    """In each worker: train_net.main as the command line runs it, recording how many clips each forward gets."""
    sys.path.insert(0, REPO)
    import train_net
    from tubelink.modeling.meta_arch.tube_link import TubeLink
    from tubelink.utils import comm

    from tubelink.engine.defaults import default_argument_parser

    received = []
    forward = TubeLink.forward

    def counting_forward(self, batched_inputs):
        if self.training:
            received.append(len(batched_inputs))
        return forward(self, batched_inputs)

    TubeLink.forward = counting_forward
    train_net.main(default_argument_parser().parse_args(argv))
    with open(os.path.join(out_dir, f"clips{comm.get_rank()}.json"), "w") as f:
        json.dump(received, f)


def test_two_processes_each_load_half_the_global_batch(datasets_root):
    from tubelink.data import DatasetCatalog
    from tubelink.engine.launch import launch

    DatasetCatalog.get("synthetic_vipseg_train")  # generate once, before the workers start
    argv = ["--config-file", SMALL, "--num-gpus", "2", "SOLVER.IMS_PER_BATCH", "4", *TINY]
    argv += ["OUTPUT_DIR", str(datasets_root / "out")]
    launch(_train_counting_clips, num_gpus_per_machine=2, args=(argv, str(datasets_root)))
    for rank in (0, 1):
        with open(datasets_root / f"clips{rank}.json") as f:
            assert json.load(f) == [2, 2]  # 2 iterations of 4 / 2 clips


def _run(*args, env):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "train_net.py"), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1", **env),
    )


def test_indivisible_global_batch_is_one_line_before_any_worker_starts(datasets_root):
    env = {"DETECTRON2_DATASETS": str(datasets_root / "data")}
    proc = _run("--config-file", SMALL, "--num-gpus", "2", "SOLVER.IMS_PER_BATCH", "3", *TINY, env=env)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "error: SOLVER.IMS_PER_BATCH = 3 must be a positive multiple of the number of processes (2): it is the "
        "number of clips per iteration over all of them"
    ], proc.stderr[-2000:]


def test_refused_key_in_a_yaml_stops_train_net_naming_file_and_key(datasets_root):
    cfg_file = datasets_root / "m2f_style.yaml"
    cfg_file.write_text(f"_BASE_: {SMALL}\nMODEL:\n  MASK_FORMER:\n    PRE_NORM: True\n")
    proc = _run("--config-file", str(cfg_file), *TINY, env={"DETECTRON2_DATASETS": str(datasets_root / "data")})
    assert proc.returncode != 0
    assert f"{cfg_file}: MODEL.MASK_FORMER.PRE_NORM = True is not supported" in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
