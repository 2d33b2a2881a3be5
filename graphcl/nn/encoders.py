"""GNN encoders over a view's adjacency, and projection heads.

Every encoder has one signature, ``forward(x, adj) -> Tensor[N, d]``, where ``adj`` is a
:class:`~graphcl.nn.adjacency.SparseAdjacency` (the fast path: normalized once per view), a
torch sparse ``[N, N]`` tensor taken as already normalized, or a PyG ``edge_index``
(normalized on the fly, as ``GCNConv`` does).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor, nn

from .adjacency import SparseAdjacency, gcn_adjacency, propagate

__all__ = ["ACTIVATIONS", "GCNEncoder", "GCNLayer", "ProjectionHead", "make_activation"]


ACTIVATIONS = ("relu", "prelu", "rrelu", "elu", "leaky_relu", "tanh", "identity")


def make_activation(name: str) -> nn.Module:
    """The activation module named ``name`` (one of :data:`ACTIVATIONS`).

    ``prelu`` has one learned slope (as in GRACE/GCA's ``nn.PReLU()``); ``rrelu`` is
    ``nn.RReLU()``, random slopes in training mode and their mean in eval mode.
    """
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


def as_adjacency(adj: SparseAdjacency | Tensor, num_nodes: int) -> SparseAdjacency | Tensor:
    """Turn an encoder's ``adj`` argument into something :func:`propagate` accepts.

    An ``edge_index`` (``[2, E]`` int64) gets GCN normalization with self-loops; a
    :class:`SparseAdjacency` or torch sparse tensor is returned unchanged.
    """
    if isinstance(adj, SparseAdjacency):
        return adj
    if isinstance(adj, Tensor) and adj.layout != torch.strided:
        return adj
    if isinstance(adj, Tensor) and adj.dim() == 2 and adj.size(0) == 2:
        return gcn_adjacency(adj, num_nodes)
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

    Args:
        in_channels: input width ``F``; out_channels: output width ``F'``.
        bias: add a learned bias.

    Shapes:
        - input: ``x`` ``[N, F]``, ``adj`` ``[N, N]``
        - output: ``[N, F']``
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.linear = nn.Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights and zero bias, as PyG's ``GCNConv``."""
        nn.init.xavier_uniform_(self.linear.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, adj: SparseAdjacency | Tensor) -> Tensor:
        adj = as_adjacency(adj, x.size(0))
        if self.out_channels <= self.in_channels:
            out = propagate(adj, self.linear(x))
        else:
            out = self.linear(propagate(adj, x))
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"


class GCNEncoder(nn.Module):
    """A stack of :class:`GCNLayer` with an activation after every layer (the last too, as
    GRACE, GCA and gCooL do).

    Args:
        in_channels: input feature width.
        hidden_channels: width of each hidden layer (an int is repeated).
        out_channels: embedding width ``d``.
        num_layers: number of GCN layers (>= 1).
        activation: a name from :data:`ACTIVATIONS`; one module is shared by all layers,
            as in the official GRACE/GCA encoders (one PReLU slope for the whole stack).
        activate_last: apply the activation after the last layer too.
        dropout: dropout on each layer's input (0 in GRACE).

    Shapes:
        - input: ``x`` ``[N, in_channels]``, ``adj`` ``[N, N]``
        - output: ``[N, out_channels]``
    """

    def __init__(self, in_channels: int, hidden_channels: int | list[int], out_channels: int,
                 num_layers: int = 2, activation: str = "relu", activate_last: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if isinstance(hidden_channels, int):
            hidden_channels = [hidden_channels] * (num_layers - 1)
        if len(hidden_channels) != num_layers - 1:
            raise ValueError(
                f"hidden_channels lists {len(hidden_channels)} widths but num_layers = "
                f"{num_layers} needs {num_layers - 1}"
            )
        widths = [in_channels, *hidden_channels, out_channels]
        self.layers = nn.ModuleList(GCNLayer(a, b) for a, b in pairwise(widths))
        self.activation = make_activation(activation)
        self.activate_last = activate_last
        self.dropout = dropout
        self.in_channels, self.out_channels = in_channels, out_channels

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def forward(self, x: Tensor, adj: SparseAdjacency | Tensor) -> Tensor:
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(
                f"x must be [N, {self.in_channels}] for this encoder, got {tuple(x.shape)}"
            )
        adj = as_adjacency(adj, x.size(0))
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            if self.dropout > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            x = layer(x, adj)
            if index < last or self.activate_last:
                x = self.activation(x)
        return x


class ProjectionHead(nn.Module):
    """Two-layer MLP projection ``Linear → ELU → Linear`` (GRACE's g(·), Zhu et al. 2020, §3.1).

    Shapes:
        - input: ``[N, in_channels]``
        - output: ``[N, out_channels]``
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int | None = None,
                 activation: str = "elu") -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_channels, hidden_channels)
        self.activation = make_activation(activation)
        self.fc2 = nn.Linear(hidden_channels, out_channels or in_channels)

    def forward(self, z: Tensor) -> Tensor:
        return self.fc2(self.activation(self.fc1(z)))
