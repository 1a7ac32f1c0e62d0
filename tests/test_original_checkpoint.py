"""The original Tube-Link (MMDetection 2.x) checkpoints load: synthetic state dicts with the original's key layout,
written from lxtGH/Tube-Link's model code (TubeLinkVPS + Mask2FormerVideoHeadCustomNoStuff + mmdet/mmcv modules)."""

import os

import pytest
import torch
import torch.nn.functional as F

import tubelink  # noqa: F401
from tubelink.checkpoint import load_weights
from tubelink.checkpoint.converters import original_tube_link_to_tubelink
from tubelink.config import get_cfg
from tubelink.modeling import build_model
from tubelink.modeling.backbone import build_backbone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D = 256
PD, TD = "sem_seg_head.pixel_decoder.", "sem_seg_head.predictor.transformer_"


def _bn(prefix, c):
    return {f"{prefix}.{n}": (c,) for n in ("weight", "bias", "running_mean", "running_var")} | {
        f"{prefix}.num_batches_tracked": ()
    }


def _linear(prefix, out_dim, in_dim, bias=True):
    return {f"{prefix}.weight": (out_dim, in_dim)} | ({f"{prefix}.bias": (out_dim,)} if bias else {})


def _norm(prefix, c):
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,)}


def _mmcv_mha(prefix):  # mmcv MultiheadAttention wraps nn.MultiheadAttention as `.attn`
    return {f"{prefix}.attn.in_proj_weight": (3 * D, D), f"{prefix}.attn.in_proj_bias": (3 * D,)} | _linear(
        f"{prefix}.attn.out_proj", D, D
    )


def _mmcv_ffn(prefix, hidden):  # mmcv FFN: layers = [Sequential(Linear, ReLU, Dropout), Linear, Dropout]
    return _linear(f"{prefix}.layers.0.0", hidden, D) | _linear(f"{prefix}.layers.1", D, hidden)


def original_resnet50():
    """mmdet ResNet(depth=50, style='pytorch'): conv1/bn1, layer1..4 of Bottlenecks (conv1-3, bn1-3, downsample)."""
    keys = {"backbone.conv1.weight": (64, 3, 7, 7)} | _bn("backbone.bn1", 64)
    inplanes = 64
    for stage, (blocks, planes) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            p = f"backbone.layer{stage}.{b}"
            keys[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            keys[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            for i, c in ((1, planes), (2, planes), (3, planes * 4)):
                keys |= _bn(f"{p}.bn{i}", c)
            if b == 0:
                keys[f"{p}.downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                keys |= _bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    return keys


def original_vps_head(num_classes=124, num_queries=100, enc_layers=6, dec_layers=9, in_channels=(256, 512, 1024, 2048)):
    """panoptic_head (MSDeformAttnPixelDecoder + DetrTransformerDecoder + heads), the embedding head and the link."""
    pd = "panoptic_head.pixel_decoder"
    keys = {}
    for i, c in enumerate(in_channels[:0:-1]):  # input_convs from low to high resolution: C5, C4, C3
        keys |= {f"{pd}.input_convs.{i}.conv.weight": (D, c, 1, 1), f"{pd}.input_convs.{i}.conv.bias": (D,)}
        keys |= _norm(f"{pd}.input_convs.{i}.gn", D)
    for j in range(enc_layers):
        a = f"{pd}.encoder.layers.{j}.attentions.0"
        keys |= _linear(f"{a}.sampling_offsets", 8 * 3 * 4 * 2, D) | _linear(f"{a}.attention_weights", 8 * 3 * 4, D)
        keys |= _linear(f"{a}.value_proj", D, D) | _linear(f"{a}.output_proj", D, D)
        keys |= _mmcv_ffn(f"{pd}.encoder.layers.{j}.ffns.0", 1024)
        keys |= _norm(f"{pd}.encoder.layers.{j}.norms.0", D) | _norm(f"{pd}.encoder.layers.{j}.norms.1", D)
    keys[f"{pd}.level_encoding.weight"] = (3, D)
    keys |= {f"{pd}.lateral_convs.0.conv.weight": (D, in_channels[0], 1, 1)} | _norm(f"{pd}.lateral_convs.0.gn", D)
    keys |= {f"{pd}.output_convs.0.conv.weight": (D, D, 3, 3)} | _norm(f"{pd}.output_convs.0.gn", D)
    keys |= {f"{pd}.mask_feature.weight": (D, D, 1, 1), f"{pd}.mask_feature.bias": (D,)}
    td = "panoptic_head.transformer_decoder"
    for i in range(dec_layers):  # operation order: cross_attn, norm, self_attn, norm, ffn, norm
        keys |= _mmcv_mha(f"{td}.layers.{i}.attentions.0") | _mmcv_mha(f"{td}.layers.{i}.attentions.1")
        keys |= _mmcv_ffn(f"{td}.layers.{i}.ffns.0", 2048)
        for n in range(3):
            keys |= _norm(f"{td}.layers.{i}.norms.{n}", D)
    keys |= _norm(f"{td}.post_norm", D)
    keys |= {f"panoptic_head.{q}.weight": (num_queries, D) for q in ("query_embed", "query_feat")}
    keys["panoptic_head.level_embed.weight"] = (3, D)
    keys |= _linear("panoptic_head.cls_embed", num_classes + 1, D)
    for i in (0, 2, 4):
        keys |= _linear(f"panoptic_head.mask_embed.{i}", D, D)
    keys |= _linear("embed_fcs.0", D, D, bias=False) | _norm("embed_fcs.1", D) | _linear("fc_embed", D, D)
    keys |= _linear("track_head.fcs.0", D, D) | _linear("track_head.fcs.1", D, D) | _linear("track_head.fc_embed", D, D)
    keys |= _mmcv_mha("attention_previous_track") | _norm("attention_previous_norm_track", D)
    keys |= _mmcv_ffn("link_ffn_track", 1024) | _norm("link_ffn_norm_track", D)
    return keys


def _state(layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        k: torch.randint(0, 7, s, generator=g) if k.endswith("tracked") else torch.randn(s, generator=g)
        for k, s in layout.items()
    }


def _r50_model(*opts):
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, "configs", "vipseg", "tubelink_R50.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.merge_from_list(
        ["MODEL.TUBE_LINK.EMBED.NAME", "QuasiDenseEmbedHead", "MODEL.TUBE_LINK.EMBED.NUM_FCS", 2, *opts]
    )
    return build_model(cfg)


@pytest.fixture(scope="module")
def r50_state():
    return _state(original_resnet50() | original_vps_head())


def test_original_r50_vps_checkpoint_loads_at_full_coverage(tmp_path, r50_state):
    model = _r50_model()
    path = tmp_path / "vipseg_tb_r50.pth"
    torch.save(
        {"meta": {"epoch": 8, "CLASSES": ("person",), "config": "model = dict(...)"}, "state_dict": r50_state}, path
    )
    report = load_weights(model, str(path))
    assert not report.skipped and not report.unexpected
    assert report.missing == []  # every parameter and statistic of the model comes from the checkpoint
    own = model.state_dict()
    pd, td, opd, otd = "panoptic_head.pixel_decoder.", "panoptic_head.transformer_decoder.", PD, TD
    for theirs, ours in [
        ("backbone.conv1.weight", "backbone.stem.conv1.weight"),
        ("backbone.bn1.running_var", "backbone.stem.conv1.norm.running_var"),
        ("backbone.layer3.5.bn2.weight", "backbone.res4.5.conv2.norm.weight"),
        ("backbone.layer4.0.downsample.1.running_mean", "backbone.res5.0.shortcut.norm.running_mean"),
        (pd + "input_convs.0.conv.weight", opd + "input_proj.0.0.weight"),
        (pd + "input_convs.2.gn.bias", opd + "input_proj.2.1.bias"),
        (pd + "encoder.layers.5.norms.1.weight", opd + "transformer.encoder.layers.5.norm2.weight"),
        (pd + "level_encoding.weight", opd + "transformer.level_embed"),
        (
            td + "layers.8.attentions.0.attn.in_proj_weight",
            otd + "cross_attention_layers.8.multihead_attn.in_proj_weight",
        ),
        (td + "layers.0.norms.1.bias", otd + "self_attention_layers.0.norm.bias"),
        (td + "layers.3.ffns.0.layers.1.weight", otd + "ffn_layers.3.linear2.weight"),
        (td + "post_norm.weight", "sem_seg_head.predictor.decoder_norm.weight"),
        ("panoptic_head.mask_embed.4.weight", "sem_seg_head.predictor.mask_embed.layers.2.weight"),
        ("panoptic_head.cls_embed.weight", "sem_seg_head.predictor.class_embed.weight"),
        ("attention_previous_track.attn.out_proj.weight", "link_head.cross_attn.multihead_attn.out_proj.weight"),
        ("link_ffn_track.layers.0.0.bias", "link_head.ffn.linear1.bias"),
        ("link_ffn_norm_track.weight", "link_head.ffn.norm.weight"),
        ("embed_fcs.0.weight", "embed_head.embed_fcs.0.weight"),
        ("track_head.fc_embed.bias", "embed_head.track_head.fc_embed.bias"),
    ]:
        assert torch.equal(own[ours], r50_state[theirs]), (theirs, ours)


def test_coverage_table_and_another_class_count(r50_state):
    state = dict(r50_state)
    state["panoptic_head.cls_embed.weight"] = torch.randn(41, D)  # e.g. a VIS checkpoint: another class count
    state["panoptic_head.cls_embed.bias"] = torch.randn(41)
    converted, report = original_tube_link_to_tubelink(state, _r50_model().state_dict())
    table = report.table()
    for part in ("backbone (ResNet)", "pixel decoder", "tube decoder", "classifier", "link head", "embedding head"):
        assert part in table
    assert report.parts["backbone (ResNet)"][1] == sum(k.endswith("num_batches_tracked") for k in state)
    assert converted["sem_seg_head.predictor.class_embed.weight"].shape == (41, D)  # the loader skips and reports it


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda s: s | {"panoptic_head.extra_head.weight": torch.zeros(1)}, "match no rule"),
        (
            lambda s: {k: v for k, v in s.items() if ".transformer_decoder.layers.8." not in k},
            "model keys are not provided",
        ),
        (lambda s: s | {"panoptic_head.query_feat.weight": torch.zeros(200, D)}, "shapes differ"),
    ],
)
def test_mismatched_checkpoint_is_refused(tmp_path, r50_state, change, message):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": change(dict(r50_state))}, path)
    with pytest.raises(ValueError, match=message) as err:
        load_weights(_r50_model(), str(path))
    assert str(path) in str(err.value)


def test_original_embedding_head_needs_its_layout(r50_state):
    model = _r50_model("MODEL.TUBE_LINK.EMBED.NAME", "TubeEmbeddingHead")
    with pytest.raises(ValueError, match="EMBED.NAME QuasiDenseEmbedHead"):
        original_tube_link_to_tubelink(r50_state, model.state_dict())


def _swin_cfg():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "D2SwinTransformer"
    cfg.MODEL.SWIN.EMBED_DIM, cfg.MODEL.SWIN.DEPTHS, cfg.MODEL.SWIN.NUM_HEADS = 32, [2, 2, 2, 2], [1, 2, 4, 8]
    return cfg


def original_swin(embed=32, depths=(2, 2, 2, 2), heads=(1, 2, 4, 8), window=7):
    """mmdet SwinTransformer: patch_embed.projection, stages.i.blocks.j (w_msa, ffn), stages.i.downsample (Unfold
    PatchMerging), norm{i} per output."""
    keys = {
        "backbone.patch_embed.projection.weight": (embed, 3, 4, 4),
        "backbone.patch_embed.projection.bias": (embed,),
    }
    keys |= _norm("backbone.patch_embed.norm", embed)
    c = embed
    for i, (depth, h) in enumerate(zip(depths, heads)):
        for j in range(depth):
            p = f"backbone.stages.{i}.blocks.{j}"
            keys |= _norm(f"{p}.norm1", c) | _norm(f"{p}.norm2", c)
            keys[f"{p}.attn.w_msa.relative_position_bias_table"] = ((2 * window - 1) ** 2, h)
            keys[f"{p}.attn.w_msa.relative_position_index"] = (window**2, window**2)
            keys |= _linear(f"{p}.attn.w_msa.qkv", 3 * c, c) | _linear(f"{p}.attn.w_msa.proj", c, c)
            keys |= _linear(f"{p}.ffn.layers.0.0", 4 * c, c) | _linear(f"{p}.ffn.layers.1", c, 4 * c)
        if i < len(depths) - 1:
            keys |= _norm(f"backbone.stages.{i}.downsample.norm", 4 * c)
            keys |= _linear(f"backbone.stages.{i}.downsample.reduction", 2 * c, 4 * c, bias=False)
            c *= 2
    for i in range(len(depths)):
        keys |= _norm(f"backbone.norm{i}", embed * 2**i)
    return keys


def test_original_swin_backbone_converts_with_the_patch_merging_order():
    backbone = build_backbone(_swin_cfg())
    own = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    state = _state(original_swin())
    converted, report = original_tube_link_to_tubelink(state, own)
    assert set(converted) | {k for k in own if k.endswith("relative_position_index")} == set(own)
    backbone.load_state_dict({k[len("backbone.") :]: v for k, v in converted.items()}, strict=False)
    # mmdet's merging: nn.Unfold(2, stride 2) -> LayerNorm -> Linear, with the checkpoint's own weights
    x = torch.randn(1, 32, 6, 8)
    theirs = F.unfold(x, 2, stride=2).transpose(1, 2)  # (1, 12, 4 * 32): channel-major, offsets in row order
    theirs = F.layer_norm(
        theirs,
        (128,),
        state["backbone.stages.0.downsample.norm.weight"],
        state["backbone.stages.0.downsample.norm.bias"],
    )
    theirs = theirs @ state["backbone.stages.0.downsample.reduction.weight"].t()
    ours = backbone.layers[0].downsample(x.flatten(2).transpose(1, 2), 6, 8)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_original_stdc_backbone_converts():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_stdc_backbone"
    backbone = build_backbone(cfg)
    own = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    # STDCNet813 re-wraps its feature list: x2 = features[:1], x4 = [1:2], x8 = [2:4], x16 = [4:6], x32 = [6:]
    # as nn.Sequential(slice), which keeps the slice's indices: backbone.x8.0.2.conv_list.0.conv.weight
    stage = {0: 2, 1: 4, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 32}
    state = {}
    for key, value in own.items():
        index, rest = key[len("backbone.features.") :].split(".", 1)
        state[f"backbone.x{stage[int(index)]}.0.{index}.{rest}"] = torch.randn(value.shape) if value.ndim else value
    converted, _ = original_tube_link_to_tubelink(state, own)
    assert set(converted) == set(own)
    assert torch.equal(
        converted["backbone.features.3.conv_list.1.bn.weight"], state["backbone.x8.0.3.conv_list.1.bn.weight"]
    )
