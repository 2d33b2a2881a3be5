"""InfoNCE objectives, exact, in O(N·block) memory: the second half of graphcl's hot path.

Every node is contrasted with every other node, so the similarity matrix has N² entries:
114 GB at 169k nodes in float32. Here it is never stored. The loss is computed over square
tiles of the similarity matrix with a reused tile buffer, and the backward pass recomputes
each tile from the saved log-sum-exp values (a custom :class:`torch.autograd.Function`), so
memory is O(block² + N·d) at the flops of one forward and three backward matrix products per
tile.

Because the inputs are L2-normalized, every logit ``cos/τ`` is at most ``1/τ``, so ``1/τ`` is
an exact shift for the log-sum-exp: tiles need no running maximum and row and column sums
come from the same exponentiated tile. For ``τ < 0.025`` (where ``exp(-2/τ)`` would underflow
float32) tiles are exponentiated in float64.

Two objectives share the tile engine:

* :class:`GRACELoss` — GRACE's symmetric loss with inter- and intra-view negatives (Zhu et al.,
  "Deep Graph Contrastive Representation Learning", 2020, Eq. 1–2), which is the NT-Xent loss
  over the 2N stacked embeddings ``K = [u; v]``: each row's positive is its partner in the other
  view and its negatives are all other 2N − 2 rows. ``K Kᵀ`` is symmetric, so only tiles on
  and above the diagonal are computed (half the flops of the dense form).
* :class:`InfoNCELoss` — the plain cross-view InfoNCE (van den Oord et al., 2018, Eq. 4; Chen
  et al. SimCLR without intra-view negatives): anchors ``u_i``, candidates ``v_j``, positive
  ``v_i``. ``symmetric=True`` also adds the ``v → u`` direction, whose log-sum-exps are the
  column sums of the same tiles, at no extra matrix product.

``block_size=None`` picks a tile from the free memory; the dense references
(:func:`grace_loss_dense`, :func:`infonce_loss_dense`) stay available and are what the tests
compare against in float64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.segment import padded_groups

__all__ = [
    "ClusterNegativeWeights",
    "GRACELoss",
    "InfoNCELoss",
    "LowRankNegativeWeights",
    "default_block_size",
    "grace_loss",
    "grace_loss_dense",
    "infonce_loss",
    "infonce_loss_dense",
]

_FLOAT64_EXP_BELOW_TAU = 0.025
_LOG2E = 1.4426950408889634


def default_block_size(num_rows: int, device: torch.device | None = None,
                       max_block: int | None = None) -> int:
    """A tile edge that keeps the two ``block × block`` buffers within ~1/16 of free memory.

    Args:
        num_rows: rows of the similarity matrix (a tile never exceeds it).
        device: where the tiles live; on CUDA the free device memory decides.
        max_block: upper bound; default 1024 on CPU (tiles that stay in cache measured
            fastest on the 2-core machine: see benchmarks/README.md) and 8192 on CUDA.
    """
    on_cuda = device is not None and torch.device(device).type == "cuda"
    max_block = max_block or (8192 if on_cuda else 1024)
    block = int(math.sqrt(_tile_memory_budget(device) / (2 * 8)))  # two buffers, ≤ 8 B/entry
    return max(1, min(max(64, min(block, max_block)), num_rows))


def _tile_memory_budget(device: torch.device | None) -> int:
    """Bytes the loss's temporary buffers may take: 1/16 of the free memory, at least 64 MB."""
    if device is not None and torch.device(device).type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        free = _available_host_memory()
    return max(free // 16, 64 * 2**20)


def _one_pass_rows(n: int, block: int, itemsize: int, device: torch.device) -> int:
    """Rows of the ``[rows, N]`` panel of :class:`_CrossInfoNCE`'s one-pass mode, or 0 when
    a panel of at least ``min(block, 64)`` rows does not fit the memory budget.

    On the CPU at most 256 rows: the panel is written by one product and read by two, and
    256-row panels measured fastest for N from 2.7k to 18k at d = 128 (1 thread)."""
    if not _ONE_PASS:
        return 0
    if torch.device(device).type != "cuda":
        block = min(block, 256)
    rows = min(block, _tile_memory_budget(device) // (n * itemsize))
    return rows if rows >= min(block, 64) else 0


# The one-pass gradients of the cross-view InfoNCE (see _CrossInfoNCE); tests switch it off to
# check the two-pass path, which is also what runs when a panel does not fit in memory.
_ONE_PASS = True


def _available_host_memory() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30


def _check_pair(u: Tensor, v: Tensor, tau: float) -> None:
    if u.dim() != 2 or v.dim() != 2 or u.shape != v.shape:
        raise ValueError(
            f"the two views' embeddings must both be [N, d] with equal shapes, got "
            f"{tuple(u.shape)} and {tuple(v.shape)}"
        )
    if u.size(0) < 2:
        raise ValueError(f"a contrastive loss needs at least 2 nodes, got N = {u.size(0)}")
    if not tau > 0:
        raise ValueError(f"temperature tau must be positive, got {tau}")


class _TileBuffers:
    """Two reusable ``block × block`` buffers, so no tile allocates (and page-faults) anew."""

    def __init__(self, block: int, dtype: torch.dtype, device: torch.device) -> None:
        self.exp = torch.empty(block, block, dtype=dtype, device=device)
        self.scale = torch.empty(block, block, dtype=dtype, device=device)

    def exp_tile(self, rows: Tensor, cols: Tensor, shift: float) -> Tensor:
        """``2^(rows·colsᵀ − shift)`` into the buffer.

        Callers pre-scale ``rows`` by ``log2(e)/τ`` and pass ``shift = log2(e)/τ``, so the
        tile is ``exp((cos − 1)/τ)``; ``exp2`` is about 1.5× cheaper than ``exp`` on CPU.
        """
        out = self.exp[: rows.size(0), : cols.size(0)]
        if out.dtype == rows.dtype:
            torch.mm(rows, cols.t(), out=out)
        else:
            out.copy_(rows @ cols.t())
        return out.sub_(shift).exp2_()


def _tiles(n: int, block: int):
    return [(start, min(start + block, n)) for start in range(0, n, block)]


def _exp_dtype(tau: float, dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if tau < _FLOAT64_EXP_BELOW_TAU else dtype


class _GramNTXent(torch.autograd.Function):
    """NT-Xent over the rows of ``K`` (``[2N, d]``, unit rows): row ``k``'s positive is row
    ``(k + N) mod 2N``; the negatives are all rows but ``k`` and its positive."""

    @staticmethod
    def forward(ctx, stacked: Tensor, tau: float, block: int) -> Tensor:
        total, _ = stacked.shape
        half = total // 2
        inv_tau = 1.0 / tau
        shift = inv_tau * _LOG2E
        exp_dtype = _exp_dtype(tau, stacked.dtype)
        scaled = stacked * shift
        buffers = _TileBuffers(min(block, total), exp_dtype, stacked.device)
        row_sum = torch.zeros(total, dtype=exp_dtype, device=stacked.device)
        tiles = _tiles(total, block)
        for i, (r0, r1) in enumerate(tiles):
            for c0, c1 in tiles[i:]:
                tile = buffers.exp_tile(scaled[r0:r1], stacked[c0:c1], shift)
                if r0 == c0:
                    tile.diagonal().zero_()
                    row_sum[r0:r1] += tile.sum(1)
                else:
                    row_sum[r0:r1] += tile.sum(1)
                    row_sum[c0:c1] += tile.sum(0)
        # log Σ_{j≠k} exp(s_kj) = 1/τ + log(row_sum_k)
        log_sum = row_sum.log()
        positive = (stacked[:half] * stacked[half:]).sum(1) * inv_tau
        loss = (log_sum.sum() + total * inv_tau - 2 * positive.sum().to(log_sum.dtype)) / total
        ctx.save_for_backward(stacked, log_sum)
        ctx.tau, ctx.block = tau, block
        return loss.to(stacked.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        stacked, log_sum = ctx.saved_tensors
        tau, block = ctx.tau, ctx.block
        total = stacked.size(0)
        half = total // 2
        inv_tau = 1.0 / tau
        exp_dtype = log_sum.dtype
        # d loss / d s_kj = (P_kj + P_jk) / 2N with P_kj = exp(s_kj − lse_k): per row a factor
        # r_k = exp(1/τ − lse_k) / 2N times the shifted tile exp(s_kj − 1/τ).
        row_factor = torch.exp(-log_sum) * (grad_output.to(exp_dtype) * (inv_tau / total))
        shift = inv_tau * _LOG2E
        scaled = stacked * shift
        grad = torch.zeros_like(stacked)
        buffers = _TileBuffers(min(block, total), exp_dtype, stacked.device)
        tiles = _tiles(total, block)
        for i, (r0, r1) in enumerate(tiles):
            for c0, c1 in tiles[i:]:
                tile = buffers.exp_tile(scaled[r0:r1], stacked[c0:c1], shift)
                factor = buffers.scale[: r1 - r0, : c1 - c0]
                torch.add(row_factor[r0:r1, None], row_factor[None, c0:c1], out=factor)
                tile.mul_(factor)
                if r0 == c0:
                    tile.diagonal().zero_()
                weights = tile.to(stacked.dtype)
                grad[r0:r1].addmm_(weights, stacked[c0:c1])
                if r0 != c0:
                    grad[c0:c1].addmm_(weights.t(), stacked[r0:r1])
        positive_scale = grad_output * (2.0 * inv_tau / total)
        grad[:half] -= positive_scale * stacked[half:]
        grad[half:] -= positive_scale * stacked[:half]
        return grad, None, None


class _CrossInfoNCE(torch.autograd.Function):
    """InfoNCE with anchors ``u`` and candidates ``v`` (unit rows, ``[N, d]``), positive on
    the diagonal; with ``symmetric`` also the ``v → u`` direction from the column sums.

    **One pass** (one direction, tile weights, cluster corrections or none, float32/64
    inputs, τ ≥ 0.025, inputs
    that need gradients, a ``[rows, N]`` panel within the memory budget): a row's normalizer
    is complete once its panel of all N columns is exponentiated, so the panel's softmax
    weights ``P`` give both gradients right away (``∂/∂u = P v``, ``∂/∂v += Pᵀ u``, up to the
    positive term and ``1/(τN)``), and the backward pass only scales them by the incoming
    gradient. That is three ``N²·d`` products and one exponentiation where recomputing the
    tiles in the backward pass takes four and two; memory ``O(rows·N + N·d)``. Otherwise the
    tiles are recomputed from the saved log-sum-exps (two passes)."""

    @staticmethod
    def forward(ctx, u: Tensor, v: Tensor, tau: float, block: int, symmetric: bool,
                pair_weight, positive_weight: float) -> Tensor:
        n = u.size(0)
        inv_tau = 1.0 / tau
        shift = inv_tau * _LOG2E
        exp_dtype = _exp_dtype(tau, u.dtype)
        row_sum = torch.zeros(n, dtype=exp_dtype, device=u.device)
        correction = _sparse_correction(pair_weight, n)
        tile_weight = pair_weight if correction is None else None
        panel_rows = 0
        # unshifted exponentials (up to e^{1/τ}, τ ≥ 0.025) and their row sums need float32's
        # range
        if (not symmetric and tau >= _FLOAT64_EXP_BELOW_TAU
                and u.dtype in (torch.float32, torch.float64) and any(ctx.needs_input_grad[:2])):
            panel_rows = _one_pass_rows(n, block, row_sum.element_size(), u.device)
        ctx.one_pass = bool(panel_rows)
        if panel_rows:
            loss, gradients = _CrossInfoNCE._one_pass(u, v, inv_tau, panel_rows, tile_weight,
                                                       positive_weight, row_sum, correction)
            ctx.save_for_backward(u, v, *gradients)
            ctx.tau = tau
            return loss
        scaled = u * shift
        buffers = _TileBuffers(min(block, n), exp_dtype, u.device)
        col_sum = torch.zeros(n, dtype=exp_dtype, device=u.device) if symmetric else None
        tiles = _tiles(n, block)
        for r0, r1 in tiles:
            for c0, c1 in tiles:
                tile = buffers.exp_tile(scaled[r0:r1], v[c0:c1], shift)
                if tile_weight is not None:
                    tile.mul_(_weight_tile(tile_weight, r0, r1, c0, c1, tile.dtype,
                                           positive_weight))
                row_sum[r0:r1] += tile.sum(1)
                if symmetric:
                    col_sum[c0:c1] += tile.sum(0)
        positive = ((u * v).sum(1) * inv_tau).to(exp_dtype)
        if correction is not None:
            base, groups = correction
            row_sum.mul_(base)
            if symmetric:
                col_sum.mul_(base)
            kept = _remove_cluster_blocks(groups, u, v, inv_tau, row_sum, col_sum)
            correction = (base, groups, kept)
            # the blocks leave w_ii = 0; the positive's own term weighs positive_weight
            if positive_weight != 0.0:
                own = torch.exp(positive - inv_tau)
                row_sum.add_(own, alpha=positive_weight)
                if symmetric:
                    col_sum.add_(own, alpha=positive_weight)
        row_lse = row_sum.log()
        loss = (row_lse + inv_tau - positive).mean()
        col_lse = None
        if symmetric:
            col_lse = col_sum.log()
            loss = 0.5 * (loss + (col_lse + inv_tau - positive).mean())
        ctx.save_for_backward(u, v, row_lse, col_lse if symmetric else row_lse)
        ctx.tau, ctx.block, ctx.symmetric, ctx.pair_weight = tau, block, symmetric, tile_weight
        ctx.positive_weight, ctx.correction = positive_weight, correction
        return loss.to(u.dtype)

    @staticmethod
    def _one_pass(u: Tensor, v: Tensor, inv_tau: float, panel_rows: int, tile_weight,
                  positive_weight: float, row_sum: Tensor,
                  correction=None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Loss and the negatives' gradients (``[N, d]`` each, for a unit incoming gradient)
        from ``[panel_rows, N]`` panels of the exponentiated similarities.

        The panel holds ``exp(s_ij)`` unshifted (at most ``e^{1/τ}``, finite in float32 for the
        τ ≥ 0.025 this path takes), so its passes are the exponential and the row sums; the
        ``1/Z_i`` factors scale the ``[rows, d]`` result of ``E v`` and the rows of ``u``
        instead of the panel. (Row sums as a column of ones appended to ``v`` halve that
        product's speed on the CPU: width 129 instead of 128.)

        With a cluster ``correction`` ``(base, groups)`` (weights ``base`` minus same-cluster
        blocks, :meth:`ClusterNegativeWeights.sparse_correction`) the blocks go first: their
        row sums complete every ``Z_i = base·Σ_j e_ij − Σ_blocks e_ij + w₊·e_ii`` before the
        panels, the panels' products are scaled by ``base``, and the blocks' own gradient
        terms are added at the end. The blocks are exponentiated shifted by ``1/τ``, as in
        the two-pass path, and rescaled by ``e^{1/τ}`` here."""
        n = u.size(0)
        positive = (u * v).sum(1) * inv_tau
        base, offset = 1.0, None
        if correction is not None:
            base, groups = correction
            rescale = math.exp(inv_tau)
            removed = torch.zeros(n, dtype=row_sum.dtype, device=u.device)
            kept = _remove_cluster_blocks(groups, u, v, inv_tau, removed, None)
            # the blocks leave w_ii = 0; the positive's own term weighs positive_weight
            own = torch.exp(positive.to(row_sum.dtype) - inv_tau)
            offset = removed.add_(own, alpha=positive_weight).mul_(rescale)
        panel = torch.empty(panel_rows, n, dtype=u.dtype, device=u.device)
        scaled = u * (inv_tau * _LOG2E)
        grad_u, grad_v = torch.empty_like(u), torch.zeros_like(v)
        for r0, r1 in _tiles(n, panel_rows):
            rows = panel[: r1 - r0]
            torch.mm(scaled[r0:r1], v.t(), out=rows).exp2_()
            if tile_weight is not None:
                rows.mul_(_weight_tile(tile_weight, r0, r1, 0, n, rows.dtype, positive_weight))
            torch.sum(rows, 1, out=row_sum[r0:r1])
            if offset is not None:
                row_sum[r0:r1].mul_(base).add_(offset[r0:r1])
            # ∂loss/∂s_ij = w_ij P_ij / N with P_ij = exp(s_ij) / Z_i, s = u·v/τ; the panel
            # carries the constant part w = base of the weights
            factor = ((inv_tau * base / n) / row_sum[r0:r1]).unsqueeze(1)
            torch.mm(rows, v, out=grad_u[r0:r1]).mul_(factor)
            grad_v.addmm_(rows.t(), u[r0:r1] * factor)
        if offset is not None:
            # back to the blocks' shifted units: e_ij = e^{1/τ}·exp(s_ij − 1/τ)
            row_factor = (inv_tau / n) * rescale / row_sum
            for group, block_values in zip(groups, kept):
                if block_values is None:
                    block_values = group.exp_blocks(u, v, inv_tau, row_sum.dtype)
                group.add_grads(u, v, block_values, row_factor, None, grad_u, grad_v)
            if positive_weight != 0.0:
                coefficient = (own * row_factor * positive_weight).to(u.dtype).unsqueeze(1)
                grad_u += coefficient * v
                grad_v += coefficient * u
        return (row_sum.log() - positive).mean(), (grad_u, grad_v)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        if ctx.one_pass:
            u, v, negatives_u, negatives_v = ctx.saved_tensors
            positive_scale = grad_output * (1.0 / (ctx.tau * u.size(0)))
            grad_u = negatives_u * grad_output - positive_scale * v
            grad_v = negatives_v * grad_output - positive_scale * u
            return grad_u, grad_v, None, None, None, None, None
        u, v, row_lse, col_lse = ctx.saved_tensors
        tau, block, symmetric, pair_weight = ctx.tau, ctx.block, ctx.symmetric, ctx.pair_weight
        n = u.size(0)
        inv_tau = 1.0 / tau
        exp_dtype = row_lse.dtype
        directions = 2.0 if symmetric else 1.0
        scale = grad_output.to(exp_dtype) * (inv_tau / (n * directions))
        row_factor = torch.exp(-row_lse) * scale
        col_factor = torch.exp(-col_lse) * scale if symmetric else None
        correction = ctx.correction
        grad_u, grad_v = torch.zeros_like(u), torch.zeros_like(v)
        if correction is not None:
            base, groups, kept = correction
            for group, block_values in zip(groups, kept):
                if block_values is None:
                    block_values = group.exp_blocks(u, v, inv_tau, exp_dtype)
                group.add_grads(u, v, block_values, row_factor, col_factor, grad_u, grad_v)
            if ctx.positive_weight != 0.0:
                own = torch.exp(((u * v).sum(1) * inv_tau).to(exp_dtype) - inv_tau)
                both = row_factor + col_factor if symmetric else row_factor
                coefficient = (own * both * ctx.positive_weight).to(u.dtype).unsqueeze(1)
                grad_u += coefficient * v
                grad_v += coefficient * u
            # the tiles below carry the constant part of the weights
            row_factor = row_factor * base
            col_factor = col_factor * base if symmetric else None
        shift = inv_tau * _LOG2E
        scaled_u = u * shift
        buffers = _TileBuffers(min(block, n), exp_dtype, u.device)
        tiles = _tiles(n, block)
        for r0, r1 in tiles:
            for c0, c1 in tiles:
                tile = buffers.exp_tile(scaled_u[r0:r1], v[c0:c1], shift)
                if pair_weight is not None:
                    tile.mul_(_weight_tile(pair_weight, r0, r1, c0, c1, tile.dtype,
                                           ctx.positive_weight))
                if symmetric:
                    factor = buffers.scale[: r1 - r0, : c1 - c0]
                    torch.add(row_factor[r0:r1, None], col_factor[None, c0:c1], out=factor)
                    tile.mul_(factor)
                else:
                    tile.mul_(row_factor[r0:r1, None])
                weights = tile.to(u.dtype)
                grad_u[r0:r1].addmm_(weights, v[c0:c1])
                grad_v[c0:c1].addmm_(weights.t(), u[r0:r1])
        positive_scale = grad_output * (inv_tau / n)
        grad_u -= positive_scale * v
        grad_v -= positive_scale * u
        return grad_u, grad_v, None, None, None, None, None


_MAX_BLOCK_ENTRIES = 1 << 26  # same-cluster block entries the correction may hold
_CACHED_BLOCK_ENTRIES = 1 << 23  # kept from forward to backward up to this many


def _remove_cluster_blocks(groups, u: Tensor, v: Tensor, inv_tau: float, row_sum: Tensor,
                           col_sum: Tensor | None) -> list[Tensor | None]:
    """Subtract every same-cluster block's ``exp((u_i·v_j − 1)/τ)`` from the row (and
    column) sums (``[N]``, in place); returns each group's blocks, the first up to
    ``_CACHED_BLOCK_ENTRIES`` entries kept for the gradients and ``None`` after that (they are
    recomputed, so memory stays bounded)."""
    kept, entries = [], 0
    for group in groups:
        block_values = group.exp_blocks(u, v, inv_tau, row_sum.dtype)
        group.remove(block_values, row_sum, col_sum)
        entries += block_values.numel()
        kept.append(block_values if entries <= _CACHED_BLOCK_ENTRIES else None)
    return kept


def _sparse_correction(pair_weight, n: int):
    """The callback's ``(base, blocks)`` form when it has one and it is smaller than the
    tiles (at most N²/2 block entries: a block entry costs about what a weight-tile entry
    does, and at most ``_MAX_BLOCK_ENTRIES``, since a size bucket's blocks are held at
    once); ``None`` otherwise (the tiles then carry the weights)."""
    decompose = getattr(pair_weight, "sparse_correction", None)
    if decompose is None:
        return None
    return decompose(max_pairs=min(n * n // 2, _MAX_BLOCK_ENTRIES))


def _weight_tile(pair_weight, r0: int, r1: int, c0: int, c1: int, dtype: torch.dtype,
                 positive_weight: float = 1.0) -> Tensor:
    """The callback's ``[r1 - r0, c1 - c0]`` negative weights, with ``positive_weight`` on
    the positive pairs ``(i, i)``."""
    weight = pair_weight(slice(r0, r1), slice(c0, c1))
    if weight.shape != (r1 - r0, c1 - c0):
        raise ValueError(
            f"pair_weight(rows, cols) must return a [{r1 - r0}, {c1 - c0}] tile, got "
            f"{tuple(weight.shape)}"
        )
    weight = weight.to(dtype)
    low, high = max(r0, c0), min(r1, c1)
    if low < high:  # the tile holds positives (i, i): they are never reweighted
        weight = weight.clone()
        index = torch.arange(low, high, device=weight.device)
        weight[index - r0, index - c0] = positive_weight
    return weight


class _ClusterBlocks:
    """Same-cluster pairs of clusters of similar size as padded ``[C, S, S]`` blocks, so
    their terms are batched matrix products (no per-pair gathers).

    Args:
        members: ``[C, S]`` the clusters' nodes, padded with ``n`` (see
            :func:`graphcl.nn.segment.padded_groups`); n: the node count.
    """

    def __init__(self, members: Tensor, n: int) -> None:
        real = members < n
        # None when nothing is padded (singletons, equal sizes): no masking pass needed
        self.mask = None if bool(real.all()) else real.to(torch.get_default_dtype())
        self.members = members.clamp(max=n - 1)  # padding gathers node n-1, masked to 0

    def exp_blocks(self, u: Tensor, v: Tensor, inv_tau: float, dtype: torch.dtype) -> Tensor:
        """``exp((u_i · v_j − 1)/τ)`` for every same-cluster ``(i, j)``, 0 on padding."""
        dots = torch.bmm(u[self.members], v[self.members].transpose(1, 2)).to(dtype)
        blocks = dots.sub_(1.0).mul_(inv_tau).exp_()
        if self.mask is not None:
            mask = self.mask.to(dtype)
            blocks.mul_(mask.unsqueeze(2)).mul_(mask.unsqueeze(1))
        return blocks

    def remove(self, blocks: Tensor, row_sum: Tensor, col_sum: Tensor | None) -> None:
        """Subtract the blocks' row (and column) sums from the nodes' sums."""
        flat = self.members.view(-1)
        row_sum.index_add_(0, flat, blocks.sum(2).view(-1), alpha=-1)
        if col_sum is not None:
            col_sum.index_add_(0, flat, blocks.sum(1).view(-1), alpha=-1)

    def add_grads(self, u: Tensor, v: Tensor, blocks: Tensor, row_factor: Tensor,
                  col_factor: Tensor | None, grad_u: Tensor, grad_v: Tensor) -> None:
        """The gradient of ``−Σ_blocks (row_factor_i + col_factor_j) e_ij``."""
        factor = row_factor[self.members].unsqueeze(2)
        if col_factor is not None:
            factor = factor + col_factor[self.members].unsqueeze(1)
        coefficient = (blocks * factor).neg_().to(u.dtype)
        flat = self.members.view(-1)
        grad_u.index_add_(0, flat, torch.bmm(coefficient, v[self.members]).view(flat.numel(), -1))
        grad_v.index_add_(0, flat, torch.bmm(coefficient.transpose(1, 2),
                                             u[self.members]).view(flat.numel(), -1))


class ClusterNegativeWeights:
    """Hard negative weights from cluster assignments, as a ``pair_weight`` callback.

    MEOW's multi-granularity rule (Yu et al., SDM 2023 / TKDE 2024, Sec. IV-C): with G
    clusterings of the nodes, a pair in the same cluster at every granularity is not a
    negative. ``mode="count"`` gives ``w_ij = Σ_g 1[c_g(i) ≠ c_g(j)]`` ∈ {0, …, G} (the
    official ``contrast.py``: a pair split at more granularities weighs more);
    ``mode="binary"`` gives ``w_ij = 1[∃g: c_g(i) ≠ c_g(j)]`` ∈ {0, 1}. A tile's weights are
    computed from the cluster ids, never stored as N×N.

    In :func:`infonce_loss` the weights are never tiled when the clusters are small: they
    are a constant minus same-cluster blocks (:meth:`sparse_correction`), so the loss costs
    about what the unweighted one does (no N² id comparisons, slow on CPU).

    Args:
        cluster_ids: ``[N]`` or ``[G, N]`` int64 (G clusterings of N nodes).
        mode: ``"binary"`` (default) or ``"count"``.
    """

    MODES = ("binary", "count")

    def __init__(self, cluster_ids: Tensor, mode: str = "binary") -> None:
        if cluster_ids.dim() == 1:
            cluster_ids = cluster_ids[None]
        if cluster_ids.dim() != 2:
            raise ValueError(f"cluster_ids must be [N] or [G, N], got {tuple(cluster_ids.shape)}")
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.cluster_ids = cluster_ids
        self.mode = mode

    def __call__(self, rows: slice, cols: slice) -> Tensor:
        differs = self.cluster_ids[:, rows, None] != self.cluster_ids[:, None, cols]
        if self.mode == "count":
            return differs.sum(0, dtype=torch.float32)
        return differs.any(0).float()

    def dense(self) -> Tensor:
        """The ``[N, N]`` weight matrix (for tests and small graphs)."""
        n = self.cluster_ids.size(1)
        return self(slice(0, n), slice(0, n))

    def sparse_correction(self, max_pairs: int):
        """The weights as a constant minus same-cluster blocks.

        ``w_ij = base − Σ_blocks 1[i, j in one block]``: ``count`` mode has ``base = G``
        and one block set per granularity; ``binary`` has ``base = 1`` and the blocks of the
        clusters shared at every granularity. A node shares every cluster with itself, so
        the blocks give ``w_ii = 0``. Clusters are bucketed by size, so the blocks hold at
        most ``1.25²·Σ_k s_k²`` entries instead of N² weights to compare.

        Returns:
            ``(base, [_ClusterBlocks, ...])``, or ``None`` when the padded blocks would hold
            more than ``max_pairs`` entries (few, large or very uneven clusters).
        """
        if self.mode == "count":
            labelings, base = list(self.cluster_ids), float(self.cluster_ids.size(0))
        else:
            joint = torch.unique(self.cluster_ids, dim=1, return_inverse=True)[1]
            labelings, base = [joint], 1.0
        n = self.cluster_ids.size(1)
        groups = [members for labels in labelings for members in padded_groups(labels)]
        if sum(members.numel() * members.size(1) for members in groups) > max_pairs:
            return None
        return base, [_ClusterBlocks(members, n) for members in groups]


class LowRankNegativeWeights:
    """Negative weights ``w_ij = a_i · b_j`` of rank r, as a ``pair_weight`` callback.

    Args:
        left: ``[N, r]``; right: ``[N, r]`` (weights should be non-negative).
    """

    def __init__(self, left: Tensor, right: Tensor) -> None:
        if left.dim() != 2 or left.shape != right.shape:
            raise ValueError(f"left and right must both be [N, r], got {tuple(left.shape)} "
                             f"and {tuple(right.shape)}")
        self.left, self.right = left, right

    def __call__(self, rows: slice, cols: slice) -> Tensor:
        return self.left[rows] @ self.right[cols].t()


def grace_loss(h1: Tensor, h2: Tensor, tau: float, block_size: int | None = None) -> Tensor:
    """GRACE's symmetric InfoNCE, exact and blockwise (see :class:`GRACELoss`).

    Args:
        h1, h2: ``[N, d]`` projected embeddings of the two views (normalized inside).
        tau: temperature τ > 0.
        block_size: tile edge; ``None`` chooses one from free memory.

    Returns:
        A scalar tensor, differentiable with respect to ``h1`` and ``h2``.
    """
    _check_pair(h1, h2, tau)
    stacked = F.normalize(torch.cat([h1, h2], 0), dim=1)
    block = block_size or default_block_size(stacked.size(0), stacked.device)
    return _GramNTXent.apply(stacked, float(tau), int(block))


def infonce_loss(u: Tensor, v: Tensor, tau: float, block_size: int | None = None,
                 symmetric: bool = False, pair_weight=None,
                 positive_weight: float = 1.0) -> Tensor:
    """Cross-view InfoNCE, exact and blockwise (see :class:`InfoNCELoss`).

    With ``pair_weight``, the negatives are reweighted:
    ``ℓ_i = −log e^{s_ii} / (e^{s_ii} + Σ_{j≠i} w_ij e^{s_ij})``, ``s = cos/τ``.

    Args:
        u: ``[N, d]`` anchors; v: ``[N, d]`` candidates, ``v[i]`` the positive of ``u[i]``.
        tau: temperature τ > 0.
        block_size: tile edge; ``None`` chooses one from free memory.
        symmetric: average with the ``v → u`` direction (which uses the same pair weight
            ``w_ij`` for the pair ``(v_j, u_i)``: right for weights of unordered pairs).
        pair_weight: optional callback ``(rows: slice, cols: slice) -> Tensor[len(rows),
            len(cols)]`` of non-negative, constant (no gradient) weights for the tile, e.g.
            :class:`ClusterNegativeWeights` or :class:`LowRankNegativeWeights`.
        positive_weight: the weight of the positive's own term in the denominator, used
            with ``pair_weight`` whatever the callback returns on the diagonal: 1 (the
            InfoNCE form) or 0 (MEOW's Eq., which leaves the positive out of the
            denominator: ``ℓ_i = −s_ii + log Σ_{j≠i} w_ij e^{s_ij}``).
    """
    _check_pair(u, v, tau)
    if pair_weight is None and positive_weight != 1.0:
        raise ValueError("positive_weight applies with pair_weight; pass a pair_weight "
                         "callback (e.g. ClusterNegativeWeights) or leave it at 1")
    u, v = F.normalize(u, dim=1), F.normalize(v, dim=1)
    block = block_size or default_block_size(u.size(0), u.device)
    return _CrossInfoNCE.apply(u, v, float(tau), int(block), bool(symmetric), pair_weight,
                               float(positive_weight))


def grace_loss_dense(h1: Tensor, h2: Tensor, tau: float) -> Tensor:
    """The dense reference of :func:`grace_loss`, as GRACE writes it (N × N memory).

    ``ℓ(u_i, v_i) = −log e^{θ(u_i,v_i)/τ} / (Σ_j e^{θ(u_i,v_j)/τ} + Σ_{j≠i} e^{θ(u_i,u_j)/τ})``,
    loss ``= (1/2N) Σ_i [ℓ(u_i, v_i) + ℓ(v_i, u_i)]`` with θ the cosine similarity.
    """
    _check_pair(h1, h2, tau)
    u, v = F.normalize(h1, dim=1), F.normalize(h2, dim=1)

    def one_direction(a: Tensor, b: Tensor) -> Tensor:
        intra = torch.exp(a @ a.t() / tau)
        inter = torch.exp(a @ b.t() / tau)
        return -torch.log(inter.diagonal() / (intra.sum(1) + inter.sum(1) - intra.diagonal()))

    return 0.5 * (one_direction(u, v) + one_direction(v, u)).mean()


def infonce_loss_dense(u: Tensor, v: Tensor, tau: float, symmetric: bool = False,
                       weight: Tensor | None = None, positive_weight: float = 1.0) -> Tensor:
    """The dense reference of :func:`infonce_loss` (N × N memory); ``weight`` is the
    ``[N, N]`` negative-weight matrix (its diagonal is replaced by ``positive_weight``):
    ``ℓ_i = −s_ii + log Σ_j w_ij e^{s_ij}``."""
    _check_pair(u, v, tau)
    logits = F.normalize(u, dim=1) @ F.normalize(v, dim=1).t() / tau
    if weight is None:
        weight = torch.ones_like(logits)
    weight = weight.clone().to(logits.dtype)
    weight.fill_diagonal_(positive_weight)
    positive = logits.diagonal()

    def one_direction(scores: Tensor, weights: Tensor) -> Tensor:
        return (torch.log((weights * torch.exp(scores)).sum(1)) - positive).mean()

    loss = one_direction(logits, weight)
    if symmetric:
        loss = 0.5 * (loss + one_direction(logits.t(), weight.t()))
    return loss


class GRACELoss(nn.Module):
    """GRACE's symmetric InfoNCE with inter- and intra-view negatives.

    Zhu, Xu, Yu, Liu, Wu, Wang, "Deep Graph Contrastive Representation Learning" (GRL+ @
    ICML 2020), Eq. (1) for ℓ and Eq. (2) for the symmetric average. Exact, in
    O(block² + N·d) memory; see the module docstring.

    Args:
        tau: temperature τ.
        block_size: tile edge (``None``: chosen from free memory).

    Shapes:
        - input: ``h1``, ``h2`` of shape ``[N, d]``
        - output: scalar

    Example:
        >>> loss_fn = GRACELoss(tau=0.4)
        >>> loss = loss_fn(projection(z1), projection(z2))
    """

    def __init__(self, tau: float = 0.5, block_size: int | None = None) -> None:
        super().__init__()
        self.tau = tau
        self.block_size = block_size

    def forward(self, h1: Tensor, h2: Tensor) -> Tensor:
        return grace_loss(h1, h2, self.tau, self.block_size)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, block_size={self.block_size}"


class InfoNCELoss(nn.Module):
    """Cross-view InfoNCE (van den Oord et al., "Representation Learning with Contrastive
    Predictive Coding", 2018, Eq. 4) with cosine similarity and temperature τ; exact and
    blockwise.

    Args:
        tau: temperature τ.
        symmetric: average the ``u → v`` and ``v → u`` directions.
        block_size: tile edge (``None``: chosen from free memory).

    Shapes:
        - input: ``u``, ``v`` of shape ``[N, d]``; ``v[i]`` is the positive of ``u[i]``
        - output: scalar
    """

    def __init__(self, tau: float = 0.5, symmetric: bool = False,
                 block_size: int | None = None) -> None:
        super().__init__()
        self.tau = tau
        self.symmetric = symmetric
        self.block_size = block_size

    def forward(self, u: Tensor, v: Tensor, pair_weight=None) -> Tensor:
        return infonce_loss(u, v, self.tau, self.block_size, self.symmetric, pair_weight)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, symmetric={self.symmetric}, block_size={self.block_size}"
