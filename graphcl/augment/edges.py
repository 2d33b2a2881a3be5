"""Edge augmenters."""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from .base import Augmenter, restrict_edges, uniform

__all__ = ["EdgeDropping"]


def _check_probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return float(value)


class EdgeDropping(Augmenter):
    """Drops each directed edge independently with probability ``p`` (GRACE's edge removing,
    Zhu et al. 2020, §3.2; PyG's ``dropout_edge``).

    The view's ``edge_mask`` records the kept edges of the original graph, so the hot path
    builds its adjacency in O(E).

    Args:
        p: drop probability in [0, 1].
    """

    def __init__(self, p: float) -> None:
        self.p = _check_probability("p", p)

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        edge_index = graph.edge_index
        keep = uniform(edge_index.size(1), generator, edge_index.device) >= self.p
        return restrict_edges(graph, keep)
