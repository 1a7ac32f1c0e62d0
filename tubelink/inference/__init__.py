"""Video inference: the streaming near-online predictor."""

from .predictor import VideoPredictor

__all__ = ["VideoPredictor"]
