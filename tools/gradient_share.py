#!/usr/bin/env python
"""Which loss terms drive training? Per loss family, the full-model gradient norm, printed as JSON.

    python tools/gradient_share.py --config-file configs/synthetic/tubelink_small.yaml \\
        --weights output/synthetic_small/model_0003000.pth [--clips 40] [KEY VALUE ...]

The model, in training mode, takes `--clips` training clips of the config's stream (SEED, from iteration 0). For
each clip, the weighted loss terms are grouped into families (deep supervision merged: `loss_dice_3` counts as
`loss_dice`), and each family's gradient over all parameters is taken on its own. Printed per family, as the median
over clips: its norm, its share of the total gradient's norm, and its cosine with the total. With full-model
clipping that binds (the `grad_norm` of metrics.json above SOLVER.CLIP_GRADIENTS.CLIP_VALUE), a family's share is
the part of each step it gets.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from typing import Dict, List, Mapping, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

_DEEP_SUPERVISION_SUFFIX = re.compile(r"_\d+$")


def loss_family(name: str) -> str:
    """`loss_dice_3` -> `loss_dice`: a loss term without its decoder-layer index."""
    return _DEEP_SUPERVISION_SUFFIX.sub("", name)


def gradient_shares(
    losses: Mapping[str, torch.Tensor], parameters: Sequence[torch.nn.Parameter]
) -> Dict[str, Dict[str, float]]:
    """Each loss family's gradient over `parameters`, against the gradient of the sum of all terms.

    Args:
        losses: scalar loss terms of one step (weighted, as the model returns them); terms that do not depend on
            the parameters count as zero.
        parameters: the parameters whose joint gradient is measured (e.g. every trainable parameter).
    Returns:
        {family: {"norm": ||g_f||, "share": ||g_f|| / ||g||, "cosine": cos(g_f, g)}} and {"total": {"norm": ||g||}},
        where g_f is the gradient of the family's summed terms and g = sum of all g_f.
    """
    families: Dict[str, torch.Tensor] = {}
    for name, value in losses.items():
        family = loss_family(name)
        families[family] = families.get(family, 0) + value
    flat = {}
    for family, value in families.items():
        grads = (
            torch.autograd.grad(value, parameters, retain_graph=True, allow_unused=True)
            if isinstance(value, torch.Tensor) and value.requires_grad
            else [None] * len(parameters)
        )
        flat[family] = torch.cat(
            [(g if g is not None else torch.zeros_like(p)).detach().flatten() for g, p in zip(grads, parameters)]
        )
    total = torch.stack(list(flat.values())).sum(0)
    total_norm = float(total.norm())
    out: Dict[str, Dict[str, float]] = {}
    for family, g in flat.items():
        norm = float(g.norm())
        cosine = float(torch.dot(g, total)) / (norm * total_norm) if norm > 0 and total_norm > 0 else 0.0
        out[family] = {"norm": norm, "share": norm / total_norm if total_norm > 0 else 0.0, "cosine": cosine}
    out["total"] = {"norm": total_norm}
    return out


def median_over_steps(steps: List[Dict[str, Dict[str, float]]]) -> Dict[str, Dict[str, float]]:
    """The per-key median of several `gradient_shares` results (families missing from a step are skipped there)."""
    families = sorted({f for step in steps for f in step})
    return {
        f: {
            k: statistics.median(step[f][k] for step in steps if f in step)
            for k in sorted({k for step in steps if f in step for k in step[f]})
        }
        for f in families
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--clips", type=int, default=40, help="training clips to measure on (median over them)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args()

    from tubelink.checkpoint import CoveragePolicy, load_weights
    from tubelink.config import get_cfg
    from tubelink.data.build import build_train_loader_from_config
    from tubelink.engine.defaults import seed_all
    from tubelink.modeling import build_model
    from tubelink.utils.errors import InputError, run_command

    def run(_):
        if args.clips < 1:
            raise InputError("--clips", f"must be at least 1, got {args.clips}")
        cfg = get_cfg()
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(list(args.opts) + ["MODEL.WEIGHTS", args.weights, "SOLVER.IMS_PER_BATCH", 1])
        cfg.freeze()
        seed_all(cfg.SEED)
        model = build_model(cfg)
        load_weights(model, cfg.MODEL.WEIGHTS, CoveragePolicy.from_config(cfg, inference=True))
        model.train()
        parameters = [p for p in model.parameters() if p.requires_grad]
        data = iter(build_train_loader_from_config(cfg))
        steps = [gradient_shares(model(next(data)), parameters) for _ in range(args.clips)]
        print(json.dumps({"weights": args.weights, "clips": args.clips, **median_over_steps(steps)}, indent=1))

    run_command(run, None)


if __name__ == "__main__":
    main()
