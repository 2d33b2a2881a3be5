"""Type-aware augmenters for ``HeteroData``: per-edge-type drop rates, per-node-type feature
masks, and dropping whole relations.

Same protocol as the homogeneous augmenters: ``aug(graph, generator=None) -> view``, the input
is never mutated, and randomness comes from the generator (edge and node types are visited
in the graph's own order, so a seed reproduces a view exactly). Edge views record
``view[edge_type].edge_mask`` over that relation's original edges.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch_geometric.data import HeteroData

from .base import uniform
from .edges import _check_probability

__all__ = ["HeteroEdgeDropping", "HeteroFeatureMasking", "RelationDropping"]

EdgeType = tuple[str, str, str]


def _check_hetero(graph) -> None:
    if not isinstance(graph, HeteroData):
        raise TypeError(f"type-aware augmenters take a HeteroData, got {type(graph).__name__}")


def _rates(rates: float | Mapping, keys: list, what: str) -> dict:
    if isinstance(rates, Mapping):
        unknown = set(rates) - set(keys)
        if unknown:
            raise ValueError(f"{what} {sorted(unknown)} not in the graph; it has {keys}")
        return {key: _check_probability(f"rate of {key}", rates.get(key, 0.0)) for key in keys}
    return {key: _check_probability(what, rates) for key in keys}


class HeteroEdgeDropping:
    """Drops the edges of each relation independently, with a rate per edge type.

    Args:
        p: one rate for every relation, or ``{edge_type: rate}`` (relations not named keep
            all their edges). Edge types are ``(source, relation, target)`` triples.
    """

    def __init__(self, p: float | Mapping[EdgeType, float]) -> None:
        self.p = p

    def __call__(self, graph: HeteroData, generator: torch.Generator | None = None) -> HeteroData:
        _check_hetero(graph)
        rates = _rates(self.p, graph.edge_types, "edge types")
        view = copy.copy(graph)
        for edge_type in graph.edge_types:
            store = graph[edge_type]
            keep = uniform(store.edge_index.size(1), generator,
                           store.edge_index.device) >= rates[edge_type]
            target = view[edge_type]
            target.edge_index = store.edge_index[:, keep]
            for key in ("edge_weight", "edge_attr"):
                if key in store:
                    target[key] = store[key][keep]
            previous = store.edge_mask if "edge_mask" in store else None
            if previous is not None:
                composed = previous.clone()
                composed[previous] = keep
                keep = composed
            target.edge_mask = keep
        return view


class HeteroFeatureMasking:
    """Zeroes feature columns per node type (one column mask per type, shared by its nodes).

    Args:
        p: one rate for every node type with features, or ``{node_type: rate}``.
    """

    def __init__(self, p: float | Mapping[str, float]) -> None:
        self.p = p

    def __call__(self, graph: HeteroData, generator: torch.Generator | None = None) -> HeteroData:
        _check_hetero(graph)
        with_features = [t for t in graph.node_types if "x" in graph[t]]
        rates = _rates(self.p, with_features, "node types")
        view = copy.copy(graph)
        for node_type in with_features:
            x = graph[node_type].x
            keep = uniform(x.size(1), generator, x.device) >= rates[node_type]
            view[node_type].x = x * keep.to(x.dtype)
            view[node_type].feature_mask = keep
        return view


class RelationDropping:
    """Removes whole relations, each with probability ``p`` (at least one relation is kept,
    so a view never loses every edge); a relation and its reverse (``rev_`` prefix, as PyG's
    ``ToUndirected`` names it) go together.

    Args:
        p: drop probability per relation.
    """

    def __init__(self, p: float) -> None:
        self.p = _check_probability("p", p)

    def __call__(self, graph: HeteroData, generator: torch.Generator | None = None) -> HeteroData:
        _check_hetero(graph)
        forward = [e for e in graph.edge_types if not e[1].startswith("rev_")]
        if not forward:
            return copy.copy(graph)
        draws = uniform(len(forward), generator, torch.device("cpu"))
        dropped = {edge_type for edge_type, draw in zip(forward, draws.tolist()) if draw < self.p}
        if len(dropped) == len(forward):
            dropped.discard(forward[int(torch.argmax(draws))])
        view = copy.copy(graph)
        for source, relation, target in dropped:
            for edge_type in ((source, relation, target), (target, f"rev_{relation}", source)):
                if edge_type in view.edge_types:
                    del view[edge_type]
        view.dropped_relations = sorted(dropped)
        return view
