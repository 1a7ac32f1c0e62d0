"""The detectron2 bridge. The first two tests always run (tubelink must not need detectron2); the rest run only
where detectron2 is importable (CI has none: they are skipped there with the reason) and check training through
DefaultTrainer, evaluation through inference_on_dataset equal to the native evaluation, DetectionCheckpointer
round trips, train_net.py / demo.py with --engine detectron2, and that every YAML means the same to both engines."""

import glob
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml")
HAS_DETECTRON2 = importlib.util.find_spec("detectron2") is not None
needs_detectron2 = pytest.mark.skipif(
    not HAS_DETECTRON2, reason="detectron2 is not installed (the bridge tests run where it is)"
)


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)


def test_importing_tubelink_never_imports_detectron2():
    proc = _python(
        "import sys, tubelink, tubelink.engine.trainer, tubelink.inference, tubelink.evaluation\n"
        "assert 'detectron2' not in sys.modules, 'tubelink imported detectron2'"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_bridge_without_detectron2_is_a_clear_import_error():
    proc = _python(
        "import sys\nsys.modules['detectron2'] = None  # as if it were not installed\nimport tubelink.detectron2"
    )
    assert proc.returncode != 0
    assert "tubelink.detectron2 needs detectron2" in proc.stderr and "install.html" in proc.stderr


# ---------------------------------------------------------------- with detectron2


def _args(*opts, config_file=SMALL):
    import argparse

    return argparse.Namespace(config_file=config_file, opts=list(opts))


TINY = [
    "MODEL.DEVICE", "cpu", "SEED", 3, "SOLVER.MAX_ITER", 4, "SOLVER.STEPS", (3,), "SOLVER.WARMUP_ITERS", 1,
    "SOLVER.CHECKPOINT_PERIOD", 2, "DATALOADER.NUM_WORKERS", 0, "INPUT.MIN_SIZE_TRAIN", (48,),
    "INPUT.CROP.SIZE", [48, 48], "MODEL.MASK_FORMER.TRAIN_NUM_POINTS", 256, "MODEL.MASK_FORMER.DEC_LAYERS", 3,
]  # fmt: skip


@needs_detectron2
def test_registration_mirrors_architecture_and_every_split():
    from detectron2.data import DatasetCatalog as D2DatasetCatalog
    from detectron2.data import MetadataCatalog as D2MetadataCatalog
    from detectron2.modeling import META_ARCH_REGISTRY

    import tubelink.detectron2  # noqa: F401
    from tubelink.data.catalog import DatasetCatalog, MetadataCatalog

    assert "TubeLink" in META_ARCH_REGISTRY
    for name in DatasetCatalog.list():
        assert name in D2DatasetCatalog.list()
        ours, theirs = MetadataCatalog.get(name), D2MetadataCatalog.get(name)
        assert theirs.evaluator_type == ours.evaluator_type and theirs.class_table == ours.class_table


def _file_seed(config_file):
    from tubelink.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    return cfg.SEED


@needs_detectron2
@pytest.mark.parametrize(
    "config_file", sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True))
)
def test_every_config_means_the_same_to_both_engines(config_file):
    import tubelink.detectron2 as bridge
    from tubelink.engine.defaults import setup_cfg

    native = setup_cfg(_args(config_file=config_file))
    d2 = bridge.setup_cfg(_args("MODEL.DEVICE", "cpu", config_file=config_file))

    def compare(a, b, prefix=""):
        for key, value in a.items():
            if isinstance(value, dict):
                compare(value, b[key], f"{prefix}{key}.")
            elif prefix + key == "SEED" and _file_seed(config_file) < 0:  # each engine draws one
                assert value >= 0 and b[key] >= 0
            elif prefix + key != "MODEL.DEVICE":  # "auto" is resolved for detectron2's build_model
                other = b[key]
                if isinstance(value, (list, tuple)):
                    value, other = list(value), list(other)
                assert other == value, f"{prefix}{key}: {other!r} != {value!r}"

    compare(native, d2)


@needs_detectron2
def test_default_trainer_refuses_model_ema(datasets_root):
    import tubelink.detectron2 as bridge
    from tubelink.utils.errors import InputError

    cfg = bridge.setup_cfg(_args(*TINY, "OUTPUT_DIR", str(datasets_root / "ema"), "MODEL_EMA.ENABLED", "True"))
    with pytest.raises(InputError, match="MODEL_EMA.ENABLED"):
        bridge.TubeLinkTrainer(cfg)


@needs_detectron2
def test_default_trainer_trains_checkpoints_and_round_trips(datasets_root):
    from detectron2.checkpoint import DetectionCheckpointer

    import tubelink.detectron2 as bridge

    out = datasets_root / "run"
    cfg = bridge.setup_cfg(_args(*TINY, "OUTPUT_DIR", str(out), "DATASETS.TEST", "()"))
    trainer = bridge.TubeLinkTrainer(cfg)
    trainer.resume_or_load(resume=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    after = trainer.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after if after[k].is_floating_point())
    metrics = [json.loads(line) for line in open(out / "metrics.json")]
    assert all(torch.isfinite(torch.tensor(m["total_loss"])) for m in metrics if "total_loss" in m)
    assert {"loss_ce", "loss_mask", "loss_dice", "loss_tcl", "loss_tcl_aux"} <= set(metrics[-1])
    assert {"model_0000001.pth", "model_0000003.pth", "model_final.pth", "last_checkpoint"} <= set(os.listdir(out))

    fresh = bridge.TubeLinkTrainer.build_model(cfg)
    DetectionCheckpointer(fresh).load(str(out / "model_final.pth"))
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key

    resumed = bridge.TubeLinkTrainer(cfg)
    resumed.resume_or_load(resume=True)  # from the final checkpoint: model, optimizer and iteration restored
    assert resumed.start_iter == cfg.SOLVER.MAX_ITER
    state, restored = trainer._trainer.optimizer.state_dict()["state"], resumed._trainer.optimizer.state_dict()["state"]
    assert state.keys() == restored.keys() and all(
        torch.equal(state[k]["exp_avg"], restored[k]["exp_avg"]) for k in state
    )


@needs_detectron2
def test_inference_on_dataset_equals_native_evaluation(datasets_root):
    import tubelink.detectron2 as bridge
    from tubelink.engine.evaluation import evaluate_model

    tests = ("synthetic_vipseg_val", "synthetic_ytvis_val")
    # Threshold 0: the untrained model's segments are all kept, so the numbers compared are not all zero.
    opts = ("DATASETS.TEST", tests, "MODEL.MASK_FORMER.TEST.OBJECT_MASK_THRESHOLD", 0.0)
    cfg = bridge.setup_cfg(_args(*TINY, "OUTPUT_DIR", str(datasets_root / "e"), *opts))
    torch.manual_seed(0)
    model = bridge.TubeLinkTrainer.build_model(cfg)
    through_detectron2 = bridge.TubeLinkTrainer.test(cfg, model)
    native = evaluate_model(cfg, model)
    assert set(through_detectron2) == set(tests)
    for name in tests:
        assert through_detectron2[name] == pytest.approx(native[name], abs=1e-12), name
    assert native["synthetic_vipseg_val"]["SQ"] > 0 and "AP" in native["synthetic_ytvis_val"]


@needs_detectron2
def test_train_net_and_demo_with_detectron2_engine(datasets_root, tmp_path):
    env = dict(os.environ, DETECTRON2_DATASETS=str(datasets_root / "data"), OMP_NUM_THREADS="2")
    out = tmp_path / "cli"
    train = subprocess.run(
        [sys.executable, os.path.join(REPO, "train_net.py"), "--engine", "detectron2", "--config-file", SMALL,
         *map(str, TINY), "OUTPUT_DIR", str(out), "DATASETS.TEST", "('synthetic_vipseg_val',)"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    results = json.loads(train.stdout[train.stdout.index("{") :])
    assert {"VPQ", "STQ"} <= set(results)
    weights = str(out / "model_final.pth")
    evaluate = subprocess.run(
        [sys.executable, os.path.join(REPO, "train_net.py"), "--engine", "detectron2", "--config-file", SMALL,
         "--eval-only", *map(str, TINY), "MODEL.WEIGHTS", weights, "OUTPUT_DIR", str(tmp_path / "ev"),
         "DATASETS.TEST", "('synthetic_vipseg_val',)"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert json.loads(evaluate.stdout[evaluate.stdout.index("{") :]) == results  # same weights, same numbers

    from tubelink.data.synthetic import SyntheticOptions, generate_video
    from tubelink.utils.video_io import VideoWriter, open_video_source

    video = generate_video(SyntheticOptions(num_videos=1, num_frames=5, height=64, width=96), 0)
    path = str(tmp_path / "clip.mp4")
    with VideoWriter(path, fps=10) as writer:
        for frame in video.frames:
            writer.write(frame)
    demo = subprocess.run(
        [sys.executable, os.path.join(REPO, "demo", "demo.py"), "--engine", "detectron2", "--config-file", SMALL,
         "--input", path, "--output", str(tmp_path / "demo"), "--opts", "MODEL.WEIGHTS", weights,
         "MODEL.MASK_FORMER.DEC_LAYERS", "3", "MODEL.DEVICE", "cpu"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert len(list(open_video_source(str(tmp_path / "demo" / "clip.mp4")))) == 5


@needs_detectron2
def test_weights_of_another_model_are_refused_under_detectron2(datasets_root, tmp_path):
    # DetectionCheckpointer would load nothing of this file, warn, and evaluate random weights
    import tubelink.detectron2 as bridge
    from tubelink.checkpoint import PartialLoadError

    wrong = tmp_path / "other_model.pth"
    torch.save({"model": {"roi_heads.box_predictor.cls_score.weight": torch.zeros(81, 1024)}}, wrong)
    cfg = bridge.setup_cfg(_args(*TINY, "OUTPUT_DIR", str(tmp_path / "o"), "MODEL.WEIGHTS", str(wrong)))
    model = bridge.TubeLinkTrainer.build_model(cfg)
    with pytest.raises(PartialLoadError, match="other_model.pth: loaded 0 of the model's"):
        bridge.load_model_weights(cfg, model, inference=True)
    with pytest.raises(PartialLoadError, match="other_model.pth: loaded 0 of the model's"):
        bridge.TubeLinkTrainer(cfg).resume_or_load(resume=False)  # a training initialisation from nothing too

    env = dict(os.environ, DETECTRON2_DATASETS=str(datasets_root / "data"))
    evaluate = subprocess.run(
        [sys.executable, os.path.join(REPO, "train_net.py"), "--engine", "detectron2", "--config-file", SMALL,
         "--eval-only", *map(str, TINY), "MODEL.WEIGHTS", str(wrong), "OUTPUT_DIR", str(tmp_path / "ev")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert evaluate.returncode == 1
    errors = [line for line in evaluate.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {wrong}: loaded 0 of the model's"), evaluate.stderr
    assert "Traceback" not in evaluate.stderr
