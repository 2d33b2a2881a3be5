"""gCooL's DeCA and ReSC against dense float64 transcriptions of the official formulas."""

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses import (
    community_prototypes,
    deca_loss,
    deca_loss_dense,
    resc_loss,
    soft_assignments,
)
from graphcl.nn.adjacency import CSRGraph, unit_adjacency


def setup(n=30, k=4, d=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h1 = F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1)
    h2 = F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1)
    centres = torch.randn(k, d, generator=gen, dtype=torch.float64, requires_grad=True)
    edge_index = torch.unique(torch.randint(0, n, (2, 90), generator=gen), dim=1)
    return h1.requires_grad_(), h2.requires_grad_(), centres, edge_index


@pytest.mark.parametrize("lamda", [0.1, 0.9, 1.0])
def test_sparse_deca_equals_dense(lamda):
    h1, _, centres, edge_index = setup()
    r = soft_assignments(h1, centres, 0.4)
    loss = deca_loss(r, edge_index, lamda)
    ref = deca_loss_dense(r, edge_index, lamda)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    (g,) = torch.autograd.grad(loss, centres, retain_graph=True)
    (g_ref,) = torch.autograd.grad(ref, centres)
    torch.testing.assert_close(g, g_ref)


@pytest.mark.parametrize("normalization", ["gcn", "sum", "attention"])
def test_deca_through_the_views_unit_adjacency_equals_dense(normalization):
    # a dropped-edge view (asymmetric, with some of the graph's self-loops) whose encoder
    # adjacency comes from the full graph's cached structure, as gCooL builds it
    h1, _, centres, edge_index = setup(seed=3)
    assert (edge_index[0] == edge_index[1]).any()
    keep = torch.rand(edge_index.size(1), generator=torch.Generator().manual_seed(1)) > 0.3
    view_edges = edge_index[:, keep]
    adjacency = CSRGraph(edge_index, 30).adjacency(keep, normalization, dtype=torch.float64)
    unit = unit_adjacency(adjacency, view_edges)
    dense = torch.zeros(30, 30, dtype=torch.float64)
    dense[view_edges[1], view_edges[0]] = 1  # rows are targets
    torch.testing.assert_close(unit.to_dense(), dense)
    torch.testing.assert_close(unit.t().to_dense(), dense.t())
    r = soft_assignments(h1, centres, 0.4)
    loss, ref = deca_loss(r, unit, 0.3), deca_loss_dense(r, view_edges, 0.3)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    (g,) = torch.autograd.grad(loss, centres, retain_graph=True)
    (g_ref,) = torch.autograd.grad(ref, centres)
    torch.testing.assert_close(g, g_ref)
    # unnormalised assignments: the Σ F term is no longer the edge count
    raw = torch.rand(30, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert deca_loss(raw, unit, 0.3).item() == pytest.approx(
        deca_loss_dense(raw, view_edges, 0.3).item(), rel=1e-12)


def test_unit_adjacency_of_other_edges_is_refused():
    _, _, _, edge_index = setup()
    adjacency = CSRGraph(edge_index, 30).adjacency(None, "gcn")
    with pytest.raises(ValueError, match="built from these edges"):
        unit_adjacency(adjacency, edge_index[:, 1:])
    with pytest.raises(ValueError, match="adjacency has 30 nodes"):
        deca_loss(torch.rand(31, 2), unit_adjacency(adjacency, edge_index))


def test_deca_hand_computed():
    # two nodes, one edge 0 -> 1, hard assignments to different communities: no intra edges
    r = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    edge_index = torch.tensor([[0], [1]])
    # n = 2, m = 2: (λ·1 − (1 + λ)·0)/2 + tr(RᵀR)/(2·2) = λ/2 + 2/4
    assert deca_loss(r, edge_index, 0.5).item() == pytest.approx(0.25 + 0.5)


def official_resc(h1, h2, r1, r2, tau, similarity, gamma):
    """The official community_contrast transcribed with explicit N×K×d tensors."""
    k = r1.size(1)
    index1, index2 = r1.argmax(1), r2.argmax(1)
    c1 = torch.stack([h1[index1 == i].mean(0) if (index1 == i).any() else torch.zeros(h1.size(1),
                      dtype=h1.dtype) for i in range(k)]).detach()
    c2 = torch.stack([h2[index2 == i].mean(0) if (index2 == i).any() else torch.zeros(h2.size(1),
                      dtype=h2.dtype) for i in range(k)]).detach()

    def sim(a, b):
        if similarity == "cos":
            return torch.exp(a @ b.t() / tau)
        return torch.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(2) / tau ** 2)

    s12, s21 = sim(h1, c2), sim(h2, c1)
    if similarity == "cos":
        ws12, ws21 = s12, s21
    else:
        w1 = torch.exp(-gamma * ((c1[:, None] - c1[None]) ** 2).sum(2))
        w2 = torch.exp(-gamma * ((c2[:, None] - c2[None]) ** 2).sum(2))
        ws12, ws21 = s12 * w2[index2], s21 * w1[index1]
    pos12, pos21 = s12.gather(1, index2[:, None])[:, 0], s21.gather(1, index1[:, None])[:, 0]
    l12 = -torch.log(pos12) + torch.log(pos12 + ws12.sum(1) - ws12.gather(1, index2[:, None])[:, 0])
    l21 = -torch.log(pos21) + torch.log(pos21 + ws21.sum(1) - ws21.gather(1, index1[:, None])[:, 0])
    return ((l12 + l21) / 2).mean()


@pytest.mark.parametrize("similarity, gamma", [("cos", 0.0), ("rbf", 8e-5), ("rbf", 2.0)])
def test_resc_equals_official_formula(similarity, gamma):
    h1, h2, centres, _ = setup(k=5, seed=1)
    r1 = soft_assignments(h1, centres, 0.5, similarity)
    r2 = soft_assignments(h2, centres, 0.5, similarity)
    loss = resc_loss(h1, h2, r1, r2, 0.5, similarity, gamma)
    ref = official_resc(h1, h2, r1, r2, 0.5, similarity, gamma)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-10)
    grads = torch.autograd.grad(loss, (h1, h2))
    ref_grads = torch.autograd.grad(ref, (h1, h2))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


def test_prototypes_and_errors():
    z = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    protos = community_prototypes(z, torch.tensor([0, 0, 2]), 3)
    torch.testing.assert_close(protos, torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 2.0]]))
    with pytest.raises(ValueError, match="similarity"):
        resc_loss(z, z, torch.ones(3, 2), torch.ones(3, 2), 0.5, "dot")
    with pytest.raises(ValueError, match="N >= 2"):
        deca_loss(torch.ones(1, 2), torch.zeros(2, 0, dtype=torch.long))
