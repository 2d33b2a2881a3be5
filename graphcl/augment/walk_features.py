"""Structural input features from meta-path random walks, for node types without features.

Several heterogeneous benchmarks give some node types no features (AMiner: none at all).
HeCo feeds one-hot rows; MEOW and AdaMEOW feed 64-d metapath2vec embeddings trained on
1000 walks of length 100 per node (``feat_*.w1000.l100.npy``), files that are not published
with either repository. Training those walks takes hours on a CPU. This module computes the
matrix that skip-gram with negative sampling factorizes on such walks, in closed form, and
embeds it by a truncated SVD: NetMF (Qiu, Dong, Ma, Li, Wang, Tang, "Network Embedding as
Matrix Factorization", WSDM 2018: the closed form of DeepWalk's matrix and the small-window
NetMF algorithm; the paper's theorem and equation numbers could not be read here, so none are
cited).

The walk. One round of a meta-path walk from a target node ``i`` moves along the meta-path
``V_0 -R_1-> V_1 ... -R_L-> V_0`` choosing every hop uniformly among the current node's
neighbours of the required relation, as metapath2vec's walker does. For a meta-path that
reads the same backwards (PAP, PRP, APCPA), its transition matrix is ``D^{-1} W`` with

    W = A_1 D_1^{-1} A_2 D_2^{-1} ... A_L,   D = diag(W 1) = diag(first-hop degree),

``D_l`` the degrees of the ``l``-th intermediate type along the walk, and ``W`` symmetric, so
the walk is reversible with stationary distribution ``d / vol``. Several meta-paths are
combined by summing their ``W``: a round starts with a first hop drawn uniformly over all
the meta-paths' first relations. A meta-path that does not read the same backwards is
symmetrized (``(W + W^T) / 2``). Target nodes with no walk at all keep a self-loop.

The matrix (Qiu et al.'s DeepWalk matrix with ``P = D^{-1} W``)::

    M = vol / (b T) · (Σ_{r=1..T} P^r) D^{-1},     embedding = U_d Σ_d^{1/2}
    of the rank-d truncated SVD of  log(max(M, 1)),

``T`` the skip-gram window and ``b`` the number of negative samples. Nodes of other types
linked to the target type by one relation get the mean embedding of their linked target
nodes (metapath2vec puts every type in one space; an author's embedding sits among its
papers').

Cost: ``T`` products of the sparse ``P`` with a dense ``N × N`` matrix (``O(T · nnz(P) · N)``
flops) and three dense ``N × N`` float64 buffers (the running power, its successor and the
sum), so this is for target types of up to a few ten thousand nodes (AMiner's 6,564 papers:
1.0 GB, under 20 s on one core);
``max_dense_bytes`` turns a larger request into an error instead of a swap storm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds
from torch import Tensor
from torch_geometric.data import HeteroData

from .metapath import (
    EdgeType,
    MetaPath,
    _check_hetero,
    _relation_matrix,
    resolve_metapath,
)

__all__ = ["WalkEmbeddingFeatures", "metapath_walk_weights", "netmf_embedding", "netmf_matrix"]

DEFAULT_MAX_DENSE_BYTES = 4 << 30


def _inverse(values: np.ndarray) -> np.ndarray:
    out = np.zeros_like(values, dtype=np.float64)
    np.divide(1.0, values, out=out, where=values > 0)
    return out


def metapath_walk_weights(data: HeteroData, metapaths: Sequence[MetaPath]) -> sp.csr_matrix:
    """The symmetric weight matrix ``W`` of a meta-path walk round (see the module docstring).

    Args:
        data: the heterogeneous graph.
        metapaths: meta-paths that start and end at the same node type, e.g.
            ``[("paper", "author", "paper"), ("paper", "reference", "paper")]``.

    Returns:
        ``[N, N]`` float64 CSR over the target type, symmetric; ``D^{-1} W`` is the walk's
        transition matrix with ``D = diag(W 1)``. Target nodes without any walk get
        ``W_ii = 1``.

    Raises:
        ValueError: no meta-path, a meta-path the graph lacks (the message lists its edge
            types), meta-paths of different target types, or one that ends elsewhere.
    """
    _check_hetero(data)
    if isinstance(metapaths, str) or not isinstance(metapaths, Sequence) or not metapaths:
        raise ValueError(f"metapaths must be a non-empty list of meta-paths, got {metapaths!r}")
    target = None
    total = None
    for metapath in metapaths:
        hops: list[EdgeType] = resolve_metapath(data, metapath)
        start, end = hops[0][0], hops[-1][2]
        if start != end:
            raise ValueError(f"meta-path {metapath!r} goes from {start!r} to {end!r}: walk "
                             "features need meta-paths that return to their start type")
        if target is None:
            target = start
        elif start != target:
            raise ValueError(f"meta-paths {metapaths!r} start at different node types "
                             f"({target!r} and {start!r}); give the meta-paths of one type")
        weights = None
        for position, hop in enumerate(hops):
            relation = _relation_matrix(data, hop, weighted=False)
            relation.data[:] = 1.0  # the walker picks a neighbour uniformly: one per edge
            if position > 0:
                # the walker arrived at this hop's source type: divide by its degree there
                relation = sp.diags(_inverse(np.asarray(relation.sum(1)).ravel())) @ relation
            weights = relation if weights is None else (weights @ relation).tocsr()
        if (abs(weights - weights.T) > 1e-12 * max(1.0, abs(weights).max())).nnz:
            weights = ((weights + weights.T) * 0.5).tocsr()
        total = weights if total is None else (total + weights).tocsr()
    degree = np.asarray(total.sum(1)).ravel()
    lonely = np.flatnonzero(degree <= 0)
    if lonely.size:
        total = (total + sp.csr_matrix((np.ones(lonely.size), (lonely, lonely)),
                                       shape=total.shape)).tocsr()
    total.sum_duplicates()
    total.sort_indices()
    return total


def netmf_matrix(weights: sp.spmatrix, window: int = 10, negative: float = 1.0,
                 max_dense_bytes: int = DEFAULT_MAX_DENSE_BYTES) -> np.ndarray:
    """``log(max(M, 1))`` of small-window NetMF (Qiu et al., WSDM 2018), dense.

    Args:
        weights: ``[N, N]`` symmetric non-negative weights ``W`` with no empty row.
        window: the skip-gram window ``T``.
        negative: the number of negative samples ``b``.
        max_dense_bytes: refuse graphs whose three dense ``N × N`` float64 buffers exceed
            this.

    Returns:
        ``[N, N]`` float64 array.
    """
    weights = sp.csr_matrix(weights, dtype=np.float64)
    n = weights.shape[0]
    if weights.ndim != 2 or weights.shape[1] != n or n == 0:
        raise ValueError(f"weights must be a non-empty square matrix, got {weights.shape}")
    if int(window) < 1 or negative <= 0:
        raise ValueError(f"window must be >= 1 and negative > 0, got {window}, {negative}")
    if weights.nnz and (not np.isfinite(weights.data).all() or weights.data.min() < 0):
        raise ValueError("weights must be finite and non-negative")
    need = 3 * n * n * 8
    if need > max_dense_bytes:
        raise MemoryError(f"NetMF needs three dense {n} x {n} float64 matrices ({need / 2**30:.1f} "
                          f"GiB) over max_dense_bytes={max_dense_bytes / 2**30:.1f} GiB; raise "
                          "max_dense_bytes if the memory is there, or embed a smaller node type")
    degree = np.asarray(weights.sum(1)).ravel()
    if (degree <= 0).any():
        raise ValueError(f"weights has {int((degree <= 0).sum())} empty rows: give every node a "
                         "walk (metapath_walk_weights adds self-loops for lonely nodes)")
    transition = (sp.diags(1.0 / degree) @ weights).tocsr()
    power = np.eye(n)
    total = np.zeros((n, n))
    for _ in range(int(window)):
        power = transition @ power
        total += power
    total *= degree.sum() / (negative * window)
    total /= degree[None, :]
    np.maximum(total, 1.0, out=total)
    np.log(total, out=total)
    return total


def netmf_embedding(weights: sp.spmatrix, dim: int = 64, window: int = 10,
                    negative: float = 1.0,
                    max_dense_bytes: int = DEFAULT_MAX_DENSE_BYTES) -> Tensor:
    """NetMF embedding ``U_d Σ_d^{1/2}`` of the walk on ``weights`` (Qiu et al., WSDM 2018).

    Deterministic: ARPACK starts from a fixed random vector and each column's sign is fixed so its
    entry of largest magnitude is positive.

    Args:
        weights: ``[N, N]`` symmetric walk weights (see :func:`metapath_walk_weights`).
        dim: embedding width ``d`` (at most ``N - 1``).
        window, negative, max_dense_bytes: see :func:`netmf_matrix`.

    Returns:
        ``[N, d]`` float32, columns ordered by decreasing singular value.
    """
    n = weights.shape[0]
    if not 1 <= int(dim) < n:
        raise ValueError(f"dim must be between 1 and N - 1 = {n - 1}, got {dim}")
    matrix = netmf_matrix(weights, window, negative, max_dense_bytes)
    # a fixed random start: a constant one is orthogonal to the many singular vectors that
    # change sign inside a connected component, and ARPACK would never find them
    start = np.random.default_rng(0).standard_normal(n)
    left, singular, _ = svds(matrix, k=int(dim), v0=start)
    order = np.argsort(-singular)
    left, singular = left[:, order], singular[order]
    flip = np.sign(left[np.abs(left).argmax(0), np.arange(left.shape[1])])
    flip[flip == 0] = 1.0
    return torch.from_numpy(left * flip * np.sqrt(singular)).float()


class WalkEmbeddingFeatures:
    """Replace node features by NetMF meta-path walk embeddings (a ``HeteroData`` transform).

    ``data[target].x`` becomes the ``[N, dim]`` embedding of :func:`netmf_embedding` on the
    walk of :func:`metapath_walk_weights`; every other node type with a relation from the
    target type gets the mean embedding of its linked target nodes (zeros where it has
    none). A stand-in for metapath2vec inputs (MEOW's ``feat_*.w1000.l100.npy``): the same
    walks, factorized exactly instead of sampled.

    Args:
        metapaths: meta-paths of one target type, returning to it.
        dim: embedding width.
        window: skip-gram window ``T``.
        negative: negative samples ``b``.
        node_types: the node types whose features are replaced (default: the target type and
            every type one relation away from it).
        max_dense_bytes: see :func:`netmf_matrix`.
        per_metapath: also embed each meta-path's walk on its own and store the ``P``
            embeddings as ``data[target].x_metapath`` ``[N, P, dim]`` (meta-path order), the
            analogue of MEOW's AMiner inputs ``feat_p_pap`` / ``feat_p_prp`` (one metapath2vec
            run per meta-path; MEOW's ``view_features="x_metapath"`` gives each view its
            own input). A type one relation away then takes its linked target nodes' mean
            of the first meta-path whose first hop reaches it (authors from the PAP walk,
            references from the PRP walk: the walk metapath2vec embedded them in), and
            ``data[target].x`` stays the embedding of the combined walk.

    Example::

        data = WalkEmbeddingFeatures([("paper", "author", "paper"),
                                      ("paper", "reference", "paper")])(data)
    """

    def __init__(self, metapaths: Sequence[MetaPath], dim: int = 64, window: int = 10,
                 negative: float = 1.0, node_types: Sequence[str] | None = None,
                 max_dense_bytes: int = DEFAULT_MAX_DENSE_BYTES,
                 per_metapath: bool = False) -> None:
        self.metapaths = [list(m) if not isinstance(m, str) else m for m in metapaths]
        self.per_metapath = bool(per_metapath)
        self.dim, self.window, self.negative = int(dim), int(window), float(negative)
        self.node_types = None if node_types is None else list(node_types)
        self.max_dense_bytes = int(max_dense_bytes)

    def __call__(self, data: HeteroData) -> HeteroData:
        weights = metapath_walk_weights(data, self.metapaths)
        target = resolve_metapath(data, self.metapaths[0])[0][0]
        embedding = netmf_embedding(weights, self.dim, self.window, self.negative,
                                    self.max_dense_bytes)
        linked = {}
        for edge_type in data.edge_types:
            if edge_type[0] == target and edge_type[2] != target:
                linked.setdefault(edge_type[2], edge_type)
        source_of = {}  # node type -> the embedding its linked target nodes' mean is taken of
        per_path = []
        if self.per_metapath:
            for metapath in self.metapaths:
                per_path.append(netmf_embedding(metapath_walk_weights(data, [metapath]),
                                                self.dim, self.window, self.negative,
                                                self.max_dense_bytes))
                first_hop = resolve_metapath(data, metapath)[0]
                source_of.setdefault(first_hop[2], (first_hop, per_path[-1]))
        wanted = [target, *linked] if self.node_types is None else self.node_types
        unknown = [t for t in wanted if t != target and t not in linked]
        if unknown:
            raise ValueError(f"node types {unknown} have no relation from {target!r}, so walk "
                             f"features cannot reach them; reachable: {[target, *linked]}")
        out = data.clone()
        device = _device_of(data, target)
        for node_type in wanted:
            if node_type == target:
                features = embedding
            else:
                relation, source = source_of.get(node_type, (linked[node_type], embedding))
                incidence = _relation_matrix(data, relation, weighted=False).T.tocsr()
                incidence.data[:] = 1.0
                incidence = sp.diags(_inverse(np.asarray(incidence.sum(1)).ravel())) @ incidence
                features = torch.from_numpy(incidence @ source.double().numpy()).float()
            out[node_type].x = features.to(device)
            if "one_hot" in out[node_type]:
                out[node_type].one_hot = False
        if per_path:
            out[target].x_metapath = torch.stack(per_path, dim=1).to(device)
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(metapaths={self.metapaths}, dim={self.dim}, "
                f"window={self.window}, negative={self.negative}, "
                f"per_metapath={self.per_metapath})")


def _device_of(data: HeteroData, node_type: str) -> torch.device:
    x = data[node_type].get("x")
    return x.device if isinstance(x, Tensor) else torch.device("cpu")
