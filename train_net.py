#!/usr/bin/env python
"""Train and evaluate Tube-Link (detectron2's train_net.py contract).

    python train_net.py --config-file configs/synthetic/tubelink_small.yaml
    python train_net.py --config-file configs/vipseg/tubelink_R50.yaml --num-gpus 8 MODEL.WEIGHTS model_final_94dc52.pkl
    python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS output/model_final.pth
    python train_net.py --config-file CFG --resume          # continue from OUTPUT_DIR/last_checkpoint
    torchrun --nproc-per-node 8 train_net.py --config-file CFG
Without CUDA, --num-gpus N runs N CPU processes over gloo.
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
    from tubelink.engine.trainer import Trainer, evaluate_model
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


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    try:
        launch(main, args.num_gpus, args.num_machines, args.machine_rank, args.dist_url, args=(args,))
    except (ConfigError, FileNotFoundError, KeyError) as err:
        logging.getLogger("tubelink").error(str(err))
        sys.exit(f"error: {err}")
