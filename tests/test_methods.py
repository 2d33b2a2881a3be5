"""GRACE: its loss equals a hand-assembled dense float64 computation of the same views."""

import pytest
import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from graphcl.losses import grace_loss_dense
from graphcl.methods import GRACE, METHODS, build_method


def dense_adjacency(edge_index, num_nodes):
    index, value = gcn_norm(edge_index, None, num_nodes, dtype=torch.float64)
    dense = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    dense.index_put_((index[1], index[0]), value, accumulate=True)
    return dense


def test_grace_loss_matches_dense_reference(small_graph):
    graph = small_graph.clone()
    graph.x = graph.x.double()
    torch.manual_seed(0)
    method = GRACE(16, hidden=8, proj_hidden=8, drop_edge=(0.3, 0.5), drop_feature=(0.2, 0.4),
                   tau=0.5, block_size=50).double()
    out = method.loss(graph, torch.Generator().manual_seed(11))

    gen = torch.Generator().manual_seed(11)
    projected = []
    for view_aug in method.views:
        view = view_aug(graph, gen)
        adj = dense_adjacency(view.edge_index, graph.num_nodes)
        h = view.x
        for layer in method.encoder.layers:
            h = torch.relu(adj @ (h @ layer.linear.weight.t()) + layer.bias)
        projected.append(method.projection(h))
    expected = grace_loss_dense(*projected, tau=0.5)
    assert out.total.item() == pytest.approx(expected.item(), rel=1e-12)
    assert out.parts["infonce"] == pytest.approx(expected.item(), rel=1e-12)


def test_grace_embed_and_registry(small_graph):
    method = build_method("grace", 16, hidden=8, proj_hidden=8)
    assert isinstance(method, GRACE) and "grace" in METHODS
    z = method.embed(small_graph)
    assert z.shape == (120, 8) and not z.requires_grad
    # the encoder's hidden layer is twice the embedding width, as in the official code
    assert method.encoder.layers[0].out_channels == 16
    with pytest.raises(ValueError, match="unknown method"):
        build_method("nope", 16)
    with pytest.raises(ValueError, match="two rates"):
        GRACE(16, drop_edge=(0.1,))


def test_structure_is_sorted_once_per_graph(small_graph):
    method = GRACE(16, hidden=8, proj_hidden=8)
    first = method.structure(small_graph)
    method.loss(small_graph, torch.Generator().manual_seed(0))
    assert method.structure(small_graph) is first  # reused across views and epochs
    other = small_graph.clone()  # equal values, new tensors: rebuilt, never confused
    assert method.structure(other) is not first
