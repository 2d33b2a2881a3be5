"""Sparse propagation (the hot path), encoders and heads."""

from .adjacency import (
    NORMALIZATIONS,
    CSRGraph,
    SparseAdjacency,
    StructureCache,
    gcn_adjacency,
    propagate,
)
from .encoders import (
    ACTIVATIONS,
    LAYERS,
    GATLayer,
    GCNEncoder,
    GCNLayer,
    GINLayer,
    GNNEncoder,
    LinearLayer,
    ProjectionHead,
    SAGELayer,
    make_activation,
)
from .segment import get_segment_backend, segment_sum, set_segment_backend

__all__ = [
    "ACTIVATIONS", "LAYERS", "NORMALIZATIONS",
    "CSRGraph", "SparseAdjacency", "StructureCache", "gcn_adjacency", "propagate",
    "GNNEncoder", "GCNEncoder", "GCNLayer", "SAGELayer", "GINLayer", "GATLayer", "LinearLayer",
    "ProjectionHead", "make_activation",
    "get_segment_backend", "segment_sum", "set_segment_backend",
]
