"""Custom operators (pure PyTorch)."""

from .ms_deform_attn import MSDeformAttn, ms_deform_attn_core

__all__ = ["MSDeformAttn", "ms_deform_attn_core"]
