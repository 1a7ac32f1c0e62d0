"""Command line and run set-up behave like detectron2's."""

import os

import pytest
import torch
import yaml

from tubelink.config import ConfigError
from tubelink.engine.defaults import default_argument_parser, default_setup, seed_all, setup_cfg


def test_parser_flags_and_overrides(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("SOLVER:\n  MAX_ITER: 3\n")
    args = default_argument_parser().parse_args(
        [
            "--config-file",
            str(cfg_file),
            "--num-gpus",
            "2",
            "--resume",
            "OUTPUT_DIR",
            str(tmp_path / "out"),
            "SOLVER.BASE_LR",
            "0.5",
        ]
    )
    assert args.num_gpus == 2 and args.resume and not args.eval_only
    cfg = setup_cfg(args)
    assert cfg.SOLVER.MAX_ITER == 3 and cfg.SOLVER.BASE_LR == 0.5 and cfg.is_frozen()
    logger = default_setup(cfg, args)
    saved = yaml.safe_load(open(os.path.join(cfg.OUTPUT_DIR, "config.yaml")))
    assert saved["SOLVER"]["BASE_LR"] == 0.5
    logger.info("hello")
    assert "hello" in open(os.path.join(cfg.OUTPUT_DIR, "log.txt")).read()


def test_bad_override_names_the_key():
    args = default_argument_parser().parse_args(["SOLVER.NOT_A_KEY", "1"])
    with pytest.raises(ConfigError, match="SOLVER.NOT_A_KEY"):
        setup_cfg(args)


def test_seed_all_is_reproducible():
    seed_all(3)
    a = torch.rand(3)
    seed_all(3)
    assert torch.equal(a, torch.rand(3))
    assert seed_all(-1) >= 0
