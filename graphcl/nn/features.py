"""Sparse input features: ``X W`` for a bag-of-words ``X`` without densifying it.

Most node-classification benchmarks have sparse features (Cora 1.3% non-zero, Coauthor-CS
0.9% of 6,805 columns). A first layer on the dense matrix spends ``2·N·F·d`` flops forward
and again backward per view; on the CSR matrix it spends ``2·nnz·d``. Feature augmenters keep
the CSR structure and change values only (a masked column has zero values), so the transposed
structure needed by the backward pass is computed once per graph and each view gathers its
values into it in O(nnz).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .adjacency import csr_matmul

__all__ = ["is_sparse_features", "mark_masked_columns", "masked_columns_of", "sparse_features_linear",
           "to_sparse_features"]


def is_sparse_features(x: Tensor) -> bool:
    """Whether ``x`` is a torch sparse CSR feature matrix."""
    return isinstance(x, Tensor) and x.layout == torch.sparse_csr


def mark_masked_columns(masked: Tensor, source: Tensor, keep: Tensor) -> Tensor:
    """Record on the dense ``masked`` (``[N, F]``) that it is ``source`` with the columns
    outside ``keep`` (``[F]`` bool) set to zero; returns ``masked``.

    A :class:`~graphcl.nn.GCNLayer` inside :func:`~graphcl.nn.reuse_transforms` then computes
    ``masked · W`` as ``source · W − source[:, dropped] · W[dropped]``: the full product is
    made once for all views of ``source`` (and its backward ``Xᵀ G`` once), each view adds a
    product over its few dropped columns only. The record lives on the tensor object, so a
    copy or a moved tensor simply loses it (and is multiplied directly)."""
    masked._graphcl_masked_columns = (source, keep)
    return masked


def masked_columns_of(x: Tensor) -> tuple[Tensor, Tensor] | None:
    """``(source, keep)`` recorded by :func:`mark_masked_columns`, else ``None``."""
    return getattr(x, "_graphcl_masked_columns", None)


def to_sparse_features(x: Tensor, max_density: float = 0.10, min_columns: int = 256) -> Tensor:
    """``x`` as a sparse CSR matrix when that is cheaper, else ``x`` unchanged.

    The CSR product with its weight gradient overtakes the dense pair below about 13–15%
    non-zeros (measured on the CPU, 1 thread, for 1902 → 64, 745 → 256 and 1433 → 256: at 10%
    it is 1.6–1.8× faster, at 20% 1.1–1.5× slower), so 10% keeps a margin; ACM's author
    features (6.5%) were the input left dense by the earlier 5% rule, at 2.4× the cost.

    Args:
        x: ``[N, F]`` dense features.
        max_density: convert only when at most this fraction of entries is non-zero.
        min_columns: convert only when ``F`` is at least this (narrow inputs gain nothing).
    """
    if is_sparse_features(x) or x.dim() != 2 or x.size(1) < min_columns or x.numel() == 0:
        return x
    density = float((x != 0).sum()) / x.numel()
    return x.to_sparse_csr() if density <= max_density else x


class _TransposeOrder:
    """The CSC order of a CSR structure: ``X^T`` for any values on that structure."""

    def __init__(self, x: Tensor) -> None:
        crow, col = x.crow_indices(), x.col_indices()
        num_rows, num_cols = x.shape
        row = torch.repeat_interleave(torch.arange(num_rows, device=col.device),
                                      crow[1:] - crow[:-1])
        self.order = torch.argsort(col * num_rows + row, stable=True)
        self.row_t = row[self.order]
        counts = torch.bincount(col, minlength=num_cols)
        self.crow_t = torch.zeros(num_cols + 1, dtype=torch.long, device=col.device)
        torch.cumsum(counts, 0, out=self.crow_t[1:])
        self.key = _structure_key(x)
        self.shape_t = (num_cols, num_rows)

    def transpose(self, x: Tensor) -> Tensor:
        return torch.sparse_csr_tensor(self.crow_t, self.row_t, x.values()[self.order],
                                       self.shape_t, check_invariants=False)


def _structure_key(x: Tensor) -> tuple:
    return (x.crow_indices().data_ptr(), x.col_indices().data_ptr(), tuple(x.shape), x.device)


# dense operand bytes per block of a CSR product: each stored entry reads one row of the dense
# block, so the block should stay cache-resident (a few MB)
_DENSE_BLOCK_BYTES = 2 << 20


def _csr_times_dense(csr: Tensor, dense: Tensor) -> Tensor:
    """``csr @ dense`` (``[n, k] @ [k, d]``), in blocks of ``dense``'s columns when ``dense`` is
    larger than the cache: every stored entry reads a whole row of ``dense``, and with rows of
    random order over a matrix of hundreds of MB (gCooL's 6805 × 7105 first layer on
    Coauthor-CS) the product is bound by memory traffic; cache-sized column blocks make it
    ~3× faster with the same result."""
    k, d = dense.shape
    width = max(64, _DENSE_BLOCK_BYTES // (dense.element_size() * max(k, 1)) // 64 * 64)
    if width >= d:
        return csr_matmul(csr, dense.contiguous())
    out = dense.new_empty(csr.size(0), d)
    for start in range(0, d, width):
        out[:, start:start + width] = csr_matmul(csr, dense[:, start:start + width].contiguous())
    return out


class _SparseLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, x: Tensor, order: _TransposeOrder) -> Tensor:
        ctx.x, ctx.order = x, order
        return _csr_times_dense(x, weight.t())

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        grad_weight = _csr_times_dense(ctx.order.transpose(ctx.x), grad_output).t()
        return grad_weight, None, None


class TransposeCache:
    """Remembers the transposed order of the last CSR structure seen (one per layer)."""

    def __init__(self) -> None:
        self._order: _TransposeOrder | None = None

    def get(self, x: Tensor) -> _TransposeOrder:
        if self._order is None or self._order.key != _structure_key(x):
            self._order = _TransposeOrder(x)
        return self._order


def sparse_features_linear(x: Tensor, weight: Tensor, cache: TransposeCache) -> Tensor:
    """``x @ weight.T`` for a sparse CSR ``x`` ``[N, F]`` and ``weight`` ``[d, F]`` → ``[N, d]``.

    Gradients flow to ``weight`` (the features are inputs, not parameters).
    """
    if x.size(1) != weight.size(1):
        raise ValueError(f"x has {x.size(1)} columns but the layer expects {weight.size(1)}")
    x = x.to(weight.dtype) if x.dtype != weight.dtype else x
    return _SparseLinear.apply(weight, x, cache.get(x))
