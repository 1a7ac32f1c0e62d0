#!/usr/bin/env python
"""Segment and track a video with Tube-Link and write an annotated video, per-frame PNGs and a JSON of segments.

    python demo/demo.py --config-file configs/synthetic/tubelink_small.yaml --input video.mp4 \\
        --output out/ --window 2 --opts MODEL.WEIGHTS output/model_final.pth

--input takes video files, frame folders or globs (quote them). The output video keeps the input's frame rate
and is H.264; colours stay fixed per identity, labels show "class #id". Runs on a CPU (bf16 with --bf16).
A checkpoint that does not cover the whole model (another model, another number of queries or classes) is refused
unless --allow-partial-weights; so is an empty MODEL.WEIGHTS. Bad input ends in one line `error: <file or key>:
<problem>`; --debug (or TUBELINK_DEBUG=1) shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tubelink.checkpoint import CoveragePolicy, load_weights  # noqa: E402
from tubelink.config import get_cfg  # noqa: E402
from tubelink.data.catalog import MetadataCatalog  # noqa: E402
from tubelink.data.clip_transforms import ClipAugmentation, apply_to_image  # noqa: E402
from tubelink.inference import VideoPredictor  # noqa: E402
from tubelink.modeling import build_model  # noqa: E402
from tubelink.modeling.meta_arch.tube_link import resolve_task  # noqa: E402
from tubelink.utils.errors import InputError, require_output_folder, run_command  # noqa: E402
from tubelink.utils.video_io import VideoWriter, open_video_source  # noqa: E402
from tubelink.utils.visualizer import draw_segments, draw_semantic  # noqa: E402


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--input", nargs="+", required=True, help="video files, frame folders or globs")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument(
        "--window", type=_positive_int, default=None, help="frames per subclip n (default: TEST.WINDOW_SIZE)"
    )
    parser.add_argument("--save-frames", action="store_true", help="also write annotated per-frame PNGs")
    parser.add_argument(
        "--bf16", action="store_true", help="bfloat16 autocast: --opts TEST.AMP.ENABLED True (fast with AMX)"
    )
    parser.add_argument(
        "--engine",
        choices=("native", "detectron2"),
        default="native",
        help="detectron2: build the config, model and checkpoint loading through detectron2 (needs it installed)",
    )
    parser.add_argument(
        "--allow-partial-weights",
        action="store_true",
        help="run even when MODEL.WEIGHTS is empty or covers only part of the model (partly random weights)",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of errors (also TUBELINK_DEBUG=1)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    if args.bf16:  # one switch for inference precision: the config's
        args.opts = ["TEST.AMP.ENABLED", "True", "TEST.AMP.DTYPE", "bfloat16"] + list(args.opts)
    return args


def _frames(source, augmentation):
    tfm = None
    for frame in source:
        if tfm is None:
            tfm = augmentation(frame.shape[0], frame.shape[1], np.random.default_rng(0))
        image = apply_to_image(tfm, frame)
        yield {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "height": frame.shape[0],
            "width": frame.shape[1],
            "rgb": frame,
        }


@contextlib.contextmanager
def _removed_on_error(paths):
    """Delete the files in `paths` (a list that grows while the block runs) when the block fails with an error;
    Ctrl-C keeps them (the video written so far stays playable)."""
    try:
        yield
    except Exception:
        for path in paths:
            if os.path.isfile(path):
                os.remove(path)
        raise


def _require_weights(cfg, args) -> None:
    if not cfg.MODEL.WEIGHTS and not args.allow_partial_weights:
        raise InputError(
            "MODEL.WEIGHTS",
            "is empty: the demo would draw the output of a model with random weights",
            "pass --opts MODEL.WEIGHTS <checkpoint>, or --allow-partial-weights to try the pipeline anyway",
        )


def build_config_and_model(args):
    """(frozen config, model in eval mode with MODEL.WEIGHTS loaded) through tubelink or through detectron2."""
    if args.engine == "detectron2":
        try:
            from detectron2.modeling import build_model as detectron2_build_model

            import tubelink.detectron2 as bridge
        except ImportError as err:
            sys.exit(f"error: --engine detectron2: {err}")
        cfg = bridge.setup_cfg(argparse.Namespace(config_file=args.config_file, opts=args.opts))
        _require_weights(cfg, args)
        model = detectron2_build_model(cfg).eval()
    else:
        cfg = get_cfg()
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(args.opts)
        cfg.freeze()
        _require_weights(cfg, args)
        model = build_model(cfg).eval()
    if cfg.MODEL.WEIGHTS:  # the same loader under both engines: a file that does not fit the model is refused
        policy = CoveragePolicy.from_config(cfg, inference=True)
        if args.allow_partial_weights:
            policy = CoveragePolicy(policy.warn_below, policy.refuse_below, allow_partial=True)
        load_weights(model, cfg.MODEL.WEIGHTS, policy)
    if not cfg.MODEL.WEIGHTS:
        print("warning: MODEL.WEIGHTS is empty: the model has random weights", file=sys.stderr)
    return cfg, model


def open_sources(specs, output_dir: str):
    """Open every input before any work starts, so a bad or clashing input fails first; [(spec, source)]."""
    sources, by_output = [], {}
    for spec in specs:
        source = open_video_source(spec)
        target = os.path.join(output_dir, f"{source.name}.mp4")
        if target in by_output:
            raise InputError(
                "--input",
                f"{by_output[target]} and {spec} would both be written to {target}",
                "run them one at a time, or rename one of them",
            )
        by_output[target] = spec
        sources.append((spec, source))
    return sources


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg, model = build_config_and_model(args)
    if cfg.TEST.AMP.ENABLED:  # oneDNN's / cuDNN's low-precision convolutions are fastest in NHWC
        model = model.to(memory_format=torch.channels_last)
    require_output_folder(args.output, "--output")
    sources = open_sources(args.input, args.output)
    # The model's classes are those of its training data (as in evaluation).
    meta = MetadataCatalog.get(cfg.DATASETS.TRAIN[0] if cfg.DATASETS.TRAIN else cfg.DATASETS.TEST[0])
    names, colors, is_thing = meta.stuff_classes, meta.stuff_colors, meta.is_thing
    task = resolve_task(cfg)
    for spec, source in sources:
        predictor = VideoPredictor.from_config(cfg, model, task, is_thing, window=args.window)
        stream = _frames(source, ClipAugmentation.from_config(cfg, is_train=False))
        rgb_of = {}

        def remember(stream):
            for t, f in enumerate(stream):
                rgb_of[t] = f.pop("rgb")
                yield f

        video_path = os.path.join(args.output, f"{source.name}.mp4")
        segments_json = []
        written = [video_path]  # removed again if the video fails mid-way: no silently truncated result
        with _removed_on_error(written), VideoWriter(video_path, source.fps) as writer:
            for result in tqdm(predictor(remember(stream)), total=source.num_frames, desc=source.name):
                t = result["frame_index"]
                rgb = rgb_of.pop(t)
                if "panoptic_seg" in result:
                    ids, infos = result["panoptic_seg"]
                    canvas = draw_segments(rgb, ids, infos, names, colors)
                    segments_json.append(
                        {"frame_index": t, "segments": [dict(i, category=names[i["category_id"]]) for i in infos]}
                    )
                elif "sem_seg" in result:
                    canvas = draw_semantic(rgb, result["sem_seg"], names, colors)
                    present = np.unique(result["sem_seg"]).tolist()
                    segments_json.append({"frame_index": t, "classes": [names[c] for c in present]})
                else:  # VIS: the frame's tracked instances, drawn as segments
                    ids = np.zeros(rgb.shape[:2], np.int32)
                    infos = []
                    for k, inst in enumerate(result["instances"], start=1):
                        ids[inst["mask"]] = k
                        infos.append(
                            {"id": k, "category_id": inst["category_id"], "isthing": True, "track_id": inst["track_id"]}
                        )
                    canvas = draw_segments(rgb, ids, infos, names, colors)
                writer.write(canvas)
                if args.save_frames:
                    frame_dir = os.path.join(args.output, source.name)
                    os.makedirs(frame_dir, exist_ok=True)
                    written.append(os.path.join(frame_dir, f"{t:06d}.png"))
                    Image.fromarray(canvas).save(written[-1])
        if task == "vis":
            segments_json = [
                {k: v for k, v in inst.items() if k != "segmentations"}
                | {
                    "category": names[inst["category_id"]],
                    "frames": [t for t, s in enumerate(inst["segmentations"]) if s],
                }
                for inst in predictor.video_instances()
            ]
        with open(os.path.join(args.output, f"{source.name}.json"), "w") as f:
            summary = {"input": spec, "fps": source.fps, "task": task, "window": predictor.window}
            json.dump(dict(summary, results=segments_json), f)
        print(f"{spec} -> {video_path} ({writer.frames_written} frames at {source.fps:.2f} fps)")


if __name__ == "__main__":
    run_command(main)
