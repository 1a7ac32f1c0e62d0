#!/usr/bin/env python
"""Train and evaluate Tube-Link (detectron2's train_net.py contract).

    python train_net.py --config-file configs/synthetic/tubelink_small.yaml
    python train_net.py --config-file configs/vipseg/tubelink_R50.yaml --num-gpus 8 MODEL.WEIGHTS model_final_94dc52.pkl
    python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS output/model_final.pth
    python train_net.py --config-file CFG --resume          # continue from OUTPUT_DIR/last_checkpoint
    torchrun --nproc-per-node 8 train_net.py --config-file CFG
    python train_net.py --engine detectron2 --config-file CFG   # through detectron2 itself, when installed
Without CUDA, --num-gpus N runs N CPU processes over gloo (native engine).
"""

import json
import logging
import sys

import tubelink  # noqa: F401  (registers the datasets)
from tubelink.config import ConfigError
from tubelink.engine.defaults import default_argument_parser, default_setup, setup_cfg
from tubelink.engine.launch import launch


def main(args) -> dict:
    """Set up, then evaluate (--eval-only) or train; returns the evaluation results."""
    from tubelink.checkpoint import load_weights
    from tubelink.engine.evaluation import evaluate_model
    from tubelink.engine.trainer import Trainer
    from tubelink.modeling import build_model
    from tubelink.utils import comm

    cfg = setup_cfg(args)
    default_setup(cfg, args)
    if args.eval_only:
        model = build_model(cfg)
        if not cfg.MODEL.WEIGHTS:
            raise ValueError("--eval-only needs MODEL.WEIGHTS (a checkpoint to evaluate)")
        load_weights(model, cfg.MODEL.WEIGHTS)
        results = evaluate_model(cfg, model)
    else:
        results = Trainer(cfg, resume=args.resume).train()
    if comm.is_main_process():
        print(json.dumps(results, indent=1))
    return results


def main_detectron2(args) -> dict:
    """The same run through detectron2: DefaultTrainer, DetectionCheckpointer, inference_on_dataset."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.engine import default_setup as detectron2_default_setup
    from detectron2.utils import comm

    import tubelink.detectron2 as bridge
    from tubelink.utils.logger import setup_logger

    cfg = bridge.setup_cfg(args)
    detectron2_default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank())  # tubelink's own loggers
    if args.eval_only:
        if not cfg.MODEL.WEIGHTS:
            raise ValueError("--eval-only needs MODEL.WEIGHTS (a checkpoint to evaluate)")
        model = bridge.TubeLinkTrainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = bridge.TubeLinkTrainer.test(cfg, model)
    else:
        trainer = bridge.TubeLinkTrainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        results = trainer.train()
    if comm.is_main_process():
        print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    if args.engine == "detectron2":
        try:
            from detectron2.engine import launch as detectron2_launch
        except ImportError:
            sys.exit(
                "error: --engine detectron2 needs detectron2 (https://detectron2.readthedocs.io/en/latest/tutorials/"
                "install.html); the default --engine native needs no detectron2"
            )
        entry, launcher = main_detectron2, detectron2_launch
    else:
        entry, launcher = main, launch
    try:
        launcher(entry, args.num_gpus, args.num_machines, args.machine_rank, args.dist_url, args=(args,))
    except (ConfigError, FileNotFoundError, KeyError) as err:
        logging.getLogger("tubelink").error(str(err))
        sys.exit(f"error: {err}")
