"""Edge augmenters: dropping (a mask over the original edges) and adding."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from .base import Augmenter, TensorKeyedCache, restrict_edges, shallow_copy, uniform

__all__ = ["EdgeAdding", "EdgeDropping", "undirected_pair_ids"]


def _check_probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return float(value)


def undirected_pair_ids(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, int]:
    """Map every directed edge to the id of its unordered pair ``{u, v}``.

    Returns:
        ``([E]`` int64 pair id per edge, number of distinct pairs). ``(u, v)`` and ``(v, u)``
        (and duplicates) share an id, so one draw per id drops both directions together.
    """
    low = torch.minimum(edge_index[0], edge_index[1])
    high = torch.maximum(edge_index[0], edge_index[1])
    unique, inverse = torch.unique(low * num_nodes + high, return_inverse=True)
    return inverse, unique.numel()


class EdgeDropping(Augmenter):
    """Drops each edge independently with probability ``p`` (GRACE's edge removing,
    Zhu et al. 2020, §3.2; PyG's ``dropout_edge``).

    The view's ``edge_mask`` records the kept edges of the original graph, so the hot path
    builds its adjacency in O(E).

    Args:
        p: drop probability in [0, 1].
        symmetric: drop ``(u, v)`` and ``(v, u)`` together, so an undirected graph stays
            undirected (one draw per unordered pair; the pairing is computed once per graph).
    """

    def __init__(self, p: float, symmetric: bool = False) -> None:
        self.p = _check_probability("p", p)
        self.symmetric = symmetric
        self._pairs = TensorKeyedCache()

    def _pair_ids(self, graph: Data) -> tuple[Tensor, int]:
        return self._pairs.get((graph.edge_index,),
                               lambda: undirected_pair_ids(graph.edge_index, graph.num_nodes))

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        edge_index = graph.edge_index
        if self.symmetric:
            pair_id, num_pairs = self._pair_ids(graph)
            keep = (uniform(num_pairs, generator, edge_index.device) >= self.p)[pair_id]
        else:
            keep = uniform(edge_index.size(1), generator, edge_index.device) >= self.p
        return restrict_edges(graph, keep)


class EdgeAdding(Augmenter):
    """Adds ``round(p · E)`` random edges between nodes of the same graph.

    New edges are drawn uniformly among node pairs **within each graph** of a PyG ``Batch``
    (the graph of an edge is drawn in proportion to its node count), never cross graphs,
    and by default are neither self-loops nor duplicates of existing or other new edges, so
    up to ``round(p · E)`` edges are added (fewer only on nearly complete graphs).

    Added edges cannot be described by a mask over the original edges, so the view carries no
    ``edge_mask`` and its adjacency is normalized from scratch (an O(E log E) sort).

    Args:
        p: number of new edges as a fraction of the current edge count (``>= 0``).
        symmetric: add both directions of every new edge.
        allow_self_loops: permit ``(u, u)``.
        allow_duplicates: permit edges that already exist.
    """

    def __init__(self, p: float, symmetric: bool = False, allow_self_loops: bool = False,
                 allow_duplicates: bool = False) -> None:
        if p < 0:
            raise ValueError(f"p must be >= 0, got {p}")
        self.p = float(p)
        self.symmetric = symmetric
        self.allow_self_loops = allow_self_loops
        self.allow_duplicates = allow_duplicates

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        edge_index = graph.edge_index
        device = edge_index.device
        num_nodes = graph.num_nodes
        target = round(self.p * edge_index.size(1) / (2 if self.symmetric else 1))
        if target == 0 or num_nodes < 2:
            return shallow_copy(graph)
        ptr = graph.ptr if "ptr" in graph else torch.tensor([0, num_nodes], device=device)
        sizes = (ptr[1:] - ptr[:-1]).to(torch.float64)
        existing = edge_index[0] * num_nodes + edge_index[1]
        new_keys = torch.empty(0, dtype=torch.long, device=device)
        for _ in range(4):  # a few rounds top up what filtering removed
            need = target - new_keys.numel()
            if need <= 0:
                break
            draw = 2 * need
            cdf = torch.cumsum(sizes, 0) / sizes.sum()
            which = torch.searchsorted(cdf, uniform(draw, generator, device).double(), right=True)
            which = which.clamp(max=sizes.numel() - 1)
            start, size = ptr[which], (ptr[which + 1] - ptr[which])
            source = start + (uniform(draw, generator, device) * size).long().clamp(max=size - 1)
            dest = start + (uniform(draw, generator, device) * size).long().clamp(max=size - 1)
            keys = source * num_nodes + dest
            valid = torch.ones_like(keys, dtype=torch.bool)
            if not self.allow_self_loops:
                valid &= source != dest
            if not self.allow_duplicates:
                low = torch.minimum(source, dest) * num_nodes + torch.maximum(source, dest)
                valid &= ~torch.isin(keys, existing)
                if self.symmetric:
                    valid &= ~torch.isin(dest * num_nodes + source, existing)
                keys, low = keys[valid], low[valid]
                # first occurrence of each (unordered, if symmetric) pair among old and new
                candidate = torch.cat([new_keys if not self.symmetric else _unordered(
                    new_keys, num_nodes), low if self.symmetric else keys])
                _, first = _first_occurrence(candidate)
                fresh = first[new_keys.numel():]
                keys = keys[fresh]
            else:
                keys = keys[valid]
            new_keys = torch.cat([new_keys, keys])[:target]
        source, dest = new_keys // num_nodes, new_keys % num_nodes
        added = torch.stack([source, dest])
        if self.symmetric:
            added = torch.cat([added, added.flip(0)], 1)
        view = shallow_copy(graph)
        view.edge_index = torch.cat([edge_index, added], 1)
        for key in ("edge_weight", "edge_attr"):
            if key in graph and graph[key] is not None:
                filler = graph[key].new_ones((added.size(1), *graph[key].shape[1:]))
                view[key] = torch.cat([graph[key], filler])
        if "edge_mask" in view:
            del view.edge_mask
        view.num_added_edges = added.size(1)
        return view


def _unordered(keys: Tensor, num_nodes: int) -> Tensor:
    source, dest = keys // num_nodes, keys % num_nodes
    return torch.minimum(source, dest) * num_nodes + torch.maximum(source, dest)


def _first_occurrence(keys: Tensor) -> tuple[Tensor, Tensor]:
    """``(unique keys, bool [len(keys)] True where an entry is its key's first occurrence)``."""
    unique, inverse = torch.unique(keys, return_inverse=True)
    positions = torch.arange(keys.numel(), device=keys.device)
    first_position = torch.full((unique.numel(),), keys.numel(), device=keys.device)
    first_position.scatter_reduce_(0, inverse, positions, reduce="amin")
    return unique, first_position[inverse] == positions
