"""Checkpoints: the official Mask2Former layout loads with full coverage; malicious pickles are refused."""

import os
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from test_model_keys import fixture_keys
from tubelink.checkpoint import UnsafeCheckpointError, load_checkpoint_file, load_state_into, normalize_keys
from tubelink.config import get_cfg
from tubelink.modeling.backbone import build_backbone
from tubelink.modeling.pixel_decoder import build_pixel_decoder


class _Partial(nn.Module):
    """backbone + sem_seg_head.pixel_decoder with the real module tree."""

    def __init__(self):
        super().__init__()
        cfg = get_cfg()
        self.backbone = build_backbone(cfg)
        self.sem_seg_head = nn.Module()
        self.sem_seg_head.pixel_decoder = build_pixel_decoder(cfg, self.backbone.output_shape())


def _fixture_pkl(path, variant_keys=False):
    rng = np.random.default_rng(0)
    model = {}
    for prefix in ("backbone.", "sem_seg_head.pixel_decoder."):
        for key, shape in fixture_keys("R50", prefix).items():
            model[("module." if variant_keys else "") + prefix + key] = rng.standard_normal(shape).astype(np.float32)
    model["sem_seg_head.predictor.class_embed.weight"] = np.zeros((134, 256), np.float32)
    with open(path, "wb") as f:
        pickle.dump({"model": model, "__author__": "test", "matching_heuristics": True}, f)
    return model


def test_detectron2_pkl_with_fixture_layout_loads_fully(tmp_path):
    model = _fixture_pkl(tmp_path / "m2f.pkl")
    net = _Partial()
    report = load_state_into(net, load_checkpoint_file(str(tmp_path / "m2f.pkl")))
    assert report.missing == [] and report.skipped == []
    assert report.unexpected == ["sem_seg_head.predictor.class_embed.weight"]  # not built here
    key = "sem_seg_head.pixel_decoder.transformer.level_embed"
    assert torch.equal(net.state_dict()[key], torch.from_numpy(model[key]))
    assert "backbone.res5" in report.table()


def test_key_variants_and_shape_mismatch(tmp_path):
    _fixture_pkl(tmp_path / "ddp.pkl", variant_keys=True)
    state = load_checkpoint_file(str(tmp_path / "ddp.pkl"))
    state["backbone.stem.conv1.weight"] = torch.zeros(8, 3, 7, 7)  # wrong shape: skipped and reported
    report = load_state_into(_Partial(), state)
    assert report.skipped == [("backbone.stem.conv1.weight", (8, 3, 7, 7), (64, 3, 7, 7))]
    assert "checkpoint [8, 3, 7, 7] vs model [64, 3, 7, 7]" in report.table()
    old_layout = {"sem_seg_head.mask_features.bias": torch.ones(256)}  # pre-version-2 MaskFormer head
    report = load_state_into(_Partial(), old_layout)
    assert report.loaded == ["sem_seg_head.pixel_decoder.mask_features.bias"]
    renamed = normalize_keys({"module.sem_seg_head.predictor.static_query.weight": torch.zeros(1)})
    assert list(renamed) == ["sem_seg_head.predictor.query_feat.weight"]
    assert normalize_keys(renamed).keys() == renamed.keys()  # idempotent


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {"x": _Evil()}}, f)
    with pytest.raises(UnsafeCheckpointError, match="evil.pkl: refused to load: the pickle references .*system"):
        load_checkpoint_file(str(path))
    pth = tmp_path / "evil.pth"
    torch.save({"model": {"x": _Evil()}}, pth)
    with pytest.raises(UnsafeCheckpointError, match="evil.pth: refused"):
        load_checkpoint_file(str(pth))


def test_pth_round_trip_and_bad_files(tmp_path):
    net = _Partial()
    torch.save({"model": net.state_dict()}, tmp_path / "ok.pth")
    assert load_state_into(_Partial(), load_checkpoint_file(str(tmp_path / "ok.pth"))).missing == []
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        load_checkpoint_file(str(tmp_path / "nope.pkl"))
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown checkpoint type"):
        load_checkpoint_file(str(tmp_path / "w.bin"))


def test_torchvision_resnet_file_initialises_the_backbone(tmp_path):
    import torchvision

    from tubelink.checkpoint import load_weights

    tv = torchvision.models.resnet50(weights=None)
    torch.save(tv.state_dict(), tmp_path / "resnet50_tv.pth")
    net = _Partial()
    report = load_weights(net, str(tmp_path / "resnet50_tv.pth"))
    assert not [k for k in report.missing if k.startswith("backbone.")] and not report.unexpected
    assert torch.equal(net.backbone.res3[0].shortcut.norm.running_var, tv.layer2[0].downsample[1].running_var)
    assert torch.equal(net.backbone.stem.conv1.weight, tv.conv1.weight)


def _report(loaded=8, skipped=(), missing=0):
    from tubelink.checkpoint import LoadReport

    return LoadReport(
        loaded=[f"backbone.k{i}" for i in range(loaded)],
        skipped=list(skipped),
        missing=[f"sem_seg_head.link.m{i}" for i in range(missing)],
    )


def test_coverage_policy_warns_refuses_and_allows(caplog):
    from tubelink.checkpoint import CoveragePolicy, PartialLoadError, check_coverage

    cfg = get_cfg()
    training, inference = CoveragePolicy.from_config(cfg, False), CoveragePolicy.from_config(cfg, True)
    classifier = ("sem_seg_head.predictor.class_embed.weight", (41, 64), (10, 64))
    queries = ("sem_seg_head.predictor.query_feat.weight", (100, 64), (20, 64))
    caplog.set_level("WARNING", logger="tubelink.checkpoint.loader")
    check_coverage(_report(), "full.pth", inference)  # the whole model: silent
    assert caplog.records == []
    larger = _report()
    larger.unexpected = ["sem_seg_head.predictor.transformer_ffn_layers.8.linear1.weight"]
    check_coverage(larger, "larger.pth", inference)  # the model is covered, but the file is of a larger model
    assert "larger.pth: loaded 8 of the model's 8 tensors (100%); 1 entries of the file are not in the model" in (
        caplog.text
    ) and "DEC_LAYERS" in caplog.text
    caplog.clear()
    check_coverage(_report(skipped=[classifier]), "finetune.pth", CoveragePolicy(warn_below=0.5))
    assert caplog.records == []  # a classifier of another data set, above the warning share: expected
    check_coverage(_report(skipped=[queries]), "queries.pth", CoveragePolicy(warn_below=0.5))
    assert "queries.pth" in caplog.text and "NUM_OBJECT_QUERIES" in caplog.text  # any other skip warns
    caplog.clear()
    check_coverage(_report(missing=2), "init.pth", training)  # training from a partial file: a warning
    assert "loaded 8 of the model's 10 tensors (80%)" in caplog.text and "sem_seg_head.link" in caplog.text
    with pytest.raises(PartialLoadError, match="init.pth: loaded 8 of the model's 10 tensors") as err:
        check_coverage(_report(missing=2), "init.pth", inference)  # predictions from it: refused
    assert "ALLOW_PARTIAL" in err.value.hint
    check_coverage(_report(missing=2), "init.pth", CoveragePolicy(refuse_below=0.75))  # a lower threshold
    with pytest.raises(PartialLoadError, match="loaded 0 of"):
        check_coverage(_report(loaded=0, missing=5), "other.pth", training)  # nothing at all: always refused
    cfg.MODEL.WEIGHTS_COVERAGE.ALLOW_PARTIAL = True
    check_coverage(_report(loaded=0, missing=5), "other.pth", CoveragePolicy.from_config(cfg, True))


def test_resume_drops_metrics_after_the_checkpoint(tmp_path):
    import json

    from tubelink.engine.trainer import drop_metrics_after

    path = tmp_path / "metrics.json"
    lines = [json.dumps({"iteration": i, "total_loss": i / 3}) for i in range(1, 6)]
    lines.append(json.dumps({"iteration": 3, "evaluation": {"VPQ": 1.0}}))
    path.write_text("\n".join(lines) + '\n{"iteration": 6, "total_lo')  # the last line cut by a kill
    drop_metrics_after(str(path), 3)
    assert path.read_text().splitlines() == lines[:3]  # the evaluation after iteration 3 is redone as well
