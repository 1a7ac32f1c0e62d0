"""Meta-architectures, registered in META_ARCH_REGISTRY."""

from .tube_link import TubeLink

__all__ = ["TubeLink"]
