"""Every registry of tubelink, in one place (fvcore's Registry, as detectron2 uses)."""

from fvcore.common.registry import Registry

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = "Meta-architectures: build(cfg) -> nn.Module with forward(list[dict])."
BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = "Backbones: build(cfg, input_channels) -> module returning {'res2'..'res5': tensor}."
PIXEL_DECODER_REGISTRY = Registry("PIXEL_DECODER")
PIXEL_DECODER_REGISTRY.__doc__ = "Pixel decoders (MODEL.SEM_SEG_HEAD.PIXEL_DECODER_NAME)."
TRANSFORMER_DECODER_REGISTRY = Registry("TRANSFORMER_DECODER")
TRANSFORMER_DECODER_REGISTRY.__doc__ = "Tube transformer decoders (MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME)."
EMBED_HEAD_REGISTRY = Registry("EMBED_HEAD")
EMBED_HEAD_REGISTRY.__doc__ = "Association embedding heads (MODEL.TUBE_LINK.EMBED.NAME): build(cfg) -> module."
TRACKER_REGISTRY = Registry("TRACKER")
TRACKER_REGISTRY.__doc__ = "Inference-time trackers (MODEL.TRACKER.NAME): reset(), update(tube_result) -> ids."
# Defined beside the evaluators so that offline evaluation imports no torch; listed here with the others.
from ..evaluation.registry import EVALUATOR_REGISTRY  # noqa: E402

__all__ = [
    "EVALUATOR_REGISTRY",
    "META_ARCH_REGISTRY",
    "BACKBONE_REGISTRY",
    "PIXEL_DECODER_REGISTRY",
    "TRANSFORMER_DECODER_REGISTRY",
    "EMBED_HEAD_REGISTRY",
    "TRACKER_REGISTRY",
]
