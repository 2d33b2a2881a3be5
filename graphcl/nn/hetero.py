"""Encoders of heterogeneous graphs: HeCo's type-specific projections, meta-path encoder and
network-schema encoder.

HeCo (Wang, Liu, Han, Shi, "Self-supervised Heterogeneous Graph Neural Network with
Co-contrastive Learning", KDD 2021, arXiv 2105.09111) embeds the target nodes of a
heterogeneous graph twice:

* **meta-path view** (Sec. 4.3, Eq. 5–7): one GCN layer per meta-path graph of the target
  type, ``h^P = PReLU(Â_P h W_P + b_P)``, fused by semantic attention (HAN's, Wang et al.,
  WWW 2019) into ``z^mp``;
* **network-schema view** (Sec. 4.2, Eq. 2–4): for every neighbour type, attention over a
  fixed number ``k`` of sampled direct neighbours (a GAT-like score
  ``LeakyReLU(aᵀ[h_i ‖ h_j])``, softmax over the ``k`` samples), ELU, then type-level semantic
  attention into ``z^sc``.

Everything here is a tensor operation over all nodes at once: a meta-path GCN layer is one
sparse-dense product over the pre-normalized adjacency (:func:`graphcl.nn.propagate`), and
the schema attention works on ``[N, k]`` index tensors (``-1`` for "no neighbour"), no loop
over nodes. Neighbour sampling itself lives in :mod:`graphcl.augment.metapath`
(``NetworkSchema.sample_neighbors``); these modules take its output.

Official code read for this module (``liun-online/HeCo`` @ ``20e8ca2``):
``code/module/heco.py`` (projections ``ELU(Dropout(Linear(x)))``, Xavier-normal weights with
gain 1.414), ``code/module/mp_encoder.py`` (``GCN``, ``Attention``),
``code/module/sc_encoder.py`` (``intra_att``, ``inter_att``). As there, attention dropout
drops entries of the attention *vectors* ``a`` (not of the attention weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .adjacency import SparseAdjacency
from .encoders import GCNLayer
from .features import TransposeCache, is_sparse_features, sparse_features_linear

__all__ = [
    "ContextEnrichment",
    "HeteroInputProjection",
    "MetaPathEncoder",
    "MetaPathGCN",
    "NeighborAttention",
    "SchemaEncoder",
    "SemanticAttention",
]

#: Xavier-normal gain of every weight in HeCo's official modules.
HECO_GAIN = 1.414


def _xavier(weight: Tensor) -> None:
    nn.init.xavier_normal_(weight, gain=HECO_GAIN)


class _Dropout(torch.autograd.Function):
    """Inverted dropout whose mask comes from ``torch.rand`` (one uniform per element, the
    same global generator as ``F.dropout``): on the CPU ``bernoulli_`` costs about twice
    as much, and MEOW draws 16 dropout masks per epoch."""

    @staticmethod
    def forward(ctx, x: Tensor, p: float) -> Tensor:
        scale = torch.rand(x.shape, dtype=x.dtype, device=x.device).ge_(p).mul_(1.0 / (1.0 - p))
        ctx.save_for_backward(scale)
        return x * scale

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        (scale,) = ctx.saved_tensors
        return grad_output * scale, None


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``F.dropout(x, p, training)``: each entry zeroed with probability ``p``, the rest
    scaled by ``1/(1 − p)``; identity when not training or ``p = 0``."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    return _Dropout.apply(x, float(p))


def _dropped(vector: nn.Parameter, p: float, training: bool) -> Tensor:
    return dropout(vector, p, training)


class HeteroInputProjection(nn.Module):
    r"""Type-specific input projections :math:`h_i = \mathrm{ELU}(\mathrm{Dropout}(W_{\phi_i}
    x_i + b_{\phi_i}))` (HeCo, Sec. 4.1, Eq. 1, with the official feature dropout).

    Features may be dense or torch sparse CSR (bag-of-words files, one-hot identities): a
    sparse ``x`` costs O(nnz·d) (see :mod:`graphcl.nn.features`), so a one-hot type of ``N``
    nodes is in effect an ``N × d`` embedding table.

    Args:
        in_channels: ``{node type: input width}`` of the types to project.
        out_channels: ``d`` (HeCo's ``hidden_dim``).
        dropout: feature dropout on ``W x + b``, before the ELU (HeCo's ``feat_drop``).

    Shapes:
        - input: ``{type: [N_type, F_type]}`` (dense or sparse CSR); extra types are ignored
        - output: ``{type: [N_type, d]}`` for each type of ``in_channels`` (or of ``types``)
    """

    def __init__(self, in_channels: Mapping[str, int], out_channels: int,
                 dropout: float = 0.0, init: str = "xavier") -> None:
        super().__init__()
        if not in_channels:
            raise ValueError("in_channels needs at least one node type")
        if init not in ("xavier", "default"):
            raise ValueError(f"init must be 'xavier' (HeCo) or 'default' (PyTorch's Linear, "
                             f"MEOW), got {init!r}")
        self.init = init
        for node_type, width in in_channels.items():
            if not isinstance(width, int) or width < 1:
                raise ValueError(f"in_channels[{node_type!r}] must be a positive int, got {width!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels = dict(in_channels)
        self.out_channels = out_channels
        self.dropout = dropout
        self.linears = nn.ModuleDict({t: nn.Linear(w, out_channels) for t, w in in_channels.items()})
        self._transpose_caches = {t: TransposeCache() for t in in_channels}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-normal weights (gain 1.414) and PyTorch's default bias, as HeCo; with
        ``init="default"`` PyTorch's ``Linear`` initialization, as MEOW."""
        for linear in self.linears.values():
            linear.reset_parameters()
            if self.init == "xavier":
                _xavier(linear.weight)

    def project(self, node_type: str, x: Tensor) -> Tensor:
        """``ELU(Dropout(W x + b))`` of one type: ``[N_type, F_type]`` → ``[N_type, d]``."""
        if node_type not in self.linears:
            raise ValueError(f"no input projection for node type {node_type!r}; this module "
                             f"projects {list(self.linears)}")
        linear = self.linears[node_type]
        if x.dim() != 2 or x.size(1) != linear.in_features:
            raise ValueError(f"features of {node_type!r} must be [N, {linear.in_features}], got "
                             f"{tuple(x.shape)}")
        if is_sparse_features(x):
            out = sparse_features_linear(x, linear.weight, self._transpose_caches[node_type])
            out = out + linear.bias
        else:
            out = linear(x.to(linear.weight.dtype))
        return F.elu(dropout(out, self.dropout, self.training))

    def forward(self, x_dict: Mapping[str, Tensor],
                types: Sequence[str] | None = None) -> dict[str, Tensor]:
        types = list(self.linears) if types is None else list(types)
        missing = [t for t in types if t not in x_dict]
        if missing:
            raise ValueError(f"no features given for node types {missing}")
        return {t: self.project(t, x_dict[t]) for t in types}

    def extra_repr(self) -> str:
        return f"{self.in_channels}, out_channels={self.out_channels}, dropout={self.dropout}"


class SemanticAttention(nn.Module):
    r"""Semantic-level attention over ``P`` embeddings of the same nodes (HAN, Wang et al.,
    WWW 2019, Eq. 7–9; HeCo Eq. 4 and 6):

    .. math::
        w_p = \frac{1}{N} \sum_i a^\top \tanh(W h_i^{p} + b), \qquad
        \beta = \mathrm{softmax}(w), \qquad z_i = \sum_p \beta_p h_i^{p}.

    Args:
        channels: ``d``.
        dropout: dropout on the attention vector ``a`` (HeCo's ``attn_drop``).

    Shapes:
        - input: a list of ``P`` tensors ``[N, d]`` (or one ``[P, N, d]`` tensor)
        - output: ``(z [N, d], beta [P])``; ``beta`` sums to 1
    """

    def __init__(self, channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.channels = channels
        self.dropout = dropout
        self.linear = nn.Linear(channels, channels)
        self.att = nn.Parameter(torch.empty(1, channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()
        _xavier(self.linear.weight)
        _xavier(self.att)

    def forward(self, embeddings: Sequence[Tensor] | Tensor) -> tuple[Tensor, Tensor]:
        stacked = embeddings if isinstance(embeddings, Tensor) else torch.stack(list(embeddings))
        if stacked.dim() != 3 or stacked.size(-1) != self.channels:
            raise ValueError(f"embeddings must be P tensors [N, {self.channels}], got a stack of "
                             f"shape {tuple(stacked.shape)}")
        summary = torch.tanh(self.linear(stacked)).mean(dim=1)  # [P, d]
        att = _dropped(self.att, self.dropout, self.training)
        beta = torch.softmax((summary @ att.t()).view(-1), dim=0)
        return torch.einsum("p,pnd->nd", beta, stacked), beta


class MetaPathEncoder(nn.Module):
    r"""HeCo's meta-path view encoder (Sec. 4.3, Eq. 5–7): per meta-path ``P`` one GCN layer
    :math:`h^P = \mathrm{PReLU}_P(\hat A_P\, h\, W_P + b_P)` on the meta-path graph's
    normalized adjacency, then :class:`SemanticAttention` across meta-paths.

    The adjacencies are :class:`~graphcl.nn.SparseAdjacency` objects (or torch sparse
    tensors) built once per graph, e.g. ``CSRGraph(edge_index, N, weight).adjacency(None,
    "gcn")`` for HeCo's ``D^{-1/2} M D^{-1/2}`` of a meta-path matrix ``M`` with its diagonal.

    Args:
        channels: ``d`` (input and output width, as HeCo).
        num_metapaths: ``P``.
        attn_drop: dropout on the semantic attention vector.

    Shapes:
        - input: ``h`` ``[N, d]``, ``P`` adjacencies ``[N, N]``
        - output: ``z^mp`` ``[N, d]`` (with ``return_attention``: ``(z^mp, beta [P])``)
    """

    def __init__(self, channels: int, num_metapaths: int, attn_drop: float = 0.0) -> None:
        super().__init__()
        if num_metapaths < 1:
            raise ValueError(f"num_metapaths must be >= 1, got {num_metapaths}")
        self.channels = channels
        self.num_metapaths = num_metapaths
        self.convs = nn.ModuleList(GCNLayer(channels, channels) for _ in range(num_metapaths))
        self.activations = nn.ModuleList(nn.PReLU() for _ in range(num_metapaths))
        self.attention = SemanticAttention(channels, attn_drop)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv, activation in zip(self.convs, self.activations):
            conv.reset_parameters()
            _xavier(conv.linear.weight)  # HeCo: xavier_normal_(gain=1.414), zero bias
            activation.reset_parameters()
        self.attention.reset_parameters()

    def views(self, h: Tensor, adjacencies: Sequence[SparseAdjacency | Tensor]) -> list[Tensor]:
        """The per-meta-path embeddings ``h^P`` (``P`` tensors ``[N, d]``)."""
        if len(adjacencies) != self.num_metapaths:
            raise ValueError(f"expected {self.num_metapaths} meta-path adjacencies, got "
                             f"{len(adjacencies)}")
        return [act(conv(h, adj)) for conv, act, adj in
                zip(self.convs, self.activations, adjacencies)]

    def forward(self, h: Tensor, adjacencies: Sequence[SparseAdjacency | Tensor],
                return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        z, beta = self.attention(self.views(h, adjacencies))
        return (z, beta) if return_attention else z


class NeighborAttention(nn.Module):
    r"""Node-level attention over ``k`` sampled neighbours of one type (HeCo Eq. 2–3):

    .. math::
        \alpha_{ij} = \mathrm{softmax}_{j}\,\mathrm{LeakyReLU}\big(a^\top [h_i \,\|\, h_j]\big),
        \qquad h_i^{\Phi} = \sum_j \alpha_{ij} h_j .

    ``aᵀ[h_i ‖ h_j] = a_1ᵀh_i + a_2ᵀh_j``, so the scores come from two matrix-vector
    products and an ``[N, k]`` gather; no ``[N, k, 2d]`` tensor is built. Index ``-1`` marks a
    missing neighbour (a node with no neighbour of this type): it gets no weight, and a row
    without any neighbour gives a zero vector. The ELU of Eq. 3 is applied by the caller.

    Args:
        channels: ``d``.
        dropout: dropout on the attention vector ``a`` (HeCo's ``attn_drop``).
        negative_slope: LeakyReLU slope (0.01, PyTorch's default, as HeCo).

    Shapes:
        - input: ``h_target`` ``[N, d]``, ``h_neighbors`` ``[M, d]``, ``index`` ``[N, k]``
          int64 in ``[-1, M)``
        - output: ``[N, d]`` (with ``return_attention``: also ``alpha [N, k]``)
    """

    def __init__(self, channels: int, dropout: float = 0.0, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.channels = channels
        self.dropout = dropout
        self.negative_slope = negative_slope
        self.att = nn.Parameter(torch.empty(1, 2 * channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _xavier(self.att)

    def forward(self, h_target: Tensor, h_neighbors: Tensor, index: Tensor,
                return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        if index.dim() != 2 or index.size(0) != h_target.size(0):
            raise ValueError(f"index must be [N, k] with N = {h_target.size(0)}, got "
                             f"{tuple(index.shape)}")
        if index.dtype != torch.long:
            raise ValueError(f"index must be int64, got {index.dtype}")
        if index.numel() and int(index.max()) >= h_neighbors.size(0):
            raise ValueError(f"index refers to neighbour {int(index.max())} but h_neighbors has "
                             f"{h_neighbors.size(0)} rows")
        att = _dropped(self.att, self.dropout, self.training).view(-1)
        d = self.channels
        valid = index >= 0
        safe = index.clamp(min=0)
        score = (h_target @ att[:d]).unsqueeze(1) + (h_neighbors @ att[d:])[safe]
        score = F.leaky_relu(score, self.negative_slope)
        score = score.masked_fill(~valid, float("-inf"))
        # rows without any neighbour: a finite dummy score, weights zeroed below
        score = torch.where(valid.any(1, keepdim=True), score, torch.zeros_like(score))
        alpha = torch.softmax(score, dim=1) * valid
        out = torch.einsum("nk,nkd->nd", alpha, h_neighbors[safe])
        return (out, alpha) if return_attention else out


class SchemaEncoder(nn.Module):
    r"""HeCo's network-schema view encoder (Sec. 4.2, Eq. 2–4): per neighbour type
    ``Φ``, :class:`NeighborAttention` over the sampled neighbours, ELU; then type-level
    :class:`SemanticAttention` into ``z^sc``.

    Args:
        channels: ``d``.
        neighbor_types: the neighbour types, in the order of the type-level attention.
        attn_drop: dropout on the attention vectors.

    Shapes:
        - input: ``h_target`` ``[N, d]``; ``h_neighbors`` ``{type: [N_type, d]}``; ``samples``
          ``{type: [N, k_type]}`` int64 (``-1``: none), e.g. from
          ``NetworkSchema.sample_neighbors``
        - output: ``z^sc`` ``[N, d]`` (with ``return_attention``: ``(z^sc, beta [T])``)
    """

    def __init__(self, channels: int, neighbor_types: Sequence[str], attn_drop: float = 0.0) -> None:
        super().__init__()
        neighbor_types = list(neighbor_types)
        if not neighbor_types:
            raise ValueError("SchemaEncoder needs at least one neighbour type")
        if len(set(neighbor_types)) != len(neighbor_types):
            raise ValueError(f"neighbor_types has duplicates: {neighbor_types}")
        self.channels = channels
        self.neighbor_types = neighbor_types
        self.intra = nn.ModuleDict({t: NeighborAttention(channels, attn_drop)
                                    for t in neighbor_types})
        self.inter = SemanticAttention(channels, attn_drop)

    def reset_parameters(self) -> None:
        for module in self.intra.values():
            module.reset_parameters()
        self.inter.reset_parameters()

    def forward(self, h_target: Tensor, h_neighbors: Mapping[str, Tensor],
                samples: Mapping[str, Tensor],
                return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        missing = [t for t in self.neighbor_types if t not in h_neighbors or t not in samples]
        if missing:
            raise ValueError(f"neighbour types {missing} lack embeddings or samples")
        per_type = [F.elu(self.intra[t](h_target, h_neighbors[t], samples[t]))
                    for t in self.neighbor_types]
        z, beta = self.inter(per_type)
        return (z, beta) if return_attention else z


class MetaPathGCN(nn.Module):
    r"""MEOW's two-layer GCN, one set of weights shared by every view it encodes (Yu et al.,
    SDM 2023, Sec. IV-B; ``code_meow/module/encoder.py``):

    .. math::
        H = \mathrm{PReLU}(\hat A\, \mathrm{Dropout}(X W_1)), \quad
        Z = \hat A\, \mathrm{Dropout}(H W_2), \quad
        Z \leftarrow (Z - \bar Z) / \sqrt{\mathrm{Var}(Z) + 10^{-5}},

    without biases; the last step is a LayerNorm over the **whole** ``[N, d]`` matrix (one
    mean and variance for all entries, no affine), as the official ``nn.LayerNorm(Z.size())``.
    Weights start uniform in ``±1/√(out)``.

    Args:
        in_channels, hidden_channels, out_channels: widths. dropout: on ``XW`` and ``HW``.

    Shapes:
        - input: ``x`` ``[N, in]``, ``adjacency`` ``[N, N]`` (normalized)
        - output: ``[N, out]``
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.weight1 = nn.Parameter(torch.empty(in_channels, hidden_channels))
        self.weight2 = nn.Parameter(torch.empty(hidden_channels, out_channels))
        self.activation = nn.PReLU()
        self.dropout = dropout
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for weight in (self.weight1, self.weight2):
            bound = 1.0 / weight.size(1) ** 0.5
            nn.init.uniform_(weight, -bound, bound)
        self.activation.reset_parameters()

    def forward(self, x: Tensor, adjacency: SparseAdjacency | Tensor) -> Tensor:
        from .adjacency import propagate

        hidden = dropout(x @ self.weight1, self.dropout, self.training)
        hidden = self.activation(propagate(adjacency, hidden))
        z = propagate(adjacency, dropout(hidden @ self.weight2, self.dropout, self.training))
        variance, mean = torch.var_mean(z, correction=0)
        return (z - mean) * torch.rsqrt(variance + 1e-5)


class ContextEnrichment(nn.Module):
    r"""MEOW's fine-grained node inputs (Sec. IV-B): per meta-path ``P``, the target's
    projection plus bias-free linear maps of its meta-path contexts' mean features,

    .. math:: u_i^P = \mathrm{ELU}\big(h_i + \textstyle\sum_l \mathrm{Dropout}(W_{P,l}\,
        \bar c_i^{P,l})\big),

    with ``c̄^{P,l}`` the mean projected feature of the nodes at position ``l`` of ``i``'s
    instances of ``P`` (:func:`graphcl.augment.aggregate_context`). One ``W_{P,l}`` per
    meta-path and position (DBLP's APA, APCPA, APTPA: 1 + 3 + 3 = 7, as the official code).

    Args:
        channels: ``d``. positions: number of context positions of each meta-path.
        dropout: on each mapped context.

    Shapes:
        - ``context_terms(contexts)``: ``contexts[P][l]`` ``[N, d]`` → ``P`` tensors ``[N, d]``
        - ``forward(h, terms)``: ``h`` ``[N, d]`` (or ``P`` tensors ``[N, d]``, one target
          input per meta-path) → ``P`` tensors ``[N, d]``
    """

    def __init__(self, channels: int, positions: Sequence[int], dropout: float = 0.0) -> None:
        super().__init__()
        if not positions or any(p < 1 for p in positions):
            raise ValueError(f"every meta-path needs at least one context position, got "
                             f"{list(positions)} (a one-hop meta-path has no context)")
        self.positions = list(positions)
        self.dropout = dropout
        self.linears = nn.ModuleList(
            nn.ModuleList(nn.Linear(channels, channels, bias=False) for _ in range(count))
            for count in self.positions)

    def context_terms(self, contexts: Sequence[Sequence[Tensor]]) -> list[Tensor]:
        if len(contexts) != len(self.positions):
            raise ValueError(f"expected contexts for {len(self.positions)} meta-paths, got "
                             f"{len(contexts)}")
        terms = []
        for linears, per_position in zip(self.linears, contexts):
            if len(per_position) != len(linears):
                raise ValueError(f"a meta-path has {len(linears)} context positions, got "
                                 f"{len(per_position)} aggregated contexts")
            terms.append(sum(dropout(linear(c), self.dropout, self.training)
                             for linear, c in zip(linears, per_position)))
        return terms

    def forward(self, h: Tensor | Sequence[Tensor], terms: Sequence[Tensor]) -> list[Tensor]:
        if isinstance(h, Tensor):
            return [F.elu(h + term) for term in terms]
        if len(h) != len(terms):
            raise ValueError(f"got {len(h)} per-meta-path target inputs for {len(terms)} "
                             "meta-paths")
        return [F.elu(h_path + term) for h_path, term in zip(h, terms)]
