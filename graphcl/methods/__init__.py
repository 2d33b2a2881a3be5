"""Contrastive methods, one file each; ``METHODS`` maps names to classes."""

from .base import METHODS, LossOutput, Method, build_method, register_method
from .grace import GRACE

__all__ = ["GRACE", "METHODS", "LossOutput", "Method", "build_method", "register_method"]
