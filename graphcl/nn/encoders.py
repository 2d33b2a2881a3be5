"""GNN encoders over a view's adjacency, and projection heads.

Every encoder has one signature, ``forward(x, adj) -> Tensor[N, d]``, where ``adj`` is a
:class:`~graphcl.nn.adjacency.SparseAdjacency` (the fast path: normalized once per view), a
torch sparse ``[N, N]`` tensor taken as already normalized, or a PyG ``edge_index``
(normalized on the fly, as ``GCNConv`` does).
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import pairwise

import torch
from torch import Tensor, nn

from .adjacency import (
    AdjacencySum,
    BlockDiagonalAdjacency,
    SparseAdjacency,
    gcn_adjacency,
    propagate,
)
from .features import (
    TransposeCache,
    is_sparse_features,
    masked_columns_of,
    sparse_features_linear,
)

__all__ = ["ACTIVATIONS", "GCNEncoder", "GCNLayer", "ProjectionHead", "make_activation",
           "reuse_transforms"]

# (layer, input, grad mode) -> (input, x W) while a reuse_transforms() scope is open (per
# thread/task)
_transform_memo: ContextVar[dict[tuple[int, int, bool], tuple[Tensor, Tensor]] | None] = ContextVar(
    "graphcl_transform_memo", default=None)


#: the largest fraction of dropped columns for which a masked view's ``x W`` is the shared
#: ``source W`` corrected by its dropped columns (each view then costs this fraction of a
#: product plus a gather and a subtraction, against a whole product; break-even near 1/3)
MASKED_COLUMNS_SHARE = 0.25


@contextmanager
def reuse_transforms() -> Iterator[None]:
    """Inside this scope a :class:`GCNLayer` given the *same* input tensor again reuses its
    ``x W`` instead of multiplying again (two views without feature masking, POT's clean
    pass): one product forward and one ``Xᵀ G`` backward instead of one per use. Views whose
    dense features drop a few columns (:func:`~graphcl.nn.features.mark_masked_columns`,
    at most ``MASKED_COLUMNS_SHARE`` of them) share it too, each subtracting its dropped
    columns' part.

    Open it around one loss evaluation only: the shared product is a node of that
    evaluation's graph, and a later step must not reuse it after the weights changed.
    Nested scopes share the outer one's memo.
    """
    if _transform_memo.get() is not None:
        yield
        return
    token = _transform_memo.set({})
    try:
        yield
    finally:
        _transform_memo.reset(token)


ACTIVATIONS = ("relu", "prelu", "rrelu", "rrelu_fixed", "elu", "leaky_relu", "tanh", "identity")
# torch's RReLU bounds; F.rrelu outside training uses the slope (lower + upper) / 2
_RRELU_MEAN_SLOPE = (1.0 / 8.0 + 1.0 / 3.0) / 2.0


def make_activation(name: str) -> nn.Module:
    """The activation module named ``name`` (one of :data:`ACTIVATIONS`).

    ``prelu`` has one learned slope (as in GRACE/GCA's ``nn.PReLU()``); ``rrelu`` is
    ``nn.RReLU()``, random slopes in training mode and their mean in eval mode (gCooL's
    choice); ``rrelu_fixed`` is what GCA's ``F.rrelu`` computes (``training=False`` by
    default): a leaky ReLU with the mean slope 0.229, in training too.
    """
    if name == "rrelu_fixed":
        return nn.LeakyReLU(_RRELU_MEAN_SLOPE)
    table = {
        "relu": nn.ReLU,
        "prelu": nn.PReLU,
        "rrelu": nn.RReLU,
        "elu": nn.ELU,
        "leaky_relu": nn.LeakyReLU,
        "tanh": nn.Tanh,
        "identity": nn.Identity,
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return table[name]()


def as_adjacency(adj: SparseAdjacency | Tensor, x: Tensor,
                 normalization: str = "gcn") -> SparseAdjacency | Tensor:
    """Turn an encoder's ``adj`` argument into what its layers consume.

    An ``edge_index`` (``[2, E]`` int64) is normalized on the fly, for the nodes and dtype of
    the features ``x`` (``[N, F]``), with ``normalization``
    (see :meth:`CSRGraph.adjacency`); a :class:`SparseAdjacency` must carry that
    normalization; a torch sparse tensor is taken as already normalized.
    """
    if isinstance(adj, SparseAdjacency):
        if adj.normalization not in (None, normalization):
            raise ValueError(
                f"this layer needs a {normalization!r} adjacency but got a "
                f"{adj.normalization!r} one; build it with CSRGraph.adjacency(mask, "
                f"normalization={normalization!r})"
            )
        return adj
    if isinstance(adj, (BlockDiagonalAdjacency, AdjacencySum)):
        return adj  # built from normalized adjacencies, as a torch sparse tensor is
    if isinstance(adj, Tensor) and adj.layout != torch.strided:
        return adj
    if isinstance(adj, Tensor) and adj.dim() == 2 and adj.size(0) == 2:
        return gcn_adjacency(adj, x.size(0), dtype=x.dtype, normalization=normalization)
    raise TypeError(
        "adj must be a SparseAdjacency, a torch sparse [N, N] tensor or an edge_index of shape "
        f"[2, E], got {type(adj).__name__}"
        + (f" of shape {tuple(adj.shape)}" if isinstance(adj, Tensor) else "")
    )


class GCNLayer(nn.Module):
    r"""Graph convolution :math:`X' = \hat A X W + b` (Kipf & Welling, ICLR 2017, Eq. 2).

    :math:`\hat A` is the view's normalized adjacency. The product is ordered so the sparse
    matrix multiplies the narrower side (``Â(XW)`` when shrinking, ``(ÂX)W`` when widening),
    which is the same map with fewer flops.

    ``x`` may be a sparse CSR matrix (bag-of-words features): then ``XW`` costs O(nnz·F')
    instead of O(N·F·F'), see :mod:`graphcl.nn.features`.

    Args:
        in_channels: input width ``F``; out_channels: output width ``F'``.
        bias: add a learned bias.

    Shapes:
        - input: ``x`` ``[N, F]`` (dense or sparse CSR), ``adj`` ``[N, N]``
        - output: ``[N, F']``
    """

    normalization = "gcn"

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.linear = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self._transpose_cache = TransposeCache()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights and zero bias, as PyG's ``GCNConv``."""
        nn.init.xavier_uniform_(self.linear.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def transform(self, x: Tensor) -> Tensor:
        """``x W`` (``[N, F']``, no bias), reused for the same ``x`` inside
        :func:`reuse_transforms`."""
        # grad mode in the key: a product made under no_grad has no graph to share
        memo, key = _transform_memo.get(), (id(self), id(x), torch.is_grad_enabled())
        if memo is not None and key in memo and memo[key][0] is x:
            return memo[key][1]
        if is_sparse_features(x):
            out = sparse_features_linear(x, self.linear.weight, self._transpose_cache)
        elif memo is not None and (corrected := self._masked_transform(x)) is not None:
            out = corrected
        else:
            out = self.linear(x)
        if memo is not None:
            memo[key] = (x, out)
        return out

    def _masked_transform(self, x: Tensor) -> Tensor | None:
        """``x W`` for column-masked features (:func:`~graphcl.nn.features.mark_masked_columns`)
        as the shared ``source W`` minus the dropped columns' ``source[:, d] W[d]``, or
        ``None`` when ``x`` is not marked or drops too many columns for that to pay."""
        marked = masked_columns_of(x)
        if marked is None:
            return None
        source, keep = marked
        dropped = (~keep).nonzero().squeeze(1)
        if dropped.numel() > MASKED_COLUMNS_SHARE * keep.numel():
            return None
        shared = self.transform(source)
        if dropped.numel() == 0:
            return shared
        return shared - nn.functional.linear(source.index_select(1, dropped),
                                             self.linear.weight.index_select(1, dropped))

    def forward(self, x: Tensor, adj: SparseAdjacency | Tensor) -> Tensor:
        adj = as_adjacency(adj, x, self.normalization)
        if is_sparse_features(x) or self.out_channels <= self.in_channels:
            out = propagate(adj, self.transform(x))
        else:
            out = self.linear(propagate(adj, x))
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"


def _aggregate_then_transform(adj, x: Tensor, linear: nn.Linear) -> Tensor:
    """``A (x W)`` or ``(A x) W``, whichever multiplies the sparse matrix by fewer columns."""
    if linear.out_features <= linear.in_features:
        return propagate(adj, linear(x))
    return linear(propagate(adj, x))


class SAGELayer(nn.Module):
    r"""GraphSAGE with mean aggregation, :math:`x'_i = W_1 x_i + W_2 \operatorname{mean}_{j \to i}
    x_j` (Hamilton, Ying, Leskovec, NeurIPS 2017, Alg. 1 with the mean aggregator; as PyG's
    ``SAGEConv``). Consumes a ``"mean"`` adjacency.

    Shapes: ``x`` ``[N, F]`` → ``[N, F']``.
    """

    normalization = "mean"

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lin_neighbors = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_root = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_neighbors.reset_parameters()
        self.lin_root.reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, adj: SparseAdjacency | Tensor) -> Tensor:
        adj = as_adjacency(adj, x, self.normalization)
        out = _aggregate_then_transform(adj, x, self.lin_neighbors) + self.lin_root(x)
        return out + self.bias if self.bias is not None else out


class GINLayer(nn.Module):
    r"""Graph isomorphism layer :math:`x'_i = \mathrm{MLP}((1 + \epsilon) x_i + \sum_{j \to i}
    x_j)` (Xu, Hu, Leskovec, Jegelka, ICLR 2019, Eq. 4.1) with a two-layer MLP.
    Consumes a ``"sum"`` adjacency.

    Shapes: ``x`` ``[N, F]`` → ``[N, F']``.
    """

    normalization = "sum"

    def __init__(self, in_channels: int, out_channels: int, eps: float = 0.0,
                 train_eps: bool = False, activation: str = "relu") -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mlp = nn.Sequential(nn.Linear(in_channels, out_channels), make_activation(activation),
                                 nn.Linear(out_channels, out_channels))
        self.eps = nn.Parameter(torch.tensor(float(eps))) if train_eps else float(eps)

    def reset_parameters(self) -> None:
        for module in self.mlp:
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, x: Tensor, adj: SparseAdjacency | Tensor) -> Tensor:
        adj = as_adjacency(adj, x, self.normalization)
        return self.mlp((1 + self.eps) * x + propagate(adj, x))


class GATLayer(nn.Module):
    """Graph attention (Veličković et al., ICLR 2018, Eq. 1–4): PyG's ``GATConv`` run on the
    view's structure (self-loops included, so ``add_self_loops=False``). Consumes an
    ``"attention"`` adjacency or an ``edge_index``.

    Args:
        heads: attention heads; with ``concat`` the output is ``heads · out_channels // heads``
            wide, so ``out_channels`` must be divisible by ``heads``.

    Shapes: ``x`` ``[N, F]`` → ``[N, out_channels]``.
    """

    normalization = "attention"

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        from torch_geometric.nn import GATConv

        if out_channels % heads:
            raise ValueError(f"out_channels ({out_channels}) must be divisible by heads ({heads})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv = GATConv(in_channels, out_channels // heads, heads=heads, dropout=dropout,
                            add_self_loops=False)

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, x: Tensor, adj: SparseAdjacency | Tensor) -> Tensor:
        adj = as_adjacency(adj, x, self.normalization)
        if isinstance(adj, (BlockDiagonalAdjacency, AdjacencySum)):
            raise TypeError("a GAT layer attends over edges: pass an edge_index or a "
                            "SparseAdjacency, not a block-diagonal or summed adjacency")
        if isinstance(adj, SparseAdjacency):
            return self.conv(x, adj.edge_index())
        return self.conv(x, adj)


class LinearLayer(nn.Module):
    """A linear layer that ignores the graph (an MLP encoder's layer).

    Shapes: ``x`` ``[N, F]`` → ``[N, F']``.
    """

    normalization = None

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.linear = nn.Linear(in_channels, out_channels)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def forward(self, x: Tensor, adj=None) -> Tensor:
        return self.linear(x)


LAYERS: dict[str, type[nn.Module]] = {
    "gcn": GCNLayer, "sage": SAGELayer, "gin": GINLayer, "gat": GATLayer, "mlp": LinearLayer,
}


class GNNEncoder(nn.Module):
    """A stack of graph layers with an activation after every layer (the last too, as GRACE,
    GCA and gCooL do).

    Args:
        in_channels: input feature width.
        hidden_channels: width of each hidden layer (an int is repeated).
        out_channels: embedding width ``d``.
        num_layers: number of layers (>= 1).
        conv: layer kind, a key of :data:`LAYERS` (``gcn``, ``sage``, ``gin``, ``gat``, ``mlp``).
        activation: a name from :data:`ACTIVATIONS`; one module is shared by all layers,
            as in the official GRACE/GCA encoders (one PReLU slope for the whole stack).
        activate_last: apply the activation after the last layer too.
        dropout: dropout on each layer's input (0 in GRACE).
        heads: attention heads (``gat`` only).

    The attribute ``normalization`` names the adjacency the layers consume (``None`` for
    ``mlp``); methods build each view's adjacency with it.

    Shapes:
        - input: ``x`` ``[N, in_channels]``, ``adj`` ``[N, N]`` (or an ``edge_index``)
        - output: ``[N, out_channels]``
    """

    def __init__(self, in_channels: int, hidden_channels: int | list[int], out_channels: int,
                 num_layers: int = 2, conv: str = "gcn", activation: str = "relu",
                 activate_last: bool = True, dropout: float = 0.0, heads: int = 1) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if conv not in LAYERS:
            raise ValueError(f"unknown conv {conv!r}; choose one of {', '.join(LAYERS)}")
        if not isinstance(hidden_channels, Sequence):  # one width (int, numpy int) repeated
            hidden_channels = [hidden_channels] * (num_layers - 1)
        if len(hidden_channels) != num_layers - 1:
            raise ValueError(
                f"hidden_channels lists {len(hidden_channels)} widths but num_layers = "
                f"{num_layers} needs {num_layers - 1}"
            )
        widths = [in_channels, *hidden_channels, out_channels]
        check_widths(widths, "GNNEncoder widths (in, hidden..., out)")
        layer_cls = LAYERS[conv]
        extra = {"heads": heads} if conv == "gat" else {}
        self.layers = nn.ModuleList(layer_cls(a, b, **extra) for a, b in pairwise(widths))
        self.conv = conv
        self.normalization = layer_cls.normalization
        self.activation = make_activation(activation)
        self.activate_last = activate_last
        self.dropout = dropout
        self.in_channels, self.out_channels = in_channels, out_channels

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, x: Tensor, adj: SparseAdjacency | Tensor | None) -> Tensor:
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(
                f"x must be [N, {self.in_channels}] for this encoder, got {tuple(x.shape)}"
            )
        if self.normalization is not None:
            adj = as_adjacency(adj, x, self.normalization)
        if is_sparse_features(x) and not isinstance(self.layers[0], GCNLayer):
            x = x.to_dense()  # only GCN layers have a sparse-input path
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            if self.dropout > 0:
                x = _dropout(x, self.dropout, self.training)
            x = layer(x, adj)
            if index < last or self.activate_last:
                x = self.activation(x)
        return x


def _dropout(x: Tensor, p: float, training: bool) -> Tensor:
    if is_sparse_features(x):
        values = nn.functional.dropout(x.values(), p, training)
        return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape,
                                       check_invariants=False)
    return nn.functional.dropout(x, p, training)


class GCNEncoder(GNNEncoder):
    """:class:`GNNEncoder` with ``conv="gcn"`` (GRACE's, GCA's and gCooL's encoder)."""

    def __init__(self, in_channels: int, hidden_channels: int | list[int], out_channels: int,
                 num_layers: int = 2, activation: str = "relu", activate_last: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__(in_channels, hidden_channels, out_channels, num_layers, "gcn",
                         activation, activate_last, dropout)


def check_widths(widths: Sequence[int], what: str) -> None:
    """A clear error for a layer width that is not a positive int (a width of 0 would
    otherwise fail deep inside the weight initialization)."""
    for width in widths:
        try:
            valid = not isinstance(width, bool) and operator.index(width) >= 1
        except TypeError:
            valid = False
        if not valid:
            raise ValueError(f"{what} must be positive ints, got {list(widths)}; check the "
                             "model's hidden / proj_hidden settings")


class ProjectionHead(nn.Module):
    """Two-layer MLP projection ``Linear → ELU → Linear`` (GRACE's g(·), Zhu et al. 2020, §3.1).

    Shapes:
        - input: ``[N, in_channels]``
        - output: ``[N, out_channels]``
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int | None = None,
                 activation: str = "elu") -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        check_widths([in_channels, hidden_channels, out_channels],
                     "ProjectionHead widths (in, hidden, out)")
        self.fc1 = nn.Linear(in_channels, hidden_channels)
        self.activation = make_activation(activation)
        self.fc2 = nn.Linear(hidden_channels, out_channels)

    def forward(self, z: Tensor) -> Tensor:
        return self.fc2(self.activation(self.fc1(z)))
