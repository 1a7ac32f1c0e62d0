#!/usr/bin/env python
"""Ablations of a config over several seeds: one table of mean ± std, plus JSON.

    python tools/ablate.py --config-file configs/synthetic/tubelink_small.yaml --seeds 0 1 2
    python tools/ablate.py --seeds 0 1 2 --max-iter 500 --variants tube frame   # shorter schedule, two rows

Variants (the paper's Table 8 questions, on any config): `tube` (the config as is), `frame` (n = 1 subclips and
window 1: frame matching), `tcl_off` (no temporal contrastive loss: the link and embedding heads are untrained, so
association uses the raw queries), `ctl_off` (no cross-tube link), `window6` (the `tube` model evaluated with
6-frame windows). Every variant x seed trains with `train_net.py` in its own process, one after the other (a CPU run
competes with nothing else), in OUTPUT/<variant>/seed<k>; a run whose results.json exists is reused, so an
interrupted ablation continues where it stopped. Test-time variants reuse the trained model of the variant they name.
With --max-iter the schedule is shortened (LR steps scaled, warmup capped at a fifth) and the table says so.
With --reevaluate, runs that trained already are evaluated again from their model_final.pth under the config's
current test settings (after a change of inference thresholds, say), without training again.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


@dataclass
class Variant:
    """A named change of the config: training overrides, or test overrides of another variant's model."""

    description: str
    train: List[str] = field(default_factory=list)
    test: List[str] = field(default_factory=list)
    model_of: Optional[str] = None  # a test-time variant: evaluate this variant's trained model


VARIANTS: Dict[str, Variant] = {
    "tube": Variant("Tube-Link, tubes of n = 2"),
    "frame": Variant("frame matching, n = 1 (window 1)", ["MODEL.TUBE_LINK.NUM_FRAMES", "1", "TEST.WINDOW_SIZE", "1"]),
    "tcl_off": Variant("without TCL (raw-query association)", ["MODEL.TUBE_LINK.TCL.ENABLED", "False"]),
    "ctl_off": Variant("without CTL (cross-tube link)", ["MODEL.TUBE_LINK.LINK.ENABLED", "False"]),
    "window6": Variant("tube model, inference window 6", test=["TEST.WINDOW_SIZE", "6"], model_of="tube"),
}

# (column, metric key): each key is looked up in the first evaluated split that reports it.
COLUMNS = [
    ("VPQ", "VPQ"),
    ("VPQ thing", "VPQ_thing"),
    ("VPQ stuff", "VPQ_stuff"),
    ("STQ", "STQ"),
    ("AQ", "AQ"),
    ("VIS AP", "AP"),
]


def schedule_overrides(cfg, max_iter: Optional[int]) -> List[str]:
    """KEY VALUE overrides that shorten the config's schedule to `max_iter` iterations (none without it)."""
    if not max_iter:
        return []
    scale = max_iter / cfg.SOLVER.MAX_ITER
    steps = tuple(max(1, min(max_iter, round(s * scale))) for s in cfg.SOLVER.STEPS)
    return [
        "SOLVER.MAX_ITER",
        str(max_iter),
        "SOLVER.STEPS",
        str(steps),
        "SOLVER.WARMUP_ITERS",
        str(min(cfg.SOLVER.WARMUP_ITERS, max_iter // 5)),
    ]


def mean_std(values: List[float]) -> tuple:
    """Mean and sample standard deviation (0 for one value)."""
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def pick(results: Dict[str, Dict[str, float]], key: str) -> Optional[float]:
    """The metric `key` of the first split (in DATASETS.TEST order) that reports it."""
    for split in results.values():
        if key in split:
            return float(split[key])
    return None


def train(args, run_dir: str, overrides: List[str]) -> Dict:
    """Train (and evaluate) one run in its own process; returns the final evaluation from metrics.json."""
    cmd = [sys.executable, os.path.join(REPO, "train_net.py"), "--config-file", args.config_file, *overrides]
    cmd += ["OUTPUT_DIR", run_dir]
    with open(os.path.join(run_dir, "ablate_stdout.log"), "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{run_dir}: training failed (exit {proc.returncode}); see {log.name}")
    with open(os.path.join(run_dir, "metrics.json")) as f:
        evaluations = [json.loads(line) for line in f if '"evaluation"' in line]
    if not evaluations:
        raise SystemExit(f"{run_dir}: no evaluation in metrics.json (is DATASETS.TEST empty?)")
    return evaluations[-1]["evaluation"]


def evaluate(args, weights: str, overrides: List[str]) -> Dict:
    """Evaluate trained weights under test-time overrides, in this process."""
    from tubelink.checkpoint import load_weights
    from tubelink.config import get_cfg
    from tubelink.engine.evaluation import evaluate_model
    from tubelink.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(overrides)
    cfg.freeze()
    model = build_model(cfg)
    load_weights(model, weights)
    return evaluate_model(cfg, model)


def run_variant(args, name: str, seed: int, common: List[str]) -> Dict:
    """Results of one variant and seed (cached in its results.json)."""
    variant = VARIANTS[name]
    run_dir = os.path.join(args.output_dir, name, f"seed{seed}")
    cache = os.path.join(run_dir, "results.json")
    trained = os.path.join(run_dir, "model_final.pth")
    reevaluate = args.reevaluate and (variant.model_of is not None or os.path.exists(trained))
    if os.path.exists(cache) and not reevaluate:
        with open(cache) as f:
            return json.load(f)["results"]
    os.makedirs(run_dir, exist_ok=True)
    start = time.perf_counter()
    if variant.model_of is None and reevaluate:  # the trained model under the config's current inference settings
        overrides = common + variant.train + ["SEED", str(seed), "OUTPUT_DIR", run_dir]
        results = evaluate(args, trained, overrides)
    elif variant.model_of is None:
        overrides = common + variant.train + ["SEED", str(seed)]
        results = train(args, run_dir, overrides)
    else:
        base = VARIANTS[variant.model_of]
        weights = os.path.join(args.output_dir, variant.model_of, f"seed{seed}", "model_final.pth")
        overrides = common + base.train + variant.test + ["SEED", str(seed), "OUTPUT_DIR", run_dir]
        results = evaluate(args, weights, overrides)
    record = {"variant": name, "seed": seed, "overrides": overrides, "seconds": time.perf_counter() - start}
    with open(cache, "w") as f:
        json.dump(dict(record, results=results), f, indent=1)
    return results


def cpu_model() -> str:
    """The CPU model name (lscpu's), or the platform's processor string."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def table(summary: Dict, seeds: List[int], schedule: str) -> str:
    """Markdown table of mean ± std per variant."""
    lines = [
        f"Ablation of {summary['config']} — {schedule}; mean ± std over seeds {seeds}; {summary['cpu']}",
        "",
        "| variant | " + " | ".join(c for c, _ in COLUMNS) + " |",
        "| --- |" + " --- |" * len(COLUMNS),
    ]
    for name, row in summary["variants"].items():
        cells = []
        for column, _ in COLUMNS:
            stat = row["metrics"].get(column)
            cells.append("n/a" if stat is None else f"{stat['mean']:.3f} ± {stat['std']:.3f}")
        lines.append(f"| {name}: {row['description']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--max-iter", type=int, default=0, help="shorter schedule for every run (0: the config's)")
    parser.add_argument("--output-dir", default=os.path.join(REPO, "output", "ablation"))
    parser.add_argument(
        "--reevaluate",
        action="store_true",
        help="evaluate the runs' existing model_final.pth again under the config's current test settings",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every variant")
    args = parser.parse_args()
    from tubelink.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(list(args.opts))
    common = list(args.opts) + schedule_overrides(cfg, args.max_iter)
    schedule = (
        f"shortened schedule: {args.max_iter} iterations (config: {cfg.SOLVER.MAX_ITER})"
        if args.max_iter
        else f"full schedule: {cfg.SOLVER.MAX_ITER} iterations"
    )
    names = list(args.variants)
    for name in list(names):  # a test-time variant needs its model's variant trained first
        base = VARIANTS[name].model_of
        if base and base not in names:
            names.insert(names.index(name), base)
    per_seed: Dict[str, List[Dict]] = {name: [] for name in names}
    for seed in args.seeds:
        for name in names:
            per_seed[name].append(run_variant(args, name, seed, common))
            print(f"done: {name} seed {seed}", flush=True)
    summary = {
        "config": os.path.relpath(args.config_file, REPO),
        "schedule": schedule,
        "seeds": args.seeds,
        "cpu": cpu_model(),
        "overrides": common,
        "variants": {},
    }
    for name in names:
        metrics = {}
        for column, key in COLUMNS:
            values = [pick(r, key) for r in per_seed[name]]
            if all(v is not None for v in values):
                mean, std = mean_std(values)
                metrics[column] = {"mean": mean, "std": std, "values": values}
        summary["variants"][name] = {"description": VARIANTS[name].description, "metrics": metrics}
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "ablation.json"), "w") as f:
        json.dump(summary, f, indent=1)
    text = table(summary, args.seeds, schedule)
    with open(os.path.join(args.output_dir, "ablation.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
