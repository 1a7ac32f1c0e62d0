"""A corpus of bad inputs a user would produce, run through the real command lines (train_net.py, demo/demo.py,
python -m tubelink.evaluation.offline, the synthetic generator, tools/). Each case asserts the exit status, the one
`error:` line naming the file or key and the problem, no traceback, and that no output was silently produced.

The command lines run through tests/command_runner.py (one interpreter start, a forked child per command line);
test_runner_matches_a_plain_subprocess checks that a child behaves as `python script.py ...` does.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from command_runner import REPO, run_many

SMALL = os.path.join(REPO, "configs", "synthetic", "tubelink_small.yaml")
CPU = ["MODEL.DEVICE", "cpu"]


class _Code:  # a pickled reference to code: a safe loader must refuse it
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _small_state(**overrides):
    import tubelink  # noqa: F401
    from tubelink.config import get_cfg
    from tubelink.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(SMALL)
    cfg.merge_from_list(CPU + [x for kv in overrides.items() for x in kv])
    torch.manual_seed(0)
    return build_model(cfg).state_dict()


def _write_frames(folder, frames):
    os.makedirs(folder, exist_ok=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(os.path.join(folder, f"{t:03d}.png"))


def _ytvis_json(category_id=1, counts=None):
    """A one-video YouTube-VIS annotation file (official layout: videos / annotations / categories)."""
    import pycocotools.mask as mask_util

    mask = np.zeros((24, 32), np.uint8, order="F")
    mask[4:12, 6:20] = 1
    rle = mask_util.encode(mask)
    rle["counts"] = rle["counts"].decode("ascii") if counts is None else counts
    return {
        "videos": [{"id": 1, "width": 32, "height": 24, "length": 2, "file_names": ["v1/00000.jpg", "v1/00001.jpg"]}],
        "annotations": [
            {
                "id": 1,
                "video_id": 1,
                "category_id": category_id,
                "iscrowd": 0,
                "segmentations": [rle, rle],
                "areas": [112, 112],
                "bboxes": [[6, 4, 14, 8]] * 2,
            }
        ],
        "categories": [{"id": 1, "name": "person", "supercategory": "object"}],
    }


def _ytvis_root(root, name, split_file, content):
    folder = os.path.join(root, name, "ytvis_2019")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, split_file), "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    return os.path.join(root, name)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Writes every bad input, runs every case once (results by case id)."""
    from tubelink.data.synthetic import SyntheticOptions, generate_video
    from tubelink.utils.video_io import VideoWriter

    w = str(tmp_path_factory.mktemp("corpus"))
    p = lambda *parts: os.path.join(w, *parts)  # noqa: E731

    # ---- checkpoints ----
    good = _small_state()
    torch.save({"model": good}, p("good.pth"))
    data = open(p("good.pth"), "rb").read()
    open(p("truncated.pth"), "wb").write(data[: len(data) // 2])
    open(p("empty.pkl"), "wb").close()
    open(p("empty.pth"), "wb").close()
    open(p("garbage.pth"), "wb").write(b"\x00\x13 not a checkpoint " * 50)
    open(p("list.pkl"), "wb").write(pickle.dumps([1, 2, 3], protocol=2))
    open(p("truncated.pkl"), "wb").write(pickle.dumps({"model": {"w": np.ones(300)}}, protocol=2)[:200])
    open(p("code.pkl"), "wb").write(pickle.dumps({"model": _Code()}, protocol=2))
    torch.save({"model": {"w": torch.ones(2)}, "extra": _Code()}, p("code.pth"))
    torch.save({"model": {"encoder.layer0.weight": torch.ones(8, 8)}}, p("other_model.pth"))
    torch.save({"model": _small_state(**{"MODEL.MASK_FORMER.NUM_OBJECT_QUERIES": 100})}, p("queries100.pth"))
    torch.save({"model": _small_state(**{"MODEL.SEM_SEG_HEAD.NUM_CLASSES": 5})}, p("classes5.pth"))
    shutil.copy(p("good.pth"), p("renamed_zip.pkl"))
    shutil.copy(p("good.pth"), p("weights.bin"))
    os.makedirs(p("weights_folder.pth"))
    torch.save({"model": good}, p("state_only.pth"))  # a plain state dict, not a training checkpoint

    # ---- videos, frame folders ----
    video = generate_video(SyntheticOptions(num_videos=1, num_frames=4, height=48, width=64), 0)
    with VideoWriter(p("clip.mp4"), fps=10) as writer:
        for frame in video.frames:
            writer.write(frame)
    for sub in ("a", "b"):
        os.makedirs(p(sub))
        shutil.copy(p("clip.mp4"), p(sub, "clip.mp4"))
    open(p("garbage.mp4"), "wb").write(b"\x00\x00\x00\x18ftypmp42 but nothing else" * 20)
    open(p("empty.mp4"), "wb").close()
    open(p("notes.txt"), "w").write("this is not a video\n")
    os.makedirs(p("no_images"))
    open(p("no_images", "readme.md"), "w").write("frames go here")
    _write_frames(p("sizes"), [video.frames[0], video.frames[1], video.frames[2][:40]])
    _write_frames(p("corrupt_frame"), video.frames[:2])
    png = open(p("corrupt_frame", "001.png"), "rb").read()
    open(p("corrupt_frame", "001.png"), "wb").write(png[: len(png) // 3])
    _write_frames(p("mac_frames"), video.frames[:3])
    open(p("mac_frames", "._000.png"), "wb").write(b"\x00\x05\x16\x07 AppleDouble metadata")
    open(p("mac_frames", ".DS_Store"), "wb").write(b"\x00\x00\x00\x01Bud1")
    open(p("output_is_a_file"), "w").write("taken")

    # ---- configs ----
    open(p("bad.yaml"), "w").write("MODEL:\n  WEIGHTS: [unclosed\n")
    open(p("type.yaml"), "w").write(f"_BASE_: {SMALL}\nSOLVER:\n  MAX_ITER: many\n")
    open(p("list.yaml"), "w").write("- just\n- a list\n")

    # ---- training output folders for --resume ----
    os.makedirs(p("resume_missing"))
    open(p("resume_missing", "last_checkpoint"), "w").write("model_0000005.pth\n")
    os.makedirs(p("resume_truncated"))
    open(p("resume_truncated", "model_0000005.pth"), "wb").write(data[: len(data) // 3])
    open(p("resume_truncated", "last_checkpoint"), "w").write("model_0000005.pth\n")
    os.makedirs(p("resume_not_ours"))
    shutil.copy(p("state_only.pth"), p("resume_not_ours", "model_0000005.pth"))
    open(p("resume_not_ours", "last_checkpoint"), "w").write("model_0000005.pth\n")

    # ---- data sets in the official YouTube-VIS layout, and predictions ----
    valid = _ytvis_json()
    roots = {
        "bad_json": _ytvis_root(w, "ds_bad_json", "valid.json", '{"videos": [,]}'),
        "bad_train_json": _ytvis_root(w, "ds_bad_train_json", "train.json", "{not json"),
        "bad_category": _ytvis_root(w, "ds_bad_category", "valid.json", _ytvis_json(category_id=999)),
        "bad_rle": _ytvis_root(w, "ds_bad_rle", "valid.json", _ytvis_json(counts=12345)),
        "no_videos": _ytvis_root(w, "ds_no_videos", "valid.json", {"annotations": []}),
        "good": _ytvis_root(w, "ds_good", "valid.json", valid),
        "empty": p("ds_empty"),
    }
    os.makedirs(p("pred_bad_json"))
    open(p("pred_bad_json", "results.json"), "w").write("[{")
    os.makedirs(p("pred_none"))
    open(p("pred_none", "results.json"), "w").write("[]")

    demo = ["demo/demo.py", "--config-file", SMALL]
    train = ["train_net.py", "--config-file", SMALL]
    offline = ["-m", "tubelink.evaluation.offline", "--dataset", "ytvis_2019_val"]

    def demo_case(out, *args, weights="good.pth", opts=()):
        weights_opts = ["MODEL.WEIGHTS", p(weights)] if weights else []
        return {"argv": [*demo, *args, "--output", p(out), "--opts", *CPU, *weights_opts, *opts]}

    def ds(name):
        return {"DETECTRON2_DATASETS": roots[name]}

    out = lambda name: ["OUTPUT_DIR", p(name)]  # noqa: E731
    # id -> (request, expected exit status, substrings of the error line, output that must not exist)
    cases = {
        # demo: config and command line
        "demo_config_missing": ({"argv": ["demo/demo.py", "--config-file", p("nope.yaml"), "--input", p("clip.mp4"),
                                          "--output", p("o1")]}, 1, ["nope.yaml", "does not exist"], "o1"),
        "demo_config_bad_yaml": ({"argv": ["demo/demo.py", "--config-file", p("bad.yaml"), "--input", p("clip.mp4"),
                                           "--output", p("o2")]}, 1, ["bad.yaml", "invalid YAML"], "o2"),
        "demo_config_not_mapping": ({"argv": ["demo/demo.py", "--config-file", p("list.yaml"), "--input",
                                              p("clip.mp4"), "--output", p("o3")]}, 1, ["list.yaml", "mapping"], "o3"),
        "demo_config_type_mismatch": ({"argv": ["demo/demo.py", "--config-file", p("type.yaml"), "--input",
                                                p("clip.mp4"), "--output", p("o4")]}, 1, ["type.yaml", "MAX_ITER"],
                                      "o4"),
        "demo_unknown_key": (demo_case("o5", "--input", p("clip.mp4"), opts=["MODEL.NOT_A_KEY", "1"]), 1,
                             ["MODEL.NOT_A_KEY"], "o5"),
        "demo_odd_opts": (demo_case("o6", "--input", p("clip.mp4"), opts=["TEST.WINDOW_SIZE"]), 1,
                          ["KEY VALUE pairs"], "o6"),
        "demo_bad_device": (demo_case("o7", "--input", p("clip.mp4"), opts=["MODEL.DEVICE", "gpu0"]), 1,
                            ["MODEL.DEVICE", "gpu0"], "o7"),
        "demo_window_zero": (demo_case("o8", "--input", p("clip.mp4"), "--window", "0"), 2, ["--window", ">= 1"],
                             "o8"),
        "demo_window_text": (demo_case("o9", "--input", p("clip.mp4"), "--window", "two"), 2, ["--window", "'two'"],
                             "o9"),
        # demo: checkpoints
        "demo_weights_empty_key": (demo_case("c0", "--input", p("clip.mp4"), weights=None), 1,
                                   ["MODEL.WEIGHTS", "random weights"], "c0"),
        "demo_weights_missing": (demo_case("c1", "--input", p("clip.mp4"), weights="missing.pth"), 1,
                                 ["missing.pth", "does not exist"], "c1"),
        "demo_weights_truncated_pth": (demo_case("c2", "--input", p("clip.mp4"), weights="truncated.pth"), 1,
                                       ["truncated.pth", "truncated"], "c2"),
        "demo_weights_empty_pkl": (demo_case("c3", "--input", p("clip.mp4"), weights="empty.pkl"), 1,
                                   ["empty.pkl", "empty"], "c3"),
        "demo_weights_empty_pth": (demo_case("c4", "--input", p("clip.mp4"), weights="empty.pth"), 1,
                                   ["empty.pth", "empty"], "c4"),
        "demo_weights_garbage": (demo_case("c5", "--input", p("clip.mp4"), weights="garbage.pth"), 1,
                                 ["garbage.pth", "not a checkpoint"], "c5"),
        "demo_weights_pickled_list": (demo_case("c6", "--input", p("clip.mp4"), weights="list.pkl"), 1,
                                      ["list.pkl", "no state dict"], "c6"),
        "demo_weights_truncated_pkl": (demo_case("c7", "--input", p("clip.mp4"), weights="truncated.pkl"), 1,
                                       ["truncated.pkl", "truncated"], "c7"),
        "demo_weights_code_pkl": (demo_case("c8", "--input", p("clip.mp4"), weights="code.pkl"), 1,
                                  ["code.pkl", "refused", "system"], "c8"),
        "demo_weights_code_pth": (demo_case("c9", "--input", p("clip.mp4"), weights="code.pth"), 1,
                                  ["code.pth", "refused"], "c9"),
        "demo_weights_other_model": (demo_case("c10", "--input", p("clip.mp4"), weights="other_model.pth"), 1,
                                     ["other_model.pth", "loaded 0 of the model's 226 tensors"], "c10"),
        "demo_weights_100_queries": (demo_case("c11", "--input", p("clip.mp4"), weights="queries100.pth"), 1,
                                     ["queries100.pth", "query_feat", "[100, 64]", "NUM_OBJECT_QUERIES"], "c11"),
        "demo_weights_other_classes": (demo_case("c12", "--input", p("clip.mp4"), weights="classes5.pth"), 1,
                                       ["classes5.pth", "class_embed", "NUM_CLASSES"], "c12"),
        "demo_weights_zip_named_pkl": (demo_case("c13", "--input", p("clip.mp4"), weights="renamed_zip.pkl"), 1,
                                       ["renamed_zip.pkl", "PyTorch (zip) checkpoint"], "c13"),
        "demo_weights_unknown_extension": (demo_case("c14", "--input", p("clip.mp4"), weights="weights.bin"), 1,
                                           ["weights.bin", "unknown checkpoint type"], "c14"),
        "demo_weights_folder": (demo_case("c15", "--input", p("clip.mp4"), weights="weights_folder.pth"), 1,
                                ["weights_folder.pth", "is a folder"], "c15"),
        # demo: inputs and output
        "demo_input_missing": (demo_case("i1", "--input", p("missing.mp4")), 1, ["missing.mp4", "no such"], "i1"),
        "demo_input_garbage": (demo_case("i2", "--input", p("garbage.mp4")), 1,
                               ["garbage.mp4", "not a readable video"], "i2"),
        "demo_input_empty_file": (demo_case("i3", "--input", p("empty.mp4")), 1, ["empty.mp4", "not a readable"],
                                  "i3"),
        "demo_input_text_file": (demo_case("i4", "--input", p("notes.txt")), 1, ["notes.txt", "not a readable"], "i4"),
        "demo_input_no_images": (demo_case("i5", "--input", p("no_images")), 1, ["no_images", "no image file"], "i5"),
        "demo_input_glob_nothing": (demo_case("i6", "--input", p("no_images", "*.jpg")), 1,
                                    ["*.jpg", "matches no image"], "i6"),
        "demo_input_frame_sizes": (demo_case("i7", "--input", p("sizes")), 1,
                                   ["002.png", "40x64", "000.png is 48x64"], "i7"),
        "demo_input_corrupt_frame": (demo_case("i8", "--input", p("corrupt_frame")), 1,
                                     ["001.png", "cannot decode"], "i8"),
        "demo_input_same_names": (demo_case("i9", "--input", p("a", "clip.mp4"), p("b", "clip.mp4")), 1,
                                  ["--input", "would both be written", "clip.mp4"], "i9"),
        "demo_output_is_a_file": (demo_case("output_is_a_file", "--input", p("clip.mp4")), 1,
                                  ["output_is_a_file", "--output must be a folder"], None),
        # train_net.py
        "train_steps_outside_max_iter": ({"argv": [*train, *CPU, *out("t1"), "SOLVER.MAX_ITER", "10",
                                                   "SOLVER.STEPS", "(5, 20)"]}, 1, ["SOLVER.STEPS", "[20]"], "t1"),
        "train_unknown_optimizer": ({"argv": [*train, *CPU, *out("t2"), "SOLVER.OPTIMIZER", "LAMB"]}, 1,
                                    ["SOLVER.OPTIMIZER", "LAMB"], "t2"),
        "train_unknown_meta_arch": ({"argv": [*train, *CPU, *out("t3"), "MODEL.META_ARCHITECTURE", "Nope"]}, 1,
                                    ["MODEL.META_ARCHITECTURE", "Nope"], "t3"),
        "train_eval_only_no_weights": ({"argv": [*train, "--eval-only", *CPU, *out("t4")]}, 1,
                                       ["MODEL.WEIGHTS", "--eval-only needs a checkpoint"], "t4"),
        "train_eval_only_other_model": ({"argv": [*train, "--eval-only", *CPU, *out("t5"), "MODEL.WEIGHTS",
                                                  p("other_model.pth")]}, 1, ["other_model.pth", "loaded 0"], "t5"),
        "train_eval_only_100_queries": ({"argv": [*train, "--eval-only", *CPU, *out("t6"), "MODEL.WEIGHTS",
                                                  p("queries100.pth")]}, 1, ["queries100.pth", "query_feat"], "t6"),
        "train_eval_only_truncated": ({"argv": [*train, "--eval-only", *CPU, *out("t7"), "MODEL.WEIGHTS",
                                                p("truncated.pth")]}, 1, ["truncated.pth", "truncated"], "t7"),
        "train_init_other_model": ({"argv": [*train, *CPU, *out("t8"), "MODEL.WEIGHTS", p("other_model.pth")]}, 1,
                                   ["other_model.pth", "loaded 0"], "t8"),
        "train_output_dir_is_a_file": ({"argv": [*train, *CPU, "OUTPUT_DIR", p("output_is_a_file")]}, 1,
                                       ["output_is_a_file", "OUTPUT_DIR must be a folder"], None),
        "train_resume_pointer_to_nothing": ({"argv": [*train, "--resume", *CPU, *out("resume_missing")]}, 1,
                                            ["last_checkpoint", "model_0000005.pth", "does not exist"], None),
        "train_resume_truncated": ({"argv": [*train, "--resume", *CPU, *out("resume_truncated")]}, 1,
                                   ["model_0000005.pth", "truncated"], None),
        "train_resume_not_a_training_checkpoint": ({"argv": [*train, "--resume", *CPU, *out("resume_not_ours")]}, 1,
                                                   ["model_0000005.pth", "not a training checkpoint"], None),
        "train_unregistered_dataset": ({"argv": [*train, *CPU, *out("t9"), "DATASETS.TRAIN", "('vipseg_trian',)"]},
                                       1, ["vipseg_trian", "not registered"], "t9"),
        "train_annotation_invalid_json": ({"argv": [*train, *CPU, *out("t10"), "DATASETS.TRAIN",
                                                    "('ytvis_2019_train',)"], "env": ds("bad_train_json")}, 1,
                                          ["train.json", "invalid JSON"], "t10"),
        "train_missing_dataset_root": ({"argv": [*train, *CPU, *out("t11"), "DATASETS.TRAIN",
                                                 "('ytvis_2019_train',)"], "env": ds("empty")}, 1,
                                       ["ytvis_2019_train", "datasets/README.md"], "t11"),
        "train_num_gpus_zero": ({"argv": [*train, "--num-gpus", "0", *CPU]}, 1, ["--num-gpus", "at least 1"], None),
        "train_dist_url_auto_two_machines": ({"argv": [*train, "--num-machines", "2", *CPU, *out("t12")]}, 1,
                                             ["--dist-url auto", "one machine"], None),
        "train_engine_detectron2_missing": ({"argv": [*train, "--engine", "detectron2", *CPU]}, 1,
                                            ["--engine detectron2", "needs detectron2"], None),
        # offline evaluation
        "offline_unknown_dataset": ({"argv": ["-m", "tubelink.evaluation.offline", "--dataset", "vipseg_vall",
                                              "--predictions", p("pred_none")]}, 1, ["vipseg_vall", "not registered"],
                                    None),
        "offline_gt_invalid_json": ({"argv": [*offline, "--predictions", p("pred_none")], "env": ds("bad_json")}, 1,
                                    ["valid.json", "invalid JSON"], None),
        "offline_gt_no_videos_key": ({"argv": [*offline, "--predictions", p("pred_none")], "env": ds("no_videos")},
                                     1, ["valid.json", "'videos'"], None),
        "offline_gt_bad_category": ({"argv": [*offline, "--predictions", p("pred_none")], "env": ds("bad_category")},
                                    1, ["999"], None),
        "offline_gt_malformed_rle": ({"argv": [*offline, "--predictions", p("pred_none"), "--missing-as-empty"],
                                      "env": ds("bad_rle")}, 1,
                                     ["valid.json", "video 1", "malformed segmentation"], None),
        "offline_predictions_folder_missing": ({"argv": [*offline, "--predictions", p("pred_nowhere")],
                                                "env": ds("good")}, 1, ["pred_nowhere", "does not exist"], None),
        "offline_predictions_invalid_json": ({"argv": [*offline, "--predictions", p("pred_bad_json")],
                                              "env": ds("good")}, 1, ["results.json", "invalid JSON"], None),
        "offline_dataset_root_missing": ({"argv": [*offline, "--predictions", p("pred_none")], "env": ds("empty")}, 1,
                                         ["ytvis_2019_val", "datasets/README.md"], None),
        # the synthetic generator, tools
        "synthetic_zero_frames": ({"argv": ["-m", "tubelink.data.synthetic", "--root", p("s1"), "--num-frames", "0"]},
                                  2, ["--num-frames", ">= 1"], "s1"),
        "synthetic_tiny_frames": ({"argv": ["-m", "tubelink.data.synthetic", "--root", p("s2"), "--height", "8"]}, 2,
                                  ["--height", ">= 32"], "s2"),
        "synthetic_difficulty_out_of_range": ({"argv": ["-m", "tubelink.data.synthetic", "--root", p("s3"),
                                                        "--difficulty", "2"]}, 2, ["--difficulty", "[0, 1]"], "s3"),
        "synthetic_root_is_a_file": ({"argv": ["-m", "tubelink.data.synthetic", "--root", p("output_is_a_file"),
                                               "--formats", "ytvis"]}, 1, ["output_is_a_file", "--root"], None),
        "tool_train_config_missing": ({"argv": ["tools/benchmark_train.py", "--config-file", p("nope.yaml")]}, 1,
                                      ["nope.yaml", "does not exist"], None),
        "prepare_vipseg_src_missing": ({"argv": ["datasets/prepare_vipseg.py", "--src", p("no_vipseg"),
                                                 "--dst", p("vipseg_out")]}, 1, ["no_vipseg", "--src"], "vipseg_out"),
        "prepare_kitti_step_not_official": ({"argv": ["datasets/prepare_kitti_step.py", "--src", p("mac_frames"),
                                                      "--dst", p("kitti_out")]}, 1,
                                            ["mac_frames", "official KITTI-STEP layout"], "kitti_out"),
        "tool_mapper_unknown_dataset": ({"argv": ["tools/benchmark_mapper.py", "--dataset", "nope_train"]}, 1,
                                        ["nope_train", "not registered"], None),
    }
    # Handled correctly (exit 0): macOS metadata files and hidden files in a frame folder are not frames.
    positive = {"demo_mac_metadata_skipped": demo_case("ok_mac", "--input", p("mac_frames"))}
    debug = {
        "debug_flag": {"argv": [*demo, "--debug", "--input", p("clip.mp4"), "--output", p("d1"), "--opts", *CPU,
                                "MODEL.WEIGHTS", p("truncated.pth")]},
        "debug_env": dict(demo_case("d2", "--input", p("clip.mp4"), weights="empty.pkl"), env={"TUBELINK_DEBUG": "1"}),
    }
    assert list(cases) == CASE_IDS
    names = [*cases, *positive, *debug]
    requests = [cases[n][0] for n in cases] + list(positive.values()) + list(debug.values())
    env = {"OMP_NUM_THREADS": "1", "DETECTRON2_DATASETS": roots["empty"], "HF_HUB_OFFLINE": "1"}
    results = dict(zip(names, run_many(requests, env=env)))
    return {"dir": w, "cases": cases, "results": results}


CASE_IDS = [
    "demo_config_missing", "demo_config_bad_yaml", "demo_config_not_mapping", "demo_config_type_mismatch",
    "demo_unknown_key", "demo_odd_opts", "demo_bad_device", "demo_window_zero", "demo_window_text",
    "demo_weights_empty_key", "demo_weights_missing", "demo_weights_truncated_pth", "demo_weights_empty_pkl",
    "demo_weights_empty_pth", "demo_weights_garbage", "demo_weights_pickled_list", "demo_weights_truncated_pkl",
    "demo_weights_code_pkl", "demo_weights_code_pth", "demo_weights_other_model", "demo_weights_100_queries",
    "demo_weights_other_classes", "demo_weights_zip_named_pkl", "demo_weights_unknown_extension",
    "demo_weights_folder", "demo_input_missing", "demo_input_garbage", "demo_input_empty_file",
    "demo_input_text_file", "demo_input_no_images", "demo_input_glob_nothing", "demo_input_frame_sizes",
    "demo_input_corrupt_frame", "demo_input_same_names", "demo_output_is_a_file",
    "train_steps_outside_max_iter", "train_unknown_optimizer", "train_unknown_meta_arch",
    "train_eval_only_no_weights", "train_eval_only_other_model", "train_eval_only_100_queries",
    "train_eval_only_truncated", "train_init_other_model", "train_output_dir_is_a_file",
    "train_resume_pointer_to_nothing", "train_resume_truncated", "train_resume_not_a_training_checkpoint",
    "train_unregistered_dataset", "train_annotation_invalid_json", "train_missing_dataset_root",
    "train_num_gpus_zero", "train_dist_url_auto_two_machines", "train_engine_detectron2_missing",
    "offline_unknown_dataset", "offline_gt_invalid_json", "offline_gt_no_videos_key", "offline_gt_bad_category",
    "offline_gt_malformed_rle", "offline_predictions_folder_missing", "offline_predictions_invalid_json",
"offline_dataset_root_missing",
    "synthetic_zero_frames", "synthetic_tiny_frames", "synthetic_difficulty_out_of_range",
    "synthetic_root_is_a_file", "tool_train_config_missing", "prepare_vipseg_src_missing",
    "prepare_kitti_step_not_official", "tool_mapper_unknown_dataset",
]  # fmt: skip


RUN_RECORDS = ("log.txt", "config.yaml")  # what train_net.py writes on start-up, before anything can fail


def _outputs_in(folder):
    """Files written into `folder` other than the run's log and config."""
    if not os.path.isdir(folder):
        return []
    return [f for _, _, files in os.walk(folder) for f in files if not f.startswith(RUN_RECORDS)]


@pytest.mark.parametrize("case", CASE_IDS)
def test_bad_input_gives_one_line_naming_the_problem(corpus, case):
    _, status, expected, output = corpus["cases"][case]
    result = corpus["results"][case]
    shown = result["stdout"] + result["stderr"]
    assert "Traceback" not in shown, shown[-3000:]
    assert result["rc"] == status, shown[-3000:]
    error_lines = [line for line in result["stderr"].splitlines() if "error:" in line]
    assert len(error_lines) == 1, result["stderr"][-3000:]
    line = error_lines[0]
    assert line.startswith("error: ") if status == 1 else " error: argument " in line, line
    for text in expected:
        assert text in line, line
    after = result["stderr"].splitlines()[result["stderr"].splitlines().index(line) + 1 :]
    assert all(a.startswith("hint: ") for a in after), result["stderr"]  # nothing but a hint after the error
    if output is not None:
        assert _outputs_in(os.path.join(corpus["dir"], output)) == [], "output written despite the error"
    assert '"VPQ"' not in result["stdout"] and '"AP"' not in result["stdout"]  # no metrics of anything


def test_partial_loads_are_refused_with_a_hint_and_the_coverage_table_is_shown(corpus):
    result = corpus["results"]["demo_weights_100_queries"]
    assert "hint: to use it anyway, set MODEL.WEIGHTS_COVERAGE.ALLOW_PARTIAL True" in result["stderr"]
    assert "Checkpoint coverage" in result["stdout"] and "sem_seg_head.predictor" in result["stdout"]


def test_hidden_files_in_a_frame_folder_are_not_frames(corpus):
    result = corpus["results"]["demo_mac_metadata_skipped"]
    assert result["rc"] == 0, result["stderr"][-3000:]
    from tubelink.utils.video_io import open_video_source

    out = os.path.join(corpus["dir"], "ok_mac")
    assert len(list(open_video_source(os.path.join(out, "mac_frames.mp4")))) == 3
    assert len(json.load(open(os.path.join(out, "mac_frames.json")))["results"]) == 3
    assert "Checkpoint coverage" in result["stdout"]  # the coverage table reaches the console in the demo


@pytest.mark.parametrize("case", ["debug_flag", "debug_env"])
def test_debug_shows_the_traceback(corpus, case):
    result = corpus["results"][case]
    assert result["rc"] == 1 and "Traceback" in result["stderr"], result["stderr"][-2000:]
    assert "CheckpointReadError" in result["stderr"]


def test_unexpected_errors_keep_their_traceback(tmp_path):
    script = tmp_path / "buggy.py"
    script.write_text(
        "from tubelink.utils.errors import InputError, run_command\n"
        "import sys\n"
        "def main():\n"
        "    if sys.argv[1] == 'bug':\n"
        "        return {}['missing']  # a bug: a KeyError raised by an operation, not on purpose\n"
        "    raise InputError('SOLVER.BASE_LR', 'must be positive', 'try 0.0001')\n"
        "run_command(main)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    bug = subprocess.run([sys.executable, str(script), "bug"], capture_output=True, text=True, env=env)
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "KeyError: 'missing'" in bug.stderr
    expected = subprocess.run([sys.executable, str(script), "input"], capture_output=True, text=True, env=env)
    assert expected.returncode == 1 and "Traceback" not in expected.stderr
    assert expected.stderr.splitlines() == ["error: SOLVER.BASE_LR: must be positive", "hint: try 0.0001"]


def test_runner_matches_a_plain_subprocess(corpus):
    """The forked runner gives what `python script.py ...` gives (status and error line)."""
    for case in ("demo_weights_truncated_pth", "train_steps_outside_max_iter"):
        request = corpus["cases"][case][0]
        proc = subprocess.run(
            [sys.executable, *request["argv"]],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=dict(os.environ, OMP_NUM_THREADS="1", **request.get("env", {})),
        )
        forked = corpus["results"][case]
        assert proc.returncode == forked["rc"]
        assert [x for x in proc.stderr.splitlines() if "error:" in x] == [
            x for x in forked["stderr"].splitlines() if "error:" in x
        ]
