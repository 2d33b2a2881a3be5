"""Meta-path walk features: the walk's weights, NetMF's matrix and embedding, the transform."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from test_metapath import hetero_graph
from torch_geometric.data import HeteroData

from graphcl.augment import (
    WalkEmbeddingFeatures,
    metapath_walk_weights,
    netmf_embedding,
    netmf_matrix,
)
from graphcl.train import prepare_graph

PAP = ("paper", "author", "paper")
PVP = ("paper", "venue", "paper")


def random_graph(seed: int = 0) -> HeteroData:
    gen = torch.Generator().manual_seed(seed)

    def edges(n_src, n_dst, n):
        index = torch.stack([torch.randint(0, n_src, (n,), generator=gen),
                             torch.randint(0, n_dst, (n,), generator=gen)])
        return torch.unique(index, dim=1)

    return hetero_graph({("paper", "author"): edges(25, 15, 45),
                         ("paper", "venue"): edges(25, 3, 20)},
                        {"paper": 25, "author": 15, "venue": 3})


def walker_transition(data: HeteroData, hops: list[tuple[str, str]]) -> np.ndarray:
    """The metapath2vec walker's one-round transition, by enumerating every path instance:
    each hop picks uniformly among the current node's neighbours of the next type."""
    n = data["paper"].num_nodes
    neighbours = {}
    for source, target in hops:
        index = data[source, "to", target].edge_index.numpy()
        table = [[] for _ in range(data[source].num_nodes)]
        for s, t in zip(*index):
            table[s].append(t)
        neighbours[source, target] = table
    transition = np.zeros((n, n))

    def walk(node, position, probability, start):
        if position == len(hops):
            transition[start, node] += probability
            return
        options = neighbours[hops[position]][node]
        for nxt in options:
            walk(nxt, position + 1, probability / len(options), start)

    for start in range(n):
        walk(start, 0, 1.0, start)
    return transition


def test_walk_weights_hand_case():
    # p0-a0, p1-a0, p1-a1, p2 without author: W = A diag(1/2, 1) A^T, p2 gets a self-loop
    data = hetero_graph({("paper", "author"): torch.tensor([[0, 1, 1], [0, 0, 1]])},
                        {"paper": 3, "author": 2})
    weights = metapath_walk_weights(data, [PAP]).toarray()
    np.testing.assert_allclose(weights, [[0.5, 0.5, 0.0], [0.5, 1.5, 0.0], [0.0, 0.0, 1.0]])


def expected_weights(data: HeteroData, metapaths) -> np.ndarray:
    """``diag(first-hop degree) · T`` per meta-path, symmetrized, summed; lonely rows get a
    self-loop."""
    n = data["paper"].num_nodes
    total = np.zeros((n, n))
    for metapath in metapaths:
        hops = list(itertools.pairwise(metapath))
        first = data[hops[0][0], "to", hops[0][1]].edge_index[0].numpy()
        degree = np.bincount(first, minlength=n).astype(float)
        scaled = degree[:, None] * walker_transition(data, hops)
        total += (scaled + scaled.T) / 2
    lonely = np.flatnonzero(total.sum(1) == 0)
    total[lonely, lonely] = 1.0
    return total


def test_walk_weights_give_the_walkers_transition():
    data = random_graph(1)
    for metapaths in ([PAP], [PVP], [("paper", "author", "paper", "venue", "paper")],
                      [PAP, PVP]):
        weights = metapath_walk_weights(data, metapaths).toarray()
        assert np.allclose(weights, weights.T)
        np.testing.assert_allclose(weights, expected_weights(data, metapaths), atol=1e-12)
    # on a meta-path that reads the same backwards, D^{-1} W is the walker's transition
    weights = metapath_walk_weights(data, [PAP]).toarray()
    transition = walker_transition(data, list(itertools.pairwise(PAP)))
    walked = transition.sum(1) > 0
    np.testing.assert_allclose((weights / weights.sum(1, keepdims=True))[walked],
                               transition[walked], atol=1e-12)


def netmf_reference(weights: np.ndarray, window: int, negative: float) -> np.ndarray:
    degree = weights.sum(1)
    transition = weights / degree[:, None]
    total = sum(np.linalg.matrix_power(transition, r) for r in range(1, window + 1))
    matrix = degree.sum() / (negative * window) * total @ np.diag(1.0 / degree)
    return np.log(np.maximum(matrix, 1.0))


def test_netmf_matrix_equals_the_closed_form():
    weights = metapath_walk_weights(random_graph(3), [PAP, PVP])
    for window, negative in ((1, 1.0), (5, 1.0), (10, 2.0)):
        np.testing.assert_allclose(netmf_matrix(weights, window, negative),
                                   netmf_reference(weights.toarray(), window, negative),
                                   rtol=1e-10, atol=1e-12)


def test_netmf_embedding_is_the_truncated_svd():
    weights = metapath_walk_weights(random_graph(4), [PAP, PVP])
    dim = 6
    embedding = netmf_embedding(weights, dim=dim, window=5).double().numpy()
    left, singular, _ = np.linalg.svd(netmf_reference(weights.toarray(), 5, 1.0))
    # column norms are the singular values' square roots, in decreasing order
    np.testing.assert_allclose((embedding ** 2).sum(0), singular[:dim], rtol=1e-5)
    # and the columns span the top-d left singular subspace
    basis = left[:, :dim]
    projected = basis @ (basis.T @ embedding)
    np.testing.assert_allclose(projected, embedding, atol=1e-5)
    again = netmf_embedding(weights, dim=dim, window=5).double().numpy()
    assert np.array_equal(embedding, again)


def test_transform_replaces_features_and_averages_linked_types():
    data = random_graph(5)
    data["paper"].x = torch.eye(25)
    data["author"].x = torch.eye(15)
    data["venue"].x = torch.eye(3)
    data["author"].one_hot = True
    out = WalkEmbeddingFeatures([PAP, PVP], dim=4, window=3)(data)
    assert out["paper"].x.shape == (25, 4) and out["author"].x.shape == (15, 4)
    assert out["venue"].x.shape == (3, 4)
    assert out["author"].one_hot is False
    assert data["paper"].x.shape == (25, 25)  # the input graph is left alone
    paper = out["paper"].x.double()
    index = data["paper", "to", "author"].edge_index
    for author in range(15):
        papers = index[0, index[1] == author]
        expected = paper[papers].mean(0) if len(papers) else torch.zeros(4, dtype=torch.double)
        torch.testing.assert_close(out["author"].x[author].double(), expected, atol=1e-6,
                                   rtol=1e-5)
    only_target = WalkEmbeddingFeatures([PAP], dim=4, window=3, node_types=["paper"])(data)
    assert torch.equal(only_target["author"].x, data["author"].x)


def test_per_metapath_embeddings_and_the_walk_each_linked_type_comes_from():
    data = random_graph(8)
    for node_type, count in (("paper", 25), ("author", 15), ("venue", 3)):
        data[node_type].x = torch.eye(count)
    out = WalkEmbeddingFeatures([PAP, PVP], dim=4, window=3, per_metapath=True)(data)
    assert out["paper"].x_metapath.shape == (25, 2, 4)
    combined = WalkEmbeddingFeatures([PAP, PVP], dim=4, window=3)(data)
    torch.testing.assert_close(out["paper"].x, combined["paper"].x)
    for position, metapath in enumerate((PAP, PVP)):
        alone = netmf_embedding(metapath_walk_weights(data, [metapath]), 4, 3)
        torch.testing.assert_close(out["paper"].x_metapath[:, position], alone)
        linked = metapath[1]
        index = data["paper", "to", linked].edge_index
        for node in range(data[linked].num_nodes):
            papers = index[0, index[1] == node]
            expected = (alone[papers].double().mean(0) if len(papers)
                        else torch.zeros(4, dtype=torch.double))
            torch.testing.assert_close(out[linked].x[node].double(), expected, atol=1e-6,
                                       rtol=1e-5)
    assert "x_metapath" not in combined["paper"]


def test_walk_features_errors():
    data = random_graph(6)
    with pytest.raises(ValueError, match="return to their start type"):
        metapath_walk_weights(data, [("paper", "author")])
    with pytest.raises(ValueError, match="no relation from 'paper' to 'term'"):
        metapath_walk_weights(data, [("paper", "term", "paper")])
    with pytest.raises(ValueError, match="start at different node types"):
        metapath_walk_weights(data, [PAP, ("author", "paper", "author")])
    with pytest.raises(ValueError, match="non-empty list"):
        metapath_walk_weights(data, [])
    weights = metapath_walk_weights(data, [PAP])
    with pytest.raises(ValueError, match="dim must be between 1 and N - 1 = 24"):
        netmf_embedding(weights, dim=25)
    with pytest.raises(MemoryError, match="max_dense_bytes"):
        netmf_matrix(weights, max_dense_bytes=1000)
    with pytest.raises(ValueError, match="empty rows"):
        netmf_matrix(sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]])))
    with pytest.raises(ValueError, match="no relation from 'paper'"):
        WalkEmbeddingFeatures([PAP], dim=2, node_types=["paper", "galaxy"])(data)


def test_prepare_graph_reads_the_data_section():
    data = random_graph(7)
    assert prepare_graph(data, None) is data
    assert prepare_graph(data, {"walk_features": False}) is data
    out = prepare_graph(data, {"walk_features": {"dim": 3, "window": 2}},
                        {"metapaths": [list(PAP), list(PVP)]})
    assert out["paper"].x.shape == (25, 3)
    with pytest.raises(ValueError, match="unknown keys"):
        prepare_graph(data, {"walk_feature": True})
    with pytest.raises(ValueError, match="needs meta-paths"):
        prepare_graph(data, {"walk_features": True}, {})
