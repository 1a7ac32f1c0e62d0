#!/usr/bin/env python
"""Parameters, GFLOPs (fvcore), forward time and peak memory per frame of a Tube-Link model, as JSON.

    python tools/benchmark_model.py --config-file configs/vipseg/tubelink_R50.yaml --height 720 --width 1280
    python tools/benchmark_model.py --config-file configs/synthetic/tubelink_small.yaml --height 120 --width 160

For each subclip length n the model runs on one subclip of n random frames (random weights: cost does not depend
on them). "overhead" compares the full model (tube decoder + cross-tube link + embedding head) with the plain
Mask2Former path (backbone + pixel decoder + tube decoder). Each n runs in a fresh process so that its peak memory
(max RSS on CPU, max allocated on CUDA) is its own. --bf16 uses bfloat16 autocast and channels_last.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _measure(args) -> dict:
    import logging

    import torch
    from fvcore.nn import FlopCountAnalysis

    from tubelink.config import get_cfg
    from tubelink.modeling import build_model

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    torch.manual_seed(0)
    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.MODEL.DEVICE = args.device
    model = build_model(cfg).eval()
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.bf16:
        model = model.to(memory_format=torch.channels_last)
    n = args.single
    image = torch.randint(0, 255, (n, 3, args.height, args.width), dtype=torch.uint8)
    prev = torch.randn(cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES, cfg.MODEL.MASK_FORMER.HIDDEN_DIM)

    class Plain(torch.nn.Module):  # the Mask2Former path only
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            images, _ = self.m._images(x)
            return self.m._segment(images, n)["pred_logits"]

    class Full(torch.nn.Module):  # + cross-tube link to the previous subclip + embeddings
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m._forward_inference([{"image": x, "prev_queries": prev}])[0]["pred_embeds"]

    with torch.no_grad():
        flops_plain = FlopCountAnalysis(Plain(model), image).unsupported_ops_warnings(False).total()
        flops_full = FlopCountAnalysis(Full(model), image).unsupported_ops_warnings(False).total()
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
        times = []
        for _ in range(args.warmup + args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            with autocast:
                model([{"image": image, "prev_queries": prev}])
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    times = sorted(times[args.warmup :])
    params = sum(p.numel() for p in model.parameters())
    new_params = sum(p.numel() for name, p in model.named_parameters() if name.startswith(("link_head", "embed_head")))
    peak = (
        torch.cuda.max_memory_allocated()
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "n": n,
        "params_M": round(params / 1e6, 3),
        "link_embed_params_M": round(new_params / 1e6, 3),
        "param_overhead_pct": round(100 * new_params / (params - new_params), 2),
        "gflops_per_frame": round(flops_full / n / 1e9, 2),
        "gflops_overhead_pct": round(100 * (flops_full - flops_plain) / flops_plain, 2),
        "ms_per_frame": round(1000 * times[len(times) // 2] / n, 1),
        "peak_memory_MiB": round(peak / 2**20, 1),
        "device": device.type,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="configs/vipseg/tubelink_R50.yaml")
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--frames", type=int, nargs="+", default=[1, 2, 4, 6])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single is not None:
        print(json.dumps(_measure(args)))
        return
    rows = []
    for n in args.frames:
        cmd = [
            sys.executable,
            __file__,
            "--single",
            str(n),
            "--config-file",
            args.config_file,
            "--height",
            str(args.height),
            "--width",
            str(args.width),
            "--device",
            args.device,
            "--repeats",
            str(args.repeats),
            "--warmup",
            str(args.warmup),
        ] + (["--bf16"] if args.bf16 else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        json.dumps(
            {
                "config": args.config_file,
                "height": args.height,
                "width": args.width,
                "bf16": args.bf16,
                "results": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    from tubelink.utils.errors import run_command  # one line per error, not a traceback

    run_command(main)
