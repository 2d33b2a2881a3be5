"""POT: adjacency intervals, relaxation, node compactness (surrogate and certified), plugin."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_dense_adj, to_undirected

from graphcl.augment import AdaptiveEdgeDropping, Compose, EdgeAdding, EdgeDropping, FeatureMasking
from graphcl.methods import (
    GCA,
    GRACE,
    POT,
    Method,
    build_method,
    compactness_report,
    expected_edge_drops,
)
from graphcl.nn import CSRGraph, GNNEncoder
from graphcl.nn.bounds import (
    AdjacencyInterval,
    check_bound_encoder,
    compactness_lower_bound,
    compactness_surrogate,
    contrastive_direction,
    deletion_budget,
    relu_relaxation,
)


def small_graph(num_nodes: int = 12, num_edges: int = 30, features: int = 7, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    edge_index = to_undirected(torch.randint(0, num_nodes, (2, num_edges), generator=g))
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    x = torch.rand(num_nodes, features, generator=g, dtype=torch.float64) - 0.3
    return Data(x=x, edge_index=edge_index, num_nodes=num_nodes)


def encoder64(features: int, activation: str = "relu", layers: int = 2, seed: int = 0) -> GNNEncoder:
    torch.manual_seed(seed)
    encoder = GNNEncoder(features, 6, 4, num_layers=layers, activation=activation).double()
    for layer in encoder.layers:  # non-zero biases exercise every bias term
        torch.nn.init.normal_(layer.bias, std=0.3)
    if activation == "prelu":
        encoder.activation.weight.data.fill_(0.2)
    return encoder


# -- budgets and intervals ---------------------------------------------------------------


def test_deletion_budget_hand_case_and_half_to_even():
    degree = torch.tensor([0.0, 1.0, 3.0, 5.0, 4.0])
    drops = torch.tensor([0.0, 0.4, 1.5, 2.5, 3.9])
    # keep one neighbour: cap = deg − 1; round(1.5) = 2, round(2.5) = 2 (half to even)
    assert deletion_budget(degree, drops).tolist() == [0, 0, 2, 2, 3]
    with pytest.raises(ValueError, match="non-negative"):
        deletion_budget(degree, -drops - 1)


def test_interval_contains_every_view_within_budget():
    graph = small_graph(8, 14)
    structure = CSRGraph(graph.edge_index, 8)
    degree = (structure.crow[1:] - structure.crow[:-1] - 1).double()
    budget = deletion_budget(degree, 0.5 * degree)
    interval = AdjacencyInterval.from_budget(structure, budget, dtype=torch.float64)
    lower = interval.matrix(interval.lower).to_dense()
    upper = interval.matrix(interval.upper).to_dense()
    target = graph.edge_index[1]
    for keep in _admissible_masks(graph.edge_index, budget, 8, limit=400):
        view = structure.adjacency(keep, dtype=torch.float64).to_dense()
        assert bool((view >= lower - 1e-12).all()) and bool((view <= upper + 1e-12).all())
        # the budget is what makes it admissible
        dropped = torch.bincount(target[~keep], minlength=8)
        assert bool((dropped <= budget).all())


def _admissible_masks(edge_index, budget, num_nodes, limit=None):
    """Every directed-edge deletion pattern that removes at most budget_i in-edges of node i."""
    target = edge_index[1]
    num_edges = edge_index.size(1)
    count = 0
    for bits in itertools.product([True, False], repeat=num_edges):
        keep = torch.tensor(bits)
        dropped = torch.bincount(target[~keep], minlength=num_nodes)
        if bool((dropped <= budget).all()):
            yield keep
            count += 1
            if limit is not None and count >= limit:
                return


def test_interval_restrict_equals_dense_block():
    graph = small_graph(10, 24)
    structure = CSRGraph(graph.edge_index, 10)
    budget = torch.ones(10, dtype=torch.long).minimum(structure.crow[1:] - structure.crow[:-1] - 1)
    interval = AdjacencyInterval.from_budget(structure, budget, dtype=torch.float64)
    nodes = torch.tensor([0, 2, 3, 7, 9])
    sub = interval.restrict(nodes)
    dense = interval.matrix(interval.upper).to_dense()[nodes][:, nodes]
    assert torch.equal(sub.matrix(sub.upper).to_dense(), dense)
    with pytest.raises(ValueError, match="sorted"):
        interval.restrict(torch.tensor([3, 1]))


# -- relaxation --------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.25, 1.0])
def test_relu_relaxation_sandwiches_the_activation(alpha):
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(500, generator=g, dtype=torch.float64), torch.randn(500, generator=g, dtype=torch.float64)
    lower, upper = torch.minimum(a, b), torch.maximum(a, b)
    lower[:5] = upper[:5] = 0.0
    slope, offset = relu_relaxation(lower, upper, alpha)
    for t in torch.linspace(0, 1, 11, dtype=torch.float64):
        y = lower + t * (upper - lower)
        act = torch.where(y >= 0, y, alpha * y)
        assert bool((slope * y <= act + 1e-12).all())
        assert bool((act <= slope * y + offset + 1e-12).all())
    # the upper line is the chord: exact at both ends of an unstable interval
    unstable = (lower < 0) & (upper > 0)
    at_l = slope * lower + offset
    assert torch.allclose(at_l[unstable], alpha * lower[unstable])
    assert torch.allclose((slope * upper + offset)[unstable], upper[unstable])
    # the official get_alpha_beta form slope·(y + β), β = (α−1)ul/(u−αl)
    beta = (alpha - 1) * upper * lower / (upper - alpha * lower)
    assert torch.allclose(offset[unstable], (slope * beta)[unstable])
    assert bool((offset[~unstable] == 0).all())


def test_contrastive_direction_is_positive_minus_mean_negative():
    z = torch.randn(5, 3, dtype=torch.float64)
    w = contrastive_direction(z)
    zn = F.normalize(z, dim=1)
    for i in range(5):
        others = torch.cat([zn[:i], zn[i + 1:]])
        assert torch.allclose(w[i], zn[i] - others.mean(0))


# -- the official computation, densely (a transcription of POT-GCL's pot_loss) -----------


def _ones(edge_index):
    return torch.ones(edge_index.size(1), dtype=torch.float64)


def official_pot_score(encoder, x, edge_index, view_edge_index, z_other, local_changes, node_list):
    """POT-GCL ``Model.pot_loss`` before the BCE, in float64 with dense matrices."""
    n_all = x.size(0)
    deg = torch.bincount(to_undirected(edge_index)[1], minlength=n_all).double()
    a_tilde = to_dense_adj(edge_index, max_num_nodes=n_all)[0] + torch.eye(n_all, dtype=torch.float64)
    degs_tilde = deg + 1
    max_delete = torch.clamp(degs_tilde - 2, min=0)
    max_delete = torch.minimum(max_delete, torch.round(local_changes * deg))
    r = 1 / torch.sqrt(degs_tilde - max_delete)
    a_upper = torch.where(a_tilde > 0, r[:, None] * r[None, :], torch.zeros_like(a_tilde))
    ei, w = gcn_norm(edge_index, _ones(edge_index), num_nodes=n_all)
    an = to_dense_adj(ei, edge_attr=w, max_num_nodes=n_all)[0].double()
    a_lower = torch.diag(torch.diagonal(an))
    S = node_list
    au, al = a_upper[S][:, S], a_lower[S][:, S]
    conv0, conv1 = encoder.layers
    W1, b1 = conv0.linear.weight.t(), conv0.bias
    W2, b2 = conv1.linear.weight.t(), conv1.bias
    xw = (x @ W1)[S]
    ei_c, w_c = gcn_norm(edge_index, _ones(edge_index), num_nodes=n_all)
    a_clean = torch.zeros(n_all, n_all, dtype=torch.float64)
    a_clean[ei_c[1], ei_c[0]] = w_c.double()  # PyG aggregates messages source → target
    H = encoder.activation(a_clean @ (x @ W1) + b1)
    hw = (H @ W2)[S]
    mid, rad = (au + al) / 2, (au - al) / 2
    z1_u, z1_l = mid @ xw + rad @ xw.abs() + b1, mid @ xw - rad @ xw.abs() + b1
    z2_u, z2_l = mid @ hw + rad @ hw.abs() + b2, mid @ hw - rad @ hw.abs() + b2
    alpha = 0.0 if isinstance(encoder.activation, torch.nn.ReLU) else float(encoder.activation.weight.detach())

    def alpha_beta(lo, up):
        aL = torch.zeros_like(lo)
        bU = torch.zeros_like(lo)
        pos, neg = lo >= 0, up <= 0
        aL[pos] = 1
        aL[neg] = alpha
        mid_mask = ~(pos | neg)
        top = up[mid_mask] - alpha * lo[mid_mask]
        aL[mid_mask] = top / (up[mid_mask] - lo[mid_mask])
        bU[mid_mask] = (alpha - 1) * up[mid_mask] * lo[mid_mask] / top
        return aL, bU

    n = len(S)
    zn = F.normalize(z_other)
    wcl = zn * (n / (n - 1)) - zn.sum(0) / (n - 1)
    a2, beta2 = alpha_beta(z2_l, z2_u)
    a1, beta1 = alpha_beta(z1_l, z1_u)
    lam2 = a2 * wcl
    delta2 = torch.where(wcl >= 0, torch.zeros_like(beta2), beta2)
    w_t2 = lam2 @ W2.T
    b_t2 = torch.diag(lam2 @ (delta2 + b2).T)
    lam1 = a1 * w_t2
    delta1 = torch.where(w_t2 >= 0, torch.zeros_like(beta1), beta1)
    w_t1 = lam1 @ W1.T
    b_t1 = torch.diag(lam1 @ (delta1 + b1).T)
    xw_t = (x[S, None, :] @ w_t1[:, :, None]).view(-1, 1)
    ei_p, w_p = gcn_norm(view_edge_index, _ones(view_edge_index), num_nodes=n_all)
    a_ptb = torch.zeros(n_all, n_all, dtype=torch.float64)
    a_ptb[ei_p[0], ei_p[1]] = w_p.double()  # the official sparse_coo_tensor(edge_index, w)
    a_ptb = a_ptb[S][:, S]
    h_t = a_ptb @ xw_t + b_t1.view(-1, 1)
    return (a_ptb @ h_t + b_t2.view(-1, 1)).squeeze()


@pytest.mark.parametrize("activation", ["relu", "prelu"])
@pytest.mark.parametrize("subset", [False, True])
def test_surrogate_equals_official_computation(activation, subset):
    graph = small_graph(14, 40, seed=1)
    encoder = encoder64(graph.num_features, activation)
    structure = CSRGraph(graph.edge_index, graph.num_nodes)
    g = torch.Generator().manual_seed(5)
    keep = torch.rand(graph.edge_index.size(1), generator=g) >= 0.4  # an asymmetric view
    view = structure.adjacency(keep, dtype=torch.float64)
    p = 0.4
    degree = (structure.crow[1:] - structure.crow[:-1] - 1).double()
    interval = AdjacencyInterval.from_budget(structure, deletion_budget(degree, p * degree),
                                             dtype=torch.float64)
    z_other = torch.randn(graph.num_nodes, 4, generator=g, dtype=torch.float64)
    nodes = torch.tensor([0, 1, 3, 4, 6, 8, 9, 12]) if subset else None
    S = nodes if subset else torch.arange(graph.num_nodes)
    ours = compactness_surrogate(encoder, graph.x, interval, view, contrastive_direction(z_other[S]),
                                 nodes, clean_adjacency=structure.adjacency(dtype=torch.float64))
    reference = official_pot_score(encoder, graph.x, graph.edge_index, graph.edge_index[:, keep],
                                   z_other[S], p, S)
    assert torch.allclose(ours, reference, atol=1e-12, rtol=1e-10)


# -- the certified bound ------------------------------------------------------------------


def _dense_encoder(encoder, x, adjacency):
    h = x
    for layer in encoder.layers:
        h = encoder.activation(adjacency @ (h @ layer.linear.weight.t()) + layer.bias)
    return h


@pytest.mark.parametrize("activation,layers", [("relu", 2), ("prelu", 2), ("relu", 1), ("relu", 3)])
def test_certified_bound_below_every_admissible_view(activation, layers):
    graph = small_graph(7, 9, features=5, seed=2)
    encoder = encoder64(graph.num_features, activation, layers)
    structure = CSRGraph(graph.edge_index, graph.num_nodes)
    degree = (structure.crow[1:] - structure.crow[:-1] - 1).double()
    budget = deletion_budget(degree, 0.5 * degree)
    interval = AdjacencyInterval.from_budget(structure, budget, dtype=torch.float64)
    direction = contrastive_direction(torch.randn(7, 4, dtype=torch.float64,
                                                  generator=torch.Generator().manual_seed(9)))
    with torch.no_grad():
        bound = compactness_lower_bound(encoder, graph.x, interval, direction)
        views = [structure.adjacency(keep, dtype=torch.float64).to_dense()
                 for keep in _admissible_masks(graph.edge_index, budget, 7)]
        assert len(views) > 50
        stacked = torch.stack(views)
        z = _dense_encoder(encoder, graph.x, stacked)                    # [K, N, d]
        compactness = (z * direction).sum(-1)                            # [K, N]
    worst = compactness.min(0).values
    assert bool((bound <= worst + 1e-10).all()), (bound - worst).max()
    # not vacuous: within a few units of the true minimum on this small graph
    assert float((worst - bound).max()) < 10.0


def test_certified_bound_equals_compactness_without_perturbation():
    # zero budget and a graph without edges: the interval is a point, the bound is exact
    # when no ReLU is unstable (all-positive inputs and weights)
    x = torch.rand(5, 3, dtype=torch.float64)
    graph = Data(x=x, edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=5)
    encoder = encoder64(3)
    for layer in encoder.layers:
        layer.linear.weight.data.abs_()
        layer.bias.data.abs_()
    structure = CSRGraph(graph.edge_index, 5)
    interval = AdjacencyInterval.from_budget(structure, torch.zeros(5, dtype=torch.long),
                                             dtype=torch.float64)
    direction = torch.randn(5, 4, dtype=torch.float64)
    with torch.no_grad():
        bound = compactness_lower_bound(encoder, x, interval, direction)
        exact = (_dense_encoder(encoder, x, torch.eye(5, dtype=torch.float64)) * direction).sum(1)
    assert torch.allclose(bound, exact)


# -- the encoder check --------------------------------------------------------------------


def test_unsupported_encoders_are_named():
    with pytest.raises(ValueError, match="GCN layers only"):
        check_bound_encoder(GNNEncoder(4, 8, 4, conv="gat"))
    with pytest.raises(ValueError, match="rrelu_fixed"):
        check_bound_encoder(GNNEncoder(4, 8, 4, activation="rrelu"))
    with pytest.raises(ValueError, match="cannot relax"):
        check_bound_encoder(GNNEncoder(4, 8, 4, activation="elu"))
    with pytest.raises(ValueError, match="dropout"):
        check_bound_encoder(GNNEncoder(4, 8, 4, dropout=0.2))
    check_bound_encoder(GNNEncoder(4, 8, 4, activation="rrelu_fixed"))
    with pytest.raises(ValueError, match="GCN layers only"):
        POT(GRACE(4, hidden=4, proj_hidden=4, conv="sage"))


# -- the plugin ---------------------------------------------------------------------------


def test_expected_edge_drops_uniform_and_adaptive():
    graph = small_graph(10, 25)
    degree = torch.bincount(graph.edge_index[1], minlength=10).double()
    uniform = expected_edge_drops(Compose([EdgeDropping(0.3), FeatureMasking(0.2)]), graph)
    assert torch.allclose(uniform, 0.3 * degree)
    adaptive = AdaptiveEdgeDropping(0.3)
    probability = adaptive.probabilities(graph).double()
    expected = torch.zeros(10, dtype=torch.float64).index_add_(0, graph.edge_index[1], probability)
    assert torch.allclose(expected_edge_drops(adaptive, graph), expected)
    with pytest.raises(TypeError, match="edge deletion only"):
        expected_edge_drops(Compose([EdgeDropping(0.3), EdgeAdding(0.1)]), graph)


def test_pot_loss_is_the_kappa_mix_of_base_and_bce():
    graph = small_graph(16, 40)
    graph.x = graph.x.float()
    torch.manual_seed(0)
    base = GRACE(graph.num_features, hidden=4, proj_hidden=4, drop_edge=(0.4, 0.3),
                 drop_feature=(0.0, 0.0))
    pot = POT(base, kappa=0.3)
    out = pot.loss(graph, torch.Generator().manual_seed(2))
    encoded = base.encode_views(graph, torch.Generator().manual_seed(2))
    base_loss = base.contrast(graph, encoded).total
    scores = pot.compactness(graph, encoded)
    bce = torch.stack([F.binary_cross_entropy_with_logits(s, torch.ones_like(s)) for s in scores]).mean()
    assert torch.allclose(out.total, 0.7 * base_loss + 0.3 * bce, atol=1e-6)
    assert out.parts["pot"] == pytest.approx(float(bce.detach()), rel=1e-5)
    out.total.backward()
    assert base.encoder.layers[0].linear.weight.grad.abs().sum() > 0
    # κ = 0 is the base method
    plain = POT(base, kappa=0.0).loss(graph, torch.Generator().manual_seed(2)).total
    assert torch.allclose(plain, base_loss)


def test_pot_batches_cycle_through_a_permutation():
    graph = small_graph(20, 50)
    graph.x = graph.x.float()
    pot = POT(GRACE(graph.num_features, hidden=4, proj_hidden=4), batch_size=8)
    seen = []
    for epoch in range(3):
        pot.set_epoch(epoch)
        nodes = pot._node_subset(20, torch.Generator().manual_seed(0), graph.x.device)
        assert bool((nodes[1:] > nodes[:-1]).all())
        seen.append(nodes)
    assert [len(s) for s in seen] == [8, 8, 4]
    assert torch.equal(torch.sort(torch.cat(seen)).values, torch.arange(20))
    out = pot.loss(graph, torch.Generator().manual_seed(0))
    assert torch.isfinite(out.total)


def test_pot_from_config_and_errors():
    pot = build_method("pot", 6, base="gca", kappa=0.3, hidden=4, proj_hidden=4,
                       activation="prelu")
    assert isinstance(pot.base, GCA) and pot.kappa == 0.3
    with pytest.raises(ValueError, match="kappa"):
        POT(GRACE(6, hidden=4, proj_hidden=4), kappa=1.5)
    with pytest.raises(ValueError, match="whole graph"):
        POT(GRACE(6, hidden=4, proj_hidden=4), bound="certified", batch_size=10)
    class OneView(Method):
        def __init__(self):
            super().__init__()
            self.encoder = GNNEncoder(6, 4, 4)

    with pytest.raises(TypeError, match="two-view"):
        POT(OneView())


def test_compactness_report_and_histogram(tmp_path):
    graph = small_graph(16, 40)
    graph.x = graph.x.float()
    base = GRACE(graph.num_features, hidden=4, proj_hidden=4)
    report = compactness_report(base, graph, bound="certified",
                                generator=torch.Generator().manual_seed(0),
                                histogram_png=tmp_path / "hist.png")
    scores = torch.cat(report["per_view"])
    assert report["violating_fraction"] == pytest.approx(float((scores < 0).float().mean()))
    assert (tmp_path / "hist.png").stat().st_size > 1000
    surrogate = compactness_report(POT(base), graph, bound="surrogate",
                                   generator=torch.Generator().manual_seed(0))
    assert surrogate["bound"] == "surrogate" and len(surrogate["per_view"]) == 2


def test_pot_protocol_swaps_planetoid_validation_and_test():
    from graphcl.eval import evaluate_clean, evaluate_pot

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (60,), generator=g)
    emb = torch.randn(60, 4, generator=g) + F.one_hot(y, 4).float()
    train, val, test = (torch.zeros(60, dtype=torch.bool) for _ in range(3))
    train[:20], val[20:30], test[30:] = True, True, True
    options = {"epochs": 40, "eval_every": 20, "normalize": False, "select_metric": "micro_f1",
               "lr": 0.01, "weight_decay": 0.0}
    ours = evaluate_pot(emb, y, train_mask=train, val_mask=val, test_mask=test, epochs=40)
    swapped = evaluate_clean(emb, y, train_mask=train, val_mask=test, test_mask=val,
                             num_splits=1, **options)
    assert ours.metrics["micro_f1"]["mean"] == swapped.metrics["micro_f1"]["mean"]
    honest = evaluate_pot(emb, y, train_mask=train, val_mask=val, test_mask=test, epochs=40,
                          swap_val_test=False)
    plain = evaluate_clean(emb, y, train_mask=train, val_mask=val, test_mask=test,
                           num_splits=1, **options)
    assert honest.metrics["micro_f1"]["mean"] == plain.metrics["micro_f1"]["mean"]


def test_reproduce_without_pot_keeps_everything_but_the_pot_term(load_benchmark):
    from graphcl.config import load_config

    reproduce = load_benchmark("reproduce")
    config = load_config("pot-grace", "cora")
    base = reproduce.without_pot(config)
    assert base["method"] == "grace" and "kappa" not in base["model"]
    assert base["train"] == config["train"] and base["eval"] == config["eval"]
    assert {k: v for k, v in config["model"].items() if k != "kappa"} == base["model"]
    assert reproduce.OFFICIAL_PROTOCOL["pot-grace"] == "pot"


def test_pot_wraps_gcool_with_a_deterministic_activation():
    from graphcl.methods import GCooL

    graph = small_graph(20, 50)
    graph.x = graph.x.float()
    with pytest.raises(ValueError, match="rrelu_fixed"):
        POT(GCooL(graph.num_features, hidden_layer=8, hidden=4, proj_hidden=4,
                  num_communities=3, activation="rrelu"))
    gcool = GCooL(graph.num_features, hidden_layer=8, hidden=4, proj_hidden=4, num_communities=3,
                  activation="rrelu_fixed")
    out = POT(gcool, kappa=0.3).loss(graph, torch.Generator().manual_seed(0))
    assert {"node", "pot"} <= set(out.parts)
    out.total.backward()
    assert gcool.centres.grad is not None


def test_pot_recompute_gives_the_same_loss_and_gradients():
    graph = small_graph(18, 50)
    graph.x = graph.x.float()
    grads = []
    for recompute in (False, True):
        torch.manual_seed(0)
        pot = POT(GRACE(graph.num_features, hidden=4, proj_hidden=4, drop_feature=(0.0, 0.0)),
                  kappa=0.5, recompute=recompute)
        out = pot.loss(graph, torch.Generator().manual_seed(1))
        out.total.backward()
        grads.append([p.grad.clone() for p in pot.parameters()])
        assert pot._recompute(graph.num_nodes) is recompute
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads))


def test_pot_compiled_dense_part_gives_the_same_loss_and_gradients():
    graph = small_graph(18, 50)
    graph.x = graph.x.float()
    results = []
    # eager; compiled; compiled inside the recomputing checkpoint
    for compile, recompute in ((False, False), (True, False), (True, True)):
        torch.manual_seed(0)
        pot = POT(GRACE(graph.num_features, hidden=4, proj_hidden=4, activation="prelu",
                        drop_feature=(0.0, 0.0)), kappa=0.5, compile=compile, recompute=recompute)
        out = pot.loss(graph, torch.Generator().manual_seed(1))
        out.total.backward()
        results.append((out.parts["pot"], [p.grad.clone() for p in pot.parameters()]))
    pot_eager, grads_eager = results[0]
    for pot_compiled, grads_compiled in results[1:]:
        assert pot_compiled == pytest.approx(pot_eager, rel=1e-5)
        assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6)
                   for a, b in zip(grads_eager, grads_compiled))
        assert any(bool(g.abs().gt(0).any()) for g in grads_compiled)


@pytest.mark.parametrize("alpha", [0.0, 0.25, 1.0])
def test_relu_relaxation_gradients_match_autograd_of_the_formula(alpha):
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(300, generator=g, dtype=torch.float64), torch.randn(300, generator=g, dtype=torch.float64)
    lower = torch.minimum(a, b).requires_grad_()
    upper = torch.maximum(a, b).requires_grad_()
    assert torch.autograd.gradcheck(lambda lo, up: relu_relaxation(lo, up, alpha), (lower, upper))
    # against autograd through the three-case formula of the official get_alpha_beta
    unstable = (lower < 0) & (upper > 0)
    lo = torch.where(unstable, lower, -torch.ones_like(lower))
    up = torch.where(unstable, upper, torch.ones_like(upper))
    ref_slope = torch.where(unstable, (up - alpha * lo) / (up - lo),
                            torch.where(upper <= 0, torch.full_like(lower, alpha), torch.ones_like(lower)))
    ref_intercept = torch.where(unstable, (alpha - 1) * up * lo / (up - alpha * lo), torch.zeros_like(lower))
    ref_offset = ref_slope * ref_intercept
    weights = torch.randn(2, 300, generator=g, dtype=torch.float64)
    ours = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, relu_relaxation(lower, upper, alpha))),
                               (lower, upper))
    ref = torch.autograd.grad((weights[0] * ref_slope).sum() + (weights[1] * ref_offset).sum(),
                              (lower, upper))
    assert all(torch.allclose(x, y) for x, y in zip(ours, ref))


@pytest.mark.parametrize("alpha", [0.0, 0.25, 1.0])
def test_relu_relaxation_gradients_are_finite_and_zero_on_stable_entries(alpha):
    # degenerate and one-signed intervals hit the denominators' floor; the masked derivative
    # must stay exactly zero there (no inf·0), also in float32
    lower = torch.tensor([0.0, -1e-30, 0.0, 1e-30, -3.0, 2.0, -2.0, -1e-20], requires_grad=True)
    upper = torch.tensor([0.0, 0.0, 1e-30, 2e-30, -1e-30, 5.0, 1.0, 1e-20], requires_grad=True)
    slope, offset = relu_relaxation(lower, upper, alpha)
    grad_lower, grad_upper = torch.autograd.grad(slope.sum() + 3 * offset.sum(), (lower, upper))
    assert torch.isfinite(grad_lower).all() and torch.isfinite(grad_upper).all()
    assert torch.isfinite(slope).all() and torch.isfinite(offset).all()
    assert (grad_lower[:6] == 0).all() and (grad_upper[:6] == 0).all()
    expected_slope = torch.tensor([alpha, alpha, 1.0, 1.0, alpha, 1.0])
    assert torch.allclose(slope[:6], expected_slope) and (offset[:6] == 0).all()
    if alpha < 1:  # unstable entries do move the lines
        assert grad_lower[6] != 0 and grad_upper[6] != 0


# -- the eager fast path: fused layer step, U/L bounds, shared products -------------------


def _random_box(n: int, d: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)
    return torch.minimum(a, b), torch.maximum(a, b)


@pytest.mark.parametrize("alphas", [(0.0, 0.0), (0.25, 0.25), (0.0, 1.0)])
def test_fused_substitution_equals_composed_operations(alphas):
    from graphcl.nn.bounds import _relax_and_substitute

    g = torch.Generator().manual_seed(11)
    n, widths = 40, (7, 6, 5)
    boxes = [_random_box(n, widths[1], g), _random_box(n, widths[2], g)]
    lowers = [lo.requires_grad_() for lo, _ in boxes]
    uppers = [up.requires_grad_() for _, up in boxes]
    leaf = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()
    biases = [leaf(widths[1]), leaf(widths[2])]
    transforms = [leaf(n, widths[1]), leaf(n, widths[2])]
    weights = [leaf(widths[1], widths[0]), leaf(widths[2], widths[1])]
    direction = leaf(n, widths[2])
    inputs = [*lowers, *uppers, *biases, transforms[0], weights[1], direction]
    probe = torch.randn(3, n, generator=g, dtype=torch.float64)
    results = []
    for fused in (True, False):
        score, bias_terms = _relax_and_substitute(lowers, uppers, biases, transforms, weights,
                                                  direction, alphas, fused=fused)
        objective = (probe[0] * score).sum() + (probe[1] * bias_terms[0]).sum() + (probe[2] * bias_terms[1]).sum()
        results.append(([score, *bias_terms], torch.autograd.grad(objective, inputs)))
    (values, grads), (ref_values, ref_grads) = results
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(values, ref_values))
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(grads, ref_grads))
    assert any(bool(grad.abs().gt(0).any()) for grad in grads[:4])  # the bounds do get gradients


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_fused_layer_step_gradcheck_and_exact_zeros_on_stable_entries(alpha):
    from graphcl.nn.bounds import _RelaxedLayerStep

    g = torch.Generator().manual_seed(2)
    lower, upper = _random_box(30, 4, g)
    coefficient = torch.randn(30, 4, generator=g, dtype=torch.float64).requires_grad_()
    bias = torch.randn(4, generator=g, dtype=torch.float64).requires_grad_()
    lower.requires_grad_()
    upper.requires_grad_()
    assert torch.autograd.gradcheck(lambda lo, up, c, b: _RelaxedLayerStep.apply(lo, up, c, b, alpha),
                                    (lower, upper, coefficient, bias))
    # stable entries whose width is not a power of two: h·(1/w) would leave q = 1 − r a
    # rounding error away from 0 and leak a gradient into the lower bound
    lower = torch.tensor([[0.3, 0.7, -2.0, -0.1]], requires_grad=True)
    upper = torch.tensor([[1.7, 1.7, -0.5, 0.9]], requires_grad=True)
    weighted, bias_term = _RelaxedLayerStep.apply(lower, upper, torch.ones(1, 4), torch.ones(4), alpha)
    grad_lower, grad_upper = torch.autograd.grad(weighted.sum() + bias_term.sum(), (lower, upper))
    assert (grad_lower[0, :3] == 0).all() and (grad_upper[0, :3] == 0).all()
    assert grad_lower[0, 3] != 0 and grad_upper[0, 3] != 0


def test_preactivation_bounds_equal_center_radius_form_for_any_lower_matrix():
    from graphcl.nn.adjacency import SparseAdjacency
    from graphcl.nn.bounds import SignedTransforms, _preactivation_bounds

    graph = small_graph(10, 24, seed=3)
    structure = CSRGraph(graph.edge_index, graph.num_nodes)
    degree = (structure.crow[1:] - structure.crow[:-1] - 1).double()
    interval = AdjacencyInterval.from_budget(structure, deletion_budget(degree, 0.5 * degree),
                                             dtype=torch.float64)
    assert torch.equal(interval.lower_diagonal(torch.float64), 1 / (degree + 1))
    g = torch.Generator().manual_seed(0)
    transforms = [torch.randn(10, 5, generator=g, dtype=torch.float64)]
    bias = [torch.randn(5, generator=g, dtype=torch.float64)]
    # a general lower bound too (off-diagonal entries): the two-product path
    general = AdjacencyInterval(interval.crow, interval.col, interval.upper * 0.3, interval.upper,
                                interval.is_diag, interval.num_nodes)
    assert general.lower_diagonal(torch.float64) is None
    for box in (interval, general):
        center = SparseAdjacency(box.crow, box.col, box.center, box.num_nodes).to_dense()
        radius = SparseAdjacency(box.crow, box.col, box.radius, box.num_nodes).to_dense()
        lowers, uppers = _preactivation_bounds(box, SignedTransforms.of(transforms), bias, torch.float64)
        assert torch.allclose(lowers[0], center @ transforms[0] - radius @ transforms[0].abs() + bias[0])
        assert torch.allclose(uppers[0], center @ transforms[0] + radius @ transforms[0].abs() + bias[0])


def test_shared_self_terms_and_node_rows_give_the_same_surrogate():
    from graphcl.nn.bounds import SignedTransforms, clean_layer_transforms, layer_biases

    graph = small_graph(14, 40, seed=1)
    encoder = encoder64(graph.num_features)
    structure = CSRGraph(graph.edge_index, graph.num_nodes)
    clean = structure.adjacency(dtype=torch.float64)
    view = structure.adjacency(torch.rand(graph.edge_index.size(1)) >= 0.3, dtype=torch.float64)
    degree = (structure.crow[1:] - structure.crow[:-1] - 1).double()
    interval = AdjacencyInterval.from_budget(structure, deletion_budget(degree, 0.4 * degree),
                                             dtype=torch.float64)
    transforms = clean_layer_transforms(encoder, graph.x, clean)
    shared = SignedTransforms.of(transforms).with_self_terms(
        interval.lower_diagonal(torch.float64), layer_biases(encoder, transforms[0]))
    direction = torch.randn(graph.num_nodes, 4, dtype=torch.float64)
    for nodes in (None, torch.tensor([1, 2, 5, 7, 11])):
        rows = slice(None) if nodes is None else nodes
        plain = compactness_surrogate(encoder, graph.x, interval, view, direction[rows], nodes, clean)
        reused = compactness_surrogate(encoder, graph.x, interval, view, direction[rows], nodes,
                                       transforms=shared)
        assert torch.allclose(plain, reused, atol=1e-13)


def test_reuse_transforms_multiplies_an_unmasked_input_once_with_the_same_gradients():
    from graphcl.nn import reuse_transforms
    from graphcl.nn.features import to_sparse_features

    graph = small_graph(12, 30)
    graph.x = graph.x.float().clamp(min=0)
    view = FeatureMasking(0.0)(graph, torch.Generator().manual_seed(0))
    assert view.x is graph.x  # nothing masked: the same tensor, so it can be shared
    for x in (graph.x, to_sparse_features(graph.x)):
        layer = GNNEncoder(7, 6, 4, activation="relu").layers[0]
        first = layer.transform(x)
        assert layer.transform(x) is not first  # outside the scope: a new product
        with reuse_transforms():
            shared = layer.transform(x)
            with reuse_transforms():  # nested scopes share the memo
                assert layer.transform(x) is shared
            assert layer.transform(x.clone() if x.layout == torch.strided else x.to_dense()) is not shared
            with torch.no_grad():  # no graph to share with the product above
                assert layer.transform(x) is not shared
        (shared * 2 + shared * 3).sum().backward()
        grad_shared = layer.linear.weight.grad.clone()
        layer.linear.weight.grad = None
        (layer.transform(x) * 2 + layer.transform(x) * 3).sum().backward()
        assert torch.allclose(grad_shared, layer.linear.weight.grad)


def test_propagate_add_matches_dense_and_its_gradients():
    from graphcl.nn.adjacency import propagate_add

    graph = small_graph(9, 20, seed=2)
    adjacency = CSRGraph(graph.edge_index, graph.num_nodes).adjacency(dtype=torch.float64)
    dense = adjacency.to_dense()
    g = torch.Generator().manual_seed(1)
    added = torch.randn(9, 3, generator=g, dtype=torch.float64).requires_grad_()
    x = torch.randn(9, 3, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, v: propagate_add(a, adjacency, v), (added, x))
    assert torch.allclose(propagate_add(added, adjacency, x), added + dense @ x)
    with pytest.raises(ValueError, match="added must be"):
        propagate_add(added[:4], adjacency, x)


def test_masked_views_share_the_source_product_with_the_same_values_and_gradients():
    from graphcl.nn import reuse_transforms
    from graphcl.nn.encoders import MASKED_COLUMNS_SHARE
    from graphcl.nn.features import masked_columns_of

    graph = small_graph(12, 30)
    graph.x = torch.rand(12, 40, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(3))
    adjacency = CSRGraph(graph.edge_index, graph.num_nodes).adjacency(dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    views = [FeatureMasking(0.1)(graph, generator) for _ in range(2)]
    many = FeatureMasking(0.9)(graph, generator)
    for view in (*views, many):
        source, keep = masked_columns_of(view.x)
        assert source is graph.x and torch.equal(view.x, source * keep)
    assert all(0 < int((~v.feature_mask).sum()) <= MASKED_COLUMNS_SHARE * 40 for v in views)
    assert int((~many.feature_mask).sum()) > MASKED_COLUMNS_SHARE * 40
    assert masked_columns_of(views[0].x.clone()) is None  # a copy is multiplied directly
    encoder = GNNEncoder(40, 8, 4, activation="relu").double()
    layer = encoder.layers[0]
    calls = []
    layer.linear.register_forward_hook(lambda module, args, out: calls.append(args[0]))

    def run(shared, inputs):
        encoder.zero_grad()
        calls.clear()
        if shared:
            with reuse_transforms():
                outs = [encoder(x, adjacency) for x in inputs]
        else:
            outs = [encoder(x, adjacency) for x in inputs]
        sum(((k + 1.5) * out).square().sum() for k, out in enumerate(outs)).backward()
        return outs, [p.grad.clone() for p in encoder.parameters()], list(calls)

    inputs = [v.x for v in views]
    direct, direct_grads, direct_calls = run(False, inputs)
    shared, shared_grads, shared_calls = run(True, inputs)
    assert len(direct_calls) == 2 and len(shared_calls) == 1  # one full product for both
    assert shared_calls[0] is graph.x
    for a, b in zip(direct + direct_grads, shared + shared_grads):
        assert torch.allclose(a, b, atol=1e-12, rtol=1e-12)
    # too many columns dropped: each view multiplied directly, same values
    _, _, many_calls = run(True, [many.x, views[0].x])
    assert [c is many.x for c in many_calls] == [True, False]
