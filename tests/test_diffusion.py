"""Sparse diffusion views against dense closed forms."""

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from graphcl.augment import HeatDiffusion, PPRDiffusion, heat_diffusion, ppr_diffusion
from graphcl.augment.diffusion import MAX_EXACT_NODES


def small_graph(n=25, seed=0):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, 50), generator=gen)
    edge_index = to_undirected(edge_index[:, edge_index[0] != edge_index[1]], num_nodes=n)
    return edge_index, n


def dense_transition(edge_index, n):
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1]] = 1
    a += torch.eye(n, dtype=torch.float64)
    d = a.sum(1).pow(-0.5)
    return d[:, None] * a * d[None, :]


def test_ppr_power_series_equals_the_closed_form():
    edge_index, n = small_graph()
    t = dense_transition(edge_index, n)
    expected = 0.2 * torch.linalg.inv(torch.eye(n, dtype=torch.float64) - 0.8 * t)
    power = ppr_diffusion(edge_index, n, 0.2, iterations=200, top_k=None, threshold=None)
    torch.testing.assert_close(power.to_dense(), expected, atol=1e-12, rtol=1e-10)
    exact = ppr_diffusion(edge_index, n, 0.2, method="exact", top_k=None, threshold=None)
    torch.testing.assert_close(exact.to_dense(), expected)
    torch.testing.assert_close(power.to_dense(), power.to_dense().t())  # symmetric


def test_heat_series_equals_matrix_exponential():
    edge_index, n = small_graph(seed=1)
    t = dense_transition(edge_index, n)
    expected = torch.linalg.matrix_exp(-3.0 * (torch.eye(n, dtype=torch.float64) - t))
    series = heat_diffusion(edge_index, n, 3.0, iterations=60, top_k=None, threshold=None)
    torch.testing.assert_close(series.to_dense(), expected, atol=1e-12, rtol=1e-10)


def test_top_k_and_threshold_sparsify_each_column():
    edge_index, n = small_graph(seed=2)
    dense = ppr_diffusion(edge_index, n, 0.15, top_k=None, threshold=None).to_dense()
    sparse = ppr_diffusion(edge_index, n, 0.15, top_k=4, threshold=1e-3)
    counts = (sparse.to_dense() != 0).sum(0)
    assert (counts <= 4).all() and (counts >= 1).all()
    assert (sparse.values() >= 1e-3).all()
    # the kept entries are each column's largest (up to sparsifying the iterates)
    top = dense.topk(4, dim=0).indices
    kept = sparse.to_dense() != 0
    assert kept.gather(0, top[:1]).all()  # the largest entry of every column survives


def test_diffusion_views_and_errors():
    edge_index, n = small_graph(seed=3)
    graph = Data(x=torch.rand(n, 3), edge_index=edge_index, num_nodes=n)
    for aug in (PPRDiffusion(alpha=0.2, top_k=8), HeatDiffusion(t=2.0, top_k=8)):
        view = aug(graph)
        assert view.edge_weight.shape == (view.edge_index.size(1),)
        assert (view.edge_weight > 0).all() and "edge_mask" not in view
        assert aug(graph).edge_index is view.edge_index  # computed once, cached
    with pytest.raises(ValueError, match="allowed up to"):
        ppr_diffusion(torch.zeros(2, 0, dtype=torch.long), MAX_EXACT_NODES + 1, method="exact")
    with pytest.raises(ValueError, match="alpha"):
        ppr_diffusion(edge_index, n, 1.5)


def test_markov_diffusion_equals_its_dense_series():
    from graphcl.augment import MarkovDiffusion, markov_diffusion
    edge_index, n = small_graph(seed=4)
    t = dense_transition(edge_index, n)
    expected, power = t.clone(), t.clone()
    for _ in range(10):
        power = 0.9 * t @ power
        expected += power
    expected = expected / 10 + 0.1 * t
    sparse = markov_diffusion(edge_index, n, 0.1, 10, top_k=None, threshold=None)
    torch.testing.assert_close(sparse.to_dense(), expected, atol=1e-12, rtol=1e-10)
    view = MarkovDiffusion(alpha=0.1, order=4, top_k=5)(Data(x=torch.rand(n, 2),
                                                                edge_index=edge_index, num_nodes=n))
    assert (view.edge_weight > 0).all()
    with pytest.raises(ValueError, match="order"):
        markov_diffusion(edge_index, n, 0.1, 0)
