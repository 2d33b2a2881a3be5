"""Graph diffusion views (Klicpera, Weißenberger, Günnemann, "Diffusion Improves Graph
Learning", NeurIPS 2019, Eq. 1–3; the second view of MVGRL, Hassani & Khasahmadi, ICML 2020).

With the symmetric transition matrix ``T = D^{-1/2}(A + I)D^{-1/2}``:

- personalized PageRank ``S = α Σ_k ((1 − α) T)^k = α (I − (1 − α) T)^{-1}``;
- heat kernel ``S = exp(−t (I − T)) = e^{−t} Σ_k t^k / k! · T^k``;
- Markov diffusion (PyGCL's ``MarkovDiffusion``) ``S = (1/K) Σ_{k=0}^{K} (1 − α)^k T^{k+1} + α T``.

``S`` is dense in general, so it is computed **sparsely**: the series is summed term by term
with sparse products and, after every term, each column keeps only its ``top_k`` largest
entries (and/or those above ``threshold``), so memory stays O(N·top_k). The dense closed form
(``method="exact"``) is only allowed up to :data:`MAX_EXACT_NODES` nodes, since it needs an
N × N inverse or exponential. Diffusion is deterministic: the view is computed once per graph
and cached.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.data import Data

from .base import Augmenter, TensorKeyedCache, shallow_copy

__all__ = ["MAX_EXACT_NODES", "HeatDiffusion", "PPRDiffusion", "heat_diffusion", "ppr_diffusion"]

MAX_EXACT_NODES = 5000


def _transition(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``D^{-1/2}(A + I)D^{-1/2}`` as a coalesced sparse COO ``[N, N]`` (float64)."""
    loops = torch.arange(num_nodes, device=edge_index.device)
    index = torch.cat([edge_index, torch.stack([loops, loops])], 1)
    value = torch.ones(index.size(1), dtype=torch.float64, device=edge_index.device)
    matrix = torch.sparse_coo_tensor(index, value, (num_nodes, num_nodes),
                                     check_invariants=False).coalesce()
    index, value = matrix.indices(), matrix.values()
    degree = torch.zeros(num_nodes, dtype=torch.float64, device=index.device)
    degree.index_add_(0, index[0], value)
    inv_sqrt = degree.pow(-0.5)
    return torch.sparse_coo_tensor(index, inv_sqrt[index[0]] * value * inv_sqrt[index[1]],
                                   (num_nodes, num_nodes), check_invariants=False).coalesce()


def _sparsify(matrix: Tensor, top_k: int | None, threshold: float | None) -> Tensor:
    """Keep, per column, entries ``>= threshold`` and at most the ``top_k`` largest."""
    matrix = matrix.coalesce()
    index, value = matrix.indices(), matrix.values()
    keep = torch.ones_like(value, dtype=torch.bool)
    if threshold is not None:
        keep &= value >= threshold
    index, value = index[:, keep], value[keep]
    if top_k is not None and value.numel() > 0:
        num_nodes = matrix.size(1)
        # sort by column, then by value descending; rank within each column
        order = torch.argsort(index[1].double() * 4.0 - value / (value.abs().max() + 1.0),
                              stable=True)
        index, value = index[:, order], value[order]
        counts = torch.bincount(index[1], minlength=num_nodes)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(value.numel(), device=value.device) - starts[index[1]]
        keep = rank < top_k
        index, value = index[:, keep], value[keep]
    return torch.sparse_coo_tensor(index, value, matrix.shape, check_invariants=False).coalesce()


def _check_exact(num_nodes: int) -> None:
    if num_nodes > MAX_EXACT_NODES:
        raise ValueError(
            f"method='exact' needs a dense {num_nodes}×{num_nodes} inverse/exponential "
            f"({num_nodes ** 2 * 8 / 2 ** 30:.1f} GiB); it is allowed up to {MAX_EXACT_NODES} "
            "nodes. Use method='power' with top_k (e.g. 64) or threshold for large graphs"
        )


def ppr_diffusion(edge_index: Tensor, num_nodes: int, alpha: float = 0.15, *,
                  method: str = "power", iterations: int = 50, top_k: int | None = 64,
                  threshold: float | None = 1e-4) -> Tensor:
    """Personalized-PageRank diffusion ``α (I − (1 − α) T)^{-1}`` as a sparse COO ``[N, N]``.

    Args:
        alpha: teleport probability α in (0, 1).
        method: ``"power"`` (sparse series with per-column sparsification) or ``"exact"``.
        iterations: series terms for ``"power"`` (the error after k terms is ≤ (1 − α)^k).
        top_k, threshold: per-column sparsification of every iterate and of the result.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    transition = _transition(edge_index, num_nodes)
    if method == "exact":
        _check_exact(num_nodes)
        eye = torch.eye(num_nodes, dtype=torch.float64, device=edge_index.device)
        dense = alpha * torch.linalg.inv(eye - (1 - alpha) * transition.to_dense())
        return _sparsify(dense.to_sparse(), top_k, threshold)
    if method != "power":
        raise ValueError(f"method must be 'power' or 'exact', got {method!r}")
    eye = torch.sparse_coo_tensor(
        torch.arange(num_nodes, device=edge_index.device).repeat(2, 1),
        torch.full((num_nodes,), alpha, dtype=torch.float64, device=edge_index.device),
        (num_nodes, num_nodes), check_invariants=False).coalesce()
    result = eye
    for _ in range(iterations):
        result = _sparsify((1 - alpha) * torch.sparse.mm(transition, result) + eye,
                           top_k, threshold)
    return result


def heat_diffusion(edge_index: Tensor, num_nodes: int, t: float = 5.0, *,
                   method: str = "power", iterations: int = 30, top_k: int | None = 64,
                   threshold: float | None = 1e-4) -> Tensor:
    """Heat-kernel diffusion ``exp(−t (I − T))`` as a sparse COO ``[N, N]``.

    Args:
        t: diffusion time.
        method: ``"power"`` (truncated series ``e^{−t} Σ t^k/k! T^k``, sparsified per term)
            or ``"exact"`` (dense matrix exponential, small graphs only).
        iterations: series terms for ``"power"``.
    """
    if t <= 0:
        raise ValueError(f"t must be positive, got {t}")
    transition = _transition(edge_index, num_nodes)
    if method == "exact":
        _check_exact(num_nodes)
        eye = torch.eye(num_nodes, dtype=torch.float64, device=edge_index.device)
        dense = torch.linalg.matrix_exp(-t * (eye - transition.to_dense()))
        return _sparsify(dense.to_sparse(), top_k, threshold)
    if method != "power":
        raise ValueError(f"method must be 'power' or 'exact', got {method!r}")
    term = torch.sparse_coo_tensor(
        torch.arange(num_nodes, device=edge_index.device).repeat(2, 1),
        torch.full((num_nodes,), math.exp(-t), dtype=torch.float64, device=edge_index.device),
        (num_nodes, num_nodes), check_invariants=False).coalesce()
    result = term
    for k in range(iterations):
        term = _sparsify(torch.sparse.mm(transition, term) * (t / (k + 1)), top_k, None)
        result = (result + term).coalesce()
    return _sparsify(result, top_k, threshold)


def markov_diffusion(edge_index: Tensor, num_nodes: int, alpha: float = 0.1, order: int = 10,
                     *, top_k: int | None = 64, threshold: float | None = 1e-3) -> Tensor:
    """Markov diffusion as PyGCL's ``MarkovDiffusion`` computes it, sparsely:
    ``S = (1/K) Σ_{k=0}^{K} (1 − α)^k T^{k+1} + α T`` with ``K = order`` (a Markov-chain
    average of the first K powers of the transition matrix, plus a lazy term), as a sparse
    COO ``[N, N]``; every term is sparsified per column like :func:`ppr_diffusion`.
    """
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    transition = _transition(edge_index, num_nodes)
    term = transition
    total = transition
    for _ in range(order):
        term = _sparsify((1 - alpha) * torch.sparse.mm(transition, term), top_k, None)
        total = (total + term).coalesce()
    return _sparsify((total * (1.0 / order) + alpha * transition).coalesce(), top_k, threshold)


class _Diffusion(Augmenter):
    """A view whose edges are the diffusion matrix's entries, weighted by them."""

    def __init__(self, **options) -> None:
        self.options = options
        self._cache = TensorKeyedCache()

    def matrix(self, graph: Data) -> Tensor:
        raise NotImplementedError

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        dtype = graph.x.dtype if graph.x is not None and graph.x.is_floating_point() \
            else torch.float32

        def edges():
            matrix = self.matrix(graph)
            # S[i, j] is how much j's signal reaches i: the edge j -> i (source, target)
            return matrix.indices().flip(0), matrix.values().to(dtype)

        view = shallow_copy(graph)
        view.edge_index, view.edge_weight = self._cache.get((graph.edge_index,), edges)
        if "edge_mask" in view:
            del view.edge_mask
        if "edge_attr" in view:
            del view.edge_attr
        return view


class PPRDiffusion(_Diffusion):
    """View from personalized-PageRank diffusion (see :func:`ppr_diffusion` for the options:
    ``alpha``, ``method``, ``iterations``, ``top_k``, ``threshold``)."""

    def matrix(self, graph: Data) -> Tensor:
        return ppr_diffusion(graph.edge_index, graph.num_nodes, **self.options)


class HeatDiffusion(_Diffusion):
    """View from heat-kernel diffusion (see :func:`heat_diffusion` for the options: ``t``,
    ``method``, ``iterations``, ``top_k``, ``threshold``)."""

    def matrix(self, graph: Data) -> Tensor:
        return heat_diffusion(graph.edge_index, graph.num_nodes, **self.options)


class MarkovDiffusion(_Diffusion):
    """View from Markov diffusion (see :func:`markov_diffusion` for the options: ``alpha``,
    ``order``, ``top_k``, ``threshold``)."""

    def matrix(self, graph: Data) -> Tensor:
        return markov_diffusion(graph.edge_index, graph.num_nodes, **self.options)
