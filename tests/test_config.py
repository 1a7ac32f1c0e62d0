"""Config system: defaults, `_BASE_` inheritance, and errors that name the file and the key."""

import glob
import os

import pytest

from tubelink.config import ConfigError, get_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_defaults_have_detectron2_and_tubelink_keys():
    cfg = get_cfg()
    assert cfg.MODEL.META_ARCHITECTURE == "TubeLink"
    assert cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES == 100
    assert cfg.MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME == "MSDeformAttnPixelDecoder"
    assert cfg.MODEL.TUBE_LINK.NUM_FRAMES == 2
    assert cfg.MODEL.TRACKER.MATCH_METRIC == "bisoftmax"
    assert get_cfg() is not get_cfg()  # fresh copies


def test_base_inheritance_child_overrides_base(tmp_path):
    _write(tmp_path / "base.yaml", "MODEL:\n  TUBE_LINK:\n    NUM_FRAMES: 4\nSOLVER:\n  MAX_ITER: 7\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    child = _write(sub / "child.yaml", "_BASE_: ../base.yaml\nSOLVER:\n  MAX_ITER: 9\n")
    cfg = get_cfg()
    cfg.merge_from_file(child)
    assert cfg.MODEL.TUBE_LINK.NUM_FRAMES == 4
    assert cfg.SOLVER.MAX_ITER == 9


def test_unknown_key_names_file_and_key(tmp_path):
    _write(tmp_path / "base.yaml", "MODEL:\n  TUBE_LINK:\n    NUM_FRAMEZ: 4\n")
    child = _write(tmp_path / "child.yaml", "_BASE_: base.yaml\n")
    cfg = get_cfg()
    with pytest.raises(ConfigError) as err:
        cfg.merge_from_file(child)
    assert "base.yaml" in str(err.value) and "MODEL.TUBE_LINK.NUM_FRAMEZ" in str(err.value)


def test_wrong_type_names_file_and_key(tmp_path):
    path = _write(tmp_path / "bad.yaml", "SOLVER:\n  MAX_ITER: 'many'\n")
    with pytest.raises(ConfigError) as err:
        get_cfg().merge_from_file(path)
    assert "bad.yaml" in str(err.value) and "SOLVER.MAX_ITER" in str(err.value)


def test_missing_base_and_bad_yaml_are_clear(tmp_path):
    child = _write(tmp_path / "child.yaml", "_BASE_: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="nowhere.yaml: config file does not exist"):
        get_cfg().merge_from_file(child)
    bad = _write(tmp_path / "broken.yaml", "MODEL: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: invalid YAML"):
        get_cfg().merge_from_file(bad)


def test_command_line_overrides():
    cfg = get_cfg()
    cfg.merge_from_list(["TEST.WINDOW_SIZE", "6", "MODEL.TRACKER.MATCH_SCORE_THR", "0.4"])
    assert cfg.TEST.WINDOW_SIZE == 6 and cfg.MODEL.TRACKER.MATCH_SCORE_THR == 0.4
    with pytest.raises(ConfigError, match="MODEL.NOPE"):
        cfg.merge_from_list(["MODEL.NOPE", "1"])
    with pytest.raises(ConfigError, match="odd number"):
        cfg.merge_from_list(["TEST.WINDOW_SIZE"])


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)))
def test_every_shipped_config_merges(path):
    cfg = get_cfg()
    cfg.merge_from_file(path)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "configs", "*", "tubelink_*.yaml"))))
def test_configs_agree_with_their_datasets(path):
    import tubelink  # noqa: F401  (registers the datasets)
    from tubelink.data import DatasetCatalog, MetadataCatalog

    from tubelink.engine.evaluation import SplitView

    cfg = get_cfg()
    cfg.merge_from_file(path)
    for name in cfg.DATASETS.TRAIN:
        assert name in DatasetCatalog, name
        assert MetadataCatalog.get(name).num_classes == cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES, name
    for name in cfg.DATASETS.TEST:  # the model's classes map onto every test split (VIS may drop stuff)
        assert name in DatasetCatalog, name
        view = SplitView(cfg, name)
        assert all(k >= 0 for k in view.mapping) or view.task == "vis", name


def test_base_cycle_is_one_line_naming_the_chain(tmp_path):
    _write(tmp_path / "a.yaml", "_BASE_: b.yaml\nSOLVER:\n  MAX_ITER: 3\n")
    _write(tmp_path / "b.yaml", "_BASE_: [common.yaml, a.yaml]\n")
    _write(tmp_path / "common.yaml", "SEED: 1\n")
    with pytest.raises(ConfigError) as err:
        get_cfg().merge_from_file(str(tmp_path / "a.yaml"))
    message = str(err.value)
    assert "_BASE_ cycle" in message and "\n" not in message
    assert message.endswith(f"{tmp_path / 'a.yaml'} -> {tmp_path / 'b.yaml'} -> {tmp_path / 'a.yaml'}")
    _write(tmp_path / "self.yaml", "_BASE_: ./self.yaml\n")
    with pytest.raises(ConfigError, match="_BASE_ cycle: .*self.yaml -> .*self.yaml$"):
        get_cfg().merge_from_file(str(tmp_path / "self.yaml"))


def test_shared_base_is_not_a_cycle(tmp_path):
    _write(tmp_path / "common.yaml", "SEED: 5\n")
    _write(tmp_path / "left.yaml", "_BASE_: common.yaml\nSOLVER:\n  MAX_ITER: 3\n")
    _write(tmp_path / "right.yaml", "_BASE_: common.yaml\nTEST:\n  WINDOW_SIZE: 4\n")
    cfg = get_cfg()
    cfg.merge_from_file(_write(tmp_path / "both.yaml", "_BASE_: [left.yaml, right.yaml]\n"))
    assert (cfg.SEED, cfg.SOLVER.MAX_ITER, cfg.TEST.WINDOW_SIZE) == (5, 3, 4)


def test_global_batch_is_split_over_processes():
    from tubelink.data.build import clips_per_process

    assert clips_per_process(16, 8) == 2 and clips_per_process(4, 2) == 2 and clips_per_process(1, 1) == 1
    for total, world in ((3, 2), (16, 3), (0, 1)):
        with pytest.raises(ConfigError, match=rf"SOLVER.IMS_PER_BATCH = {total} must be .* \({world}\)"):
            clips_per_process(total, world)


@pytest.mark.parametrize(
    "override, message",
    [
        (["SOLVER.MAX_ITER", "None"], "SOLVER.MAX_ITER = null is not allowed"),
        (["SOLVER.IMS_PER_BATCH", "None"], "SOLVER.IMS_PER_BATCH = null is not allowed"),
        (["SOLVER.AMP.DTYPE", "foo"], "SOLVER.AMP.DTYPE = 'foo' must be one of bfloat16, float16"),
        (["TEST.AMP.DTYPE", "float32"], "TEST.AMP.DTYPE = 'float32' must be one of"),
        (["MODEL.SWIN.QK_SCALE", "abc"], "MODEL.SWIN.QK_SCALE = 'abc' must be null or int or float"),
        (["MODEL.SWIN.QK_SCALE", "True"], "MODEL.SWIN.QK_SCALE = True must be null"),
    ],
)
def test_values_fvcore_lets_through_are_refused(override, message):
    # fvcore lets None replace any value and anything replace a None default
    with pytest.raises(ConfigError, match="command-line override: " + message.replace("(", r"\(")):
        get_cfg().merge_from_list(override)


def test_null_in_a_file_is_refused_naming_it(tmp_path):
    path = _write(tmp_path / "null.yaml", "SOLVER:\n  MAX_ITER: null\n")
    with pytest.raises(ConfigError, match="null.yaml: SOLVER.MAX_ITER = null is not allowed"):
        get_cfg().merge_from_file(path)


def test_allowed_values_merge():
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.SWIN.QK_SCALE", "0.125", "SOLVER.AMP.DTYPE", "float16", "TEST.AMP.DTYPE", "bfloat16"])
    assert (cfg.MODEL.SWIN.QK_SCALE, cfg.SOLVER.AMP.DTYPE) == (0.125, "float16")
    cfg.merge_from_list(["MODEL.SWIN.QK_SCALE", "None"])  # its default is None
    assert cfg.MODEL.SWIN.QK_SCALE is None


def test_compat_keys_accept_the_mask2former_values_that_behave_alike(tmp_path):
    # Mask2Former's Swin-384 configs and its video configs (one size per clip, as tubelink samples)
    path = _write(
        tmp_path / "m2f.yaml",
        "MODEL:\n  SWIN:\n    PRETRAIN_IMG_SIZE: 384\nINPUT:\n  MIN_SIZE_TRAIN_SAMPLING: choice_by_clip\n",
    )
    cfg = get_cfg()
    cfg.merge_from_file(path)
    assert (cfg.MODEL.SWIN.PRETRAIN_IMG_SIZE, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING) == (384, "choice_by_clip")
    with pytest.raises(ConfigError, match="PRETRAIN_IMG_SIZE = 512 is not supported, only 224 or 384"):
        get_cfg().merge_from_list(["MODEL.SWIN.PRETRAIN_IMG_SIZE", "512"])
    with pytest.raises(ConfigError, match="MIN_SIZE_TRAIN_SAMPLING = 'range' is not supported"):
        get_cfg().merge_from_list(["INPUT.MIN_SIZE_TRAIN_SAMPLING", "range"])
