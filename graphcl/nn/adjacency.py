"""Per-view normalized adjacency in O(E): the first half of graphcl's hot path.

A contrastive method draws two (or more) views of one graph every epoch, each keeping a
subset of its edges. Rebuilding the GCN normalization from an ``edge_index`` costs a sort
per view and, inside PyG's ``GCNConv``, another normalization per layer. Here the full
graph's structure is sorted **once** (:class:`CSRGraph`); a view is then a boolean mask
over the input edges, and its symmetric-normalized adjacency with self-loops,

    Â = D^{-1/2} (A_view + I) D^{-1/2},    D_ii = Σ_j (A_view + I)_ij,

(Kipf & Welling, ICLR 2017, Eq. 2; the same as PyG's ``gcn_norm``) is built by gathers and a
cumulative sum over the cached order: no sort, no COO round trip. Every layer is then one
sparse-dense product (:func:`propagate`), whose backward pass uses the transposed view,
built lazily by the same O(E) recipe.

Conventions follow PyG's ``source_to_target`` flow: row ``i`` of the CSR matrix holds the
edges *into* node ``i`` (``edge_index[1] == i``), so ``(Â @ X)[i]`` aggregates the messages
that node ``i`` receives, and degrees are in-degrees.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass

import torch
from torch import Tensor

from .segment import padded_groups, segment_sum

# torch marks CSR support as beta and warns on every construction; the operations used here
# (construction, sparse @ dense) are stable and tested.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")

NORMALIZATIONS = ("gcn", "mean", "sum", "attention")

__all__ = ["NORMALIZATIONS", "AdjacencySum", "BlockDiagonalAdjacency", "BlockPartition", "CSRGraph",
           "SparseAdjacency", "StructureCache", "as_block_diagonal", "csr_matmul", "gcn_adjacency",
           "propagate", "propagate_add", "unit_adjacency"]


def _check_edge_index(edge_index: Tensor, num_nodes: int) -> None:
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index)
        raise ValueError(f"edge_index must be a [2, E] tensor, got shape {shape}")
    if edge_index.dtype != torch.long:
        raise ValueError(
            f"edge_index must have dtype torch.long, got {edge_index.dtype}; use edge_index.long()"
        )
    if num_nodes <= 0:
        raise ValueError(f"num_nodes must be positive, got {num_nodes}: the graph has no nodes")
    if edge_index.numel() > 0:
        low, high = int(edge_index.min()), int(edge_index.max())
        if low < 0 or high >= num_nodes:
            raise ValueError(
                f"edge_index holds node indices in [{low}, {high}] but num_nodes is {num_nodes}; "
                "indices must lie in [0, num_nodes)"
            )


class CSRGraph:
    """The sorted structure of one graph, cached once and shared by all its views.

    Entries are the input's non-self-loop edges plus one diagonal slot per node (the GCN
    self-loop), sorted by (target, source). The transpose order and the map between the
    two orders are kept too, so a view's transposed adjacency needs no sort either.

    Args:
        edge_index: ``[2, E]`` int64, ``edge_index[0]`` sources, ``edge_index[1]`` targets.
        num_nodes: ``N``.
        edge_weight: optional ``[E]`` weights (default all ones).
        self_loop_weight: weight of the added self-loop of a node that has none in the
            input (1.0 for GCN, 2.0 for PyG's ``improved=True``). An input self-loop keeps
            its own weight while its edge is kept, as in PyG's ``add_remaining_self_loops``.

    Memory: O(E + N) int64 indices. Build time: one O(E log E) sort for each of the two orders.
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        edge_weight: Tensor | None = None,
        self_loop_weight: float = 1.0,
    ) -> None:
        _check_edge_index(edge_index, num_nodes)
        device = edge_index.device
        num_edges = edge_index.size(1)
        if edge_weight is not None:
            if edge_weight.shape != (num_edges,):
                raise ValueError(
                    f"edge_weight must have shape [E] = [{num_edges}], got {tuple(edge_weight.shape)}"
                )
            if not torch.isfinite(edge_weight).all():
                raise ValueError("edge_weight contains NaN or inf values")
        self.num_nodes = num_nodes
        self.num_edges = num_edges
        self.edge_weight = edge_weight
        self.self_loop_weight = float(self_loop_weight)

        source, target = edge_index[0], edge_index[1]
        is_loop = source == target
        edge_ids = torch.arange(num_edges, device=device)
        nodes = torch.arange(num_nodes, device=device)
        entry_target = torch.cat([target[~is_loop], nodes])
        entry_source = torch.cat([source[~is_loop], nodes])
        # -1 marks the diagonal slot that holds a node's self-loop.
        entry_edge = torch.cat([edge_ids[~is_loop], torch.full_like(nodes, -1)])

        order = torch.argsort(entry_target * num_nodes + entry_source, stable=True)
        self.row = entry_target[order]
        self.col = entry_source[order]
        self.entry_edge = entry_edge[order]
        self.is_diag = self.entry_edge < 0
        counts = torch.bincount(self.row, minlength=num_nodes)
        self.crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=device)
        torch.cumsum(counts, 0, out=self.crow[1:])

        csr_position = torch.empty_like(order)
        csr_position[order] = torch.arange(order.numel(), device=device)
        order_t = torch.argsort(entry_source * num_nodes + entry_target, stable=True)
        # position_t[k]: where the k-th entry of the transposed order sits in CSR order.
        self.position_t = csr_position[order_t]
        counts_t = torch.bincount(entry_source, minlength=num_nodes)
        self.crow_t = torch.zeros(num_nodes + 1, dtype=torch.long, device=device)
        torch.cumsum(counts_t, 0, out=self.crow_t[1:])

        # An input self-loop overrides the fill weight of its node while it is kept.
        self.loop_edges = edge_ids[is_loop]
        self.loop_nodes = source[is_loop]

    @property
    def device(self) -> torch.device:
        return self.crow.device

    def to(self, device: torch.device | str) -> CSRGraph:
        """A copy of the cached structure on ``device``."""
        other = object.__new__(CSRGraph)
        for key, value in self.__dict__.items():
            other.__dict__[key] = value.to(device) if isinstance(value, Tensor) else value
        return other

    def gcn_adjacency(
        self,
        edge_mask: Tensor | None = None,
        dtype: torch.dtype = torch.float32,
        edge_weight: Tensor | None = None,
    ) -> SparseAdjacency:
        """The view's normalized adjacency ``D^{-1/2}(A_view + I)D^{-1/2}`` in O(E)
        (:meth:`adjacency` with ``normalization="gcn"``)."""
        return self.adjacency(edge_mask, "gcn", dtype, edge_weight)

    def adjacency(
        self,
        edge_mask: Tensor | None = None,
        normalization: str = "gcn",
        dtype: torch.dtype = torch.float32,
        edge_weight: Tensor | None = None,
    ) -> SparseAdjacency:
        """The view's adjacency in O(E), normalized for the encoder that consumes it.

        Args:
            edge_mask: ``[E]`` bool over the input edges (``True`` = kept); ``None`` keeps all.
            normalization: one of :data:`NORMALIZATIONS`:
                ``"gcn"``  ``D^{-1/2}(A + I)D^{-1/2}`` (GCN; PyG's ``gcn_norm``);
                ``"mean"`` ``D^{-1}A`` without self-loops (GraphSAGE's mean aggregation);
                ``"sum"``  ``A`` without self-loops (GIN's sum aggregation);
                ``"attention"`` the structure of ``A + I`` with unit values (GAT computes
                its own coefficients on it).
            dtype: value dtype (float32, or float64 for reference computations).
            edge_weight: optional ``[E]`` weights for this view, overriding the cached ones.

        Returns:
            A :class:`SparseAdjacency` of shape ``[N, N]``.
        """
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        num_edges = self.num_edges
        if edge_mask is not None and (edge_mask.shape != (num_edges,)
                                      or edge_mask.dtype != torch.bool):
            raise ValueError(
                f"edge_mask must be a bool tensor of shape [E] = [{num_edges}], got "
                f"{edge_mask.dtype} of shape {tuple(edge_mask.shape)}"
            )
        weight = edge_weight if edge_weight is not None else self.edge_weight
        if weight is not None and weight.shape != (num_edges,):
            raise ValueError(f"edge_weight must have shape [{num_edges}], got {tuple(weight.shape)}")

        edge_of_entry = self.entry_edge.clamp(min=0)
        with_loops = normalization in ("gcn", "attention")
        if edge_mask is None:
            keep = torch.ones_like(self.is_diag)
        else:
            keep = edge_mask.index_select(0, edge_of_entry) | self.is_diag
        if not with_loops:
            # Sum and mean aggregation see input self-loops as ordinary messages (each one
            # counted, as PyG's message passing does): a diagonal slot stays only for nodes
            # with a kept self-loop and holds their summed weight.
            loop_sum, has_loop = self._kept_loop_weight_sum(edge_mask, weight, dtype)
            keep = keep & (~self.is_diag | has_loop.index_select(0, self.row))

        loop_weight = torch.full((self.num_nodes,), self.self_loop_weight, dtype=dtype,
                                 device=self.device)
        if with_loops and self.loop_edges.numel() > 0:
            # Like PyG's add_remaining_self_loops: a kept input self-loop gives its node its
            # own weight (of several, the last in edge order) instead of the fill value.
            loop_edges, loop_nodes = self.loop_edges, self.loop_nodes
            if edge_mask is not None:
                kept_loops = edge_mask[loop_edges]
                loop_edges, loop_nodes = loop_edges[kept_loops], loop_nodes[kept_loops]
            last = torch.full((self.num_nodes,), -1, dtype=torch.long, device=self.device)
            last.scatter_reduce_(0, loop_nodes, loop_edges, reduce="amax")
            has_loop = last >= 0
            loop_weight[has_loop] = (weight[last[has_loop]].to(dtype) if weight is not None
                                     else torch.ones((), dtype=dtype, device=self.device))
        prefix = torch.zeros(keep.numel() + 1, dtype=torch.long, device=self.device)
        torch.cumsum(keep, 0, out=prefix[1:])
        crow = prefix[self.crow]
        kept = keep.nonzero().view(-1)
        row, col = self.row.index_select(0, kept), self.col.index_select(0, kept)
        is_diag = self.is_diag.index_select(0, kept)
        if weight is None:
            value = torch.ones(kept.numel(), dtype=dtype, device=self.device)
        else:
            value = weight.to(dtype).index_select(0, edge_of_entry.index_select(0, kept))
        diagonal_value = (loop_weight if with_loops else loop_sum).index_select(0, row)
        value = torch.where(is_diag, diagonal_value, value)

        if normalization == "gcn":
            degree = segment_sum(value, crow)
            inv_sqrt = degree.pow(-0.5)
            inv_sqrt.masked_fill_(torch.isinf(inv_sqrt), 0.0)
            value = inv_sqrt.index_select(0, row) * value * inv_sqrt.index_select(0, col)
        elif normalization == "mean":
            degree = segment_sum(value, crow)
            inv = degree.reciprocal()
            inv.masked_fill_(torch.isinf(inv), 0.0)
            value = inv.index_select(0, row) * value
        elif normalization == "attention":
            value = torch.ones_like(value)
        return SparseAdjacency(crow, col, value, self.num_nodes,
                               _TransposeRecipe(self, keep, prefix), normalization=normalization)


    def _kept_loop_weight_sum(self, edge_mask: Tensor | None, weight: Tensor | None,
                              dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Per node: the summed weight of its kept input self-loops, and whether it has any."""
        loop_edges, loop_nodes = self.loop_edges, self.loop_nodes
        if edge_mask is not None:
            kept = edge_mask[loop_edges]
            loop_edges, loop_nodes = loop_edges[kept], loop_nodes[kept]
        values = (weight[loop_edges].to(dtype) if weight is not None
                  else torch.ones(loop_edges.numel(), dtype=dtype, device=self.device))
        total = torch.zeros(self.num_nodes, dtype=dtype, device=self.device)
        total.index_add_(0, loop_nodes, values)
        count = torch.bincount(loop_nodes, minlength=self.num_nodes)
        return total, count > 0


@dataclass
class _TransposeRecipe:
    graph: CSRGraph
    keep: Tensor
    prefix: Tensor


class SparseAdjacency:
    """A normalized ``[N, N]`` adjacency in torch CSR form, with its transpose on demand.

    Attributes:
        csr: the ``torch.sparse_csr_tensor`` (rows = message targets).
        num_nodes: ``N``.

    Use it with :func:`propagate` (or any encoder of :mod:`graphcl.nn`): the forward product
    is ``csr @ X`` and the backward product ``csr.T @ G`` uses a transposed CSR built once
    per view in O(E), because torch's own CSR backward converts layouts on every call.
    """

    def __init__(self, crow: Tensor, col: Tensor, value: Tensor, num_nodes: int,
                 transpose_recipe: _TransposeRecipe | None = None,
                 transpose: SparseAdjacency | None = None,
                 normalization: str | None = None) -> None:
        self.num_nodes = num_nodes
        self.normalization = normalization
        self._edge_index: Tensor | None = None
        self.crow, self.col, self.value = crow, col, value
        self.csr = torch.sparse_csr_tensor(crow, col, value, (num_nodes, num_nodes),
                                           check_invariants=False)
        self._recipe = transpose_recipe
        # A transpose points back to its original weakly: a strong pair is a reference cycle,
        # freed only by the cyclic collector, so each step's index arrays outlived the step
        # (gCooL on Photo: resident memory grew ~50 MB over four steps, with up to 8.6k page
        # faults in a step; flat without the cycle).
        self._transpose: SparseAdjacency | None = None
        self._transpose_of = weakref.ref(transpose) if transpose is not None else None

    def edge_index(self) -> Tensor:
        """The stored entries as a PyG ``edge_index`` ``[2, nnz]`` (``[source; target]``)."""
        if self._edge_index is None:
            counts = self.crow[1:] - self.crow[:-1]
            target = torch.repeat_interleave(
                torch.arange(self.num_nodes, device=self.crow.device), counts)
            self._edge_index = torch.stack([self.col, target])
        return self._edge_index

    @property
    def nnz(self) -> int:
        return self.col.numel()

    @property
    def dtype(self) -> torch.dtype:
        return self.value.dtype

    @property
    def device(self) -> torch.device:
        return self.value.device

    def t(self) -> SparseAdjacency:
        """The transposed adjacency (cached after the first call)."""
        if self._transpose is not None:
            return self._transpose
        original = self._transpose_of() if self._transpose_of is not None else None
        if original is not None:
            return original
        if self._recipe is None:
            self._transpose = SparseAdjacency.from_csr(self.csr.t().to_sparse_csr(), self)
        else:
            graph, keep, prefix = self._recipe.graph, self._recipe.keep, self._recipe.prefix
            keep_t = keep.index_select(0, graph.position_t)
            prefix_t = torch.zeros(keep_t.numel() + 1, dtype=torch.long, device=keep.device)
            torch.cumsum(keep_t, 0, out=prefix_t[1:])
            csr_position = graph.position_t.index_select(0, keep_t.nonzero().view(-1))
            self._transpose = SparseAdjacency(
                prefix_t.index_select(0, graph.crow_t),
                graph.row.index_select(0, csr_position),
                self.value.index_select(0, prefix.index_select(0, csr_position)),
                self.num_nodes, transpose=self, normalization=self.normalization)
        return self._transpose

    @staticmethod
    def from_csr(csr: Tensor, transpose: SparseAdjacency | None = None) -> SparseAdjacency:
        """Wrap an existing square ``torch.sparse_csr_tensor`` (taken as already normalized)."""
        if csr.layout != torch.sparse_csr or csr.dim() != 2 or csr.size(0) != csr.size(1):
            raise ValueError("from_csr expects a square 2-D torch.sparse_csr_tensor")
        return SparseAdjacency(csr.crow_indices(), csr.col_indices(), csr.values(), csr.size(0),
                               transpose=transpose)

    def to_dense(self) -> Tensor:
        """The dense ``[N, N]`` matrix (for tests and small graphs only)."""
        return self.csr.to_dense()

    def to(self, dtype: torch.dtype) -> SparseAdjacency:
        """The same adjacency with values cast to ``dtype``."""
        return SparseAdjacency(self.crow, self.col, self.value.to(dtype), self.num_nodes,
                               self._recipe, normalization=self.normalization)


@dataclass(frozen=True)
class FixedCSR:
    """A fixed (possibly rectangular) ``[M, N]`` CSR operator with its transposed CSR, both
    built once: :func:`csr_product` multiplies by it with a backward pass that reuses the
    transpose instead of re-sorting the matrix on every call (torch's own CSR backward)."""

    csr: Tensor
    csr_t: Tensor

    def t(self) -> FixedCSR:
        return FixedCSR(self.csr_t, self.csr)


def csr_product(operator: SparseAdjacency | FixedCSR, x: Tensor) -> Tensor:
    """``operator @ x``, differentiable in ``x`` through the operator's cached transpose.

    Shapes: ``operator`` ``[M, N]``, ``x`` ``[N, d]`` → ``[M, d]``."""
    return _SparseDenseProduct.apply(x, operator, None)


def csr_matmul(csr: Tensor, x: Tensor) -> Tensor:
    """``csr @ x`` (``[M, N]`` sparse CSR times ``[N, d]`` dense) into a fresh ``[M, d]``.

    ``torch.sparse.mm`` zero-fills its result and copies it once more on the CPU (1.1 ms of
    6.9 on a 256-wide Amazon-Photo view); ``addmm`` with ``beta=0`` writes straight into an
    uninitialized output, which it does not read (torch.addmm's contract: with beta 0 the input
    is ignored, NaN included). Other devices keep ``torch.sparse.mm``: the extra pass is
    cheap there, and the aliasing form is only exercised on the CPU here."""
    if csr.device.type != "cpu":
        return torch.sparse.mm(csr, x)
    out = x.new_empty(csr.size(0), x.size(1))
    return torch.addmm(out, csr, x, beta=0, out=out)


class _SparseDenseProduct(torch.autograd.Function):
    """``Â @ x``, or ``added + Â @ x`` in one sparse ``addmm`` when ``added`` is given (a CSR
    adjacency only); the backward product uses the adjacency's cached transpose."""

    @staticmethod
    def forward(ctx, x: Tensor, adjacency: SparseAdjacency | BlockDiagonalAdjacency | FixedCSR,
                added: Tensor | None = None) -> Tensor:
        ctx.adjacency = adjacency
        if added is not None:
            return torch.addmm(added, adjacency.csr, x)
        if isinstance(adjacency, BlockDiagonalAdjacency):
            return adjacency.matmul(x)
        return csr_matmul(adjacency.csr, x)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        grad_added = grad_output if ctx.needs_input_grad[2] else None
        if not ctx.needs_input_grad[0]:
            return None, None, grad_added
        transpose = ctx.adjacency.t()
        if isinstance(transpose, BlockDiagonalAdjacency):
            return transpose.matmul(grad_output.contiguous()), None, grad_added
        return csr_matmul(transpose.csr, grad_output.contiguous()), None, grad_added


def propagate_add(added: Tensor, adjacency: SparseAdjacency, x: Tensor) -> Tensor:
    """``added + Â @ X`` (``[N, d]``), differentiable in ``added`` and ``x``."""
    if x.dim() != 2 or x.size(0) != adjacency.num_nodes or added.shape != (x.size(0), x.size(1)):
        raise ValueError(f"x and added must be [N, d] with N = {adjacency.num_nodes}, got "
                         f"{tuple(x.shape)} and {tuple(added.shape)}")
    if adjacency.dtype != x.dtype:
        adjacency = adjacency.to(x.dtype)
    return _SparseDenseProduct.apply(x, adjacency, added)


def propagate(adjacency: SparseAdjacency | BlockDiagonalAdjacency | AdjacencySum | Tensor,
              x: Tensor) -> Tensor:
    """One message-passing step ``Â @ X``.

    Args:
        adjacency: a :class:`SparseAdjacency`, :class:`BlockDiagonalAdjacency` or
            :class:`AdjacencySum`, or a torch sparse ``[N, N]`` tensor (autograd then goes
            through torch's own sparse backward).
        x: ``[N, d]`` node features.

    Returns:
        ``[N, d]``. Gradients flow to ``x`` (not to the adjacency values).
    """
    structured = isinstance(adjacency, (SparseAdjacency, BlockDiagonalAdjacency, AdjacencySum))
    num_nodes = adjacency.num_nodes if structured else adjacency.shape[0]
    if x.dim() != 2 or x.size(0) != num_nodes:
        raise ValueError(f"x must be [N, d] with N = {num_nodes}, got {tuple(x.shape)}")
    if isinstance(adjacency, AdjacencySum):
        out = None
        for coefficient, term in zip(adjacency.coefficients, adjacency.terms):
            product = propagate(term, x)
            out = product * coefficient if out is None else out.add_(product, alpha=coefficient)
        return out
    if structured:
        if adjacency.dtype != x.dtype:
            adjacency = adjacency.to(x.dtype)
        return _SparseDenseProduct.apply(x, adjacency, None)
    return torch.sparse.mm(adjacency, x)


def unit_adjacency(adjacency: SparseAdjacency, edge_index: Tensor) -> SparseAdjacency:
    """The 0/1 adjacency of the edges ``edge_index`` (``[2, E]``, no duplicates) on the stored
    structure of ``adjacency``, an encoder adjacency built from the same edges (any
    normalization; a diagonal it adds, as GCN's ``A + I``, is kept only for the self-loops that
    ``edge_index`` has). The transpose comes from ``adjacency.t()``, which the encoder's backward
    pass builds anyway: O(nnz), no sort, where building the 0/1 matrix from ``edge_index``
    sorts the edges.

    Shapes: ``[N, N]``, rows = message targets (``propagate`` sums ``x_s`` over the edges
    ``(s, t)`` into row ``t``).

    Raises:
        ValueError: ``adjacency`` stores a different number of these edges' entries than
            ``edge_index`` has edges (it was built from other edges).
    """
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must be [2, E], got {tuple(edge_index.shape)}")
    num_nodes = adjacency.num_nodes
    is_loop = edge_index[0] == edge_index[1]
    has_loop = torch.zeros(num_nodes, dtype=torch.bool, device=edge_index.device)
    has_loop[edge_index[0, is_loop]] = True

    def edge_entries(stored: SparseAdjacency) -> Tensor:
        """``[nnz]`` bool: the entry is an edge (off the diagonal, or a kept self-loop)."""
        source, target = stored.edge_index()
        return (source != target) | has_loop.index_select(0, target)

    entries = edge_entries(adjacency)
    # without duplicates every edge, self-loops included, is exactly one entry
    stored = int(entries.count_nonzero())
    if stored != edge_index.size(1):
        raise ValueError(f"the adjacency stores {stored} entries of these edges but edge_index "
                         f"has {edge_index.size(1)}: pass the adjacency built from these edges")
    transposed = adjacency.t()
    result = SparseAdjacency(adjacency.crow, adjacency.col, entries.to(adjacency.dtype),
                             num_nodes, normalization="sum")
    result._transpose = SparseAdjacency(transposed.crow, transposed.col,
                                        edge_entries(transposed).to(adjacency.dtype),
                                        num_nodes, transpose=result, normalization="sum")
    return result


class BlockPartition:
    """A partition of the nodes into diagonal blocks (connected components of a structure)
    that no entry crosses, with the blocks grouped into size buckets for batched GEMMs.

    A meta-path through a type that each target node meets once (ACM's paper–subject–paper,
    IMDB's movie–director–movie) is a disjoint union of cliques: its adjacency, even after
    top-k pruning, lives in dense diagonal blocks. There a batched dense product over the
    blocks runs about twice as fast on the CPU as a CSR product over the same entries, forward
    and backward (ACM's pruned PSP: 2.1M entries in 60 blocks holding 4.3M slots), and every adjacency
    whose entries are a subset of the structure's (an edge-masked view) uses the same
    partition.

    Args:
        edge_index: ``[2, E]`` the structure (``[source; target]``), self-loops optional.
        num_nodes: ``N``.
        growth: a bucket holds blocks down to ``1/growth`` of its largest size, all padded
            to that size (padding at most ``growth²`` the blocks' slots).

    Attributes:
        component: ``[N]`` block of every node; position: ``[N]`` its slot in its block.
        buckets: per bucket ``(first block, number of blocks, padded size S)``; blocks are
            numbered by decreasing size.
        members: per bucket ``[C, S]`` node of every slot (``N``, a dummy row, on padding).
        slots: the padded slots of all blocks, ``Σ C·S²``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, growth: float = 1.25) -> None:
        import numpy as np
        import scipy.sparse as sp
        from scipy.sparse.csgraph import connected_components

        _check_edge_index(edge_index, num_nodes)
        device = edge_index.device
        source, target = edge_index.cpu().numpy()
        pattern = sp.coo_matrix((np.ones(source.size, dtype=np.int8), (target, source)),
                                shape=(num_nodes, num_nodes))
        _, labels = connected_components(pattern, directed=True, connection="weak")
        self.members = [m.to(device) for m in padded_groups(torch.from_numpy(labels).long(),
                                                             growth=growth)]
        self.num_nodes = num_nodes
        # per node: its block (numbered across buckets), its slot in the block, and the
        # flat offset of the block's first entry among all padded slots
        component = torch.empty(num_nodes, dtype=torch.long, device=device)
        position = torch.empty(num_nodes, dtype=torch.long, device=device)
        padded = torch.empty(num_nodes, dtype=torch.long, device=device)
        offset = torch.empty(num_nodes, dtype=torch.long, device=device)
        self.buckets, blocks, slots = [], 0, 0
        for members in self.members:
            count, size = members.shape
            real = members < num_nodes
            nodes = members[real]
            block, slot = real.nonzero(as_tuple=True)
            component[nodes] = blocks + block
            position[nodes] = slot
            padded[nodes] = size
            offset[nodes] = slots + block * size * size
            self.buckets.append((blocks, count, size))
            blocks += count
            slots += count * size * size
        self.component, self.position, self.slots = component, position, slots
        self._padded, self._offset = padded, offset

    def density(self, nnz: int) -> float:
        """The fraction of the padded slots that ``nnz`` entries would fill."""
        return nnz / max(1, self.slots)

    def adjacency(self, adjacency: SparseAdjacency) -> BlockDiagonalAdjacency:
        """``adjacency`` (whose entries must lie inside the blocks) in block form."""
        if adjacency.num_nodes != self.num_nodes:
            raise ValueError(f"the adjacency has {adjacency.num_nodes} nodes, the partition "
                             f"{self.num_nodes}")
        source, target = adjacency.edge_index()
        block = self.component[target]
        if not torch.equal(block, self.component[source]):
            raise ValueError("the adjacency has entries between different blocks of the "
                             "partition; build the partition from a structure that contains "
                             "all of its entries")
        flat = (self._offset[target] + self.position[target] * self._padded[target]
                + self.position[source])
        slots = torch.zeros(self.slots, dtype=adjacency.dtype, device=adjacency.device)
        slots.index_put_((flat,), adjacency.value, accumulate=True)
        return BlockDiagonalAdjacency(self, slots)


class BlockDiagonalAdjacency:
    """An ``[N, N]`` adjacency stored as the dense diagonal blocks of a
    :class:`BlockPartition`; products are one batched GEMM per size bucket.

    Use it with :func:`propagate` like a :class:`SparseAdjacency` (same results to rounding;
    the backward product uses the transposed blocks, a strided view, no copy).

    Attributes:
        partition: the :class:`BlockPartition`; slots: ``[partition.slots]`` the block entries.
    """

    def __init__(self, partition: BlockPartition, slots: Tensor,
                 transposed: bool = False) -> None:
        self.partition, self.slots, self.transposed = partition, slots, transposed
        self.num_nodes = partition.num_nodes
        self._blocks = []
        offset = 0
        for count, padded in ((b[1], b[2]) for b in partition.buckets):
            blocks = slots[offset:offset + count * padded * padded].view(count, padded, padded)
            self._blocks.append(blocks.transpose(1, 2) if transposed else blocks)
            offset += count * padded * padded
        self._transpose: BlockDiagonalAdjacency | None = None
        self._transpose_of: weakref.ref[BlockDiagonalAdjacency] | None = None  # see SparseAdjacency

    @property
    def dtype(self) -> torch.dtype:
        return self.slots.dtype

    @property
    def device(self) -> torch.device:
        return self.slots.device

    def matmul(self, x: Tensor) -> Tensor:
        """``Â @ X``: ``[N, d]`` → ``[N, d]``."""
        padded_x = torch.cat([x, x.new_zeros(1, x.size(1))])
        out = torch.empty_like(padded_x)
        for blocks, members in zip(self._blocks, self.partition.members):
            product = torch.bmm(blocks, padded_x[members])
            # padding slots all write the dummy row N, which is dropped
            out.index_copy_(0, members.view(-1), product.view(-1, x.size(1)))
        return out[:-1]

    def t(self) -> BlockDiagonalAdjacency:
        if self._transpose is not None:
            return self._transpose
        original = self._transpose_of() if self._transpose_of is not None else None
        if original is not None:
            return original
        self._transpose = BlockDiagonalAdjacency(self.partition, self.slots, not self.transposed)
        self._transpose._transpose_of = weakref.ref(self)
        return self._transpose

    def to(self, dtype: torch.dtype) -> BlockDiagonalAdjacency:
        return BlockDiagonalAdjacency(self.partition, self.slots.to(dtype), self.transposed)

    def to_dense(self) -> Tensor:
        """The dense ``[N, N]`` matrix (for tests and small graphs only)."""
        eye = torch.eye(self.num_nodes, dtype=self.dtype, device=self.device)
        return self.matmul(eye)


class AdjacencySum:
    """``Σ_m c_m Â_m`` kept as its terms, each multiplied in its own best form (e.g. MEOW's
    coarse view, the mean of a sparse and a block-diagonal meta-path adjacency).

    Args:
        terms: adjacencies of one node count; coefficients: one float per term.
    """

    def __init__(self, terms, coefficients) -> None:
        terms, coefficients = list(terms), [float(c) for c in coefficients]
        if not terms or len(terms) != len(coefficients):
            raise ValueError(f"AdjacencySum needs one coefficient per term, got {len(terms)} "
                             f"terms and {len(coefficients)} coefficients")
        if len({t.num_nodes for t in terms}) != 1:
            raise ValueError("the terms of an AdjacencySum must have one node count, got "
                             f"{[t.num_nodes for t in terms]}")
        self.terms, self.coefficients = terms, coefficients
        self.num_nodes = terms[0].num_nodes

    def to_dense(self) -> Tensor:
        return sum(c * t.to_dense() for c, t in zip(self.coefficients, self.terms))


def as_block_diagonal(adjacency: SparseAdjacency, partition: BlockPartition | None = None,
                      min_density: float = 0.2) -> SparseAdjacency | BlockDiagonalAdjacency:
    """``adjacency`` in block form when its entries fill at least ``min_density`` of the
    padded blocks of ``partition`` (default: the components of ``adjacency`` itself), where a
    batched GEMM beats the CSR product; else ``adjacency`` unchanged."""
    if partition is None:
        partition = BlockPartition(adjacency.edge_index(), adjacency.num_nodes)
    if partition.density(adjacency.nnz) < min_density:
        return adjacency
    return partition.adjacency(adjacency)


def gcn_adjacency(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
                  edge_mask: Tensor | None = None,
                  dtype: torch.dtype = torch.float32,
                  normalization: str = "gcn") -> SparseAdjacency:
    """One-shot adjacency of an ``edge_index`` (``D^{-1/2}(A + I)D^{-1/2}`` by default; sorts,
    so cache a :class:`CSRGraph` instead when many views of one graph are needed)."""
    return CSRGraph(edge_index, num_nodes, edge_weight).adjacency(edge_mask, normalization, dtype)


class StructureCache:
    """Holds the :class:`CSRGraph` of the graph a method last saw, rebuilt only when the graph
    changes (a new ``edge_index`` tensor, node count or device).

    Methods keep one as a plain attribute (it is derived state, not saved in checkpoints).
    """

    def __init__(self) -> None:
        self._inputs: tuple | None = None
        self._structure: CSRGraph | None = None

    def get(self, edge_index: Tensor, num_nodes: int,
            edge_weight: Tensor | None = None) -> CSRGraph:
        """The cached structure of ``(edge_index, num_nodes, edge_weight)``.

        The cache holds the tensors themselves and compares them by identity, so a new graph
        (or an edited copy) is never mistaken for the cached one.
        """
        inputs = self._inputs
        if (inputs is None or inputs[0] is not edge_index or inputs[1] != num_nodes
                or inputs[2] is not edge_weight):
            self._structure = CSRGraph(edge_index, num_nodes, edge_weight)
            self._inputs = (edge_index, num_nodes, edge_weight)
        return self._structure
