"""Contrastive methods, one file each; ``METHODS`` maps names to classes."""

from .base import METHODS, LossOutput, Method, build_method, register_method
from .gca import GCA
from .gcool import GCooL
from .grace import GRACE

__all__ = ["GCA", "GRACE", "METHODS", "GCooL", "LossOutput", "Method", "build_method", "register_method"]
