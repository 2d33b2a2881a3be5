"""InfoNCE with a *set* of positives per anchor (HeCo's co-contrastive loss), exact and
blockwise.

HeCo (Wang, Liu, Han, Shi, KDD 2021, arXiv 2105.09111, Sec. 4.4, Eq. 8–10) contrasts the
projected meta-path embeddings ``u`` with the projected network-schema embeddings ``v`` of the
same ``N`` target nodes. With ``s_ij = cos(u_i, v_j) / τ`` and ``pos(i)`` the positive set of
node ``i`` (nodes sharing many meta-path instances with ``i``),

    L_mp = (1/N) Σ_i −log( Σ_{j∈pos(i)} e^{s_ij} / Σ_{j} e^{s_ij} )              (Eq. 8)
    L_sc = (1/N) Σ_i −log( Σ_{j∈pos(i)} e^{s_ji} / Σ_{j} e^{s_ji} )              (Eq. 9)
    L    = λ L_mp + (1 − λ) L_sc                                                   (Eq. 10)

(the same ``pos`` in both directions, as the official ``Contrast`` does with ``pos`` and the
transposed similarity matrix). Every negative is a node of the other view, there are no
intra-view negatives.

Computed naively this needs the N×N similarity matrix. Here it never exists: the
denominators are row and column log-sum-exps over square tiles (the tile engine of
:mod:`graphcl.losses.infonce`: unit rows make ``1/τ`` an exact shift, so a tile is
``exp(s − 1/τ)`` and row and column sums come from the same tile), and the numerators are
gathered from the same tiles at the ``P`` positive pairs only, which are bucketed by tile once.
The backward pass recomputes each tile. Memory: O(block² + N·d + P).

``positive_set_infonce_dense`` is a line-by-line transcription of the official
``code/module/contrast.py`` (``liun-online/HeCo`` @ ``20e8ca2``) for tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .infonce import _LOG2E, _exp_dtype, _TileBuffers, _tiles, default_block_size

__all__ = [
    "PositivePairTiles",
    "PositiveSetInfoNCE",
    "positive_set_infonce",
    "positive_set_infonce_dense",
    "positive_set_infonce_directions",
]


def check_positives(positives: Tensor, num_nodes: int, name: str = "positives") -> Tensor:
    """Validate a ``[2, P]`` positive-pair index and return it deduplicated and sorted by
    (anchor, positive).

    Raises:
        ValueError: wrong shape or dtype, indices outside ``[0, num_nodes)``, or an anchor
            without any positive (its loss term would be ``−log 0``).
    """
    if not isinstance(positives, Tensor) or positives.dim() != 2 or positives.size(0) != 2:
        shape = tuple(positives.shape) if isinstance(positives, Tensor) else type(positives)
        raise ValueError(f"{name} must be a [2, P] tensor of (anchor, positive) pairs, got {shape}")
    if positives.dtype != torch.long:
        raise ValueError(f"{name} must be int64, got {positives.dtype}")
    if positives.numel() and (int(positives.min()) < 0 or int(positives.max()) >= num_nodes):
        raise ValueError(
            f"{name} holds node indices in [{int(positives.min())}, {int(positives.max())}] but "
            f"there are {num_nodes} nodes; is this positive set from another graph?")
    keys = torch.unique(positives[0] * num_nodes + positives[1])
    anchors = torch.bincount(keys // num_nodes, minlength=num_nodes)
    lonely = (anchors == 0).nonzero().view(-1)
    if lonely.numel():
        raise ValueError(
            f"{name}: {lonely.numel()} of {num_nodes} nodes have no positive (first: "
            f"{lonely[:5].tolist()}); every anchor needs at least one, else its loss is −log 0")
    return torch.stack([keys // num_nodes, keys % num_nodes])


class PositivePairTiles:
    """The positive pairs bucketed by the similarity tiles they fall in (built once per
    ``(positives, N, block)``; :class:`PositiveSetInfoNCE` caches it).

    In the similarity matrix ``S = u vᵀ / τ`` the ``u → v`` numerator of anchor ``a`` sums
    ``S[a, b]`` and the ``v → u`` numerator sums ``S[b, a]`` over ``b ∈ pos(a)``. For each
    direction the pairs are kept as (tile id, local row, local column, anchor), sorted by tile.

    Args:
        positives: ``[2, P]`` int64 pairs (validated with :func:`check_positives`).
        num_nodes: ``N``.
        block: tile edge.
    """

    def __init__(self, positives: Tensor, num_nodes: int, block: int) -> None:
        pairs = check_positives(positives, num_nodes)
        self.source = positives
        self.num_nodes, self.block = num_nodes, block
        self.num_pairs = pairs.size(1)
        num_tiles = -(-num_nodes // block)
        self.tiles = _tiles(num_nodes, block)
        anchor, other = pairs[0], pairs[1]
        # u -> v: S[anchor, other]; v -> u: S[other, anchor]
        self.forward_pairs = self._bucket(anchor, other, anchor, num_tiles)
        self.backward_pairs = self._bucket(other, anchor, anchor, num_tiles)

    def _bucket(self, row: Tensor, col: Tensor, anchor: Tensor, num_tiles: int):
        block = self.block
        tile = (row // block) * num_tiles + col // block
        order = torch.argsort(tile, stable=True)
        counts = torch.bincount(tile, minlength=num_tiles * num_tiles)
        offsets = torch.zeros(counts.numel() + 1, dtype=torch.long)
        torch.cumsum(counts.cpu(), 0, out=offsets[1:])
        row, col, anchor = row[order], col[order], anchor[order]
        return (row % block, col % block, anchor, offsets.tolist())

    def matches(self, positives: Tensor, num_nodes: int, block: int) -> bool:
        return self.source is positives and self.num_nodes == num_nodes and self.block == block


def _slice(bucket, index: int):
    local_row, local_col, anchor, offsets = bucket
    start, end = offsets[index], offsets[index + 1]
    if start == end:
        return None
    return local_row[start:end], local_col[start:end], anchor[start:end]


class _PositiveSetInfoNCE(torch.autograd.Function):
    """Both directions' losses ``[L_{u→v}, L_{v→u}]`` for unit rows ``u``, ``v``."""

    @staticmethod
    def forward(ctx, u: Tensor, v: Tensor, tiles: PositivePairTiles, tau: float) -> Tensor:
        n = u.size(0)
        block = tiles.block
        shift = _LOG2E / tau
        exp_dtype = _exp_dtype(tau, u.dtype)
        scaled = u * shift
        buffers = _TileBuffers(min(block, n), exp_dtype, u.device)
        row_sum = torch.zeros(n, dtype=exp_dtype, device=u.device)
        col_sum = torch.zeros(n, dtype=exp_dtype, device=u.device)
        row_pos = torch.zeros(n, dtype=exp_dtype, device=u.device)
        col_pos = torch.zeros(n, dtype=exp_dtype, device=u.device)
        num_tiles = len(tiles.tiles)
        for i, (r0, r1) in enumerate(tiles.tiles):
            for j, (c0, c1) in enumerate(tiles.tiles):
                tile = buffers.exp_tile(scaled[r0:r1], v[c0:c1], shift)  # exp(s - 1/τ)
                row_sum[r0:r1] += tile.sum(1)
                col_sum[c0:c1] += tile.sum(0)
                index = i * num_tiles + j
                found = _slice(tiles.forward_pairs, index)
                if found is not None:
                    row_pos.index_add_(0, found[2], tile[found[0], found[1]])
                found = _slice(tiles.backward_pairs, index)
                if found is not None:
                    col_pos.index_add_(0, found[2], tile[found[0], found[1]])
        # the shift 1/τ cancels between numerator and denominator
        losses = torch.stack([(row_sum.log() - row_pos.log()).mean(),
                              (col_sum.log() - col_pos.log()).mean()])
        ctx.save_for_backward(u, v, row_sum, col_sum, row_pos, col_pos)
        ctx.tiles, ctx.tau = tiles, tau
        return losses.to(u.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        u, v, row_sum, col_sum, row_pos, col_pos = ctx.saved_tensors
        tiles, tau = ctx.tiles, ctx.tau
        n = u.size(0)
        exp_dtype = row_sum.dtype
        grad = grad_output.to(exp_dtype) / (n * tau)
        # d L / d S_ab = g0/N (P_ab − [b∈pos(a)] e^{S_ab}/Σ_pos) + g1/N (Q_ab − [a∈pos(b)] ...)
        row_factor, col_factor = grad[0] / row_sum, grad[1] / col_sum
        row_pos_factor, col_pos_factor = grad[0] / row_pos, grad[1] / col_pos
        shift = _LOG2E / tau
        scaled = u * shift
        grad_u, grad_v = torch.zeros_like(u), torch.zeros_like(v)
        buffers = _TileBuffers(min(tiles.block, n), exp_dtype, u.device)
        num_tiles = len(tiles.tiles)
        for i, (r0, r1) in enumerate(tiles.tiles):
            for j, (c0, c1) in enumerate(tiles.tiles):
                tile = buffers.exp_tile(scaled[r0:r1], v[c0:c1], shift)
                index = i * num_tiles + j
                corrections = []
                for bucket, factor in ((tiles.forward_pairs, row_pos_factor),
                                       (tiles.backward_pairs, col_pos_factor)):
                    found = _slice(bucket, index)
                    if found is not None:
                        rows, cols, anchor = found
                        corrections.append((rows, cols, tile[rows, cols] * factor[anchor]))
                weights = buffers.scale[: r1 - r0, : c1 - c0]
                torch.add(row_factor[r0:r1, None], col_factor[None, c0:c1], out=weights)
                tile.mul_(weights)
                for rows, cols, values in corrections:
                    tile.index_put_((rows, cols), -values, accumulate=True)
                weights = tile.to(u.dtype)
                grad_u[r0:r1].addmm_(weights, v[c0:c1])
                grad_v[c0:c1].addmm_(weights.t(), u[r0:r1])
        return grad_u, grad_v, None, None


def _check_pair(u: Tensor, v: Tensor, tau: float) -> None:
    if u.dim() != 2 or v.dim() != 2 or u.shape != v.shape:
        raise ValueError(f"u and v must both be [N, d] with equal shapes, got {tuple(u.shape)} "
                         f"and {tuple(v.shape)}")
    if u.size(0) < 2:
        raise ValueError(f"a contrastive loss needs at least 2 nodes, got N = {u.size(0)}")
    if not tau > 0:
        raise ValueError(f"temperature tau must be positive, got {tau}")


def _check_lam(lam: float) -> None:
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")


def positive_set_infonce_directions(u: Tensor, v: Tensor, positives: Tensor | PositivePairTiles,
                                    tau: float, block_size: int | None = None) -> Tensor:
    """``[L_{u→v}, L_{v→u}]`` of HeCo's loss (Eq. 8 and 9), exact, in O(N·block + P) memory.

    Args:
        u: ``[N, d]`` anchors of the first direction (HeCo: projected meta-path embeddings);
            normalized inside.
        v: ``[N, d]`` the other view (projected network-schema embeddings).
        positives: ``[2, P]`` int64 ``(anchor, positive)`` pairs (duplicates count once;
            every node needs at least one positive), or a prepared :class:`PositivePairTiles`.
        tau: temperature τ > 0.
        block_size: tile edge (``None``: from free memory; ignored for prepared tiles).

    Returns:
        A ``[2]`` tensor, differentiable with respect to ``u`` and ``v``.
    """
    _check_pair(u, v, tau)
    n = u.size(0)
    if isinstance(positives, PositivePairTiles):
        if positives.num_nodes != n:
            raise ValueError(f"the prepared positive pairs are for {positives.num_nodes} nodes, "
                             f"the embeddings have {n}")
        tiles = positives
    else:
        tiles = PositivePairTiles(positives, n, block_size or default_block_size(n, u.device))
    u, v = F.normalize(u, dim=1), F.normalize(v, dim=1)
    return _PositiveSetInfoNCE.apply(u, v, tiles, float(tau))


def positive_set_infonce(u: Tensor, v: Tensor, positives: Tensor | PositivePairTiles,
                         tau: float, lam: float = 0.5, block_size: int | None = None) -> Tensor:
    """HeCo's loss ``λ L_{u→v} + (1 − λ) L_{v→u}`` (Eq. 10), exact and blockwise.

    See :func:`positive_set_infonce_directions` for the arguments; ``lam`` is λ ∈ [0, 1].

    Example:
        >>> loss = positive_set_infonce(proj(z_mp), proj(z_sc), pos, tau=0.8, lam=0.5)
    """
    _check_lam(lam)
    directions = positive_set_infonce_directions(u, v, positives, tau, block_size)
    return lam * directions[0] + (1.0 - lam) * directions[1]


def positive_set_infonce_dense(u: Tensor, v: Tensor, positives: Tensor, tau: float,
                               lam: float = 0.5, eps: float = 0.0) -> Tensor:
    """Dense reference (N × N memory): the official ``Contrast.forward`` written out.

    ``eps`` is the official ``+ 1e-8`` in the row normalization (0 here by default, which is
    what the blockwise loss computes; the difference is ~1e-8 relative).
    """
    _check_pair(u, v, tau)
    _check_lam(lam)
    n = u.size(0)
    pos = torch.zeros(n, n, dtype=u.dtype, device=u.device)
    pos[positives[0], positives[1]] = 1.0
    dot = u @ v.t()
    norms = u.norm(dim=-1, keepdim=True) @ v.norm(dim=-1, keepdim=True).t()
    sim = torch.exp(dot / norms / tau)
    mp2sc = sim / (sim.sum(dim=1).view(-1, 1) + eps)
    loss_mp = -torch.log((mp2sc * pos).sum(dim=-1)).mean()
    sc2mp = sim.t() / (sim.t().sum(dim=1).view(-1, 1) + eps)
    loss_sc = -torch.log((sc2mp * pos).sum(dim=-1)).mean()
    return lam * loss_mp + (1 - lam) * loss_sc


class PositiveSetInfoNCE(nn.Module):
    """HeCo's co-contrastive loss (Eq. 8–10) as a module that caches the tile buckets of the
    last positive set it saw (compared by identity).

    Args:
        tau: temperature τ.
        lam: λ, the weight of the ``u → v`` direction.
        block_size: tile edge (``None``: from free memory).

    Shapes:
        - input: ``u``, ``v`` ``[N, d]``; ``positives`` ``[2, P]`` int64
        - output: scalar; :meth:`directions` gives ``[L_{u→v}, L_{v→u}]``
    """

    def __init__(self, tau: float = 0.5, lam: float = 0.5, block_size: int | None = None) -> None:
        super().__init__()
        _check_lam(lam)
        self.tau, self.lam, self.block_size = tau, lam, block_size
        self._tiles: PositivePairTiles | None = None

    def prepare(self, positives: Tensor, num_nodes: int,
                device: torch.device | None = None) -> PositivePairTiles:
        """The (cached) :class:`PositivePairTiles` of ``positives`` for ``num_nodes`` nodes."""
        block = self.block_size or default_block_size(num_nodes, device)
        if self._tiles is None or not self._tiles.matches(positives, num_nodes, block):
            self._tiles = PositivePairTiles(positives, num_nodes, block)
        return self._tiles

    def directions(self, u: Tensor, v: Tensor, positives: Tensor) -> Tensor:
        _check_pair(u, v, self.tau)
        tiles = self.prepare(positives, u.size(0), u.device)
        return positive_set_infonce_directions(u, v, tiles, self.tau)

    def forward(self, u: Tensor, v: Tensor, positives: Tensor) -> Tensor:
        directions = self.directions(u, v, positives)
        return self.lam * directions[0] + (1.0 - self.lam) * directions[1]

    def extra_repr(self) -> str:
        return f"tau={self.tau}, lam={self.lam}, block_size={self.block_size}"
