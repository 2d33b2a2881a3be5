"""Adaptive augmentation of GCA (Zhu, Xu, Yu, Liu, Wu, Wang, "Graph Contrastive Learning with
Adaptive Augmentation", WWW 2021, §3.3).

Edges into important nodes and features common among important nodes are dropped less.
Node importance is a centrality φ (degree, PageRank or eigenvector centrality):

- edge weight (Eq. 5–6): ``s_e = log(φ(v) + 1)`` for an edge ``u → v`` (the "sink" node),
  ``w_e = (s_max − s_e) / (s_max − s_mean)``; drop probability
  ``p_e = min(w_e / mean(w) · p, cap)``;
- feature weight (Eq. 8–9): ``s_f = log(Σ_u 1[x_uf ≠ 0] φ(u) + 1)`` (``|x_uf|`` instead of the
  indicator for dense real-valued features such as WikiCS's), normalized the same way, and
  ``p_f = min(w_f / mean(w) · p, cap)``.

Everything is sparse and vectorized (PageRank and eigenvector centrality by power
iteration, never a dense matrix), and the weights are always finite: the ``+ 1`` inside the
log (as in the official code's current version) keeps isolated or zero-PageRank nodes from
producing ``−inf`` (GCA issue #4 on WikiCS), and a graph whose scores are all equal gets
uniform weights instead of ``0 / 0``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from .base import Augmenter, TensorKeyedCache, restrict_edges, uniform
from .edges import _check_probability
from .features import mask_feature_columns

__all__ = [
    "CENTRALITIES",
    "AdaptiveEdgeDropping",
    "AdaptiveFeatureMasking",
    "drop_probabilities",
    "edge_drop_weights",
    "feature_drop_weights",
    "node_centrality",
]

CENTRALITIES = ("degree", "pagerank", "eigenvector")


def _undirected_degree(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Degree in the undirected version of the graph (each unordered pair counted once per
    direction, as ``degree(to_undirected(edge_index)[1])``)."""
    low = torch.minimum(edge_index[0], edge_index[1])
    high = torch.maximum(edge_index[0], edge_index[1])
    keys = torch.unique(low * num_nodes + high)
    low, high = keys // num_nodes, keys % num_nodes
    degree = torch.bincount(low, minlength=num_nodes) + torch.bincount(high, minlength=num_nodes)
    loops = torch.bincount(low[low == high], minlength=num_nodes)
    return (degree - loops).to(torch.float32)


def _pagerank(edge_index: Tensor, num_nodes: int, damping: float, iterations: int) -> Tensor:
    """GCA's PageRank: ``x ← (1 − d)·x + d·Aᵀ D_out⁻¹ x`` from ``x = 1``, ``iterations`` times."""
    source, target = edge_index
    out_degree = torch.bincount(source, minlength=num_nodes).to(torch.float32)
    x = torch.ones(num_nodes, device=edge_index.device)
    for _ in range(iterations):
        messages = x[source] / out_degree[source]
        aggregated = torch.zeros_like(x).index_add_(0, target, messages)
        x = (1 - damping) * x + damping * aggregated
    return x


def _eigenvector(edge_index: Tensor, num_nodes: int, iterations: int, tol: float) -> Tensor:
    """Leading eigenvector of the adjacency by power iteration on ``A + I`` (the shift keeps
    bipartite graphs from oscillating; the eigenvector is the same), L2-normalized, >= 0."""
    source, target = edge_index
    x = torch.full((num_nodes,), 1.0 / num_nodes ** 0.5, device=edge_index.device,
                   dtype=torch.float64)
    for _ in range(iterations):
        new = x.clone().index_add_(0, target, x[source])
        new = new / new.norm().clamp_min(1e-300)
        if (new - x).abs().sum() < num_nodes * tol:
            x = new
            break
        x = new
    return x.clamp_min(0).to(torch.float32)


def node_centrality(edge_index: Tensor, num_nodes: int, kind: str = "degree", *,
                    damping: float = 0.85, iterations: int = 10,
                    eigen_iterations: int = 1000, eigen_tol: float = 1e-8) -> Tensor:
    """Node centrality φ used by GCA.

    Args:
        edge_index: ``[2, E]``.
        num_nodes: ``N``.
        kind: ``"degree"`` (undirected degree), ``"pagerank"`` (GCA's 10-step power
            iteration, damping 0.85) or ``"eigenvector"``.

    Returns:
        ``[N]`` float32, non-negative.
    """
    if kind == "degree":
        return _undirected_degree(edge_index, num_nodes)
    if kind == "pagerank":
        return _pagerank(edge_index, num_nodes, damping, iterations)
    if kind == "eigenvector":
        return _eigenvector(edge_index, num_nodes, eigen_iterations, eigen_tol)
    raise ValueError(f"unknown centrality {kind!r}; choose one of {', '.join(CENTRALITIES)}")


def _normalized_weights(score: Tensor) -> Tensor:
    """``(s_max − s) / (s_max − s_mean)``, or ones where every score is equal."""
    if score.numel() == 0:  # a graph without edges (or features) has nothing to weight
        return score
    spread = score.max() - score.mean()
    if not torch.isfinite(spread) or spread <= 0:
        return torch.ones_like(score)
    return (score.max() - score) / spread


def _log(values: Tensor, offset: float) -> Tensor:
    """``log(values + offset)``; with offset 0 a zero is clamped to the smallest positive
    float, so a zero-centrality node gives a large finite score instead of ``−inf``."""
    shifted = values + offset
    return torch.log(shifted.clamp_min(torch.finfo(shifted.dtype).tiny))


def edge_drop_weights(edge_index: Tensor, centrality: Tensor, log_offset: float = 1.0) -> Tensor:
    """GCA's edge weights ``w_e`` from the sink node's centrality (Eq. 5–6): ``[E]``.

    ``log_offset`` is the ``+ 1`` inside the log of GCA's current code; gCooL's copy uses 0.
    """
    return _normalized_weights(_log(centrality[edge_index[1]], log_offset))


def feature_drop_weights(x: Tensor, centrality: Tensor, dense: bool = False,
                         log_offset: float = 1.0) -> Tensor:
    """GCA's feature weights ``w_f`` (Eq. 8–9): ``[F]``.

    Args:
        x: ``[N, F]`` features (dense or sparse CSR).
        centrality: ``[N]``.
        dense: weight by ``|x_uf|`` (real-valued features) instead of ``1[x_uf ≠ 0]``.
    """
    if x.layout == torch.sparse_csr:
        values = x.values().abs() if dense else (x.values() != 0).to(centrality.dtype)
        weighted = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(),
                                           values.to(centrality.dtype), x.shape,
                                           check_invariants=False)
        totals = torch.sparse.mm(weighted.t().to_sparse_csr(), centrality[:, None])[:, 0]
    else:
        present = x.abs() if dense else (x != 0).to(centrality.dtype)
        totals = present.to(centrality.dtype).t() @ centrality
    return _normalized_weights(_log(totals, log_offset))


def drop_probabilities(weights: Tensor, p: float, cap: float = 0.7) -> Tensor:
    """``min(w / mean(w) · p, cap)``: mean probability ``p`` before the cap (GCA Eq. 6, 9)."""
    mean = weights.mean()
    scaled = weights / mean * p if mean > 0 else torch.full_like(weights, p)
    return scaled.clamp(max=cap)


class _AdaptiveAugmenter(Augmenter):
    """Shared arguments of GCA's two adaptive augmenters; probabilities cached per graph."""

    def __init__(self, p: float, centrality: str, cap: float, log_offset: float = 1.0) -> None:
        self.log_offset = log_offset
        self.p = _check_probability("p", p)
        self.cap = _check_probability("cap", cap)
        if centrality not in CENTRALITIES:
            raise ValueError(f"unknown centrality {centrality!r}; choose one of "
                             f"{', '.join(CENTRALITIES)}")
        self.centrality = centrality
        self._cache = TensorKeyedCache()


class AdaptiveEdgeDropping(_AdaptiveAugmenter):
    """GCA's adaptive edge dropping: edge ``e`` is dropped with probability ``p_e``.

    Probabilities are computed once per graph (cached by the graph's ``edge_index``).

    Args:
        p: mean drop probability before the cap.
        centrality: ``degree``, ``pagerank`` or ``eigenvector``.
        cap: upper bound on any edge's probability (0.7 in GCA).
        pagerank_iterations: power-iteration steps of the PageRank centrality (GCA's code
            uses 200 for edge weights and 10 for feature weights).
    """

    def __init__(self, p: float, centrality: str = "degree", cap: float = 0.7,
                 pagerank_iterations: int = 200, log_offset: float = 1.0) -> None:
        super().__init__(p, centrality, cap, log_offset)
        self.pagerank_iterations = pagerank_iterations

    def probabilities(self, graph: Data) -> Tensor:
        """``[E]`` drop probability of each edge of ``graph``."""
        def compute():
            phi = node_centrality(graph.edge_index, graph.num_nodes, self.centrality,
                                  iterations=self.pagerank_iterations)
            weights = edge_drop_weights(graph.edge_index, phi, self.log_offset)
            return drop_probabilities(weights, self.p, self.cap)
        return self._cache.get((graph.edge_index,), compute)

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        probability = self.probabilities(graph)
        keep = uniform(probability.numel(), generator, probability.device) >= probability
        return restrict_edges(graph, keep)


class AdaptiveFeatureMasking(_AdaptiveAugmenter):
    """GCA's adaptive feature masking: column ``f`` is zeroed (for all nodes) with
    probability ``p_f``; computed once per graph.

    Args:
        p: mean masking probability before the cap.
        centrality: ``degree``, ``pagerank`` or ``eigenvector``.
        cap: upper bound on any feature's probability (0.7 in GCA).
        dense: weight features by magnitude (GCA's WikiCS variant).
    """

    def __init__(self, p: float, centrality: str = "degree", cap: float = 0.7,
                 dense: bool = False, log_offset: float = 1.0) -> None:
        super().__init__(p, centrality, cap, log_offset)
        self.dense = dense

    def probabilities(self, graph: Data) -> Tensor:
        """``[F]`` masking probability of each feature column of ``graph``."""
        def compute():
            phi = node_centrality(graph.edge_index, graph.num_nodes, self.centrality)
            weights = feature_drop_weights(graph.x, phi.to(torch.float32), self.dense,
                                           self.log_offset)
            return drop_probabilities(weights, self.p, self.cap)
        # keyed on the features: put feature masking before edge dropping in a Compose so
        # the weights come from the original graph, as GCA computes them once
        return self._cache.get((graph.x,), compute)

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        probability = self.probabilities(graph)
        keep = uniform(probability.numel(), generator, probability.device) >= probability
        return mask_feature_columns(graph, keep)
