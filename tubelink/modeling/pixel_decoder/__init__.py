"""Pixel decoders, registered in PIXEL_DECODER_REGISTRY."""

from .msdeformattn import MSDeformAttnPixelDecoder, build_pixel_decoder

__all__ = ["MSDeformAttnPixelDecoder", "build_pixel_decoder"]
