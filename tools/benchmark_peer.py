#!/usr/bin/env python
"""Side by side in one process: Mask2Former-VIS R50 versus tubelink R50's VIS path, per-frame time and stages, JSON.

    python tools/benchmark_peer.py --m2f-root MASK2FORMER_TREE --detectron2-root DETECTRON2_BUILD \\
        [--extra-path PEER_DEPENDENCIES]

The peer is imported at run time from the given source trees (nothing of theirs is part of tubelink):
`model([video])` of Mask2Former's `VideoMaskFormer` (configs/youtubevis_2019/video_maskformer2_R50_bs16_8ep.yaml,
the whole clip at once; on CPU its MSDeformAttn uses the pure-PyTorch fallback). tubelink runs its VIS path end to
end (model + post-processing + tracker, `VideoPredictor`) on the same frames for every subclip length n and dtype
(fp32; bf16 = TEST.AMP bfloat16 autocast with a channels_last model). Random weights, the same random frames;
runs are interleaved and the minimum over `--repeats` is kept. Stages: backbone, pixel decoder, transformer
decoder, post-processing (everything outside the three for the peer; outside the model call and the tracker for
tubelink, whose link / embedding heads are listed as "link_embed") and tracker. Peak memory of each model alone on
the clip is measured in a fresh subprocess: max RSS on CPU, the CUDA caching allocator's peak with `--device cuda`
(where every stage boundary synchronises, so stage times are the GPU's; `--threads` then only sets the host threads).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TUBELINK_CONFIG = "configs/ytvis_2019/tubelink_R50.yaml"
PEER_CONFIG = "configs/youtubevis_2019/video_maskformer2_R50_bs16_8ep.yaml"


class StageClock:
    """Wall time per named stage, by wrapping methods of objects (instance attributes shadow the class's).

    `sync` (e.g. torch.cuda.synchronize) runs at each stage boundary, so asynchronous work is charged to its stage.
    """

    def __init__(self, sync=lambda: None) -> None:
        self.seconds = defaultdict(float)
        self.sync = sync

    def wrap(self, obj, method: str, stage: str) -> None:
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            self.sync()
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.sync()
                self.seconds[stage] += time.perf_counter() - start

        setattr(obj, method, timed)

    def reset(self) -> None:
        self.seconds.clear()


def _frames(args):
    import torch

    g = torch.Generator().manual_seed(0)
    return [
        torch.randint(0, 255, (3, args.height, args.width), dtype=torch.uint8, generator=g) for _ in range(args.frames)
    ]


def _peer(args, clock: StageClock):
    """Mask2Former-VIS R50 with random weights, its stages on `clock`; returns run(frames) -> seconds."""
    import torch

    for root in (args.detectron2_root, args.m2f_root):
        sys.path.insert(0, os.path.abspath(root))
    sys.path.extend(os.path.abspath(p) for p in args.extra_path)
    # Mask2Former refuses to import without its compiled CUDA op; an empty stand-in lets it import, and its
    # MSDeformAttn then falls back to ms_deform_attn_core_pytorch (its own CPU path) when the op is missing.
    sys.modules.setdefault("MultiScaleDeformableAttention", types.ModuleType("MultiScaleDeformableAttention"))
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from detectron2.projects.deeplab import add_deeplab_config
    from mask2former import add_maskformer2_config
    from mask2former_video import add_maskformer2_video_config

    cfg = get_cfg()
    add_deeplab_config(cfg)
    add_maskformer2_config(cfg)
    add_maskformer2_video_config(cfg)
    cfg.merge_from_file(os.path.join(args.m2f_root, PEER_CONFIG))
    cfg.MODEL.DEVICE = args.device
    cfg.MODEL.WEIGHTS = ""
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    clock.wrap(model.backbone, "forward", "backbone")
    clock.wrap(model.sem_seg_head.pixel_decoder, "forward_features", "pixel_decoder")
    clock.wrap(model.sem_seg_head.predictor, "forward", "transformer_decoder")

    def run(frames) -> float:
        video = {"image": frames, "height": args.height, "width": args.width}
        clock.sync()
        start = time.perf_counter()
        with torch.no_grad():
            model([video])
        clock.sync()
        return time.perf_counter() - start

    return run


def _tubelink(args, clock: StageClock, n: int, dtype: str):
    """tubelink R50's VIS path (model + post-processing + tracker) at subclip length n; run(frames) -> seconds."""
    import torch

    import tubelink  # noqa: F401
    from tubelink.config import get_cfg
    from tubelink.data.catalog import MetadataCatalog
    from tubelink.inference import VideoPredictor
    from tubelink.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.MODEL.DEVICE = args.device
    cfg.TEST.AMP.ENABLED = dtype == "bf16"
    cfg.TEST.AMP.DTYPE = "bfloat16"
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    if dtype == "bf16":  # bf16 convolutions are fastest in NHWC (oneDNN on CPU, cuDNN's tensor cores on CUDA)
        model = model.to(memory_format=torch.channels_last)
    meta = MetadataCatalog.get(cfg.DATASETS.TEST[0])
    predictor = VideoPredictor.from_config(cfg, model, "vis", meta.is_thing, window=n)
    clock.wrap(model.backbone, "forward", "backbone")
    clock.wrap(model.sem_seg_head.pixel_decoder, "forward_features", "pixel_decoder")
    clock.wrap(model.sem_seg_head.predictor, "forward", "transformer_decoder")
    clock.wrap(model, "forward", "model")
    clock.wrap(predictor.tracker, "update", "tracker")

    def run(frames) -> float:
        items = ({"image": f, "height": args.height, "width": args.width} for f in frames)
        clock.sync()
        start = time.perf_counter()
        with torch.no_grad():
            count = sum(1 for _ in predictor(items))
            predictor.video_instances()
        clock.sync()
        assert count == len(frames)
        return time.perf_counter() - start

    return run


def _stages(seconds: dict, total: float, frames: int, tubelink_run: bool) -> dict:
    parts = ("backbone", "pixel_decoder", "transformer_decoder")
    out = {k: seconds.get(k, 0.0) for k in parts}
    if tubelink_run:
        out["link_embed"] = seconds["model"] - sum(out.values())
        out["tracker"] = seconds.get("tracker", 0.0)
        out["post_processing"] = total - seconds["model"] - out["tracker"]
    else:
        out["post_processing"] = total - sum(out.values())
        out["tracker"] = 0.0  # Mask2Former-VIS segments the whole clip at once: nothing to associate
    return {k: round(v / frames, 4) for k, v in out.items()}


def _clock(args) -> StageClock:
    import torch

    return StageClock(torch.cuda.synchronize if args.device == "cuda" else (lambda: None))


def _memory_run(args, which: str) -> None:
    """One model alone on the clip (a fresh process): prints its peak memory in bytes (max RSS; CUDA: allocator)."""
    import torch

    torch.set_num_threads(args.threads)
    clock = _clock(args)
    if which == "peer":
        run = _peer(args, clock)
    else:
        _, n, dtype = which.split(":")
        run = _tubelink(args, clock, int(n), dtype)
    run(_frames(args))
    if args.device == "cuda":
        print(torch.cuda.max_memory_allocated())
        return
    from tubelink.utils.memory import peak_rss_bytes

    print(peak_rss_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m2f-root", required=True, help="a Mask2Former source tree")
    parser.add_argument("--detectron2-root", required=True, help="a detectron2 source tree built in place")
    parser.add_argument("--extra-path", nargs="*", default=[], help="folders with the peer's extra dependencies")
    parser.add_argument("--config-file", default=TUBELINK_CONFIG)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 2, 6])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--memory-run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: this machine has no usable CUDA device")
    if args.memory_run:
        _memory_run(args, args.memory_run)
        return
    import torch

    torch.set_num_threads(args.threads)
    frames = _frames(args)
    clocks, runners = {}, {}
    clocks["mask2former_vis"] = _clock(args)
    runners["mask2former_vis"] = _peer(args, clocks["mask2former_vis"])
    for dtype in args.dtypes:
        for n in args.windows:
            name = f"tubelink_n{n}_{dtype}"
            clocks[name] = _clock(args)
            runners[name] = _tubelink(args, clocks[name], n, dtype)
    for run in runners.values():  # warm-up (oneDNN primitive caches, allocator)
        run(frames)
    best = {}
    for _ in range(args.repeats):  # interleaved: drifts of the machine hit every configuration alike
        for name, run in runners.items():
            clocks[name].reset()
            seconds = run(frames)
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, _stages(clocks[name].seconds, seconds, len(frames), name != "mask2former_vis"))
    peer = best["mask2former_vis"][0]
    results = {
        name: {
            "s_per_frame": round(seconds / len(frames), 4),
            "mask2former_over_this": round(peer / seconds, 3),
            "stages_s_per_frame": stages,
        }
        for name, (seconds, stages) in best.items()
    }
    memory = {}
    if not args.no_memory:
        base = [sys.executable, __file__, "--m2f-root", args.m2f_root, "--detectron2-root", args.detectron2_root]
        base += ["--extra-path", *args.extra_path] if args.extra_path else []
        base += ["--config-file", args.config_file, "--height", str(args.height), "--width", str(args.width)]
        base += ["--frames", str(args.frames), "--threads", str(args.threads), "--device", args.device]
        for which in ["peer"] + [f"tubelink:{n}:{d}" for d in args.dtypes for n in args.windows]:
            out = subprocess.run(base + ["--memory-run", which], capture_output=True, text=True, check=True)
            memory[which] = round(int(out.stdout.strip().splitlines()[-1]) / 2**20, 1)
    print(
        json.dumps(
            {
                "height": args.height,
                "width": args.width,
                "frames": args.frames,
                "threads": args.threads,
                "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
                "repeats": args.repeats,
                "torch": torch.__version__,
                "results": results,
                "peak_memory_MiB_alone": memory,
                "peak_memory_kind": "cuda_max_allocated" if args.device == "cuda" else "max_rss",
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
