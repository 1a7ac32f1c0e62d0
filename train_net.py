#!/usr/bin/env python
"""Train and evaluate Tube-Link (detectron2's train_net.py contract).

    python train_net.py --config-file configs/synthetic/tubelink_small.yaml
    python train_net.py --config-file configs/vipseg/tubelink_R50.yaml --num-gpus 8 MODEL.WEIGHTS model_final_94dc52.pkl
    python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS output/model_final.pth
    python train_net.py --config-file CFG --resume          # continue from OUTPUT_DIR/last_checkpoint
    torchrun --nproc-per-node 8 train_net.py --config-file CFG
    python train_net.py --engine detectron2 --config-file CFG   # through detectron2 itself, when installed
Without CUDA, --num-gpus N runs N CPU processes over gloo (native engine).
Bad input ends in one line `error: <file or key>: <problem>` and exit status 1; --debug (or TUBELINK_DEBUG=1) shows
the traceback. --eval-only refuses MODEL.WEIGHTS that cover only part of the model unless
MODEL.WEIGHTS_COVERAGE.ALLOW_PARTIAL True (under both engines).
"""

import functools
import json

import tubelink  # noqa: F401  (registers the datasets)
from tubelink.engine.defaults import default_argument_parser, default_setup, setup_cfg
from tubelink.engine.launch import launch
from tubelink.utils.errors import InputError, require_output_folder, run_command


def main(args) -> dict:
    """Set up, then evaluate (--eval-only) or train; returns the evaluation results."""
    from tubelink.checkpoint import CoveragePolicy, load_weights
    from tubelink.engine.evaluation import evaluate_model
    from tubelink.engine.trainer import Trainer
    from tubelink.modeling import build_model
    from tubelink.utils import comm

    cfg = setup_cfg(args)
    if args.eval_only and not cfg.MODEL.WEIGHTS:
        raise InputError("MODEL.WEIGHTS", "is empty; --eval-only needs a checkpoint to evaluate")
    if cfg.OUTPUT_DIR and comm.is_main_process():
        require_output_folder(cfg.OUTPUT_DIR, "OUTPUT_DIR")
    default_setup(cfg, args)
    if args.eval_only:
        model = build_model(cfg)
        load_weights(model, cfg.MODEL.WEIGHTS, CoveragePolicy.from_config(cfg, inference=True))
        results = evaluate_model(cfg, model)
    else:
        results = Trainer(cfg, resume=args.resume).train()
    if comm.is_main_process():
        print(json.dumps(results, indent=1))
    return results


def main_detectron2(args) -> dict:
    """The same run through detectron2: DefaultTrainer, DetectionCheckpointer, inference_on_dataset."""
    from detectron2.engine import default_setup as detectron2_default_setup
    from detectron2.utils import comm

    import tubelink.detectron2 as bridge
    from tubelink.utils.logger import setup_logger

    cfg = bridge.setup_cfg(args)
    detectron2_default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank())  # tubelink's own loggers
    if args.eval_only:
        if not cfg.MODEL.WEIGHTS:
            raise InputError("MODEL.WEIGHTS", "is empty; --eval-only needs a checkpoint to evaluate")
        model = bridge.TubeLinkTrainer.build_model(cfg)
        bridge.load_model_weights(cfg, model, inference=True, resume=args.resume)
        results = bridge.TubeLinkTrainer.test(cfg, model)
    else:
        trainer = bridge.TubeLinkTrainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        results = trainer.train()
    if comm.is_main_process():
        print(json.dumps(results, indent=1))
    return results


def run(entry, args) -> None:
    """One process of the job: `entry(args)` under the error boundary (a worker prints its own error line)."""
    run_command(entry, args)


def start() -> None:
    """Parse the command line and launch the job's processes."""
    args = default_argument_parser().parse_args()
    if args.engine == "detectron2":
        try:
            from detectron2.engine import launch as detectron2_launch
        except ImportError:
            raise InputError(
                "--engine detectron2",
                "needs detectron2 (https://detectron2.readthedocs.io/en/latest/tutorials/install.html); the default "
                "--engine native needs no detectron2",
            ) from None
        entry, launcher = main_detectron2, detectron2_launch
    else:
        entry, launcher = main, launch
    if args.num_gpus < 1 or args.num_machines < 1:
        raise InputError("--num-gpus" if args.num_gpus < 1 else "--num-machines", "must be at least 1")
    if not 0 <= args.machine_rank < args.num_machines:
        raise InputError("--machine-rank", f"must lie in [0, --num-machines={args.num_machines})")
    world = args.num_gpus * args.num_machines
    if world > 1 and args.engine == "native":  # a bad config: one line from here, not one from every worker
        setup_cfg(args, world_size=world)
    worker = functools.partial(run, entry) if world > 1 else entry  # the boundary of `start` covers one process
    launcher(worker, args.num_gpus, args.num_machines, args.machine_rank, args.dist_url, args=(args,))


if __name__ == "__main__":
    run_command(start)
