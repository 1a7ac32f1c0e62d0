"""Every backbone returns res2..res5 at strides 4..32 with the channels it declares, for odd input sizes."""

import pytest
import torch

from tubelink.config import get_cfg
from tubelink.modeling.backbone import build_backbone


def _cfg(name, **overrides):
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.BACKBONE.NAME", name] + [x for kv in overrides.items() for x in kv])
    return cfg


@pytest.mark.parametrize(
    "cfg",
    [
        _cfg("build_resnet_backbone"),
        _cfg("build_small_cnn_backbone"),
        _cfg("build_stdc_backbone", **{"MODEL.STDC.VARIANT": "STDC1"}),
        _cfg("build_stdc_backbone", **{"MODEL.STDC.VARIANT": "STDC2"}),
        _cfg("D2SwinTransformer", **{"MODEL.SWIN.EMBED_DIM": 32, "MODEL.SWIN.NUM_HEADS": [1, 2, 4, 8]}),
    ],
    ids=["R50", "small", "STDC1", "STDC2", "Swin-tiny-width"],
)
def test_backbone_outputs_match_declared_shapes(cfg):
    backbone = build_backbone(cfg).eval()
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 64, 96))
    for name, spec in backbone.output_shape().items():
        assert out[name].shape == (1, spec.channels, 64 // spec.stride, 96 // spec.stride), name
    assert [s.stride for s in backbone.output_shape().values()] == [4, 8, 16, 32]


def test_stdc_channels_and_sizes():
    b1, b2 = (
        build_backbone(_cfg("build_stdc_backbone")),
        build_backbone(_cfg("build_stdc_backbone", **{"MODEL.STDC.VARIANT": "STDC2"})),
    )
    assert [s.channels for s in b1.output_shape().values()] == [64, 256, 512, 1024]
    n1, n2 = (sum(p.numel() for p in b.parameters()) for b in (b1, b2))
    assert 4e6 < n1 < n2 < 2e7  # STDC2 is the deeper one
    with pytest.raises(ValueError, match="MODEL.STDC.VARIANT"):
        build_backbone(_cfg("build_stdc_backbone", **{"MODEL.STDC.VARIANT": "STDC3"}))


def test_unknown_backbone_is_named():
    with pytest.raises(KeyError, match="MODEL.BACKBONE.NAME: unknown backbone 'nope'"):
        build_backbone(_cfg("nope"))


def test_freeze_at_stops_gradients():
    backbone = build_backbone(
        _cfg("build_resnet_backbone", **{"MODEL.BACKBONE.FREEZE_AT": 2, "MODEL.RESNETS.NORM": "BN"})
    )
    assert not any(p.requires_grad for p in backbone.stem.parameters())
    assert not any(p.requires_grad for p in backbone.res2.parameters())
    assert all(p.requires_grad for p in backbone.res3.parameters())


@pytest.mark.parametrize("name", ["build_small_cnn_backbone", "build_stdc_backbone", "D2SwinTransformer"])
def test_freeze_at_is_refused_where_it_would_be_ignored(name):
    # only ResNet freezes stages; elsewhere FREEZE_AT 2 used to train every parameter without a word
    with pytest.raises(ValueError, match=f"MODEL.BACKBONE.FREEZE_AT = 2: {name} does not freeze stages"):
        build_backbone(_cfg(name, **{"MODEL.BACKBONE.FREEZE_AT": 2}))
