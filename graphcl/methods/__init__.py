"""Contrastive methods, one file each; ``METHODS`` maps names to classes."""

from .base import METHODS, LossOutput, Method, build_method, register_method
from .gca import GCA
from .gcool import GCooL
from .grace import GRACE
from .heco import HeCo

__all__ = ["GCA", "GRACE", "METHODS", "GCooL", "HeCo", "LossOutput", "Method", "build_method", "register_method"]
