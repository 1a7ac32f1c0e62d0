"""Key conversions from other layouts to tubelink's (detectron2's) module names: torchvision ResNets and the
original Tube-Link code's MMDetection checkpoints."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch
from tabulate import tabulate

__all__ = [
    "is_torchvision_resnet",
    "torchvision_resnet_to_detectron2",
    "is_original_tube_link",
    "original_tube_link_to_tubelink",
    "ConversionReport",
]


def is_torchvision_resnet(state: Dict[str, torch.Tensor]) -> bool:
    """True for a torchvision ResNet state dict (`conv1.weight`, `layer1.0.conv1.weight`, ...)."""
    return "conv1.weight" in state and any(k.startswith("layer1.") for k in state)


def torchvision_resnet_to_detectron2(
    state: Dict[str, torch.Tensor], prefix: str = "backbone."
) -> Dict[str, torch.Tensor]:
    """Rename a torchvision ResNet (ImageNet) state dict to detectron2's layout under `prefix`; drops `fc.*` and
    `num_batches_tracked` (FrozenBN has no such buffer)."""
    out = {}
    for key, value in state.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        new = re.sub(r"^conv1\.", "stem.conv1.", key)
        new = re.sub(r"^bn1\.", "stem.conv1.norm.", new)
        new = re.sub(r"^layer(\d)\.", lambda m: f"res{int(m.group(1)) + 1}.", new)
        new = re.sub(r"\.bn(\d)\.", r".conv\1.norm.", new)
        new = new.replace(".downsample.0.", ".shortcut.").replace(".downsample.1.", ".shortcut.norm.")
        out[prefix + new] = value
    return out


# ---- The original Tube-Link (MMDetection 2.x) checkpoints -------------------------------------------------------
# (part, pattern on the original key, our key). Read from lxtGH/Tube-Link's model code: `TubeLinkVPS` (backbone,
# panoptic_head, embed_fcs / fc_embed / track_head, attention_previous_track / link_ffn_track and their norms),
# `Mask2FormerVideoHead*` (pixel_decoder, transformer_decoder = mmcv DetrTransformerDecoder with operation order
# cross_attn, norm, self_attn, norm, ffn, norm, post_norm, query_embed / query_feat / level_embed, cls_embed,
# mask_embed = Sequential(Linear, ReLU, Linear, ReLU, Linear)), mmdet's MSDeformAttnPixelDecoder, ResNet,
# SwinTransformer and the vendored STDCNet813 / STDCNet1446 (stages re-wrapped as x2 .. x32).
_PD, _TD = r"panoptic_head\.pixel_decoder\.", r"panoptic_head\.transformer_decoder\.layers\.(\d+)\."
_OURS_PD, _OURS_TD = "sem_seg_head.pixel_decoder.", "sem_seg_head.predictor."
_ENC, _OURS_ENC = _PD + r"encoder\.layers\.(\d+)\.", _OURS_PD + r"transformer.encoder.layers.\1."
_TDL = _OURS_TD + "transformer_"
_SWIN, _OURS_SWIN = r"backbone\.stages\.(\d+)\.blocks\.(\d+)\.", r"backbone.layers.\1.blocks.\2."


def _res(match: "re.Match") -> str:
    """`backbone.res{stage + 1}.{block}.` for mmdet's `backbone.layer{stage}.{block}.`."""
    return f"backbone.res{int(match[1]) + 1}.{match[2]}."


_ORIGINAL_RULES = [
    ("backbone (ResNet)", r"backbone\.conv1\.(.+)", r"backbone.stem.conv1.\1"),
    ("backbone (ResNet)", r"backbone\.bn1\.(.+)", r"backbone.stem.conv1.norm.\1"),
    ("backbone (ResNet)", r"backbone\.layer(\d)\.(\d+)\.conv(\d)\.(.+)", lambda m: f"{_res(m)}conv{m[3]}.{m[4]}"),
    ("backbone (ResNet)", r"backbone\.layer(\d)\.(\d+)\.bn(\d)\.(.+)", lambda m: f"{_res(m)}conv{m[3]}.norm.{m[4]}"),
    (
        "backbone (ResNet)",
        r"backbone\.layer(\d)\.(\d+)\.downsample\.([01])\.(.+)",
        lambda m: f"{_res(m)}shortcut.{'norm.' if m[3] == '1' else ''}{m[4]}",
    ),
    ("backbone (Swin)", r"backbone\.patch_embed\.projection\.(.+)", r"backbone.patch_embed.proj.\1"),
    ("backbone (Swin)", r"backbone\.patch_embed\.norm\.(.+)", r"backbone.patch_embed.norm.\1"),
    (
        "backbone (Swin)",
        _SWIN + r"attn\.w_msa\.(qkv|proj|relative_position_bias_table|relative_position_index)(.*)",
        _OURS_SWIN + r"attn.\3\4",
    ),
    ("backbone (Swin)", _SWIN + r"(norm[12])\.(.+)", _OURS_SWIN + r"\3.\4"),
    ("backbone (Swin)", _SWIN + r"ffn\.layers\.0\.0\.(.+)", _OURS_SWIN + r"mlp.fc1.\3"),
    ("backbone (Swin)", _SWIN + r"ffn\.layers\.1\.(.+)", _OURS_SWIN + r"mlp.fc2.\3"),
    (
        "backbone (Swin)",
        r"backbone\.stages\.(\d+)\.downsample\.(reduction|norm)\.(.+)",
        r"backbone.layers.\1.downsample.\2.\3",
    ),
    ("backbone (Swin)", r"backbone\.norm(\d)\.(.+)", r"backbone.norm\1.\2"),
    ("backbone (STDC)", r"backbone\.x(?:2|4|8|16|32)\.0\.(\d+)\.(.+)", r"backbone.features.\1.\2"),
    ("pixel decoder", _PD + r"input_convs\.(\d)\.conv\.(.+)", _OURS_PD + r"input_proj.\1.0.\2"),
    ("pixel decoder", _PD + r"input_convs\.(\d)\.gn\.(.+)", _OURS_PD + r"input_proj.\1.1.\2"),
    ("pixel decoder", _ENC + r"attentions\.0\.(.+)", _OURS_ENC + r"self_attn.\2"),
    ("pixel decoder", _ENC + r"ffns\.0\.layers\.0\.0\.(.+)", _OURS_ENC + r"linear1.\2"),
    ("pixel decoder", _ENC + r"ffns\.0\.layers\.1\.(.+)", _OURS_ENC + r"linear2.\2"),
    ("pixel decoder", _ENC + r"norms\.0\.(.+)", _OURS_ENC + r"norm1.\2"),
    ("pixel decoder", _ENC + r"norms\.1\.(.+)", _OURS_ENC + r"norm2.\2"),
    ("pixel decoder", _PD + r"level_encoding\.weight", _OURS_PD + "transformer.level_embed"),
    ("pixel decoder", _PD + r"lateral_convs\.0\.conv\.(.+)", _OURS_PD + r"adapter_1.\1"),
    ("pixel decoder", _PD + r"lateral_convs\.0\.gn\.(.+)", _OURS_PD + r"adapter_1.norm.\1"),
    ("pixel decoder", _PD + r"output_convs\.0\.conv\.(.+)", _OURS_PD + r"layer_1.\1"),
    ("pixel decoder", _PD + r"output_convs\.0\.gn\.(.+)", _OURS_PD + r"layer_1.norm.\1"),
    ("pixel decoder", _PD + r"mask_feature\.(.+)", _OURS_PD + r"mask_features.\1"),
    ("tube decoder", _TD + r"attentions\.0\.attn\.(.+)", _TDL + r"cross_attention_layers.\1.multihead_attn.\2"),
    ("tube decoder", _TD + r"attentions\.1\.attn\.(.+)", _TDL + r"self_attention_layers.\1.self_attn.\2"),
    ("tube decoder", _TD + r"ffns\.0\.layers\.0\.0\.(.+)", _TDL + r"ffn_layers.\1.linear1.\2"),
    ("tube decoder", _TD + r"ffns\.0\.layers\.1\.(.+)", _TDL + r"ffn_layers.\1.linear2.\2"),
    ("tube decoder", _TD + r"norms\.0\.(.+)", _TDL + r"cross_attention_layers.\1.norm.\2"),
    ("tube decoder", _TD + r"norms\.1\.(.+)", _TDL + r"self_attention_layers.\1.norm.\2"),
    ("tube decoder", _TD + r"norms\.2\.(.+)", _TDL + r"ffn_layers.\1.norm.\2"),
    ("tube decoder", r"panoptic_head\.transformer_decoder\.post_norm\.(.+)", _OURS_TD + r"decoder_norm.\1"),
    ("tube decoder", r"panoptic_head\.(query_embed|query_feat|level_embed)\.(.+)", _OURS_TD + r"\1.\2"),
    ("tube decoder", r"panoptic_head\.decoder_input_projs\.(\d)\.(.+)", _OURS_TD + r"input_proj.\1.\2"),
    (
        "tube decoder",
        r"panoptic_head\.mask_embed\.([024])\.(.+)",  # Sequential(Linear, ReLU, ...) index -> MLP layer index
        lambda m: f"{_OURS_TD}mask_embed.layers.{int(m[1]) // 2}.{m[2]}",
    ),
    ("classifier", r"panoptic_head\.cls_embed\.(.+)", _OURS_TD + r"class_embed.\1"),
    ("link head", r"attention_previous_track\.attn\.(.+)", r"link_head.cross_attn.multihead_attn.\1"),
    ("link head", r"attention_previous_norm_track\.(.+)", r"link_head.cross_attn.norm.\1"),
    ("link head", r"link_ffn_track\.layers\.0\.0\.(.+)", r"link_head.ffn.linear1.\1"),
    ("link head", r"link_ffn_track\.layers\.1\.(.+)", r"link_head.ffn.linear2.\1"),
    ("link head", r"link_ffn_norm_track\.(.+)", r"link_head.ffn.norm.\1"),
    ("embedding head", r"(embed_fcs|fc_embed|track_head)\.(.+)", r"embed_head.\1.\2"),
]
_ORIGINAL_RULES = [(part, re.compile(pattern), repl) for part, pattern, repl in _ORIGINAL_RULES]
# Buffers the model derives itself (never copied): BN's step counter where our norm has none, Swin's index table.
_DERIVED = re.compile(r".*(num_batches_tracked|relative_position_index)$")
_OPTIONAL_PARTS = ("link head", "embedding head")  # absent from the original VIS / VSS models


def _original_target(match: "re.Match", repl) -> str:
    """Our key for a matched original key: a regex template, or a function where indices shift."""
    return repl(match) if callable(repl) else match.expand(repl)


def _swin_merge_order(value: torch.Tensor) -> torch.Tensor:
    """mmdet's PatchMerging (nn.Unfold: channel-major, 2x2 offsets (0,0), (0,1), (1,0), (1,1)) -> Swin's
    concatenation order (offset-major: (0,0), (1,0), (0,1), (1,1)), on the last dimension of the weight / norm."""
    *lead, four_c = value.shape
    grouped = value.reshape(*lead, four_c // 4, 4)[..., [0, 2, 1, 3]]
    return grouped.transpose(-1, -2).reshape(*lead, four_c)


def is_original_tube_link(state: Dict[str, torch.Tensor]) -> bool:
    """True for a state dict of the original (MMDetection) Tube-Link code: `panoptic_head.*` keys."""
    return any(k.startswith("panoptic_head.transformer_decoder.") for k in state)


@dataclass
class ConversionReport:
    """Per part of the original model: keys converted, derived buffers left to the model, keys without a
    counterpart; and our keys the checkpoint did not provide."""

    parts: Dict[str, List[int]] = field(default_factory=dict)
    unknown: List[str] = field(default_factory=list)
    not_provided: List[str] = field(default_factory=list)

    def count(self, part: str, column: int) -> None:
        self.parts.setdefault(part, [0, 0, 0])[column] += 1

    def table(self) -> str:
        """Coverage table: part, converted, derived (not copied), unknown."""
        rows = [[part, *counts] for part, counts in self.parts.items()]
        if self.unknown:
            rows.append(["(no rule)", 0, 0, len(self.unknown)])
        text = tabulate(rows, headers=["original part", "converted", "derived, not copied", "unknown"])
        if self.not_provided:
            text += f"\nmodel keys not in the checkpoint: {len(self.not_provided)}"
        return text


def original_tube_link_to_tubelink(
    state: Dict[str, torch.Tensor], model_state: Dict[str, torch.Tensor], where: str = "checkpoint"
) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Rename an original Tube-Link state dict to our keys and check it covers `model_state`.

    Args:
        state: the original's `state_dict` (MMDetection key names).
        model_state: the target model's state dict (keys and shapes).
        where: named in errors (the file).
    Returns:
        our state dict (derived buffers left out) and the coverage report.
    Raises:
        ValueError naming `where`, when a key has no counterpart in the model, a shape differs (the classifier aside:
        another class count is reported and skipped by the loader) or a model key is not provided (the link and
        embedding heads may be absent altogether: the original VIS / VSS models have none).
    """
    report = ConversionReport()
    out: Dict[str, torch.Tensor] = {}
    provided_parts = set()
    for key, value in state.items():
        for part, pattern, repl in _ORIGINAL_RULES:
            match = pattern.fullmatch(key)
            if match:
                break
        else:
            report.unknown.append(key)
            continue
        ours = _original_target(match, repl)
        if _DERIVED.match(ours) and (ours not in model_state or ours.endswith("relative_position_index")):
            report.count(part, 1)
            continue
        if part == "backbone (Swin)" and ".downsample." in ours:
            value = _swin_merge_order(value)
        out[ours] = value
        provided_parts.add(part)
        report.count(part, 0)
    mismatched = [
        f"{k} {list(v.shape)} vs model {list(model_state[k].shape)}"
        for k, v in out.items()
        if k in model_state and v.shape != model_state[k].shape and not k.startswith(_OURS_TD + "class_embed.")
    ]
    unexpected = [k for k in out if k not in model_state]
    optional = () if provided_parts & set(_OPTIONAL_PARTS) else ("link_head.", "embed_head.")
    report.not_provided = [
        k for k in model_state if k not in out and not _DERIVED.match(k) and not k.startswith(optional)
    ]
    problems = []
    if report.unknown:
        problems.append(f"{len(report.unknown)} keys match no rule of the original layout (e.g. {report.unknown[0]})")
    if unexpected:
        hint = (
            "; the original embedding head needs MODEL.TUBE_LINK.EMBED.NAME QuasiDenseEmbedHead"
            if any(k.startswith("embed_head.") for k in unexpected)
            else ""
        )
        problems.append(f"{len(unexpected)} converted keys are not in the model (e.g. {unexpected[0]}){hint}")
    if mismatched:
        problems.append(f"{len(mismatched)} shapes differ (e.g. {mismatched[0]})")
    if report.not_provided:
        problems.append(f"{len(report.not_provided)} model keys are not provided (e.g. {report.not_provided[0]})")
    if problems:
        raise ValueError(
            f"{where}: refused: an original Tube-Link checkpoint that does not fit this model's config: "
            + "; ".join(problems)
        )
    return out, report
