"""Sparse propagation (the hot path), encoders and heads."""

from .adjacency import CSRGraph, SparseAdjacency, StructureCache, gcn_adjacency, propagate
from .encoders import ACTIVATIONS, GCNEncoder, GCNLayer, ProjectionHead, make_activation
from .segment import get_segment_backend, segment_sum, set_segment_backend

__all__ = [
    "CSRGraph", "SparseAdjacency", "StructureCache", "gcn_adjacency", "propagate",
    "ACTIVATIONS", "GCNEncoder", "GCNLayer", "ProjectionHead", "make_activation",
    "get_segment_backend", "segment_sum", "set_segment_backend",
]
