"""Tube transformer decoders, registered in TRANSFORMER_DECODER_REGISTRY."""

from .tube_decoder import TubeTransformerDecoder, build_transformer_decoder

__all__ = ["TubeTransformerDecoder", "build_transformer_decoder"]
