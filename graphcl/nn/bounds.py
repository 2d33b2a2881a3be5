"""Bound propagation through a GCN encoder under edge deletion (POT's node compactness).

POT (Yu, Wang, Zhang, Liu, Shi, "Provable Training for Graph Contrastive Learning",
NeurIPS 2023, arXiv 2309.13944) asks, for every node ``i``, how well its embedding follows
the contrastive principle over *all* graphs that edge-dropping can produce:

    f̃_i = min_{Â ∈ 𝒜}  (W^CL_i)ᵀ z_i(Â),
    W^CL_i = ẑ'_i − 1/(n−1) Σ_{j≠i} ẑ'_j

with ``ẑ'`` the L2-normalized embeddings of the other view (the paper's node-compactness
definition as its abstract and official code state it; the paper's section and equation
numbers could not be read on this machine, so none are cited). Everything here is sparse: the
admissible range of the normalized adjacency is two values per stored entry of ``Â + I``
(:class:`AdjacencyInterval`), never the two dense ``N × N`` matrices of the official code,
so memory is O(E + N·d).

Two computations are provided (name which one a number used):

- :func:`compactness_surrogate` — what the official code computes and trains with: the
  linear lower-bound function obtained by backward substitution, *evaluated on the sampled
  view* ``Â'`` rather than minimized over 𝒜, with layer ≥ 2 pre-activation bounds taken
  around the clean hidden layer, each node's own ReLU slopes, and (with a node subset) the
  bounds restricted to the subset. Cheap (a few SpMMs) but not a bound.
- :func:`compactness_lower_bound` — a certified lower bound: for every ``Â ∈ 𝒜`` and every
  node, ``(W^CL_i)ᵀ z_i(Â) >= bound_i`` (interval pre-activation bounds through every layer,
  CROWN relaxation with each neuron's own slopes, the remaining ``Â`` factors minimized
  entry-wise). Costs O(E·d) per layer; for analysis and the ``bound="certified"`` plugin.

Conventions: rows of every adjacency are message targets (PyG's ``source_to_target``), the
encoder is ``z = σ(Â σ(Â X W₁ + b₁) W₂ + b₂)`` (:class:`~graphcl.nn.GNNEncoder` with GCN
layers; any depth), ``σ`` a (leaky) ReLU or PReLU with one slope.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .adjacency import CSRGraph, SparseAdjacency, propagate, propagate_add
from .encoders import GCNLayer, GNNEncoder
from .segment import segment_sum

__all__ = [
    "AdjacencyInterval",
    "SignedTransforms",
    "activation_slope",
    "check_bound_encoder",
    "clean_layer_transforms",
    "compactness_lower_bound",
    "compactness_surrogate",
    "contrastive_direction",
    "deletion_budget",
    "layer_biases",
    "relu_relaxation",
]


def deletion_budget(degree: Tensor, expected_drops: Tensor) -> Tensor:
    """Per-node edge-deletion budget of an edge-dropping view (POT's augmentation range, as the official ``pot_loss`` computes it).

    ``q_i = min(max(deg_i − 1, 0), round(r_i))``: the expected number of dropped edges into
    ``i`` (``p·deg_i`` for uniform dropping, ``Σ_e p_e`` for GCA's adaptive dropping), and at
    least one real neighbour always kept. ``round`` is half-to-even, as numpy's in the
    official code.

    Args:
        degree: ``[N]`` in-degree without self-loops.
        expected_drops: ``[N]`` expected number of dropped in-edges.

    Returns:
        ``[N]`` int64 budgets.
    """
    if degree.shape != expected_drops.shape:
        raise ValueError(f"degree {tuple(degree.shape)} and expected_drops "
                         f"{tuple(expected_drops.shape)} must have the same shape [N]")
    if not torch.isfinite(expected_drops).all() or (expected_drops < 0).any():
        raise ValueError("expected_drops must be finite and non-negative")
    keep_one = (degree.long() - 1).clamp(min=0)
    return torch.minimum(keep_one, torch.round(expected_drops).long())


@dataclass
class AdjacencyInterval:
    """Entry-wise range of the GCN-normalized adjacency over all views within a budget.

    For every view that removes at most ``q_i`` of the edges into each node ``i``,
    ``Â'_ij ∈ [lower_ij, upper_ij]`` on the entries of ``A + I`` (and 0 elsewhere):
    ``upper_ij = 1/√((d̃_i − q_i)(d̃_j − q_j))`` (degrees as low as the budget allows; an
    edge's own entry is its largest when both ends lost their whole budget) and
    ``lower_ij = [i = j] / d̃_i`` (an edge can vanish; the self-loop is smallest in the
    undropped graph), with ``d̃ = deg + 1``. (the official code stores both as
    dense ``N × N`` arrays.)

    Attributes:
        crow, col: the CSR structure of ``A + I`` (rows = targets), ``[N+1]`` and ``[nnz]``.
        lower, upper: ``[nnz]`` entry bounds.
        is_diag: ``[nnz]`` bool, the self-loop entries.
        num_nodes: ``N``.
    """

    crow: Tensor
    col: Tensor
    lower: Tensor
    upper: Tensor
    is_diag: Tensor
    num_nodes: int
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_budget(cls, structure: CSRGraph, budget: Tensor,
                    dtype: torch.dtype = torch.float32) -> AdjacencyInterval:
        """The interval of a graph (its cached :class:`CSRGraph`) under per-node budgets
        ``budget`` (``[N]``, see :func:`deletion_budget`). O(E)."""
        num_nodes = structure.num_nodes
        if budget.shape != (num_nodes,):
            raise ValueError(f"budget must have shape [N] = [{num_nodes}], got {tuple(budget.shape)}")
        degree = structure.crow[1:] - structure.crow[:-1]  # in-degree + the diagonal slot
        degree = degree.to(dtype)
        if (budget < 0).any() or (budget.to(dtype) > degree - 1).any():
            raise ValueError("budget must lie in [0, in-degree] for every node")
        row, col, is_diag = structure.row, structure.col, structure.is_diag
        reduced = (degree - budget.to(dtype)).rsqrt()
        upper = reduced[row] * reduced[col]
        lower = torch.where(is_diag, degree.reciprocal()[row], torch.zeros_like(upper))
        return cls(structure.crow, col, lower, upper, is_diag, num_nodes)

    @classmethod
    def from_expected_drops(cls, structure: CSRGraph, expected_drops: Tensor,
                            dtype: torch.dtype = torch.float32) -> AdjacencyInterval:
        """The interval for per-node budgets :func:`deletion_budget` of the expected drops
        (``[N]``, e.g. :func:`graphcl.methods.expected_edge_drops`) and the graph's in-degrees."""
        degree = (structure.crow[1:] - structure.crow[:-1] - 1).to(expected_drops.dtype)
        return cls.from_budget(structure, deletion_budget(degree, expected_drops), dtype)

    @property
    def center(self) -> Tensor:
        return (self.upper + self.lower) / 2

    @property
    def radius(self) -> Tensor:
        return (self.upper - self.lower) / 2

    def matrix(self, values: Tensor) -> SparseAdjacency:
        """``values`` (``[nnz]``) on this structure as a :class:`SparseAdjacency`."""
        return SparseAdjacency(self.crow, self.col, values, self.num_nodes)

    def upper_matrix(self, dtype: torch.dtype) -> SparseAdjacency:
        """``upper`` as a :class:`SparseAdjacency` of ``dtype``, built once per interval with
        its transpose (the backward product), since an interval lives as long as its graph."""
        key = ("upper", dtype)
        if key not in self._cache:
            self._cache[key] = self.matrix(self.upper.to(dtype))
        return self._cache[key]

    def lower_diagonal(self, dtype: torch.dtype) -> Tensor | None:
        """``[N]`` the diagonal of ``lower`` when ``lower`` has no off-diagonal entry (always
        for :meth:`from_budget`: an edge can vanish), else ``None``."""
        key = ("lower_diagonal", dtype)
        if key not in self._cache:
            diagonal = None
            if not bool((self.lower[~self.is_diag] != 0).any()):
                diagonal = self.lower.new_zeros(self.num_nodes)
                diagonal[_rows(self.crow)[self.is_diag]] = self.lower[self.is_diag]
                diagonal = diagonal.to(dtype)
            self._cache[key] = diagonal
        return self._cache[key]

    def restrict(self, nodes: Tensor) -> AdjacencyInterval:
        """The interval of the subgraph induced by the sorted node ids ``nodes`` (``[n]``),
        relabelled to ``0..n−1``: entries with an end outside are dropped, as the official
        code's ``A[S][:, S]``."""
        keep_node, new_id = _subset_maps(nodes, self.num_nodes)
        row = _rows(self.crow)
        keep = keep_node[row] & keep_node[self.col]
        crow = _crow_of_kept(self.crow, keep, nodes)
        return AdjacencyInterval(crow, new_id[self.col[keep]], self.lower[keep], self.upper[keep],
                                 self.is_diag[keep], nodes.numel())


def _rows(crow: Tensor) -> Tensor:
    return torch.repeat_interleave(torch.arange(crow.numel() - 1, device=crow.device),
                                   crow[1:] - crow[:-1])


def _subset_maps(nodes: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    if nodes.dim() != 1 or nodes.numel() == 0:
        raise ValueError("nodes must be a non-empty 1-D tensor of node ids")
    if bool((nodes[1:] <= nodes[:-1]).any()):
        raise ValueError("nodes must be sorted and unique (use torch.unique)")
    if int(nodes[0]) < 0 or int(nodes[-1]) >= num_nodes:
        raise ValueError(f"nodes must lie in [0, {num_nodes}), got [{int(nodes[0])}, {int(nodes[-1])}]")
    keep_node = torch.zeros(num_nodes, dtype=torch.bool, device=nodes.device)
    keep_node[nodes] = True
    new_id = torch.full((num_nodes,), -1, dtype=torch.long, device=nodes.device)
    new_id[nodes] = torch.arange(nodes.numel(), device=nodes.device)
    return keep_node, new_id


def _crow_of_kept(crow: Tensor, keep: Tensor, nodes: Tensor) -> Tensor:
    # rows stay in order because nodes is sorted, so the kept entries are already CSR-ordered
    prefix = torch.zeros(keep.numel() + 1, dtype=torch.long, device=keep.device)
    torch.cumsum(keep, 0, out=prefix[1:])
    counts = prefix[crow[nodes + 1]] - prefix[crow[nodes]]
    out = torch.zeros(nodes.numel() + 1, dtype=torch.long, device=keep.device)
    torch.cumsum(counts, 0, out=out[1:])
    return out


def restrict_adjacency(adjacency: SparseAdjacency, nodes: Tensor) -> SparseAdjacency:
    """The ``[n, n]`` block ``Â[S, S]`` of a sparse adjacency for the sorted ids ``nodes``."""
    keep_node, new_id = _subset_maps(nodes, adjacency.num_nodes)
    row = _rows(adjacency.crow)
    keep = keep_node[row] & keep_node[adjacency.col]
    crow = _crow_of_kept(adjacency.crow, keep, nodes)
    return SparseAdjacency(crow, new_id[adjacency.col[keep]], adjacency.value[keep], nodes.numel(),
                           normalization=adjacency.normalization)


# -- the encoder --------------------------------------------------------------------------

_SUPPORTED = ("GNNEncoder(conv='gcn') with activation relu, prelu (one slope), leaky_relu, "
              "rrelu_fixed or identity, and no dropout")


def activation_slope(activation: nn.Module) -> float:
    """Negative-side slope ``α`` of a piecewise-linear activation (0 for ReLU).

    A PReLU's slope is read as a number, so no gradient reaches it through the relaxation
    (as in the official code).
    """
    if isinstance(activation, nn.ReLU):
        return 0.0
    if isinstance(activation, nn.LeakyReLU):
        return float(activation.negative_slope)
    if isinstance(activation, nn.PReLU):
        if activation.weight.numel() != 1:
            raise ValueError("bound propagation supports a PReLU with one shared slope only")
        return float(activation.weight.detach())
    if isinstance(activation, nn.Identity):
        return 1.0
    raise ValueError(f"bound propagation cannot relax the activation {type(activation).__name__}; "
                     f"supported encoders: {_SUPPORTED}")


def check_bound_encoder(encoder: nn.Module) -> None:
    """Raise a ``ValueError`` naming what is unsupported unless node compactness can be
    computed through ``encoder``."""
    if not isinstance(encoder, GNNEncoder):
        raise TypeError(f"node compactness needs a {_SUPPORTED}; got {type(encoder).__name__}")
    if not all(isinstance(layer, GCNLayer) for layer in encoder.layers):
        raise ValueError(f"node compactness is derived for GCN layers only, this encoder uses "
                         f"conv={encoder.conv!r}; supported: {_SUPPORTED}")
    if isinstance(encoder.activation, nn.RReLU):  # a configuration value, not a wrong type
        raise ValueError(  # noqa: TRY004
            "RReLU draws random slopes in training, which bound propagation cannot relax; use "
            "activation='rrelu_fixed' (its mean slope, as GCA's code) or relu/prelu. "
            f"Supported: {_SUPPORTED}")
    activation_slope(encoder.activation)
    if encoder.dropout > 0:
        raise ValueError(f"the encoder applies dropout {encoder.dropout}, which node compactness "
                         "does not model; use dropout=0")


def _layer_slopes(encoder: GNNEncoder) -> list[float]:
    slope = activation_slope(encoder.activation)
    last = len(encoder.layers) - 1
    return [slope if (k < last or encoder.activate_last) else 1.0
            for k in range(len(encoder.layers))]


def _transform(layer: GCNLayer, x: Tensor) -> Tensor:
    """``x W`` of a GCN layer (no bias, no propagation; shared with the encoder's own
    product of the same ``x`` inside :func:`~graphcl.nn.encoders.reuse_transforms`)."""
    return layer.transform(x)


def _bias(layer: GCNLayer, like: Tensor) -> Tensor:
    return layer.bias if layer.bias is not None else like.new_zeros(layer.out_channels)


def layer_biases(encoder: GNNEncoder, like: Tensor) -> list[Tensor]:
    """Every layer's bias ``[d_k]`` (zeros of ``like``'s dtype for a layer without one)."""
    return [_bias(layer, like) for layer in encoder.layers]


def relu_relaxation(lower: Tensor, upper: Tensor, negative_slope: float) -> tuple[Tensor, Tensor]:
    """Linear relaxation of ``σ(y) = max(y, α·y)`` on ``y ∈ [lower, upper]`` (CROWN/Fast-Lin,
    one slope for both lines, as POT's ``get_alpha_beta``).

    Returns ``(slope, offset)`` with, for every ``y`` in the interval,
    ``slope·y <= σ(y) <= slope·y + offset``; the upper line is the chord through
    ``(l, σ(l))`` and ``(u, σ(u))``: ``slope = (u − αl)/(u − l)``,
    ``offset = (α − 1)·u·l/(u − l)`` for ``l < 0 < u``; slope 1 (``l >= 0``) or ``α``
    (``u <= 0``, which wins when ``l = u = 0``) and offset 0 otherwise. POT's code writes the
    upper line as ``slope·(y + β)``: ``offset = slope·β``, which is what its backward
    substitution multiplies out (``Λ·Δ``), so it is returned directly.

    Shapes: ``lower``, ``upper`` ``[..]`` → two tensors of the same shape.
    """
    return _ChordRelaxation.apply(lower, upper, float(negative_slope))


def _chord(lower: Tensor, upper: Tensor, alpha: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The chord relaxation's ``(slope, offset, r, w)`` (see :class:`_ChordRelaxation`):
    ``r = h/w``, and ``w = h − m`` floored at ``sqrt(tiny)`` for a backward pass's ``1/w``."""
    high, low = upper.clamp(min=0), lower.clamp(max=0)
    tiny = torch.finfo(lower.dtype).tiny
    # w = 0 only where h = m = 0: any positive floor gives the limits slope α, offset 0
    # there. A division, not a reciprocal times h: h/h is exactly 1, so r is exactly 1 (and
    # q = 1 − r exactly 0) on the stable entries l >= 0, however small h is
    width = high.sub(low).clamp_(min=tiny)
    ratio = high.div_(width)
    width.clamp_(min=tiny ** 0.5)
    slope = ratio if alpha == 0.0 else ratio.mul(1.0 - alpha).add_(alpha)     # α + (1−α)r
    offset = low.mul_(ratio).mul_(alpha - 1.0)
    return slope, offset, ratio, width


class _ChordRelaxation(torch.autograd.Function):
    """:func:`relu_relaxation` with hand-written derivatives: saves the two bounds instead of
    the dozen elementwise intermediates autograd would keep (the POT term's main memory and
    time on small graphs).

    With ``h = max(u, 0)``, ``m = min(l, 0)``, ``w = h − m``, ``r = h/w`` and ``q = −m/w``:
    ``slope = α + (1 − α)·r`` and ``offset = (α − 1)·r·m``, which give 1 / 0 when ``l >= 0``,
    α / 0 when ``u <= 0`` and the chord otherwise with no branch (comparisons and
    ``torch.where`` cost 5–15 elementwise products each on the CPU, and this runs on every
    hidden entry of both views). On unstable entries (zero elsewhere):
    ``∂slope/∂u = (1−α)·q/w``, ``∂slope/∂l = (1−α)·r/w``, ``∂offset/∂u = (1−α)·q²``,
    ``∂offset/∂l = (α−1)·r²``."""

    @staticmethod
    def forward(ctx, lower: Tensor, upper: Tensor, alpha: float):
        slope, offset, _, _ = _chord(lower, upper, alpha)
        ctx.save_for_backward(lower, upper)
        ctx.alpha = alpha
        return slope, offset

    @staticmethod
    def backward(ctx, grad_slope: Tensor, grad_offset: Tensor):
        lower, upper = ctx.saved_tensors
        scale = 1.0 - ctx.alpha
        high, low = upper.clamp(min=0), lower.clamp(max=0)
        # sqrt(tiny) keeps 1/w finite where h = m = 0; r, q <= 1 everywhere, and the mask
        # zeroes the stable entries, whose r or q is 1 without a derivative
        inv_width = (high - low).clamp_(min=torch.finfo(lower.dtype).tiny ** 0.5).reciprocal_()
        ratio_high, ratio_low = high.mul_(inv_width), low.mul_(inv_width).neg_()
        unstable = ratio_high * ratio_low
        unstable = unstable.sign_().mul_(scale)
        per_width = grad_slope * inv_width
        grad_upper = (grad_offset * ratio_low).add_(per_width).mul_(ratio_low).mul_(unstable)
        grad_lower = (grad_offset * ratio_high).sub_(per_width).mul_(ratio_high).mul_(unstable).neg_()
        return grad_lower, grad_upper, None


class _RelaxedLayerStep(torch.autograd.Function):
    """One layer of the surrogate's backward substitution, relaxation included, with a
    hand-written backward (see :func:`_relax_and_substitute` for the formulas).

    ``(lower, upper, coefficient, bias, alpha) → (Λ, b̃)``: ``Λ = a ⊙ c``,
    ``b̃ = Σ_d o ⊙ min(c, 0) + Λ·b`` with ``(a, o)`` the chord relaxation of
    :func:`relu_relaxation`. Autograd would run about thirty elementwise passes over
    ``[n, d]`` for this backward; the derivatives written out take about seventeen:
    with ``G = ∂Λ + ∂b̃ ⊗ b``, ``∂c = G ⊙ a + ∂b̃ ⊙ o ⊙ [c < 0]``, ``∂a = G ⊙ c``,
    ``∂o = ∂b̃ ⊙ min(c, 0)``, ``∂b = Λᵀ∂b̃``, and on unstable entries (``l < 0 < u``, zero
    elsewhere) with ``r = h/w``, ``q = 1 − r``: ``∂u = (1−α)·q·(∂a/w + ∂o·q)``,
    ``∂l = (1−α)·r·(∂a/w − ∂o·r)``. This backward is what the eager POT term spends most
    of its time in (the forward is about as cheap as autograd's). Masks are signs, not
    comparisons: on the CPU a comparison and a ``where`` cost several products each."""

    @staticmethod
    def forward(ctx, lower: Tensor, upper: Tensor, coefficient: Tensor, bias: Tensor,
                alpha: float):
        slope, offset, ratio, width = _chord(lower, upper, alpha)
        weighted = slope * coefficient
        negative_part = coefficient.clamp(max=0)
        bias_term = torch.mv(weighted, bias).add_((offset * negative_part).sum(1))
        ctx.save_for_backward(coefficient, bias, slope, offset, ratio, width, weighted,
                              negative_part)
        ctx.alpha = alpha
        return weighted, bias_term

    @staticmethod
    def backward(ctx, grad_weighted: Tensor, grad_bias_term: Tensor):
        coefficient, bias, slope, offset, ratio, width, weighted, negative_part = ctx.saved_tensors
        column = grad_bias_term[:, None]
        total = torch.addr(grad_weighted, grad_bias_term, bias)          # G
        grad_coefficient = total * slope
        # −o ⊙ [c < 0] as sign(min(c, 0)) ⊙ o: a comparison plus masked_fill or where runs
        # about 7x slower than a sign and a product here (bool tensors are not vectorized)
        grad_coefficient.addcmul_(column, negative_part.sign().mul_(offset), value=-1.0)
        grad_bias = torch.mv(weighted.t(), grad_bias_term)
        scaled_slope_grad = total.mul_(coefficient).div_(width)          # ∂a / w
        grad_offset = column * negative_part
        complement = 1.0 - ratio                                         # q
        unstable = (ratio * complement).sign_()
        if ctx.alpha != 0.0:
            unstable.mul_(1.0 - ctx.alpha)
        grad_upper = torch.addcmul(scaled_slope_grad, grad_offset, complement)
        grad_upper.mul_(complement).mul_(unstable)
        grad_lower = scaled_slope_grad.addcmul_(grad_offset, ratio, value=-1.0)
        grad_lower.mul_(ratio).mul_(unstable)
        return grad_lower, grad_upper, grad_coefficient, grad_bias, None


def contrastive_direction(other_view: Tensor) -> Tensor:
    """``W^CL`` of POT (``[n, d]``): ``ẑ_i − mean_{j≠i} ẑ_j`` of the other view's
    L2-normalized embeddings ``other_view`` (``[n, d]``, n >= 2), so that
    ``(W^CL_i)ᵀ z_i`` is the positive similarity minus the mean negative one."""
    n = other_view.size(0)
    if n < 2:
        raise ValueError("the contrastive direction needs at least two nodes")
    normalized = F.normalize(other_view, dim=1)
    return normalized * (n / (n - 1)) - normalized.sum(0, keepdim=True) / (n - 1)


def _relax_and_substitute(lowers: list[Tensor], uppers: list[Tensor], biases: list[Tensor],
                          transforms: list[Tensor], weights: list[Tensor], direction: Tensor,
                          alphas: tuple[float, ...], fused: bool = True) -> tuple[Tensor, list[Tensor]]:
    """The dense part of :func:`compactness_surrogate`, between its sparse products.

    Relaxes every layer's pre-activation box ``[lower, upper]`` (:func:`relu_relaxation`),
    then runs the official backward substitution from ``direction``, each node with its own
    slopes at every layer: ``Λ_k = a_k ⊙ W̃_{k+1}`` (``W̃_{L+1} = W^CL``),
    ``b̃_k = Σ_d Λ_k ⊙ min(W̃_{k+1}, 0) ⊙ offset_k + Λ_k b_k`` (the upper line is taken where
    the coefficient is negative) and ``W̃_k = Λ_k W_k``.

    Only elementwise work and small GEMMs, no sparse product: this is the part that
    ``torch.compile`` fuses (:class:`~graphcl.methods.POT`'s ``compile``).

    Args:
        lowers, uppers: per layer ``[n, d_k]`` pre-activation bounds (bias included).
        biases: per layer ``[d_k]``.
        transforms: per layer ``[n, d_k]`` ``H_{k−1}W_k`` (only the first is used).
        weights: per layer the ``[d_k, d_{k−1}]`` weight ``W_k`` (only layers ≥ 2 are used).
        direction: ``[n, d_L]`` ``W^CL``.
        alphas: per layer the activation's negative slope (1 for an unactivated layer).
        fused: each layer's step as :class:`_RelaxedLayerStep` (hand-written backward, for
            eager runs); ``False`` composes tensor operations, which ``torch.compile`` fuses
            into a few loops and which tests use as the reference.

    Returns:
        ``s`` (``[n]``, the input term ``x_i · W̃_1,i``) and the bias terms ``b̃_k``
        (``[n]`` each, layer order).
    """
    coefficient = direction
    bias_terms: list[Tensor] = [direction.new_zeros(0)] * len(lowers)
    for k in range(len(lowers) - 1, -1, -1):
        if fused:
            weighted, bias_terms[k] = _RelaxedLayerStep.apply(lowers[k], uppers[k], coefficient,
                                                              biases[k], float(alphas[k]))
        else:
            slope, offset = relu_relaxation(lowers[k], uppers[k], alphas[k])
            weighted = slope * coefficient                               # Λ_k
            # Λ_k·Δ_k, Δ_k = β_k where W̃ < 0, is offset·min(W̃, 0); min(c, 0) = c − relu(c)
            # because relu's backward is a vectorized kernel and clamp's a comparison + where
            shifted = offset * (coefficient - torch.relu(coefficient))
            bias_terms[k] = shifted.sum(1) + weighted @ biases[k]
        if k == 0:
            return (transforms[0] * weighted).sum(1), bias_terms
        coefficient = weighted @ weights[k]                             # W̃_k = Λ_k W_kᵀ
    raise AssertionError("unreachable")


_compiled_relax_and_substitute = None


def _compiled_dense_part():
    """The compiled :func:`_relax_and_substitute`, created on first use so that importing
    graphcl (or running eager) never touches the compiler; one per process."""
    global _compiled_relax_and_substitute
    if _compiled_relax_and_substitute is None:
        _compiled_relax_and_substitute = torch.compile(_relax_and_substitute)
    return _compiled_relax_and_substitute


def compactness_surrogate(encoder: GNNEncoder, x: Tensor, interval: AdjacencyInterval,
                          view_adjacency: SparseAdjacency, direction: Tensor,
                          nodes: Tensor | None = None,
                          clean_adjacency: SparseAdjacency | None = None,
                          transforms: list[Tensor] | SignedTransforms | None = None, compile: bool = False) -> Tensor:
    """Node compactness as the official POT code computes it (``pot_loss``; the "surrogate").

    1. Pre-activation bounds of layer ``k`` from the interval, around the *clean* input of
       that layer: ``C·(H_{k−1}W_k) ± R·|H_{k−1}W_k| + b_k`` with ``H_0 = X`` and
       ``H_k`` the encoder's clean hidden layers, all restricted to the node subset
       (computed as ``U·T^∓ + L·T^± + b_k``, the same box; :func:`_preactivation_bounds`).
    2. :func:`relu_relaxation` per layer; backward substitution from ``direction`` with
       each node's own slopes (``Λ_k = a_k ⊙ W̃_{k+1}``, ``b̃_k = Σ Λ_k(Δ_k + b_k)``).
    3. The linear function evaluated on the sampled view: ``h = Â'ᵀ s + b̃_1``, ...,
       ``f̃ = Â'ᵀ h + b̃_L`` with ``s_i = (x_i W_1)·Λ_1,i``. ``Â'ᵀ`` because the official
       code builds its sparse matrix as ``[source, target]``; it differs from ``Â'`` only
       on asymmetric views (directed edge dropping).

    This is not a lower bound over 𝒜 (it is evaluated at one ``Â'``, ignores the hidden
    layers' perturbation, and mixes nodes' slopes); see :func:`compactness_lower_bound`.

    Args:
        encoder: a GCN :class:`~graphcl.nn.GNNEncoder` (:func:`check_bound_encoder`).
        x: ``[N, F]`` input features (dense or sparse CSR), the unmasked ones in POT.
        interval: the view's :class:`AdjacencyInterval` (full graph).
        view_adjacency: the sampled view's GCN adjacency (``[N, N]``).
        direction: ``[n, d]`` ``W^CL`` for the nodes (:func:`contrastive_direction`).
        nodes: sorted ``[n]`` node ids (``None``: all nodes).
        clean_adjacency: the unaugmented graph's GCN adjacency (needed for > 1 layer unless
            ``transforms`` is given).
        transforms: :func:`clean_layer_transforms` of ``x`` (or their :class:`SignedTransforms`),
            to share one clean pass and its products between the two views.
        compile: run the dense part (:func:`_relax_and_substitute`) through ``torch.compile``,
            which fuses its elementwise passes (needs a C++ compiler on the CPU; the first
            call compiles).

    Returns:
        ``[n]`` compactness scores (differentiable w.r.t. the encoder and ``direction``).
    """
    if transforms is None:
        transforms = clean_layer_transforms(encoder, x, clean_adjacency)
    if not isinstance(transforms, SignedTransforms):
        transforms = SignedTransforms.of(transforms)
    if nodes is not None:
        interval = interval.restrict(nodes)
        view_adjacency = restrict_adjacency(view_adjacency.t(), nodes)
        transforms = transforms.rows(nodes)
    else:
        view_adjacency = view_adjacency.t()
    n = interval.num_nodes
    if direction.shape != (n, encoder.out_channels):
        raise ValueError(f"direction must be [n, d] = [{n}, {encoder.out_channels}], "
                         f"got {tuple(direction.shape)}")
    biases = layer_biases(encoder, transforms.transforms[0])
    lowers, uppers = _preactivation_bounds(interval, transforms, biases, direction.dtype)
    weights = [layer.linear.weight for layer in encoder.layers]
    dense_part = _compiled_dense_part() if compile else _relax_and_substitute
    score, bias_terms = dense_part(lowers, uppers, biases, transforms.transforms, weights,
                                   direction, tuple(_layer_slopes(encoder)), fused=not compile)
    view_adjacency = view_adjacency.to(score.dtype)
    for bias_term in bias_terms:
        score = propagate(view_adjacency, score[:, None]).squeeze(1) + bias_term
    return score


def _preactivation_bounds(interval: AdjacencyInterval, transforms: SignedTransforms,
                          biases: list[Tensor], dtype: torch.dtype) -> tuple[list[Tensor], list[Tensor]]:
    """Every layer's pre-activation box over the interval around its clean input ``T``:
    ``min_{L ≤ Â ≤ U} Â T + b = U·T⁻ + L·T⁺ + b`` and ``max = U·T⁺ + L·T⁻ + b`` entry-wise
    (all entries of ``Â`` are non-negative; this is the official ``C·T ∓ R·|T|`` with
    ``C, R = (U ± L)/2``, in two sparse products instead of two plus the ``|T|`` pass). ``L``
    is diagonal for deletion budgets (``1/d̃``, the same for every view of a graph), so its
    terms are row scalings that :meth:`SignedTransforms.with_self_terms` computes once for
    both views."""
    upper = interval.upper_matrix(dtype)
    diagonal = interval.lower_diagonal(dtype)
    if diagonal is not None:
        low_bases, high_bases = transforms.self_terms(diagonal, biases)
    else:
        lower = interval.matrix(interval.lower.to(dtype))
        low_bases = [propagate(lower, part) + bias for part, bias in zip(transforms.positive, biases)]
        high_bases = [propagate(lower, part) + bias for part, bias in zip(transforms.negative, biases)]
    lowers = [propagate_add(base, upper, part) for base, part in zip(low_bases, transforms.negative)]
    uppers = [propagate_add(base, upper, part) for base, part in zip(high_bases, transforms.positive)]
    return lowers, uppers


@dataclass
class SignedTransforms:
    """Every layer's clean transform ``T_k = H_{k−1}W_k`` (``[n, d_k]``) with its positive and
    negative parts ``T⁺ = max(T, 0)``, ``T⁻ = T − T⁺``, which the pre-activation bounds of
    every view use: compute them once and pass them to both views' surrogates.

    With :meth:`with_self_terms` it also holds the diagonal lower-bound terms
    ``L·T⁺ + b`` and ``L·T⁻ + b`` of a diagonal ``L`` (``[n]``), shared by every view whose
    interval has that diagonal."""

    transforms: list[Tensor]
    positive: list[Tensor]
    negative: list[Tensor]
    diagonal: Tensor | None = None
    low_bases: list[Tensor] | None = None
    high_bases: list[Tensor] | None = None

    @classmethod
    def of(cls, transforms: list[Tensor]) -> SignedTransforms:
        positive = [torch.relu(transformed) for transformed in transforms]
        return cls(list(transforms), positive,
                   [transformed - part for transformed, part in zip(transforms, positive)])

    def with_self_terms(self, diagonal: Tensor, biases: list[Tensor]) -> SignedTransforms:
        """A copy that also holds ``diagonal ⊙ T^± + b`` for every layer."""
        low_bases, high_bases = self._self_terms(diagonal, biases)
        return SignedTransforms(self.transforms, self.positive, self.negative, diagonal,
                                low_bases, high_bases)

    def self_terms(self, diagonal: Tensor, biases: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """``(L·T⁺ + b, L·T⁻ + b)`` per layer for ``L = diag(diagonal)``: the stored ones
        when they were made for an equal diagonal, else computed."""
        if self.diagonal is not None and (self.diagonal is diagonal
                                          or torch.equal(self.diagonal, diagonal)):
            return self.low_bases, self.high_bases
        return self._self_terms(diagonal, biases)

    def _self_terms(self, diagonal: Tensor, biases: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        scale = diagonal[:, None]
        return ([torch.addcmul(bias, scale, part) for part, bias in zip(self.positive, biases)],
                [torch.addcmul(bias, scale, part) for part, bias in zip(self.negative, biases)])

    def rows(self, nodes: Tensor) -> SignedTransforms:
        """The rows ``nodes`` of every tensor."""
        pick = lambda parts: None if parts is None else [part[nodes] for part in parts]
        return SignedTransforms(pick(self.transforms), pick(self.positive), pick(self.negative),
                                None if self.diagonal is None else self.diagonal[nodes],
                                pick(self.low_bases), pick(self.high_bases))


def clean_layer_transforms(encoder: GNNEncoder, x: Tensor,
                           clean_adjacency: SparseAdjacency | None) -> list[Tensor]:
    """Every layer's input times its weight on the unaugmented graph:
    ``[X W_1, H_1 W_2, ..., H_{L-1} W_L]`` (``[N, d_k]`` each), ``H_k`` the encoder's clean
    hidden layers. They do not depend on the view, so one call serves both views."""
    transforms = [_transform(encoder.layers[0], x)]
    for layer, next_layer in zip(encoder.layers[:-1], encoder.layers[1:]):
        if clean_adjacency is None:
            raise ValueError("clean_adjacency is required for an encoder with more than one layer")
        hidden = encoder.activation(propagate(clean_adjacency, transforms[-1])
                                    + _bias(layer, transforms[-1]))
        transforms.append(_transform(next_layer, hidden))
    return transforms


def compactness_lower_bound(encoder: GNNEncoder, x: Tensor, interval: AdjacencyInterval,
                            direction: Tensor) -> Tensor:
    """A certified lower bound of node compactness over every view in the interval.

    For every ``Â`` with ``lower <= Â <= upper`` entry-wise (in particular every view within
    the deletion budgets) and every node ``i``: ``(W^CL_i)ᵀ z_i(Â) >= bound_i``.

    Derivation (the last layer relaxed by CROWN, earlier layers by intervals):

    1. Interval bounds through the layers, sound for every admissible ``Â``: for
       ``y = Â V + b`` with ``V ∈ [V_lo, V_hi]`` and ``Â_ij ∈ [lo_ij, hi_ij]``, ``lo >= 0``,
       ``y >= lo·V_lo⁺ + hi·V_lo⁻ + b`` and ``y <= hi·V_hi⁺ + lo·V_hi⁻ + b`` (``⁺/⁻`` the
       positive/negative parts), and ``V = σ(y_prev) W`` bounded by centre/radius
       arithmetic. Layer 1 has ``V = XW₁`` exactly.
    2. The last layer's activation relaxed as :func:`relu_relaxation`:
       ``W^CL_i · σ(y_i) >= Λ_i · y_i + Σ offset ⊙ min(W^CL_i, 0)`` with ``Λ = a ⊙ W^CL``
       (the upper line where ``W^CL < 0``).
    3. ``Λ_i·y_i = Σ_j Â_ij (Λ_i·v_j) + Λ_i·b`` with ``v_j = σ(y_prev,j) W_L``: each term is
       minimized over the box of ``v_j`` (an SDDMM over the entries: ``g_ij =
       (ΛW_Lᵀ)_i⁺·h_lo,j + (ΛW_Lᵀ)_i⁻·h_hi,j`` with ``h`` the previous layer's activation
       bounds), then over ``Â_ij ∈ [lo, hi]``: ``Â_ij g_ij >= lo·g⁺ + hi·g⁻``.

    It is looser than the surrogate's linear function at a given ``Â'`` but holds for all of
    them at once. Memory O(E + N·d); time O(E·d) per layer.

    Args:
        encoder, x: as :func:`compactness_surrogate`.
        interval: the view's :class:`AdjacencyInterval`.
        direction: ``[N, d]`` ``W^CL``.

    Returns:
        ``[N]`` lower bounds.
    """
    dtype = direction.dtype
    lower = interval.matrix(interval.lower.to(dtype))
    upper = interval.matrix(interval.upper.to(dtype))
    slopes = _layer_slopes(encoder)
    num_layers = len(encoder.layers)
    # interval bounds of every layer's pre-activation; h_lo/h_hi bound the layer's input
    h_lo = h_hi = None
    for k, layer in enumerate(encoder.layers):
        bias = _bias(layer, direction)
        if k == 0:
            v_lo = v_hi = _transform(layer, x)
        else:
            weight_t = layer.linear.weight.t()
            mid, spread = (h_hi + h_lo) / 2 @ weight_t, (h_hi - h_lo) / 2 @ weight_t.abs()
            v_lo, v_hi = mid - spread, mid + spread
        if k == num_layers - 1:
            break
        y_lo = propagate(lower, v_lo.clamp(min=0)) + propagate(upper, v_lo.clamp(max=0)) + bias
        y_hi = propagate(upper, v_hi.clamp(min=0)) + propagate(lower, v_hi.clamp(max=0)) + bias
        h_lo, h_hi = _activate(y_lo, slopes[k]), _activate(y_hi, slopes[k])
    y_lo = propagate(lower, v_lo.clamp(min=0)) + propagate(upper, v_lo.clamp(max=0)) + bias
    y_hi = propagate(upper, v_hi.clamp(min=0)) + propagate(lower, v_hi.clamp(max=0)) + bias
    a, offset = relu_relaxation(y_lo, y_hi, slopes[-1])
    weighted = a * direction
    constant = (offset * direction.clamp(max=0)).sum(1) + weighted @ bias
    row, col = _rows(interval.crow), interval.col
    if num_layers == 1:  # the layer's input X is exact: no box
        pair = _min_pair_products(weighted, v_lo, v_lo, row, col)
    else:
        back = weighted @ encoder.layers[-1].linear.weight  # [N, d_{L-1}]
        pair = _min_pair_products(back, h_lo, h_hi, row, col)
    edge_min = torch.where(pair >= 0, interval.lower.to(dtype) * pair, interval.upper.to(dtype) * pair)
    return segment_sum(edge_min, interval.crow) + constant


def _activate(y: Tensor, slope: float) -> Tensor:
    return torch.where(y >= 0, y, slope * y)


def _min_pair_products(back: Tensor, h_lo: Tensor, h_hi: Tensor, row: Tensor, col: Tensor,
                       chunk: int = 1 << 16) -> Tensor:
    """``min_{h ∈ [h_lo_j, h_hi_j]} back_i · h`` for every entry ``(i, j)``, in chunks of
    entries so the gathered ``[chunk, d]`` blocks stay small."""
    out = back.new_empty(row.numel())
    positive, negative = back.clamp(min=0), back.clamp(max=0)
    for start in range(0, row.numel(), chunk):
        r, c = row[start:start + chunk], col[start:start + chunk]
        out[start:start + chunk] = ((positive[r] * h_lo[c]).sum(1)
                                    + (negative[r] * h_hi[c]).sum(1))
    return out
