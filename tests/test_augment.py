"""Augmenters: properties that fail on a wrong view."""

import pytest
import torch
from torch_geometric.data import Data

from graphcl.augment import Compose, EdgeDropping, FeatureMasking, Identity, RandomChoice


@pytest.fixture
def graph():
    gen = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 30, (2, 120), generator=gen)
    return Data(x=torch.rand(30, 10, generator=gen) + 0.1, edge_index=edge_index, num_nodes=30)


def edge_set(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


def test_edge_dropping_keeps_a_subset_and_records_the_mask(graph):
    view = EdgeDropping(0.4)(graph, torch.Generator().manual_seed(1))
    assert edge_set(view.edge_index) <= edge_set(graph.edge_index)
    assert view.edge_mask.dtype == torch.bool and view.edge_mask.shape == (120,)
    assert torch.equal(graph.edge_index[:, view.edge_mask], view.edge_index)
    assert 0 < view.edge_index.size(1) < 120
    assert graph.edge_index.size(1) == 120 and "edge_mask" not in graph  # input untouched


def test_edge_dropping_extremes(graph):
    assert torch.equal(EdgeDropping(0.0)(graph).edge_index, graph.edge_index)
    assert EdgeDropping(1.0)(graph).edge_index.size(1) == 0


def test_seed_reproduces_views_exactly(graph):
    aug = Compose([EdgeDropping(0.3), FeatureMasking(0.5)])
    a = aug(graph, torch.Generator().manual_seed(7))
    b = aug(graph, torch.Generator().manual_seed(7))
    c = aug(graph, torch.Generator().manual_seed(8))
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    assert not (torch.equal(a.edge_index, c.edge_index) and torch.equal(a.x, c.x))


def test_restrict_edges_keeps_edge_attributes_aligned_and_refuses_an_index(graph):
    from graphcl.augment.base import restrict_edges

    graph.edge_weight = torch.arange(120, dtype=torch.float)
    keep = torch.rand(120, generator=torch.Generator().manual_seed(3)) > 0.5
    view = restrict_edges(graph, keep)
    assert torch.equal(view.edge_index, graph.edge_index[:, keep])
    assert torch.equal(view.edge_weight, graph.edge_weight[keep])
    with pytest.raises(ValueError, match="bool mask over the 120 edges"):
        restrict_edges(graph, keep.nonzero().view(-1))  # an index, not a mask
    with pytest.raises(ValueError, match="bool mask over the 120 edges"):
        restrict_edges(graph, keep[:10])


def test_composed_edge_masks_refer_to_the_original_edges(graph):
    gen = torch.Generator().manual_seed(2)
    view = Compose([EdgeDropping(0.3), EdgeDropping(0.3)])(graph, gen)
    assert view.edge_mask.shape == (120,)
    assert torch.equal(graph.edge_index[:, view.edge_mask], view.edge_index)


def test_feature_masking_zeroes_whole_columns(graph):
    view = FeatureMasking(0.5)(graph, torch.Generator().manual_seed(3))
    zero_columns = (view.x == 0).all(0)
    assert torch.equal(zero_columns, ~view.feature_mask)
    assert torch.equal(view.x[:, view.feature_mask], graph.x[:, view.feature_mask])
    assert 0 < int(zero_columns.sum()) < 10
    assert (graph.x > 0).all()  # input untouched


def test_identity_random_choice_and_errors(graph):
    assert torch.equal(Identity()(graph).x, graph.x)
    view = RandomChoice([EdgeDropping(1.0), FeatureMasking(1.0)], 1)(graph, torch.Generator().manual_seed(0))
    assert view.edge_index.size(1) == 0 or bool((view.x == 0).all())
    with pytest.raises(ValueError, match="probability"):
        EdgeDropping(1.5)
    with pytest.raises(ValueError, match="num_choices"):
        RandomChoice([Identity()], 2)
    with pytest.raises(TypeError, match="Data"):
        EdgeDropping(0.1)(graph.x)


def undirected_graph(num_nodes=30, seed=0):
    from torch_geometric.utils import to_undirected
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, 60), generator=gen)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    return Data(x=torch.rand(num_nodes, 4, generator=gen), num_nodes=num_nodes,
                edge_index=to_undirected(edge_index, num_nodes=num_nodes))


def is_symmetric(edge_index):
    return edge_set(edge_index) == edge_set(edge_index.flip(0))


def test_symmetric_edge_dropping_keeps_an_undirected_graph_undirected():
    graph = undirected_graph()
    aug = EdgeDropping(0.5, symmetric=True)
    for seed in range(5):
        view = aug(graph, torch.Generator().manual_seed(seed))
        assert is_symmetric(view.edge_index)
        assert edge_set(view.edge_index) <= edge_set(graph.edge_index)
    assert not is_symmetric(EdgeDropping(0.5)(graph, torch.Generator().manual_seed(0)).edge_index)


@pytest.mark.parametrize("symmetric", [False, True])
def test_edge_adding_adds_new_valid_edges(symmetric):
    from graphcl.augment import EdgeAdding
    graph = undirected_graph()
    view = EdgeAdding(0.5, symmetric=symmetric)(graph, torch.Generator().manual_seed(1))
    old, new = edge_set(graph.edge_index), edge_set(view.edge_index)
    assert old <= new
    added = view.edge_index[:, graph.edge_index.size(1):]
    num_edges = graph.edge_index.size(1)
    expected = 2 * round(0.5 * num_edges / 2) if symmetric else round(0.5 * num_edges)
    assert added.size(1) == view.num_added_edges == expected
    assert (added[0] != added[1]).all()  # no self-loops
    assert len(edge_set(added)) == added.size(1)  # no duplicates among new edges
    assert not (edge_set(added) & old)  # none already present
    assert "edge_mask" not in view
    if symmetric:
        assert is_symmetric(view.edge_index)


def test_edge_adding_never_crosses_graphs_in_a_batch():
    from torch_geometric.data import Batch

    from graphcl.augment import EdgeAdding
    batch = Batch.from_data_list([undirected_graph(10, s) for s in range(4)])
    view = EdgeAdding(1.0)(batch, torch.Generator().manual_seed(0))
    added = view.edge_index[:, batch.edge_index.size(1):]
    assert added.size(1) > 0
    assert torch.equal(batch.batch[added[0]], batch.batch[added[1]])


def test_feature_dropout_and_node_shuffling():
    from graphcl.augment import FeatureDropout, NodeShuffling
    graph = undirected_graph()
    view = FeatureDropout(0.5)(graph, torch.Generator().manual_seed(0))
    zeroed = view.x == 0
    assert 0 < zeroed.float().mean() < 1
    assert torch.equal(view.x[~zeroed], graph.x[~zeroed])
    view = NodeShuffling()(graph, torch.Generator().manual_seed(0))
    assert torch.equal(view.x, graph.x[view.node_permutation])
    assert torch.equal(view.node_permutation.sort().values, torch.arange(30))


def test_method_normalizes_views_with_added_edges_from_scratch(small_graph):
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    from graphcl.augment import EdgeAdding
    from graphcl.methods import GRACE
    method = GRACE(16, hidden=8, proj_hidden=8)
    view = EdgeAdding(0.3)(small_graph, torch.Generator().manual_seed(0))
    adj = method.adjacency(small_graph, view).to_dense()
    index, value = gcn_norm(view.edge_index, None, small_graph.num_nodes)
    expected = torch.zeros_like(adj)
    expected.index_put_((index[1], index[0]), value, accumulate=True)
    torch.testing.assert_close(adj, expected)


def test_node_dropping_removes_exactly_the_edges_of_dropped_nodes(graph):
    from graphcl.augment import NodeDropping
    view = NodeDropping(0.3)(graph, torch.Generator().manual_seed(4))
    keep = view.node_mask
    assert 0 < int(keep.sum()) < 30 and view.num_nodes == 30
    expected = graph.edge_index[:, keep[graph.edge_index[0]] & keep[graph.edge_index[1]]]
    assert torch.equal(view.edge_index, expected)
    assert (view.x[~keep] == 0).all() and torch.equal(view.x[keep], graph.x[keep])
    assert torch.equal(graph.edge_index[:, view.edge_mask], view.edge_index)


def test_random_walk_subgraph_keeps_walked_nodes():
    from graphcl.augment import RandomWalkSubgraph
    # a directed path 0 -> 1 -> ... -> 9: a walk from root r visits r..r+k
    path = Data(x=torch.ones(10, 2), edge_index=torch.stack([torch.arange(9), torch.arange(1, 10)]),
                num_nodes=10)
    view = RandomWalkSubgraph(num_roots=1, walk_length=3)(path, torch.Generator().manual_seed(0))
    kept = view.node_mask.nonzero().view(-1)
    root = int(kept.min())
    assert kept.tolist() == list(range(root, min(root + 4, 10)))
    assert torch.equal(path.edge_index[:, view.edge_mask], view.edge_index)
    # reproducible, and more roots visit at least as many nodes
    graph = undirected_graph(60)
    a = RandomWalkSubgraph(0.1, 5)(graph, torch.Generator().manual_seed(1))
    b = RandomWalkSubgraph(0.1, 5)(graph, torch.Generator().manual_seed(1))
    assert torch.equal(a.node_mask, b.node_mask)
    with pytest.raises(ValueError, match="num_roots"):
        RandomWalkSubgraph(0, 3)
