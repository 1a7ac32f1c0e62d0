#!/usr/bin/env python
"""Streaming inference speed versus subclip length n, and peak memory versus video length, as JSON.

    python tools/benchmark_inference.py --config-file configs/synthetic/tubelink_small.yaml --height 120 --width 160
    python tools/benchmark_inference.py --config-file configs/ytvis_2019/tubelink_R50.yaml --height 360 --width 640 \
        --windows 1 2 6 --frames 12 --dtype bf16

Frames are random and produced lazily (never held), so memory reflects the predictor alone. Speed: frames/s of
the whole pipeline (model + fusion + tracking) for each n (the paper's Figure 6: larger n is faster). Memory: the
peak resident memory of separate processes streaming `--short` and `--long` frames (with `--device cuda`, the CUDA
caching allocator's peak); streaming inference should need the same memory for both. --dtype bf16: TEST.AMP
bfloat16 autocast with a channels_last model. R50 configs:
configs/{vipseg,ytvis_2019,ytvis_2021,vspw,kitti_step,ovis}/tubelink_R50.yaml (see tools/benchmark_peer.py for the
side-by-side comparison with Mask2Former-VIS).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _stream(args, n: int, num_frames: int) -> float:
    import torch

    import tubelink  # noqa: F401
    from tubelink.config import get_cfg
    from tubelink.data.catalog import MetadataCatalog
    from tubelink.inference import VideoPredictor
    from tubelink.modeling import build_model
    from tubelink.modeling.meta_arch.tube_link import resolve_task

    torch.manual_seed(0)
    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.MODEL.DEVICE = args.device
    cfg.TEST.AMP.ENABLED = args.dtype == "bf16"
    cfg.TEST.AMP.DTYPE = "bfloat16"
    model = build_model(cfg).eval()
    if args.dtype == "bf16":
        model = model.to(memory_format=torch.channels_last)
    meta = MetadataCatalog.get(cfg.DATASETS.TEST[0])
    predictor = VideoPredictor.from_config(cfg, model, resolve_task(cfg), meta.is_thing, window=n)
    generator = torch.Generator().manual_seed(0)

    def frames():
        for _ in range(num_frames):
            yield {
                "image": torch.randint(0, 255, (3, args.height, args.width), dtype=torch.uint8, generator=generator),
                "height": args.height,
                "width": args.width,
            }

    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    count = sum(1 for _ in predictor(frames()))
    sync()
    assert count == num_frames
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="configs/synthetic/tubelink_small.yaml")
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 2, 4, 6, 8])
    parser.add_argument("--frames", type=int, default=96, help="frames per speed run")
    parser.add_argument("--short", type=int, default=100)
    parser.add_argument("--long", type=int, default=1000)
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="inference precision (TEST.AMP)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--memory-run", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: this machine has no usable CUDA device")
    if args.memory_run:
        from tubelink.utils.memory import peak_rss_bytes

        _stream(args, *args.memory_run)
        if args.device == "cuda":
            import torch

            print(torch.cuda.max_memory_allocated())
        else:
            print(peak_rss_bytes())
        return
    speed = []
    for n in args.windows:
        _stream(args, n, 2 * n)  # warm-up
        seconds = _stream(args, n, args.frames)
        speed.append({"n": n, "frames_per_s": round(args.frames / seconds, 2)})
    memory = {}
    for length in (args.short, args.long):
        cmd = [
            sys.executable,
            __file__,
            "--config-file",
            args.config_file,
            "--height",
            str(args.height),
            "--width",
            str(args.width),
            "--dtype",
            args.dtype,
            "--device",
            args.device,
            "--memory-run",
            "2",
            str(length),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        memory[length] = int(out.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {
                "config": args.config_file,
                "dtype": args.dtype,
                "device": args.device,
                "height": args.height,
                "width": args.width,
                "speed": speed,
                "peak_memory_MiB": {str(k): round(v / 2**20, 1) for k, v in memory.items()},
                "long_over_short": round(memory[args.long] / memory[args.short], 3),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    from tubelink.utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
