"""Node-level augmenters: dropping nodes and random-walk subgraphs.

Both keep the node set's size (so two views stay aligned node by node for node-level
contrast) and instead remove the dropped nodes' edges; ``view.node_mask`` says which nodes
the view kept. Their edge views are masks over the original edges, so the hot path builds
the adjacency in O(E).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from .base import Augmenter, TensorKeyedCache, restrict_edges, uniform
from .edges import _check_probability

__all__ = ["NodeDropping", "RandomWalkSubgraph"]


def _drop_nodes(graph: Data, keep_nodes: Tensor) -> Data:
    """Keep the edges whose two endpoints are kept; zero the features of dropped nodes."""
    edge_index = graph.edge_index
    view = restrict_edges(graph, keep_nodes[edge_index[0]] & keep_nodes[edge_index[1]])
    x = graph.x
    if x is not None and x.layout == torch.strided:
        view.x = x * keep_nodes.to(x.dtype)[:, None]
    view.node_mask = keep_nodes
    return view


class NodeDropping(Augmenter):
    """Drops each node with probability ``p``: its edges are removed and its features zeroed
    (GraphCL's node dropping, You et al., NeurIPS 2020, §3.1, kept node-aligned).

    Args:
        p: drop probability in [0, 1].
    """

    def __init__(self, p: float) -> None:
        self.p = _check_probability("p", p)

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        keep = uniform(graph.num_nodes, generator, graph.edge_index.device) >= self.p
        return _drop_nodes(graph, keep)


class RandomWalkSubgraph(Augmenter):
    """Keeps the nodes visited by random walks (GraphCL's subgraph augmentation, You et al.
    2020, §3.1): ``num_roots`` walks of ``walk_length`` steps from random roots, each step to a
    uniformly drawn out-neighbour (a node without one stays). All walks advance together,
    so a step is a handful of vectorized gathers.

    Args:
        num_roots: number of walks (roots drawn uniformly, with replacement); a float in
            (0, 1] is read as a fraction of the nodes.
        walk_length: steps per walk.
    """

    def __init__(self, num_roots: float = 0.1, walk_length: int = 10) -> None:
        if num_roots <= 0 or walk_length < 0:
            raise ValueError("num_roots must be positive and walk_length >= 0, got "
                             f"{num_roots} and {walk_length}")
        self.num_roots = num_roots
        self.walk_length = walk_length
        self._csr = TensorKeyedCache()

    def _out_neighbours(self, graph: Data) -> tuple[Tensor, Tensor]:
        def compute():
            source, target = graph.edge_index
            order = torch.argsort(source, stable=True)
            counts = torch.bincount(source, minlength=graph.num_nodes)
            pointer = torch.zeros(graph.num_nodes + 1, dtype=torch.long, device=source.device)
            torch.cumsum(counts, 0, out=pointer[1:])
            return pointer, target[order]
        return self._csr.get((graph.edge_index,), compute)

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        num_nodes = graph.num_nodes
        device = graph.edge_index.device
        roots = (self.num_roots if isinstance(self.num_roots, int)
                 else max(1, round(self.num_roots * num_nodes)))
        pointer, neighbours = self._out_neighbours(graph)
        degree = pointer[1:] - pointer[:-1]
        current = (uniform(roots, generator, device) * num_nodes).long().clamp(max=num_nodes - 1)
        visited = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        visited[current] = True
        for _ in range(self.walk_length):
            step = (uniform(roots, generator, device) * degree[current]).long()
            has_next = degree[current] > 0
            offset = (pointer[current] + step.clamp(max=(degree[current] - 1).clamp(min=0)))
            nxt = neighbours[offset.clamp(max=max(neighbours.numel() - 1, 0))] \
                if neighbours.numel() else current
            current = torch.where(has_next, nxt, current)
            visited[current] = True
        return _drop_nodes(graph, visited)
