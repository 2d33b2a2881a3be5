"""GCA's adaptive augmentation: centralities, finite capped probabilities, the GCA method."""

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data
from torch_geometric.utils import degree, to_networkx, to_undirected

from graphcl.augment import (
    AdaptiveEdgeDropping,
    AdaptiveFeatureMasking,
    Compose,
    drop_probabilities,
    edge_drop_weights,
    feature_drop_weights,
    node_centrality,
)
from graphcl.methods import GCA


def connected_graph(num_nodes=120, extra=200, seed=0, features=30):
    gen = torch.Generator().manual_seed(seed)
    ring = torch.stack([torch.arange(num_nodes), (torch.arange(num_nodes) + 1) % num_nodes])
    edge_index = torch.cat([ring, torch.randint(0, num_nodes, (2, extra), generator=gen)], 1)
    edge_index = to_undirected(edge_index[:, edge_index[0] != edge_index[1]])
    x = (torch.rand(num_nodes, features, generator=gen) < 0.2).float()
    return Data(x=x, edge_index=edge_index, num_nodes=num_nodes)


def test_centralities_match_references():
    graph = connected_graph()
    n, edge_index = graph.num_nodes, graph.edge_index
    assert torch.equal(node_centrality(edge_index, n, "degree"), degree(edge_index[1], n))
    expected = nx.eigenvector_centrality_numpy(to_networkx(graph))
    expected = torch.tensor([expected[i] for i in range(n)]).abs()
    torch.testing.assert_close(node_centrality(edge_index, n, "eigenvector"), expected,
                               atol=1e-5, rtol=1e-4)
    # PageRank by GCA's rule, written out with dense matrices on a small graph
    out_degree = degree(edge_index[0], n)
    transition = torch.zeros(n, n)
    transition[edge_index[1], edge_index[0]] = 1 / out_degree[edge_index[0]]
    x = torch.ones(n)
    for _ in range(10):
        x = 0.15 * x + 0.85 * transition @ x
    torch.testing.assert_close(node_centrality(edge_index, n, "pagerank"), x)
    with pytest.raises(ValueError, match="unknown centrality"):
        node_centrality(edge_index, n, "closeness")


def test_gca_weights_by_hand():
    # star: hub 0 with leaves 1..3 (undirected); edges into the hub are most important
    edge_index = torch.tensor([[1, 2, 3, 0, 0, 0], [0, 0, 0, 1, 2, 3]])
    phi = node_centrality(edge_index, 4, "degree")
    assert phi.tolist() == [3, 1, 1, 1]
    weights = edge_drop_weights(edge_index, phi)
    s = torch.log(phi[edge_index[1]] + 1)
    torch.testing.assert_close(weights, (s.max() - s) / (s.max() - s.mean()))
    assert (weights[:3] == 0).all() and (weights[3:] > 0).all()
    probability = drop_probabilities(weights, 0.3, cap=0.7)
    torch.testing.assert_close(probability.mean(), torch.tensor(0.3))
    assert (probability <= 0.7).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.floats(0.0, 1.0), cap=st.floats(0.05, 1.0),
       kind=st.sampled_from(["degree", "pagerank", "eigenvector"]),
       isolated=st.integers(0, 5))
def test_probabilities_finite_and_within_cap(seed, p, cap, kind, isolated):
    graph = connected_graph(40, 30, seed, features=12)
    graph.num_nodes += isolated  # isolated nodes: zero centrality must not give -inf
    graph.x = torch.cat([graph.x, torch.zeros(isolated, 12)])
    graph.x[:, 0] = 0  # an all-zero feature column
    edges = AdaptiveEdgeDropping(p, kind, cap).probabilities(graph)
    features = AdaptiveFeatureMasking(p, kind, cap).probabilities(graph)
    for probability in (edges, features):
        assert torch.isfinite(probability).all()
        assert (probability >= 0).all() and (probability <= cap + 1e-6).all()


def test_uniform_scores_do_not_divide_by_zero():
    edge_index = torch.tensor([[0, 1], [1, 0]])  # every node has the same degree
    weights = edge_drop_weights(edge_index, node_centrality(edge_index, 2))
    assert torch.equal(weights, torch.ones(2))
    sparse = feature_drop_weights(torch.eye(3).to_sparse_csr(), torch.ones(3))
    assert torch.equal(sparse, torch.ones(3))


def test_adaptive_views_are_subsets_and_reproducible():
    graph = connected_graph()
    aug = Compose([AdaptiveFeatureMasking(0.3), AdaptiveEdgeDropping(0.4, "pagerank")])
    a = aug(graph, torch.Generator().manual_seed(3))
    b = aug(graph, torch.Generator().manual_seed(3))
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    assert torch.equal(graph.edge_index[:, a.edge_mask], a.edge_index)
    assert torch.equal((a.x == 0).all(0) | (graph.x == 0).all(0),
                       ~a.feature_mask | (graph.x == 0).all(0))


def test_sparse_and_dense_feature_weights_agree():
    graph = connected_graph()
    phi = node_centrality(graph.edge_index, graph.num_nodes)
    for dense in (False, True):
        torch.testing.assert_close(feature_drop_weights(graph.x.to_sparse_csr(), phi, dense),
                                   feature_drop_weights(graph.x, phi, dense))


def test_gca_method_trains_one_step():
    graph = connected_graph()
    method = GCA(30, hidden=8, proj_hidden=8, centrality="eigenvector", drop_edge=(0.3, 0.4),
                 drop_feature=(0.1, 0.2))
    out = method.loss(graph, torch.Generator().manual_seed(0))
    out.total.backward()
    assert torch.isfinite(out.total)
    assert isinstance(method.views[0].augmenters[0], AdaptiveFeatureMasking)
