"""Parameter names and shapes follow official Mask2Former COCO checkpoints (fixtures listed from the real modules)."""

import os

import pytest
import torch

from tubelink.config import get_cfg
from tubelink.modeling.backbone import build_backbone
from tubelink.modeling.pixel_decoder import build_pixel_decoder

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "m2f_keys")


def fixture_keys(name: str, prefix: str) -> dict:
    """{key: shape tuple} of the fixture rows under `prefix` (prefix stripped)."""
    out = {}
    with open(os.path.join(FIXTURES, f"coco_panoptic_{name}.tsv")) as f:
        for line in f:
            if line.startswith("#") or line.startswith("key\t"):
                continue
            key, shape, _, _ = line.rstrip("\n").split("\t")
            if key.startswith(prefix):
                out[key[len(prefix) :]] = tuple(int(s) for s in shape.split("x")) if shape else ()
    return out


def module_keys(module: torch.nn.Module) -> dict:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_r50_backbone_keys_equal_fixture():
    cfg = get_cfg()
    backbone = build_backbone(cfg)
    assert module_keys(backbone) == fixture_keys("R50", "backbone.")


def test_r50_pixel_decoder_keys_equal_fixture():
    cfg = get_cfg()
    backbone = build_backbone(cfg)
    decoder = build_pixel_decoder(cfg, backbone.output_shape())
    assert module_keys(decoder) == fixture_keys("R50", "sem_seg_head.pixel_decoder.")


@pytest.mark.parametrize("size", [(64, 96), (96, 64)])
def test_r50_and_pixel_decoder_output_shapes(size):
    cfg = get_cfg()
    cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS = 1  # shapes do not depend on depth; keep the test fast
    backbone = build_backbone(cfg).eval()
    decoder = build_pixel_decoder(cfg, backbone.output_shape()).eval()
    h, w = size
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, h, w))
        mask_features, coarse, multi_scale = decoder.forward_features(feats)
    assert feats["res5"].shape == (1, 2048, h // 32, w // 32)
    assert mask_features.shape == (1, 256, h // 4, w // 4) and coarse.shape == (1, 256, h // 32, w // 32)
    assert [tuple(x.shape[-2:]) for x in multi_scale] == [(h // 32, w // 32), (h // 16, w // 16), (h // 8, w // 8)]


def test_tube_decoder_keys_equal_mask2former_predictor_except_classifier():
    from tubelink.modeling.transformer_decoder import build_transformer_decoder

    cfg = get_cfg()  # 124 classes (VIPSeg): only the classifier differs from COCO's 133
    ours = module_keys(build_transformer_decoder(cfg, 256))
    theirs = fixture_keys("R50", "sem_seg_head.predictor.")
    classifier = {"class_embed.weight", "class_embed.bias"}
    assert {k: v for k, v in ours.items() if k not in classifier} == {
        k: v for k, v in theirs.items() if k not in classifier
    }
    assert ours["class_embed.weight"] == (125, 256) and theirs["class_embed.weight"] == (134, 256)


def _swin_cfg(embed, depths, heads, window):
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    cfg.MODEL.SWIN.EMBED_DIM, cfg.MODEL.SWIN.DEPTHS, cfg.MODEL.SWIN.NUM_HEADS = embed, depths, heads
    cfg.MODEL.SWIN.WINDOW_SIZE = window
    return cfg


@pytest.mark.parametrize(
    "name,embed,depths,heads,window",
    [
        ("SwinB384", 128, [2, 2, 18, 2], [4, 8, 16, 32], 12),
        ("SwinT", 96, [2, 2, 6, 2], [3, 6, 12, 24], 7),
        ("SwinL384", 192, [2, 2, 18, 2], [6, 12, 24, 48], 12),
    ],
)
def test_swin_backbone_and_pixel_decoder_keys_equal_fixture(name, embed, depths, heads, window):
    cfg = _swin_cfg(embed, depths, heads, window)
    backbone = build_backbone(cfg)
    assert module_keys(backbone) == fixture_keys(name, "backbone.")
    decoder = build_pixel_decoder(cfg, backbone.output_shape())
    assert module_keys(decoder) == fixture_keys(name, "sem_seg_head.pixel_decoder.")


def test_swin_any_input_size():
    cfg = _swin_cfg(32, [2, 2, 2, 2], [1, 2, 4, 8], 7)
    backbone = build_backbone(cfg).eval()
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 70, 90))  # not a multiple of 32 nor of the window
    assert [tuple(out[f"res{i}"].shape) for i in range(2, 6)] == [
        (1, 32, 18, 23),
        (1, 64, 9, 12),
        (1, 128, 5, 6),
        (1, 256, 3, 3),
    ]
