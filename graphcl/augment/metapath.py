"""Meta-path views of a ``HeteroData``: meta-path adjacencies with path counts, PathSim
pruning, meta-path contexts, the network-schema view and HeCo's positive sets.

A meta-path ``P = V_0 -R_1-> V_1 -R_2-> ... -R_L-> V_L`` (Sun et al., "PathSim", VLDB 2011)
has the count matrix

    M_P = A_{R_1} A_{R_2} ... A_{R_L},    (M_P)_ij = number of path instances from i to j,

where ``A_R`` is the ``[N_{V_{l-1}}, N_{V_l}]`` matrix of relation ``R`` (duplicate edges and
``edge_weight`` add up). This is what PyG's ``AddMetaPaths(weighted=True)`` computes; here
it is computed without ever building a dense matrix:

- the product is split in the middle, ``M = X Y`` with ``X = A_1 ... A_h`` and
  ``Y = A_{h+1} ... A_L`` (for APCPA: ``X = APC``, ``Y = CPA``), so no long-tailed
  intermediate such as APTP (13M non-zeros on DBLP) is formed;
- ``M`` is produced in blocks of rows of ``X`` (``scipy.sparse`` CSR products), each block
  holding at most about ``chunk_size`` entries; self-loops and PathSim top-k are applied per
  block, so with ``top_k`` the peak memory is O(block + N·k) rather than O(nnz(M)).

Counts are exact (float64 products of integers) and returned as float32 by default (exact
up to 2^24). Tensors on a GPU are moved to the CPU for the build and the results back.

Conventions: ``edge_index[0]`` is the start node of a path instance and ``edge_index[1]`` its
end node (PyG's ``AddMetaPaths``; with PyG's ``source_to_target`` flow a message travels
along the path), sorted by ``(start, end)``. Meta-paths are given as node-type sequences,
``("paper", "author", "paper")``; where two node types are linked by several relations an
element may be an explicit edge type, ``("paper", ("paper", "cites", "paper"), "paper")``.

This module builds views; :mod:`graphcl.nn` turns them into propagation operators. Views
are therefore ``(edge_index, edge_weight)`` pairs, not ``SparseAdjacency`` objects: ``augment``
does not import ``nn`` (DESIGN.md's import graph), and the pair is what
``CSRGraph(edge_index, N, edge_weight)`` caches once per view (one sort), after which
``adjacency("sum")`` gives the pre-normalized operator, ``adjacency("gcn")`` normalizes raw
counts, and an edge-masked view (MEOW masks meta-path edges) costs O(E) with no re-sort. PyG
convolutions take the pair as it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ..nn.adjacency import FixedCSR, csr_product
from .base import TensorKeyedCache, uniform

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")

__all__ = [
    "ChainedContextAggregation",
    "ContextAggregation",
    "MetaPathContext",
    "MetaPathViewSet",
    "MetaPathViews",
    "NetworkSchema",
    "aggregate_context",
    "context_aggregations",
    "metapath_adjacency",
    "metapath_context",
    "network_schema",
    "normalize_adjacency",
    "pathsim_top_k",
    "positive_pairs",
    "resolve_metapath",
]

EdgeType = tuple[str, str, str]
MetaPath = Sequence["str | tuple[str, str] | tuple[str, str, str]"]
NORMALIZE = ("sym", "row", None)
TIES = ("low", "random", "numpy")
NUMPY_TIES_MAX_WORK = 1 << 33  # N² bound of ties="numpy" (dense rows of N sorted per long row)
DEFAULT_CHUNK = 1 << 20


# --------------------------------------------------------------------------- resolution


def _check_hetero(data) -> None:
    if not isinstance(data, HeteroData):
        raise TypeError(f"meta-path views take a torch_geometric.data.HeteroData, "
                        f"got {type(data).__name__}")


def _relations(data: HeteroData, source: str, target: str) -> list[EdgeType]:
    return [e for e in data.edge_types if e[0] == source and e[2] == target]


def resolve_metapath(data: HeteroData, metapath: MetaPath) -> list[EdgeType]:
    """The edge types a meta-path walks, one per hop.

    Args:
        data: the graph.
        metapath: node types ``("paper", "author", "paper")``; any hop may instead be an
            explicit edge type ``(src, rel, dst)`` (needed where several relations link two
            types) or a ``(src, dst)`` pair; a list of edge types (PyG's format) works too.

    Returns:
        ``[(V_0, R_1, V_1), (V_1, R_2, V_2), ...]``.

    Raises:
        ValueError: a pair of consecutive types with no relation (the message lists the
            graph's edge types), several candidate relations, or hops that do not chain.
    """
    _check_hetero(data)
    if isinstance(metapath, str) or not isinstance(metapath, Sequence):
        raise TypeError(f"metapath must be a sequence of node types or edge types, "
                        f"got {metapath!r}")
    hops: list[EdgeType] = []
    current: str | None = None
    for item in metapath:
        if isinstance(item, str):
            if current is not None:
                hops.append(_unique_relation(data, current, item, metapath))
            current = item
            continue
        if not (isinstance(item, Sequence) and len(item) in (2, 3)
                and all(isinstance(part, str) for part in item)):
            raise TypeError(f"meta-path {metapath!r}: each element must be a node type, a "
                            f"(src, dst) pair or a (src, rel, dst) edge type, got {item!r}")
        source, target = item[0], item[-1]
        if current is not None and source != current:
            raise ValueError(f"meta-path {metapath!r}: hop {tuple(item)!r} starts at "
                             f"{source!r} but the previous hop ends at {current!r}")
        if len(item) == 3:
            if tuple(item) not in data.edge_types:
                raise ValueError(f"meta-path {metapath!r}: edge type {tuple(item)!r} is not in "
                                 f"the graph; its edge types are {data.edge_types}")
            hops.append(tuple(item))
        else:
            hops.append(_unique_relation(data, source, target, metapath))
        current = target
    if not hops:
        raise ValueError(f"meta-path {metapath!r} has no relation: give at least two node "
                         "types")
    return hops


def _unique_relation(data: HeteroData, source: str, target: str, metapath) -> EdgeType:
    found = _relations(data, source, target)
    if not found:
        raise ValueError(f"meta-path {metapath!r}: the graph has no relation from {source!r} "
                         f"to {target!r}; its edge types are {data.edge_types}")
    if len(found) > 1:
        raise ValueError(f"meta-path {metapath!r}: several relations go from {source!r} to "
                         f"{target!r}: {found}; name one as an explicit edge type in the "
                         "meta-path")
    return found[0]


def _num_nodes(data: HeteroData, node_type: str) -> int:
    if node_type not in data.node_types:
        raise ValueError(f"node type {node_type!r} is not in the graph; its node types are "
                         f"{data.node_types}")
    count = data[node_type].num_nodes
    if count is None or count <= 0:
        raise ValueError(f"node type {node_type!r} has no nodes (set data[{node_type!r}]"
                         ".num_nodes or .x)")
    return int(count)


def _device(data: HeteroData) -> torch.device:
    for edge_type in data.edge_types:
        return data[edge_type].edge_index.device
    return torch.device("cpu")


def _relation_matrix(data: HeteroData, edge_type: EdgeType, weighted: bool) -> sp.csr_matrix:
    """``A_R`` as a float64 CSR (duplicate edges summed, indices sorted)."""
    source, _, target = edge_type
    shape = (_num_nodes(data, source), _num_nodes(data, target))
    store = data[edge_type]
    edge_index = store.edge_index
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"data[{edge_type!r}].edge_index must be [2, E], got "
                         f"{tuple(edge_index.shape)}")
    index = edge_index.detach().cpu().numpy().astype(np.int64, copy=False)
    if index.size and (index.min() < 0 or index[0].max() >= shape[0]
                       or index[1].max() >= shape[1]):
        raise ValueError(f"data[{edge_type!r}].edge_index holds indices outside the node "
                         f"counts {shape}")
    if weighted and "edge_weight" in store and store.edge_weight is not None:
        value = store.edge_weight.detach().cpu().double().numpy()
    else:
        value = np.ones(index.shape[1])
    matrix = sp.csr_matrix((value, (index[0], index[1])), shape=shape)
    matrix.sum_duplicates()
    return matrix


def _product(matrices: Sequence[sp.csr_matrix]) -> sp.csr_matrix:
    result = matrices[0]
    for other in matrices[1:]:
        result = (result @ other).tocsr()
    return result


def _factors(data: HeteroData, hops: Sequence[EdgeType], weighted: bool
             ) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """``(X, Y)`` with ``M = X @ Y`` split in the middle (``Y`` is None for one hop)."""
    matrices = [_relation_matrix(data, hop, weighted) for hop in hops]
    if len(matrices) == 1:
        return matrices[0], None
    half = (len(matrices) + 1) // 2
    right = matrices[-1]
    for other in reversed(matrices[half:-1]):
        right = (other @ right).tocsr()
    return _product(matrices[:half]), right


def _work(x: sp.csr_matrix, y: sp.csr_matrix | None) -> np.ndarray:
    """Per row of ``X @ Y``: the number of scalar products, a bound on its entries."""
    if y is None:
        return np.diff(x.indptr).astype(np.float64)
    pattern = sp.csr_matrix((np.ones(x.nnz), x.indices, x.indptr), shape=x.shape)
    return pattern @ np.diff(y.indptr).astype(np.float64)


def _row_chunks(work: np.ndarray, chunk_size: int) -> list[tuple[int, int]]:
    """Row ranges whose summed ``work`` stays near ``chunk_size`` (a heavier row alone)."""
    num_rows = work.size
    bounds = np.searchsorted(np.cumsum(work), np.arange(1, int(work.sum() // chunk_size) + 1)
                             * float(chunk_size))
    starts = np.unique(np.concatenate([[0], bounds + 1]))
    starts = starts[starts < num_rows]
    ends = np.append(starts[1:], num_rows)
    return list(zip(starts.tolist(), ends.tolist()))


def _block(x: sp.csr_matrix, y: sp.csr_matrix | None, start: int, end: int) -> sp.csr_matrix:
    block = x[start:end] if y is None else (x[start:end] @ y).tocsr()
    block.sum_duplicates()  # also sorts the indices
    block.eliminate_zeros()
    return block


def _diagonal(x: sp.csr_matrix, y: sp.csr_matrix | None) -> np.ndarray:
    """``diag(X @ Y)`` in O(nnz(X) + nnz(Y)): ``rowsum(X ∘ Yᵀ)``."""
    if y is None:
        return x.diagonal()
    return np.asarray(x.multiply(y.T.tocsr()).sum(axis=1)).ravel()


def _top_k_positions(indptr: np.ndarray, score: np.ndarray, k: int,
                     budget: int = 1 << 22, tie_key: np.ndarray | None = None
                     ) -> np.ndarray | None:
    """Positions (ascending) of each row's ``k`` largest scores; ties keep the lower column
    (entries must be sorted by column within rows), or with ``tie_key`` (one number per
    entry) the smaller key. ``None`` when every row fits.

    No sort: each long row's ``k``-th largest score comes from ``np.partition`` over the
    rows padded to a common length (rows bucketed by length, at most ``budget`` padded
    cells at a time), then entries above it, and the first ties in column order, are kept.
    """
    counts = np.diff(indptr)
    if counts.size == 0 or counts.max() <= k:
        return None
    threshold = np.full(counts.size, -np.inf)
    big = np.flatnonzero(counts > k)
    bucket = np.floor(np.log2(counts[big])).astype(np.int64)  # lengths within 2x
    for level in np.unique(bucket):
        members = big[bucket == level]
        width = int(counts[members].max())
        step = max(1, budget // width)
        for first in range(0, members.size, step):
            group = members[first:first + step]
            lengths = counts[group]
            local = np.repeat(np.arange(group.size), lengths)
            offset = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            padded = np.full((group.size, width), np.inf)
            padded[local, offset] = -score[indptr[group][local] + offset]
            threshold[group] = -np.partition(padded, k - 1, axis=1)[:, k - 1]
    rows = np.repeat(np.arange(counts.size), counts)
    limit = threshold[rows]
    above = score > limit
    ties = score == limit
    room = k - np.bincount(rows, weights=above, minlength=counts.size)
    if tie_key is None:
        tie_before = np.concatenate([[0], np.cumsum(ties)])[indptr[:-1]]  # ties before each row
        tie_rank = np.cumsum(ties) - tie_before[rows]  # 1-based rank of a tie within its row
        return np.flatnonzero(above | (ties & (tie_rank <= room[rows])))
    tied = np.flatnonzero(ties)
    order = tied[np.lexsort((tie_key[tied], rows[tied]))]
    tie_rows = rows[order]
    first = np.searchsorted(tie_rows, tie_rows)  # sorted by row: first tie of each row
    chosen = order[np.arange(order.size) - first < room[tie_rows]]
    keep = above.copy()
    keep[chosen] = True
    return np.flatnonzero(keep)


def _pair_hash(rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """A pseudo-random uint64 per ``(row, col)`` (splitmix64 finalizer): the same pair gets
    the same key however the matrix is split into blocks."""
    with np.errstate(over="ignore"):
        z = (rows.astype(np.uint64) << np.uint64(32)) ^ cols.astype(np.uint64)
        z = z + np.uint64((0x9E3779B97F4A7C15 * (int(seed) + 1)) & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _numpy_top_k_positions(indptr: np.ndarray, indices: np.ndarray, score: np.ndarray,
                           k: int, num_cols: int) -> np.ndarray | None:
    """Each long row's kept positions as MEOW's official ``pathsim`` picks them:
    ``np.sort(np.argsort(dense_row)[::-1][:k])``. Which tied columns survive depends on
    numpy's sort algorithm (version and CPU), so this is for reproducing that code only.
    O(N) memory and O(N log N) time per row longer than ``k``."""
    counts = np.diff(indptr)
    if counts.size == 0 or counts.max() <= k:
        return None
    keep = np.ones(score.size, dtype=bool)
    dense = np.zeros(num_cols, dtype=np.float64)
    for row in np.flatnonzero(counts > k):
        lo, hi = indptr[row], indptr[row + 1]
        columns = indices[lo:hi]
        dense[columns] = score[lo:hi]
        kept = np.sort(np.argsort(dense)[::-1][:k])
        dense[columns] = 0.0
        keep[lo:hi] = False
        keep[lo + np.searchsorted(columns, kept)] = True
    return np.flatnonzero(keep)


def _select_top_k(block: sp.csr_matrix, start: int, diagonal: np.ndarray, k: int,
                  ties: str, tie_seed: int) -> np.ndarray | None:
    """Positions of the kept entries of a row block of ``M`` (see ``metapath_adjacency``)."""
    if ties == "numpy":
        if diagonal.size * block.shape[1] > NUMPY_TIES_MAX_WORK:
            raise ValueError(
                f"ties='numpy' sorts a dense row of {block.shape[1]} entries for every row "
                f"longer than top_k={k}, up to {diagonal.size} of them ({diagonal.size} x "
                f"{block.shape[1]} is over the {NUMPY_TIES_MAX_WORK:.0e} limit); it only "
                "exists to reproduce the official MEOW code on its small datasets: use "
                "ties='random' (or 'low') on this graph")
        score = _pathsim(block, start, diagonal, diagonal_first=False)
        return _numpy_top_k_positions(block.indptr, block.indices, score, k, block.shape[1])
    score = _pathsim(block, start, diagonal)
    key = None
    if ties == "random":
        rows = np.repeat(np.arange(start, start + block.shape[0]), np.diff(block.indptr))
        key = _pair_hash(rows, block.indices, tie_seed)
    return _top_k_positions(block.indptr, score, k, tie_key=key)


def _pathsim(block: sp.csr_matrix, start: int, diagonal: np.ndarray,
             diagonal_first: bool = True) -> np.ndarray:
    """PathSim of a block's entries; with ``diagonal_first`` the diagonal scores +inf so it is
    always kept first."""
    rows = np.repeat(np.arange(start, start + block.shape[0]), np.diff(block.indptr))
    denominator = diagonal[rows] + diagonal[block.indices]
    score = np.divide(2.0 * block.data, denominator, out=np.zeros_like(block.data),
                      where=denominator > 0)
    if diagonal_first:
        score[rows == block.indices] = np.inf
    return score


def _keep(block: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))[keep]
    indptr = np.zeros(block.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=block.shape[0]), out=indptr[1:])
    return sp.csr_matrix((block.data[keep], block.indices[keep], indptr), shape=block.shape)


def _to_edges(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
              dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    counts = np.diff(indptr)
    edge_index = torch.empty((2, indices.size), dtype=torch.long)
    edge_index[0] = torch.from_numpy(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    edge_index[1] = torch.from_numpy(indices)
    return edge_index.to(device), torch.from_numpy(values).to(dtype=dtype, device=device)


def _check_normalize(normalize) -> None:
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")


def _check_ties(ties) -> None:
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")


def _check_k(name: str, k) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"{name} must be a positive int or None, got {k!r}")


# --------------------------------------------------------------------------- adjacency


def metapath_adjacency(
    data: HeteroData,
    metapath: MetaPath,
    *,
    self_loops: bool = True,
    top_k: int | None = None,
    normalize: str | None = None,
    weighted: bool = True,
    dtype: torch.dtype = torch.float32,
    chunk_size: int = DEFAULT_CHUNK,
    ties: str = "low",
    tie_seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """The meta-path adjacency ``M = A_{R_1} ... A_{R_L}`` with path-instance counts.

    With the defaults, equal to PyG's ``AddMetaPaths([...], weighted=True)`` (as a coalesced
    sparse matrix). Never dense: memory is O(nnz(M)), or O(block + N·top_k) with ``top_k``.

    Args:
        data: the graph; node counts from ``data[type].num_nodes``.
        metapath: node types (or edge types), see :func:`resolve_metapath`.
        self_loops: keep the diagonal ``M_ii`` (the number of instances that return to
            ``i``), as HeCo's and MEOW's meta-path adjacencies do (default). ``False`` drops it
            before any pruning.
        top_k: keep, for every start node ``i``, the ``k`` entries of largest PathSim
            ``2 M_ij / (M_ii + M_jj)`` (Sun et al., VLDB 2011, Def. 4; MEOW's neighbour
            filter), ties to the lower index; the kept values stay counts. With self-loops the
            diagonal is kept first (its PathSim, 1, is the maximum on symmetric meta-paths,
            and it wins ties), so ``k - 1`` other neighbours remain. Needs a meta-path that
            ends at its start type; on an asymmetric one, pairs with ``M_ii + M_jj = 0``
            (PathSim undefined) score 0.
        normalize: ``None`` (counts), ``"row"`` (``D^{-1} M``: each start node's weights sum
            to 1) or ``"sym"`` (``D^{-1/2} M D^{-1/2}``, MEOW's and HeCo's ``normalize_adj``),
            with ``D_ii = Σ_j M_ij`` after pruning (row sums on both sides, as MEOW does when
            pruning leaves ``M`` asymmetric).
        weighted: multiply in the relations' ``edge_weight`` where present.
        dtype: value dtype of the result.
        chunk_size: about how many entries of ``M`` one block may hold (2^20 by default:
            about 50 MB of working memory on DBLP's APCPA with ``top_k``).
        ties: which of a row's entries tied at the ``k``-th PathSim survive ``top_k``.
            ``"low"``: the lower columns (diagonal first). ``"random"``: a pseudo-random
            choice fixed by ``tie_seed`` (diagonal first), so the kept set does not follow
            the node order. ``"numpy"``: exactly what MEOW's official ``pathsim`` keeps,
            ``np.sort(np.argsort(dense_row)[::-1][:k])`` with the diagonal an ordinary
            score of 1 that may be dropped; numpy's sort decides among ties, so the set
            depends on the numpy build. Ties are not rare: ACM's PSP joins every paper of
            a subject with PathSim 1, and 2652 of its 4019 papers lie in subjects larger
            than MEOW's ``k = 700``, so the choice decides most of that view.
        tie_seed: seed of ``ties="random"``.

    Returns:
        ``(edge_index [2, E] int64, path_count [E] dtype)``, sorted by (start, end).
    """
    _check_hetero(data)
    _check_normalize(normalize)
    _check_k("top_k", top_k)
    _check_ties(ties)
    hops = resolve_metapath(data, metapath)
    if (top_k is not None or normalize == "sym") and hops[0][0] != hops[-1][2]:
        raise ValueError(f"top_k (PathSim) and normalize='sym' need a meta-path that returns "
                         f"to its start type, got {hops[0][0]!r} -> {hops[-1][2]!r}")
    x, y = _factors(data, hops, weighted)
    diagonal = _diagonal(x, y) if top_k is not None else None
    indptr, indices, values = _build(x, y, self_loops, top_k, diagonal, chunk_size, ties,
                                     tie_seed)
    if normalize is not None:
        values = _normalize_numpy(indptr, indices, values, normalize)
    return _to_edges(indptr, indices, values, dtype, _device(data))


def _build(x, y, self_loops: bool, top_k: int | None, diagonal, chunk_size: int,
           ties: str = "low", tie_seed: int = 0):
    """Blocks of ``X @ Y`` with self-loops dropped and PathSim top-k applied, concatenated
    as CSR arrays (int64 indptr, int32/64 indices, float64 values)."""
    pieces_indices, pieces_values, counts = [], [], []
    for start, end in _row_chunks(_work(x, y), chunk_size):
        block = _block(x, y, start, end)
        if not self_loops:
            rows = np.repeat(np.arange(start, end), np.diff(block.indptr))
            block = _keep(block, np.flatnonzero(rows != block.indices))
        if top_k is not None:
            keep = _select_top_k(block, start, diagonal, top_k, ties, tie_seed)
            if keep is not None:
                block = _keep(block, keep)
        pieces_indices.append(block.indices)
        pieces_values.append(block.data)
        counts.append(np.diff(block.indptr))
        del block
    indptr = np.zeros(x.shape[0] + 1, dtype=np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=indptr[1:])
    indices = np.concatenate(pieces_indices) if pieces_indices else np.zeros(0, np.int64)
    del pieces_indices
    values = np.concatenate(pieces_values) if pieces_values else np.zeros(0)
    return indptr, indices, values


def _normalize_numpy(indptr, indices, values, mode: str) -> np.ndarray:
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    degree = np.bincount(rows, weights=values, minlength=indptr.size - 1)
    if mode == "row":
        inv = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
        return values * inv[rows]
    inv_sqrt = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    return values * inv_sqrt[rows] * inv_sqrt[indices]


def normalize_adjacency(edge_index: Tensor, edge_weight: Tensor, num_nodes: int,
                        mode: str = "sym") -> Tensor:
    """Normalized weights of a weighted adjacency given as an edge list.

    Args:
        edge_index: ``[2, E]``, row ``edge_index[0]``.
        edge_weight: ``[E]``.
        num_nodes: ``N``.
        mode: ``"sym"`` ``w_ij / sqrt(d_i d_j)`` or ``"row"`` ``w_ij / d_i``, with
            ``d_i = Σ_j w_ij`` the row sums (zero-degree rows stay zero).

    Returns:
        ``[E]`` weights, same dtype as ``edge_weight``.
    """
    if mode not in ("sym", "row"):
        raise ValueError(f"mode must be 'sym' or 'row', got {mode!r}")
    if edge_weight.shape != (edge_index.size(1),):
        raise ValueError(f"edge_weight must have shape [{edge_index.size(1)}], got "
                         f"{tuple(edge_weight.shape)}")
    degree = torch.zeros(num_nodes, dtype=edge_weight.dtype, device=edge_weight.device)
    degree.index_add_(0, edge_index[0], edge_weight)
    if mode == "row":
        inv = degree.reciprocal().masked_fill_(degree == 0, 0.0)
        return edge_weight * inv[edge_index[0]]
    inv_sqrt = degree.rsqrt().masked_fill_(degree == 0, 0.0)
    return inv_sqrt[edge_index[0]] * edge_weight * inv_sqrt[edge_index[1]]


def pathsim_top_k(edge_index: Tensor, edge_weight: Tensor, num_nodes: int, k: int,
                  diagonal: Tensor | None = None, ties: str = "low",
                  tie_seed: int = 0) -> tuple[Tensor, Tensor]:
    """Keep each row's ``k`` entries of largest PathSim ``2 M_ij / (M_ii + M_jj)``.

    Args:
        edge_index: ``[2, E]`` entries of a square count matrix ``M`` (duplicates summed).
        edge_weight: ``[E]`` counts.
        num_nodes: ``N``.
        k: entries kept per row (rows with fewer keep all); a diagonal entry is kept first,
            ties go to the lower column.
        diagonal: ``[N]`` ``M_ii`` when the edge list lacks the diagonal (self-loops dropped);
            by default read from the list's diagonal entries.
        ties, tie_seed: how ties at the ``k``-th score are broken, see
            :func:`metapath_adjacency`.

    Returns:
        ``(edge_index, edge_weight)`` of the kept entries (the counts), sorted by row, column.
    """
    _check_k("k", k)
    _check_ties(ties)
    device, dtype = edge_weight.device, edge_weight.dtype
    index = edge_index.detach().cpu().numpy()
    matrix = sp.csr_matrix((edge_weight.detach().cpu().double().numpy(), (index[0], index[1])),
                           shape=(num_nodes, num_nodes))
    matrix.sum_duplicates()
    if diagonal is None:
        diag = matrix.diagonal()
    else:
        diag = diagonal.detach().cpu().double().numpy()
        if diag.shape != (num_nodes,):
            raise ValueError(f"diagonal must have shape [{num_nodes}], got {diag.shape}")
    keep = _select_top_k(matrix, 0, diag, k, ties, tie_seed)
    if keep is not None:
        matrix = _keep(matrix, keep)
    return _to_edges(matrix.indptr, matrix.indices.astype(np.int64), matrix.data, dtype, device)


# --------------------------------------------------------------------------- contexts


@dataclass
class MetaPathContext:
    """The nodes at one intermediate position of a meta-path, seen from its start nodes.

    Attributes:
        position: ``l`` in ``1 .. L-1`` (the node type ``V_l`` of the meta-path).
        node_type: ``V_l``.
        incidence: torch sparse CSR ``[N_{V_0}, N_{V_l}]``; entry ``(i, j)`` is the number of
            full path instances that start at ``i`` and pass through ``j`` at position ``l``
            (``(A_1...A_l)_ij · (A_{l+1}...A_L 1)_j``), or with ``complete=False`` the number
            of prefix instances ``(A_1...A_l)_ij`` (see :func:`metapath_context`).
    """

    position: int
    node_type: str
    incidence: Tensor


def metapath_context(data: HeteroData, metapath: MetaPath, *, complete: bool = True,
                     weighted: bool = True,
                     dtype: torch.dtype = torch.float32) -> list[MetaPathContext]:
    """Meta-path contexts (MEOW, Yu et al., ICDE 2023, Sec. IV-B): for every start node and
    every intermediate position of the meta-path, the nodes its path instances pass through.

    For a length-2 meta-path (PAP) there is one context, the authors on the instances from
    paper ``i`` (MEOW's ``nei_a``: all of ``i``'s authors). Longer meta-paths give one
    context per intermediate position: APCPA gives the papers of the author (P, position 1),
    their conferences (C, 2) and the papers of those conferences (P, 3), MEOW's ``nei_ap``,
    ``nei_apc`` and ``nei_apcp``. Instances that return to the start node are counted (MEOW
    does not exclude them either).

    Args:
        data: the graph.
        metapath: node types (or edge types), see :func:`resolve_metapath`.
        complete: count only nodes on complete instances (default): a node reached by the
            prefix but from which the meta-path cannot be finished is left out, and each
            entry counts full instances. ``False`` gives MEOW's matrices exactly: prefix
            reachability ``A_1...A_l`` with prefix-instance counts. The patterns differ only
            where the rest of the path can dead-end (on DBLP's APTPA: 3 of 19,645
            author-paper pairs, papers without terms).
        weighted: multiply in the relations' ``edge_weight`` where present.
        dtype: value dtype.

    Returns:
        One :class:`MetaPathContext` per position ``1 .. L-1`` (empty for a one-hop path).
        Memory is O(nnz) of the contexts (on DBLP, APTP holds 13M entries).
    """
    _check_hetero(data)
    hops = resolve_metapath(data, metapath)
    matrices = [_relation_matrix(data, hop, weighted) for hop in hops]
    # suffix[l]: number of instances of A_{l+1} ... A_L leaving each node of V_l
    suffix = [None] * len(matrices)
    vector = np.ones(matrices[-1].shape[1])
    for position in range(len(matrices) - 1, 0, -1):
        vector = matrices[position] @ vector
        suffix[position] = vector if complete else np.ones_like(vector)
    device = _device(data)
    contexts = []
    prefix = matrices[0]
    for position in range(1, len(matrices)):
        counts = (prefix @ sp.diags(suffix[position])).tocsr()
        counts.eliminate_zeros()
        counts.sort_indices()
        contexts.append(MetaPathContext(position, hops[position - 1][2], _torch_csr(
            counts, dtype, device)))
        if position + 1 < len(matrices):
            prefix = (prefix @ matrices[position]).tocsr()
    return contexts


def _torch_csr(matrix: sp.csr_matrix, dtype: torch.dtype, device: torch.device) -> Tensor:
    return torch.sparse_csr_tensor(
        torch.from_numpy(matrix.indptr.astype(np.int64)),
        torch.from_numpy(matrix.indices.astype(np.int64)),
        torch.from_numpy(matrix.data).to(dtype), matrix.shape, check_invariants=False,
    ).to(device)


class ContextAggregation:
    """``x ↦ M x`` for a meta-path context's normalized incidence ``M`` ``[N_target, N_int]``,
    built once and applied every epoch (MEOW's ``nei @ h / nei.sum(1)``).

    The normalized values and the transposed CSR that the backward product needs are made
    once: torch's own CSR backward re-sorts the whole incidence on every call, which on DBLP's
    APCP and APTP contexts (10M and 13M entries) was half of a MEOW epoch.

    Args:
        incidence: a :class:`MetaPathContext` or its ``[N_target, N_int]`` sparse CSR.
        reduce: ``"mean"`` (MEOW: ``nei @ x / nei.sum(1)``) or ``"sum"``.
        weighted: weight each intermediate node by its path-instance count; ``False``
            (MEOW) counts each distinct node once.

    Shapes:
        - ``__call__(x)``: ``x`` ``[N_int, d]`` → ``[N_target, d]``; rows without context are
          zero. Differentiable in ``x``.
    """

    def __init__(self, incidence: Tensor | MetaPathContext, reduce: str = "mean",
                 weighted: bool = False) -> None:
        if isinstance(incidence, MetaPathContext):
            incidence = incidence.incidence
        if not isinstance(incidence, Tensor) or incidence.layout != torch.sparse_csr:
            raise ValueError("incidence must be a torch sparse CSR tensor")
        if reduce not in ("mean", "sum"):
            raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
        self.incidence, self.reduce, self.weighted = incidence, reduce, weighted
        self.shape = tuple(incidence.shape)
        self._matrices: dict = {}

    def matrices(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """The normalized CSR ``M`` and the CSR of ``Mᵀ`` in ``dtype`` (cached)."""
        if dtype not in self._matrices:
            crow, col = self.incidence.crow_indices(), self.incidence.col_indices()
            value = self.incidence.values().to(dtype) if self.weighted else torch.ones(
                col.numel(), dtype=dtype, device=col.device)
            if self.reduce == "mean":
                counts = crow.diff()
                rows = torch.repeat_interleave(torch.arange(counts.numel(), device=crow.device),
                                               counts)
                total = torch.zeros(counts.numel(), dtype=dtype, device=col.device)
                total.index_add_(0, rows, value)
                value = value / total[rows]
            matrix = torch.sparse_csr_tensor(crow, col, value, self.shape,
                                             check_invariants=False)
            self._matrices[dtype] = (matrix, matrix.t().to_sparse_csr())
        return self._matrices[dtype]

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.size(0) != self.shape[1]:
            raise ValueError(f"x must be [N_int, d] with N_int = {self.shape[1]}, "
                             f"got {tuple(x.shape)}")
        return csr_product(FixedCSR(*self.matrices(x.dtype)), x)


class ChainedContextAggregation:
    """The mean over a prefix context's distinct nodes, ``bin(P A) x / bin(P A) 1``,
    computed as ``bin(P) (bin(A) x)`` without forming ``bin(P A)``.

    Exact when every node of the last type has at most one neighbour through the last hop
    (``A`` has at most one entry per column, e.g. DBLP's paper → conference): then the
    ``(i, j)`` entry of ``bin(P) bin(A)`` is ``bin(P)_{i, pred(j)}``, already 0 or 1. On DBLP's
    APCPA the third context (the papers of an author's conferences) has 10.2M entries; the
    chain multiplies through 9,205 author–conference and 14,328 conference–paper entries.

    Args:
        prefix: the context one position earlier (``[N_target, N_{l-1}]`` CSR or
            :class:`MetaPathContext`); hop: ``[N_{l-1}, N_l]`` CSR of the last relation.

    Shapes:
        - ``__call__(x)``: ``[N_l, d]`` → ``[N_target, d]`` (rows without context: zero).
    """

    def __init__(self, prefix: Tensor | MetaPathContext, hop: Tensor) -> None:
        self.prefix = ContextAggregation(prefix, "sum")
        self.hop = ContextAggregation(hop, "sum")
        if self.prefix.shape[1] != self.hop.shape[0]:
            raise ValueError(f"prefix {self.prefix.shape} and hop {self.hop.shape} do not chain")
        columns = self.hop.incidence.col_indices()
        if columns.numel() and int(columns.bincount().max()) > 1:
            raise ValueError("the hop has a node with several predecessors; the chained mean "
                             "is exact only for a many-to-one last hop")
        self.shape = (self.prefix.shape[0], self.hop.shape[1])
        self._inverse_counts: dict = {}

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.size(0) != self.shape[1]:
            raise ValueError(f"x must be [N_int, d] with N_int = {self.shape[1]}, "
                             f"got {tuple(x.shape)}")
        if x.dtype not in self._inverse_counts:
            ones = torch.ones(self.shape[1], 1, dtype=x.dtype, device=x.device)
            counts = self.prefix(self.hop(ones))
            self._inverse_counts[x.dtype] = torch.where(counts > 0, 1.0 / counts.clamp(min=1),
                                                        torch.zeros_like(counts))
        return self.prefix(self.hop(x)) * self._inverse_counts[x.dtype]


def context_aggregations(data: HeteroData, metapath: MetaPath,
                         contexts: Sequence[MetaPathContext]
                         ) -> list[ContextAggregation | ChainedContextAggregation]:
    """The mean aggregations over the distinct nodes of a meta-path's prefix contexts
    (``metapath_context(..., complete=False)``): a :class:`ChainedContextAggregation` where
    the hop into a position is many-to-one, else a :class:`ContextAggregation`. Same values
    either way; the chain skips the large incidences that such a hop fans out."""
    hops = resolve_metapath(data, metapath)
    if len(contexts) != len(hops) - 1:
        raise ValueError(f"{len(contexts)} contexts for a meta-path of {len(hops)} hops")
    result = []
    for index, context in enumerate(contexts):
        if index > 0:
            relation = _relation_matrix(data, hops[index], weighted=False)
            if relation.nnz and np.diff(relation.tocsc().indptr).max() <= 1:
                hop = _torch_csr(relation, context.incidence.dtype, context.incidence.device)
                result.append(ChainedContextAggregation(contexts[index - 1], hop))
                continue
        result.append(ContextAggregation(context))
    return result


def aggregate_context(incidence: Tensor | MetaPathContext | ContextAggregation, x: Tensor,
                      reduce: str = "mean", weighted: bool = False) -> Tensor:
    """Aggregate intermediate-node features over a meta-path context.

    Args:
        incidence: a :class:`MetaPathContext`, its ``[N_target, N_int]`` sparse CSR, or a
            :class:`ContextAggregation` (reused across calls: no per-call preprocessing,
            and a backward without layout conversions; ``reduce`` and ``weighted`` are then
            its own).
        x: ``[N_int, d]`` features of the intermediate type.
        reduce: ``"mean"`` (MEOW: ``nei @ x / nei.sum(1)``) or ``"sum"``.
        weighted: weight each intermediate node by its path-instance count; ``False``
            (MEOW) counts each distinct node once.

    Returns:
        ``[N_target, d]``; rows without context are zero. Differentiable in ``x``.
    """
    if not isinstance(incidence, ContextAggregation):
        incidence = ContextAggregation(incidence, reduce, weighted)
    return incidence(x)


# --------------------------------------------------------------------------- network schema


@dataclass
class NetworkSchema:
    """The network-schema view (HeCo, Wang et al., KDD 2021, Sec. 4.2): each target node's
    direct neighbours, per neighbour type.

    Attributes:
        target: the target node type.
        num_nodes: ``N`` of the target type.
        neighbors: ``{node_type: torch sparse CSR [N, N_type]}`` with unit values (the
            distinct neighbours of each target node over every relation between the types).
    """

    target: str
    num_nodes: int
    neighbors: dict[str, Tensor] = field(default_factory=dict)

    def degree(self, node_type: str) -> Tensor:
        """``[N]`` number of distinct ``node_type`` neighbours of each target node."""
        return self.neighbors[node_type].crow_indices().diff()

    def sample_neighbors(self, k: int | Mapping[str, int],
                         generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``k`` neighbours per target node and neighbour type (HeCo's rule): without
        replacement when a node has at least ``k``, with replacement when it has fewer.

        Args:
            k: one count for every type, or ``{node_type: k}`` (HeCo's ``sample_rate``).
            generator: the randomness (types drawn in the schema's order).

        Returns:
            ``{node_type: [N, k] int64}`` neighbour indices; ``-1`` fills the rows of nodes
            without any neighbour of that type.
        """
        if not isinstance(k, Mapping):
            k = {node_type: k for node_type in self.neighbors}
        unknown = set(k) - set(self.neighbors)
        if unknown:
            raise ValueError(f"no neighbours of types {sorted(unknown)}; the schema has "
                             f"{list(self.neighbors)}")
        return {node_type: _sample(self.neighbors[node_type], count, generator)
                for node_type, count in k.items()}


def _sample(incidence: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    _check_k("k", k)
    crow, col = incidence.crow_indices(), incidence.col_indices()
    device = col.device
    degree = crow.diff()
    num_rows = degree.numel()
    rows = torch.repeat_interleave(torch.arange(num_rows, device=device), degree)
    keys = uniform(col.numel(), generator, device)
    offsets = uniform((num_rows, k), generator, device)
    out = torch.full((num_rows, k), -1, dtype=torch.long, device=device)
    # without replacement: the k smallest random keys of each row
    order = torch.argsort(keys)
    order = order[torch.argsort(rows[order], stable=True)]
    rank = torch.arange(order.numel(), device=device) - crow[rows[order]]
    chosen = (rank < k) & (degree[rows[order]] >= k)
    out[rows[order][chosen], rank[chosen]] = col[order][chosen]
    # with replacement: k uniform draws among the row's neighbours
    few = (degree > 0) & (degree < k)
    if few.any():
        few_degree = degree[few].unsqueeze(1)
        pick = torch.minimum((offsets[few] * few_degree).long(), few_degree - 1)
        out[few] = col[crow[:-1][few].unsqueeze(1) + pick]
    return out


def network_schema(data: HeteroData, target: str | None = None,
                   neighbor_types: Sequence[str] | None = None) -> NetworkSchema:
    """The direct typed neighbours of each target node (see :class:`NetworkSchema`).

    Neighbours of type ``t`` come from the relations ``(target, *, t)``; where the graph has
    none, from the reverse relations ``(t, *, target)``.

    Args:
        data: the graph.
        target: target node type (default ``data.target_node_type``).
        neighbor_types: the types to include (default every other type linked to the target).
    """
    _check_hetero(data)
    target = _target(data, target, None)
    num_nodes = _num_nodes(data, target)
    if neighbor_types is None:
        linked = {e[2] for e in data.edge_types if e[0] == target} | {
            e[0] for e in data.edge_types if e[2] == target}
        neighbor_types = [t for t in data.node_types if t in linked and t != target]
    device = _device(data)
    neighbors = {}
    for node_type in neighbor_types:
        forward = _relations(data, target, node_type)
        backward = _relations(data, node_type, target)
        if not forward and not backward:
            raise ValueError(f"no relation links {target!r} and {node_type!r}; the graph's "
                             f"edge types are {data.edge_types}")
        parts = [_relation_matrix(data, e, False) for e in forward] or [
            _relation_matrix(data, e, False).T for e in backward]
        matrix = sp.csr_matrix(parts[0])
        for part in parts[1:]:
            matrix = sp.csr_matrix(matrix + part)
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        neighbors[node_type] = _torch_csr(matrix, torch.float32, device)
    return NetworkSchema(target, num_nodes, neighbors)


# --------------------------------------------------------------------------- positives


def positive_pairs(data: HeteroData, metapaths: Sequence[MetaPath], num_positives: int, *,
                   binary: bool = True, include_self: bool = True,
                   chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """HeCo's positive sets (Wang et al., KDD 2021, Sec. 4.4; ``data/pos.py``).

    The score of ``(i, j)`` is ``Σ_P M_P[i, j] / Σ_j' M_P[i, j']`` over the meta-paths (each
    meta-path matrix row-normalized, then summed); each node keeps its ``num_positives``
    highest-scoring columns (all of them when it has fewer non-zeros). Ties go to the lower
    column; scores are compared in float32, as HeCo's script does.

    Args:
        data: the graph.
        metapaths: meta-paths from and to the target type (full matrices, self-loops kept).
        num_positives: HeCo's ``pos_num`` (ACM 5, DBLP 1000, AMiner 15, Freebase 80).
        binary: score the 0/1 patterns of the meta-path matrices (HeCo's ``pap.npz`` etc.
            are boolean: this reproduces its ``pos.npz``), or the path counts.
        include_self: always make ``i`` a positive of itself, within the ``num_positives``.
            HeCo's script does not: its ACM ``pos.npz`` misses the diagonal in 923 of 4019
            rows (set ``False`` to reproduce it).
        chunk_size: about how many entries one block of rows may hold.

    Returns:
        ``[2, P]`` int64: ``(anchor, positive)`` pairs sorted by anchor, then positive.
    """
    _check_hetero(data)
    _check_k("num_positives", num_positives)
    if not metapaths:
        raise ValueError("positive_pairs needs at least one meta-path")
    resolved = [resolve_metapath(data, metapath) for metapath in metapaths]
    start = resolved[0][0][0]
    for metapath, hops in zip(metapaths, resolved):
        if hops[0][0] != start or hops[-1][2] != start:
            raise ValueError(f"positive_pairs needs meta-paths from and to one node type "
                             f"({start!r}), got {metapath!r}")
    num_nodes = _num_nodes(data, start)
    factors = [_factors(data, hops, True) for hops in resolved]
    work = sum(_work(x, y) for x, y in factors)
    pieces, counts = [], []
    for begin, end in _row_chunks(work, chunk_size):
        score = None
        for x, y in factors:
            block = _block(x, y, begin, end)
            if binary:
                block.data[:] = 1.0
            total = np.asarray(block.sum(axis=1)).ravel()
            inv = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
            block = sp.diags(inv) @ block
            score = block if score is None else score + block
        score = sp.csr_matrix(score)
        if include_self:
            diag = sp.csr_matrix((np.full(end - begin, np.inf), np.arange(begin, end),
                                  np.arange(end - begin + 1)), shape=score.shape)
            score = sp.csr_matrix(score + diag)
        score.sum_duplicates()
        score.eliminate_zeros()
        keep = _top_k_positions(score.indptr, score.data.astype(np.float32), num_positives)
        if keep is not None:
            score = _keep(score, keep)
        pieces.append(score.indices.astype(np.int64))
        counts.append(np.diff(score.indptr))
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.concatenate(counts), out=indptr[1:])
    rows = np.repeat(np.arange(num_nodes, dtype=np.int64), np.diff(indptr))
    return torch.from_numpy(np.stack([rows, np.concatenate(pieces)])).to(_device(data))


# --------------------------------------------------------------------------- views


def _target(data: HeteroData, target: str | None, metapaths) -> str:
    if target is not None:
        return target
    try:
        value = data.target_node_type
    except AttributeError:
        value = None
    if isinstance(value, str):
        return value
    if metapaths:
        first = metapaths[0][0]
        return first if isinstance(first, str) else first[0]
    raise ValueError("no target node type: pass target= or set data.target_node_type")


@dataclass
class MetaPathViewSet:
    """What :class:`MetaPathViews` builds for one graph (computed once, cached).

    Attributes:
        target: the target node type; ``num_nodes``: its node count ``N``.
        metapaths: the resolved meta-paths (edge-type lists).
        views: one ``(edge_index [2, E], edge_weight [E])`` per meta-path: the pruned,
            normalized meta-path adjacency (``edge_index[0]`` path start). Feed it to
            ``graphcl.nn.CSRGraph(edge_index, N, edge_weight).adjacency("sum")`` (weights
            already normalized) or, with ``normalize=None``, ``adjacency("gcn")``; PyG
            convolutions take the pair directly.
        contexts: per meta-path, its :class:`MetaPathContext` list (``None`` if not built).
        schema: the :class:`NetworkSchema` view.
        positives: ``[2, P]`` HeCo positive pairs (``None`` if ``num_positives`` unset).
    """

    target: str
    num_nodes: int
    metapaths: list[list[EdgeType]]
    views: list[tuple[Tensor, Tensor]]
    contexts: list[list[MetaPathContext]] | None
    schema: NetworkSchema
    positives: Tensor | None = None


class MetaPathViews:
    """Meta-path views of a ``HeteroData`` target type, built once per graph.

    Deterministic (no generator): the result is cached and rebuilt only when the graph's
    ``edge_index`` / ``edge_weight`` tensors change (compared by identity, as the other
    augmenters' caches do). Stochastic views (edge dropping on a meta-path graph, neighbour
    sampling in the schema view) are drawn from the returned :class:`MetaPathViewSet`.

    Args:
        metapaths: meta-paths from and to the target type, e.g.
            ``[("paper", "author", "paper"), ("paper", "subject", "paper")]``.
        target: target node type (default ``data.target_node_type``, else the first
            meta-path's start).
        self_loops: keep the diagonal of each meta-path matrix (HeCo, MEOW; default).
        top_k: PathSim pruning, one ``k`` or one per meta-path (MEOW's ``nei_max``: ACM
            ``[110, 700]``, DBLP ``[25, 200, 40]``); ``None`` keeps all.
        ties, tie_seed: which tied entries ``top_k`` keeps (``"low"``, ``"random"``,
            ``"numpy"``), see :func:`metapath_adjacency`.
        normalize: ``"sym"`` (default), ``"row"`` or ``None`` (counts), see
            :func:`metapath_adjacency`.
        contexts: also build the meta-path contexts (MEOW's fine-grained view).
        context_options: keyword arguments for :func:`metapath_context` (``complete``).
        num_positives: also build HeCo's positive pairs (see :func:`positive_pairs`).
        positive_options: keyword arguments for :func:`positive_pairs`.
        dtype: weight dtype.
        chunk_size: about how many entries of a meta-path matrix one block may hold.

    Example:
        >>> views = MetaPathViews([("paper", "author", "paper"),
        ...                        ("paper", "subject", "paper")], top_k=[110, 700])
        >>> built = views(data)
        >>> edge_index, edge_weight = built.views[0]
    """

    def __init__(self, metapaths: Sequence[MetaPath], target: str | None = None, *,
                 self_loops: bool = True, top_k: int | Sequence[int | None] | None = None,
                 ties: str = "low", tie_seed: int = 0,
                 normalize: str | None = "sym", contexts: bool = True,
                 context_options: Mapping | None = None, num_positives: int | None = None, positive_options: Mapping | None = None,
                 dtype: torch.dtype = torch.float32, chunk_size: int = DEFAULT_CHUNK) -> None:
        if not metapaths:
            raise ValueError("MetaPathViews needs at least one meta-path")
        _check_normalize(normalize)
        if top_k is None or isinstance(top_k, int):
            top_k = [top_k] * len(metapaths)
        if len(top_k) != len(metapaths):
            raise ValueError(f"top_k has {len(top_k)} entries for {len(metapaths)} meta-paths")
        for k in top_k:
            _check_k("top_k", k)
        _check_k("num_positives", num_positives)
        _check_ties(ties)
        self.ties, self.tie_seed = ties, tie_seed
        self.metapaths = [tuple(m) for m in metapaths]
        self.target = target
        self.self_loops = self_loops
        self.top_k = list(top_k)
        self.normalize = normalize
        self.contexts = contexts
        self.context_options = dict(context_options or {})
        self.num_positives = num_positives
        self.positive_options = dict(positive_options or {})
        self.dtype = dtype
        self.chunk_size = chunk_size
        self._cache = TensorKeyedCache()

    def __call__(self, data: HeteroData) -> MetaPathViewSet:
        _check_hetero(data)
        key = tuple(t for e in data.edge_types for t in (
            data[e].edge_index, data[e].edge_weight if "edge_weight" in data[e] else None))
        return self._cache.get(key, lambda: self._build(data))

    def _build(self, data: HeteroData) -> MetaPathViewSet:
        target = _target(data, self.target, self.metapaths)
        resolved = [resolve_metapath(data, m) for m in self.metapaths]
        for metapath, hops in zip(self.metapaths, resolved):
            if hops[0][0] != target or hops[-1][2] != target:
                raise ValueError(f"meta-path {metapath!r} must start and end at the target "
                                 f"type {target!r}")
        views = [metapath_adjacency(data, hops, self_loops=self.self_loops, top_k=k,
                                    normalize=self.normalize, dtype=self.dtype,
                                    chunk_size=self.chunk_size, ties=self.ties,
                                    tie_seed=self.tie_seed)
                 for hops, k in zip(resolved, self.top_k)]
        contexts = [metapath_context(data, hops, **{"dtype": self.dtype,
                                                    **self.context_options})
                    for hops in resolved] if self.contexts else None
        positives = None
        if self.num_positives is not None:
            options = {"chunk_size": self.chunk_size, **self.positive_options}
            positives = positive_pairs(data, resolved, self.num_positives, **options)
        return MetaPathViewSet(target, _num_nodes(data, target), resolved, views, contexts,
                               network_schema(data, target), positives)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
