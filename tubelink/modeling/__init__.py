"""Model components: backbones, pixel decoder, tube transformer decoder, link/embedding heads, losses.

`build_model(cfg)` builds MODEL.META_ARCHITECTURE; importing this package registers every module.
"""

from . import backbone, meta_arch, pixel_decoder, transformer_decoder  # noqa: F401  (registration)
from .registry import META_ARCH_REGISTRY


def build_model(cfg):
    """The meta-architecture named by MODEL.META_ARCHITECTURE, on MODEL.DEVICE ("auto": CUDA when available)."""
    import torch

    name = cfg.MODEL.META_ARCHITECTURE
    try:
        cls = META_ARCH_REGISTRY.get(name)
    except KeyError:
        raise KeyError(f"MODEL.META_ARCHITECTURE: unknown meta-architecture {name!r}") from None
    device = cfg.MODEL.DEVICE
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ValueError(f"MODEL.DEVICE: unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"MODEL.DEVICE: {device!r}, but this machine has no usable CUDA device; use 'auto' or 'cpu'")
    return cls(cfg).to(device)


__all__ = ["build_model"]
