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
    return cls(cfg).to(device)


__all__ = ["build_model"]
