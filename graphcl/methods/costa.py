"""COSTA: Covariance-Preserving Feature Augmentation for Graph Contrastive Learning (Zhang,
Zhu, Song, Koniusz, King, KDD 2022, arXiv 2206.04726).

Two edge-dropped / feature-masked views, a shared GCN, then a feature-space augmentation:
one Gaussian sketch ``P ∈ ℝ^{k×N}`` (``P_ij ~ N(0, 1/k)``, ``k = ⌊ratio·N⌋``, redrawn every
epoch) multiplies both views' embeddings, ``H̃ = P H`` (§4.2, the random-projection sketch
that preserves the covariance in expectation, Lemma 4.6), and a symmetric InfoNCE with
inter-view negatives contrasts the ``k`` sketched rows (as the official code; the paper's
Eq. 3 also has intra-view negatives).

The sketch is drawn once per epoch for both views (one product with ``[H₁ | H₂]``) and kept
for the backward pass while it is small (``SKETCH_KEEP_BYTES``, 256 MB); a larger one is never
stored but regenerated from its seed in chunks, forward and backward
(:func:`gaussian_sketch`), so memory stays O(chunk·N) instead of the official k × N.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..losses import InfoNCELoss
from ..nn import GNNEncoder
from .base import EncodedViews, LossOutput, register_method
from .grace import GRACE

__all__ = ["COSTA", "gaussian_sketch"]


def _sketch_chunk(seed: int, chunk: int, rows: int, num_nodes: int, scale: float,
                  like: Tensor) -> Tensor:
    generator = torch.Generator(device=like.device).manual_seed(seed * 1_000_003 + chunk)
    return torch.randn(rows, num_nodes, generator=generator, device=like.device,
                       dtype=like.dtype) * scale


#: sketches up to this size are generated once per call and kept for the backward pass
#: (Cora's 1354 × 2708 float32 ``P`` is 15 MB); larger ones are regenerated chunk by chunk
SKETCH_KEEP_BYTES = 1 << 28


class _GaussianSketch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, k: int, seed: int, chunk_rows: int, keep_bytes: int) -> Tensor:
        ctx.k, ctx.seed, ctx.chunk_rows = k, seed, chunk_rows
        n = h.size(0)
        starts = range(0, k, chunk_rows)
        if k * n * h.element_size() <= keep_bytes:
            # drawing P costs as much as two products with it: draw it once, keep it
            sketch = torch.cat([_sketch_chunk(seed, index, min(r0 + chunk_rows, k) - r0, n,
                                              k ** -0.5, h) for index, r0 in enumerate(starts)])
            ctx.save_for_backward(sketch)
            ctx.kept = True
            return sketch @ h
        out = h.new_empty(k, h.size(1))
        for index, r0 in enumerate(starts):
            r1 = min(r0 + chunk_rows, k)
            out[r0:r1] = _sketch_chunk(seed, index, r1 - r0, n, k ** -0.5, h) @ h
        ctx.save_for_backward(h)
        ctx.kept = False
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (saved,) = ctx.saved_tensors
        if ctx.kept:
            return saved.t() @ grad_out, None, None, None, None
        grad = torch.zeros_like(saved)
        for index, r0 in enumerate(range(0, ctx.k, ctx.chunk_rows)):
            r1 = min(r0 + ctx.chunk_rows, ctx.k)
            chunk = _sketch_chunk(ctx.seed, index, r1 - r0, saved.size(0), ctx.k ** -0.5, saved)
            grad.addmm_(chunk.t(), grad_out[r0:r1])
        return grad, None, None, None, None


def gaussian_sketch(h: Tensor, k: int, seed: int, chunk_rows: int = 256,
                    keep_bytes: int = SKETCH_KEEP_BYTES) -> Tensor:
    """``P h`` for a Gaussian sketch ``P ∈ ℝ^{k×N}``, ``P_ij ~ N(0, 1/k)`` determined by
    ``seed`` (COSTA §4.2), drawn in ``chunk_rows``-row chunks. A ``P`` of at most
    ``keep_bytes`` is drawn once and kept for the backward pass; a larger one is never
    stored whole but drawn again, chunk by chunk, in backward (the same values).

    Shapes: ``h`` ``[N, d]`` → ``[k, d]``. To sketch several ``[N, d_i]`` embeddings with
    the same ``P``, concatenate them along the columns: one draw serves them all.
    """
    if h.dim() != 2:
        raise ValueError(f"h must be [N, d], got {tuple(h.shape)}")
    if k < 1:
        raise ValueError(f"the sketch needs k >= 1 rows, got {k}")
    return _GaussianSketch.apply(h, int(k), int(seed), int(chunk_rows), int(keep_bytes))


@register_method
class COSTA(GRACE):
    """COSTA (arXiv 2206.04726), multi-view variant of the official code.

    Args:
        ratio: sketch rows ``k = ⌊ratio·N⌋`` (0.5; POT's copy hard-codes 0.5).
        encoder_hidden: width of the GCN's hidden layer; ``None`` is ``2·hidden`` (POT's copy),
            the official COSTA repository uses ``hidden``.
        Other arguments as :class:`~graphcl.methods.GRACE` (``drop_edge``/``drop_feature`` of
        the two views, ``tau``, ``activation``, ``proj_hidden``).
    """

    name = "costa"

    def __init__(self, in_channels: int, hidden: int = 256, proj_hidden: int = 256,
                 activation: str = "relu", num_layers: int = 2,
                 drop_edge: Sequence[float] = (0.2, 0.4),
                 drop_feature: Sequence[float] = (0.0, 0.0), tau: float = 0.4,
                 ratio: float = 0.5, encoder_hidden: int | None = None,
                 block_size: int | None = None) -> None:
        super().__init__(in_channels, hidden, proj_hidden, activation, num_layers, drop_edge,
                         drop_feature, tau, block_size)
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"ratio must lie in (0, 1], got {ratio}")
        if encoder_hidden is not None:
            self.encoder = GNNEncoder(in_channels, encoder_hidden, hidden, num_layers=num_layers,
                                      activation=activation)
        self.objective = InfoNCELoss(tau=tau, symmetric=True, block_size=block_size)
        self.ratio = float(ratio)

    def sketch_rows(self, num_nodes: int) -> int:
        """``k = ⌊ratio·N⌋`` (at least 1): the rows of the sketch, which the loss contrasts."""
        return max(1, int(self.ratio * num_nodes))

    def contrast(self, graph: Data, encoded: EncodedViews) -> LossOutput:
        z1, z2 = encoded.embeddings
        k = self.sketch_rows(z1.size(0))
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
        # one sketch for both views, drawn once: P [z1 | z2]
        sketched = gaussian_sketch(torch.cat([z1, z2], dim=1), k, seed)
        h1 = self.projection(sketched[:, :z1.size(1)])
        h2 = self.projection(sketched[:, z1.size(1):])
        total = self.objective(h1, h2)
        return LossOutput(total, {"infonce": float(total.detach())})
