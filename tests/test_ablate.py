"""tools/ablate.py: schedule shortening, statistics, the order of runs and their reuse (training is stubbed)."""

import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

import ablate  # noqa: E402
from tubelink.config import get_cfg  # noqa: E402


def test_schedule_is_scaled_and_statistics():
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml"))
    cfg.SOLVER.MAX_ITER, cfg.SOLVER.STEPS, cfg.SOLVER.WARMUP_ITERS = 4000, (3200,), 100  # step at 4/5 of MAX_ITER
    assert ablate.schedule_overrides(cfg, 200)[-1] == "40"  # warmup capped at a fifth of the shortened schedule
    assert ablate.schedule_overrides(cfg, 500) == [
        "SOLVER.MAX_ITER",
        "500",
        "SOLVER.STEPS",
        "(400,)",
        "SOLVER.WARMUP_ITERS",
        "100",
    ]
    assert ablate.schedule_overrides(cfg, 0) == []
    mean, std = ablate.mean_std([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == pytest.approx(1.0)
    assert ablate.mean_std([5.0]) == (5.0, 0.0)
    results = {"vps_split": {"VPQ": 60.0, "AQ": 0.3}, "vis_split": {"AP": 0.2}}
    assert ablate.pick(results, "AP") == 0.2 and ablate.pick(results, "VPQ") == 60.0
    assert ablate.pick(results, "mIoU") is None


def test_runs_in_order_reuse_results_and_print_one_table(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_train(args, run_dir, overrides):
        calls.append(("train", os.path.relpath(run_dir, tmp_path), overrides))
        seed = int(overrides[overrides.index("SEED") + 1])
        frame = "MODEL.TUBE_LINK.NUM_FRAMES" in overrides
        return {
            "vps": {
                "VPQ": 50.0 + seed + (0 if frame else 10),
                "VPQ_thing": 1.0,
                "VPQ_stuff": 2.0,
                "STQ": 0.4,
                "AQ": 0.3,
            },
            "vis": {"AP": 0.1},
        }

    def fake_evaluate(args, weights, overrides):
        calls.append(("evaluate", os.path.relpath(weights, tmp_path), overrides))
        return {"vps": {"VPQ": 70.0}, "vis": {"AP": 0.2}}

    monkeypatch.setattr(ablate, "train", fake_train)
    monkeypatch.setattr(ablate, "evaluate", fake_evaluate)
    argv = [
        "ablate.py",
        "--seeds",
        "0",
        "2",
        "--variants",
        "window6",
        "frame",
        "--max-iter",
        "300",
        "--output-dir",
        str(tmp_path),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    ablate.main()
    # the window-6 rows evaluate the tube model of the same seed, trained first
    assert [(kind, where) for kind, where, _ in calls] == [
        ("train", "tube/seed0"),
        ("evaluate", "tube/seed0/model_final.pth"),
        ("train", "frame/seed0"),
        ("train", "tube/seed2"),
        ("evaluate", "tube/seed2/model_final.pth"),
        ("train", "frame/seed2"),
    ]
    assert all("SOLVER.MAX_ITER" in o and "300" in o for _, _, o in calls)
    out = capsys.readouterr().out
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml"))
    assert f"shortened schedule: 300 iterations (config: {cfg.SOLVER.MAX_ITER})" in out
    assert "| tube: Tube-Link, tubes of n = 2 | 61.000 ± 1.414 |" in out
    summary = json.loads((tmp_path / "ablation.json").read_text())
    assert summary["variants"]["frame"]["metrics"]["VPQ"]["values"] == [50.0, 52.0]
    assert "VPQ thing" not in summary["variants"]["window6"]["metrics"]  # not reported by that evaluation
    calls.clear()
    ablate.main()  # every run cached: nothing trains again
    assert calls == []
    # --reevaluate: the trained runs' model_final.pth evaluated again under the current config, nothing trained
    for variant in ("tube", "frame"):
        for seed in (0, 2):
            (tmp_path / variant / f"seed{seed}" / "model_final.pth").write_bytes(b"")
    monkeypatch.setattr(sys, "argv", argv + ["--reevaluate"])
    ablate.main()
    assert sorted(where for kind, where, _ in calls if kind == "evaluate") == sorted(
        f"{v}/seed{s}/model_final.pth" for v in ("tube", "tube", "frame") for s in (0, 2)
    )
    assert all(kind == "evaluate" for kind, _, _ in calls)
    frame_row = json.loads((tmp_path / "ablation.json").read_text())["variants"]["frame"]["metrics"]["VPQ"]
    assert frame_row["values"] == [70.0, 70.0]  # the new evaluations replaced the cached ones
