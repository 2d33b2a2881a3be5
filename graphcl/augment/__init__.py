"""Graph augmenters: each ``aug(graph, generator=None) -> view``; see :mod:`.base`."""

from .base import Augmenter, Compose, Identity, RandomChoice
from .edges import EdgeDropping
from .features import FeatureMasking

__all__ = ["Augmenter", "Compose", "EdgeDropping", "FeatureMasking", "Identity", "RandomChoice"]
