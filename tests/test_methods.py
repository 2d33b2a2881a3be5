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


def test_view_rates_take_a_pair_or_one_number_and_name_the_bad_option():
    import numpy as np

    from graphcl.methods.base import view_rates

    assert view_rates([0.2, 0.4], "drop_edge") == (0.2, 0.4)
    assert view_rates(0.3, "drop_edge") == (0.3, 0.3)
    assert view_rates(np.float32(0.5), "drop_edge") == (0.5, 0.5)
    assert view_rates(np.array([0.25, 0.5]), "drop_edge") == (0.25, 0.5)
    model = GRACE(4, hidden=4, proj_hidden=4, drop_edge=0.5, drop_feature=(0.0, 0.1))
    assert [view.augmenters[0].p for view in model.views] == [0.5, 0.5]
    assert [view.augmenters[1].p for view in model.views] == [0.0, 0.1]
    for bad in ([0.1], [0.1, 0.2, 0.3], "abc", None, True):
        with pytest.raises(ValueError, match="drop_feature takes two rates"):
            view_rates(bad, "drop_feature")
    with pytest.raises(ValueError, match="drop_edge takes two rates"):
        build_method("gcool", 4, drop_edge=[0.1])
    # widths: a zero is named, a numpy integer is a valid width
    with pytest.raises(ValueError, match=r"positive ints, got \[4, 0, 0\]"):
        GRACE(4, hidden=0)
    with pytest.raises(ValueError, match="ProjectionHead"):
        GRACE(4, hidden=4, proj_hidden=-1)
    assert GRACE(np.int64(4), hidden=np.int64(4), proj_hidden=4).encoder.in_channels == 4
    from graphcl.nn import ProjectionHead

    with pytest.raises(ValueError, match=r"got \[4, 4, 0\]"):  # 0 is not "same as in"
        ProjectionHead(4, 4, 0)
    assert ProjectionHead(4, 8).fc2.out_features == 4
