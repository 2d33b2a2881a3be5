"""gCooL's community objectives: DeCA and ReSC (Li, Jing, Tong, "Graph Communal Contrastive
Learning", WWW 2022, arXiv 2110.14863, §4.2–4.3), without any N × N matrix.

Both take soft community assignments ``R`` (``[N, K]``, rows on the simplex, e.g. a softmax
of node-to-centre similarities); DeCA sees the graph as an ``edge_index`` or as the view's
0/1 sparse adjacency.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..nn.adjacency import SparseAdjacency, propagate

__all__ = ["community_prototypes", "deca_loss", "deca_loss_dense", "resc_loss", "soft_assignments"]


def _check_assignments(assignments: Tensor) -> None:
    if assignments.dim() != 2 or assignments.size(0) < 2:
        raise ValueError(f"assignments must be [N, K] with N >= 2, got {tuple(assignments.shape)}")


def deca_loss(assignments: Tensor, edges: Tensor | SparseAdjacency, lamda: float = 1.0) -> Tensor:
    """Dense Community Aggregation (DeCA), computed over the edges in O(E·K).

    gCooL (Li, Jing, Tong, WWW 2022, §4.2), as the official code computes it. With the
    0/1 adjacency ``A`` of the view (``A[src, dst] = 1``), ``n = N``, ``m = n(n − 1)`` and
    ``F = Rᵀ A R`` (``K × K``)::

        L = [λ Σ_{k,l} F_kl − (n − 1 + λ) tr F] / m + tr(RᵀR) / (2n)

    i.e. intra-community edge density down-weighted (it enters with −), inter-community density
    weighted by λ, plus a squared-assignment term. ``Σ F = sᵀ A s`` with ``s = R 1`` and
    ``tr F = Σ_e R_src · R_dst = Σ (R ⊙ A R)``, so no N × N adjacency is formed.

    Args:
        assignments: ``R``, ``[N, K]``.
        edges: the view's edges, either ``[2, E]`` (duplicates removed beforehand: ``A`` is
            0/1, as PyG's datasets already are; the sums then gather ``[E, K]`` rows) or the
            view's 0/1 :class:`~graphcl.nn.adjacency.SparseAdjacency` from
            :func:`~graphcl.nn.adjacency.unit_adjacency` (one sparse product with ``[R, s]``
            forward and one backward: gCooL's fast path).
        lamda: λ, the weight of inter-community density.

    Returns:
        A scalar.
    """
    _check_assignments(assignments)
    n = assignments.size(0)
    if isinstance(edges, SparseAdjacency):
        if edges.num_nodes != n:
            raise ValueError(f"the adjacency has {edges.num_nodes} nodes, the assignments {n}")
        row_sums = assignments.sum(1, keepdim=True)
        stacked = torch.cat([assignments, row_sums], dim=1)
        aggregated = propagate(edges, stacked)
        total = (row_sums * aggregated[:, -1:]).sum()
        trace = (assignments * aggregated[:, :-1]).sum()
    else:
        source, target = assignments[edges[0]], assignments[edges[1]]
        total = (source.sum(1) * target.sum(1)).sum()
        trace = (source * target).sum()
    pairs = n * (n - 1)
    return (lamda * total - (n - 1 + lamda) * trace) / pairs + assignments.square().sum() / (2 * n)


def deca_loss_dense(assignments: Tensor, edge_index: Tensor, lamda: float = 1.0) -> Tensor:
    """The dense reference of :func:`deca_loss` (an N × N adjacency; tests and small graphs)."""
    _check_assignments(assignments)
    n = assignments.size(0)
    adjacency = torch.zeros(n, n, dtype=assignments.dtype, device=assignments.device)
    adjacency[edge_index[0], edge_index[1]] = 1
    density = assignments.t() @ adjacency @ assignments
    return ((lamda * density.sum() - (n - 1 + lamda) * density.trace()) / (n * (n - 1))
            + (assignments.t() @ assignments).trace() / n / 2)


def community_prototypes(embeddings: Tensor, communities: Tensor, num_communities: int) -> Tensor:
    """Mean embedding of each community (a zero row for an empty one): ``[K, d]``.

    Args:
        embeddings: ``[N, d]``; communities: ``[N]`` int64 hard assignments in ``[0, K)``.
    """
    sums = torch.zeros(num_communities, embeddings.size(1), dtype=embeddings.dtype,
                       device=embeddings.device).index_add_(0, communities, embeddings)
    counts = torch.bincount(communities, minlength=num_communities).clamp(min=1)
    return sums / counts[:, None].to(embeddings.dtype)


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``‖a_i − b_k‖²`` as ``[N, K]`` without an ``[N, K, d]`` tensor."""
    return (a.square().sum(1)[:, None] + b.square().sum(1)[None, :] - 2 * a @ b.t()).clamp_min(0)


def resc_loss(h1: Tensor, h2: Tensor, r1: Tensor, r2: Tensor, tau: float,
              similarity: str = "cos", gamma: float = 8e-5) -> Tensor:
    """Reweighted Self-supervised Cross-contrast (ReSC), node vs the other view's community
    prototypes, in O(N·K·d).

    Hard communities ``c^v(i) = argmax_k R^v_ik``; prototypes ``μ^v_k`` = mean of the view's
    embeddings in community ``k`` (stop-gradient). For view 1 against view 2::

        ℓ_i = −log e_{i,c²(i)} / (e_{i,c²(i)} + Σ_{k≠c²(i)} w_{c²(i),k} e_ik)

    with ``e_ik = exp(h¹_i·μ²_k / τ)`` and ``w ≡ 1`` for ``similarity="cos"`` (gCooL_c; the
    official code's cosine branch does not reweight), or ``e_ik = exp(−‖h¹_i − μ²_k‖² / τ²)``
    and ``w_kl = exp(−γ ‖μ²_k − μ²_l‖²)`` for ``similarity="rbf"`` (gCooL_e). The loss is the
    mean over nodes of the two directions' average.

    Args:
        h1, h2: ``[N, d]`` projected embeddings (unit rows in gCooL).
        r1, r2: ``[N, K]`` soft assignments of each view.
        tau: temperature.
        similarity: ``"cos"`` or ``"rbf"``.
        gamma: γ of the RBF prototype-distance weights.
    """
    if similarity not in ("cos", "rbf"):
        raise ValueError(f"similarity must be 'cos' or 'rbf', got {similarity!r}")
    if h1.shape != h2.shape or r1.shape != r2.shape or h1.size(0) != r1.size(0):
        raise ValueError(f"shapes disagree: h {tuple(h1.shape)}/{tuple(h2.shape)}, "
                         f"R {tuple(r1.shape)}/{tuple(r2.shape)}")
    num_communities = r1.size(1)

    def one_direction(h: Tensor, other_h: Tensor, other_r: Tensor) -> Tensor:
        community = other_r.detach().argmax(1)
        prototypes = community_prototypes(other_h, community, num_communities).detach()
        if similarity == "cos":
            logits = h @ prototypes.t() / tau
            log_weights = None
        else:
            logits = -_squared_distances(h, prototypes) / (tau * tau)
            log_weights = (-gamma * _squared_distances(prototypes, prototypes))[community]
        positive = logits.gather(1, community[:, None])
        if log_weights is not None:
            logits = logits + log_weights
        # the positive enters unweighted: replace its (weighted) entry by the plain logit
        logits = logits.scatter(1, community[:, None], positive)
        return torch.logsumexp(logits, 1) - positive[:, 0]

    return 0.5 * (one_direction(h1, h2, r2) + one_direction(h2, h1, r1)).mean()


def soft_assignments(embeddings: Tensor, centres: Tensor, tau: float,
                     similarity: str = "cos") -> Tensor:
    """gCooL's ``R = softmax(sg(h)·Ĉᵀ/τ)`` (cosine) or ``softmax(−‖sg(h) − Ĉ‖²/τ²)`` (RBF), with
    ``Ĉ`` the row-normalized centres: ``[N, K]``. Only the centres receive gradient."""
    normalized = F.normalize(centres, dim=1)
    h = embeddings.detach()
    if similarity == "cos":
        return torch.softmax(h @ normalized.t() / tau, dim=1)
    return torch.softmax(-_squared_distances(h, normalized) / (tau * tau), dim=1)
