"""ProGCL (Beta mixture, hardness, weighted/mixed loss) and COSTA (Gaussian sketch)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from graphcl.losses import grace_loss_dense
from graphcl.losses.progcl import BetaMixture, HardnessWeights, progcl_loss
from graphcl.methods import COSTA, POT, ProGCL
from graphcl.methods.costa import _sketch_chunk, gaussian_sketch


def test_beta_mixture_separates_two_modes():
    torch.manual_seed(0)
    low = torch.distributions.Beta(2.0, 8.0).sample((9000,))
    high = torch.distributions.Beta(8.0, 2.0).sample((1000,))
    mixture = BetaMixture(iterations=30).fit(torch.cat([low, high]))
    grid = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    posterior = mixture.posterior_true_negative(grid)
    assert posterior[3] > 0.8 and posterior[-1] < 0.1   # p(true negative) at 0.2 and 0.95
    # decreasing above 0.2 (near 0 the high component, α < 1, has an integrable spike)
    assert bool((posterior[4:] <= posterior[3:-1] + 1e-12).all())
    assert bool(((posterior >= 0) & (posterior <= 1)).all())
    # the code's floor β₁ >= 1.01 keeps the high component broad: it takes more than 10 %
    assert 0.1 < float(mixture.weight[1]) < 0.4


def test_beta_mixture_m_step_is_the_weighted_method_of_moments():
    x = torch.rand(200, dtype=torch.float64) * 0.98 + 0.01
    mixture = BetaMixture(iterations=1, weight_init=0.05)
    prior = BetaMixture(iterations=0, weight_init=0.05)
    resp = prior._weighted_likelihood(x).clamp(min=1e-12)
    resp = resp / resp.sum(1, keepdim=True)
    mixture.fit(x)
    for c in range(2):
        r = resp[:, c]
        m = (r * x).sum() / r.sum()
        v = (r * (x - m) ** 2).sum() / r.sum()
        a = m * (m * (1 - m) / v - 1)
        b = a * (1 - m) / m
        if c == 1 and b < 1:
            b = torch.tensor(1.01, dtype=torch.float64)
        assert float(mixture.alpha[c]) == pytest.approx(float(a))
        assert float(mixture.beta[c]) == pytest.approx(float(b))
    assert torch.allclose(mixture.weight, resp.mean(0))


def _dense_hardness(u, v, mixture):
    s = (F.normalize(u, dim=1) @ F.normalize(v, dim=1).t() + 1) / 2
    return (mixture.posterior_true_negative(s.reshape(-1)) * s.reshape(-1)).view_as(s)


def _dense_progcl(h1, h2, tau, B=None, mix=None):
    u, v = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
    n = u.size(0)
    eye = torch.eye(n, dtype=torch.bool)

    def one(a, b):
        between, refl = torch.exp(a @ b.t() / tau), torch.exp(a @ a.t() / tau)
        if B is not None:
            w = B.clone()
            w[eye] = 0
            w = w / (w.sum(1, keepdim=True) / (n - 1))
            den = between.diag() + ((between + refl) * w).sum(1)
        else:
            den = between.sum(1) + refl.sum(1) - refl.diag()
        if mix is not None:
            hard, cols, perm = mix
            s = (a @ b.t()).gather(1, cols)
            m = (s * hard + s[:, perm] * hard[:, perm]) / (hard + hard[:, perm] + 1e-12)
            den = den + torch.exp(m / tau).sum(1)
        return -torch.log(between.diag() / den)

    return 0.5 * (one(u, v) + one(v, u)).mean()


def test_progcl_loss_matches_dense_references_and_gradients():
    torch.manual_seed(0)
    n = 23
    h1 = torch.randn(n, 5, dtype=torch.float64, requires_grad=True)
    h2 = torch.randn(n, 5, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(progcl_loss(h1, h2, 0.5, block_size=7), grace_loss_dense(h1, h2, 0.5))
    frozen_u, frozen_v = torch.randn(n, 5, dtype=torch.float64), torch.randn(n, 5, dtype=torch.float64)
    mixture = BetaMixture(iterations=5).fit(torch.rand(300, dtype=torch.float64))
    weights = HardnessWeights(frozen_u, frozen_v, mixture, block=6)
    B = _dense_hardness(frozen_u, frozen_v, mixture)
    ours = progcl_loss(h1, h2, 0.5, weights=weights, block_size=7)
    reference = _dense_progcl(h1, h2, 0.5, B=B)
    assert torch.allclose(ours, reference)
    g_ours = torch.autograd.grad(ours, (h1, h2))
    g_ref = torch.autograd.grad(reference, (h1, h2))
    assert all(torch.allclose(a, b) for a, b in zip(g_ours, g_ref))
    hard, cols = weights.top_k(6)
    Bn = B.clone()
    Bn[torch.eye(n, dtype=torch.bool)] = -1
    top = torch.topk(Bn, 6, dim=1)
    assert torch.allclose(hard, top.values) and torch.equal(cols, top.indices)
    perm = torch.randperm(6)
    ours = progcl_loss(h1, h2, 0.5, mix=(hard, cols, perm), block_size=5)
    reference = _dense_progcl(h1, h2, 0.5, mix=(hard, cols, perm))
    assert torch.allclose(ours, reference)
    g_ours = torch.autograd.grad(ours, (h1, h2))
    g_ref = torch.autograd.grad(reference, (h1, h2))
    assert all(torch.allclose(a, b) for a, b in zip(g_ours, g_ref))


def _graph(n=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, 120), generator=g)
    edge_index = torch.cat([edge_index, edge_index.flip(0)], 1)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    return Data(x=torch.rand(n, 8, generator=g), edge_index=edge_index, num_nodes=n)


@pytest.mark.parametrize("mode", ["weight", "mix"])
def test_progcl_fits_at_epoch_start_and_survives_a_checkpoint(mode):
    graph = _graph()
    torch.manual_seed(0)
    model = ProGCL(8, hidden=4, proj_hidden=4, mode=mode, epoch_start=3, mix_negatives=10,
                   drop_feature=(0.0, 0.0))
    for epoch in range(2):
        model.set_epoch(epoch)
        assert "infonce" in model.loss(graph, torch.Generator().manual_seed(epoch)).parts
    assert not model.fitted
    model.set_epoch(2)
    out = model.loss(graph, torch.Generator().manual_seed(2))
    assert model.fitted and "progcl" in out.parts
    out.total.backward()
    state = model.state_dict()
    clone = ProGCL(8, hidden=4, proj_hidden=4, mode=mode, epoch_start=3, mix_negatives=10)
    clone.load_state_dict(state)
    assert clone.fitted and torch.equal(clone.frozen_u, model.frozen_u)
    assert torch.allclose(clone.hardness().row_mean(), model.hardness().row_mean())
    POT(model, kappa=0.3).loss(graph, torch.Generator().manual_seed(3)).total.backward()


@pytest.mark.parametrize("keep_bytes", [0, 1 << 20], ids=["regenerated", "kept"])
def test_gaussian_sketch_equals_the_explicit_matrix_and_its_gradient(keep_bytes):
    h = torch.randn(40, 3, dtype=torch.float64, requires_grad=True)
    k, seed = 13, 7
    out = gaussian_sketch(h, k, seed, chunk_rows=5, keep_bytes=keep_bytes)
    P = torch.cat([_sketch_chunk(seed, i, min(5, k - r0), 40, k ** -0.5, h.detach())
                   for i, r0 in enumerate(range(0, k, 5))])
    assert P.shape == (k, 40)
    assert torch.allclose(out, P @ h)
    weight = torch.randn(k, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad((out * weight).sum(), h)
    assert torch.allclose(grad, P.t() @ weight)
    # the seed fixes P: bit-equal within one mode; across modes the products run in other
    # row blocks, which BLAS may round differently (MKL does on AMD EPYC)
    assert torch.equal(gaussian_sketch(h, k, seed, chunk_rows=5, keep_bytes=keep_bytes), out)
    other_mode = gaussian_sketch(h, k, seed, chunk_rows=5, keep_bytes=(1 << 20) - keep_bytes)
    assert torch.allclose(other_mode, out, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(gaussian_sketch(h, k, seed + 1, chunk_rows=5), out)
    # covariance preserved in expectation: E[PᵀP] = I
    big = gaussian_sketch(torch.eye(50, dtype=torch.float64), 4000, 1, chunk_rows=512)
    assert torch.allclose(big.t() @ big, torch.eye(50, dtype=torch.float64), atol=0.1)


def test_costa_sketches_both_views_with_one_draw():
    """One product with [z1 | z2] equals sketching each view with the same P."""
    z1, z2 = torch.randn(30, 4, dtype=torch.float64), torch.randn(30, 4, dtype=torch.float64)
    both = gaussian_sketch(torch.cat([z1, z2], 1), 11, 3, chunk_rows=4)
    assert torch.allclose(both[:, :4], gaussian_sketch(z1, 11, 3, chunk_rows=4, keep_bytes=0))
    assert torch.allclose(both[:, 4:], gaussian_sketch(z2, 11, 3, chunk_rows=4, keep_bytes=0))


def test_costa_trains_and_takes_pot():
    graph = _graph()
    torch.manual_seed(0)
    model = COSTA(8, hidden=4, proj_hidden=4, ratio=0.5)
    out = model.loss(graph, torch.Generator().manual_seed(0))
    out.total.backward()
    assert model.encoder.layers[0].linear.weight.grad.abs().sum() > 0
    assert model.encoder.layers[0].out_channels == 8  # 2·hidden, POT's copy
    assert COSTA(8, hidden=4, encoder_hidden=4).encoder.layers[0].out_channels == 4
    pot = POT(COSTA(8, hidden=4, proj_hidden=4), kappa=0.2)
    assert torch.isfinite(pot.loss(graph, torch.Generator().manual_seed(0)).total)
    with pytest.raises(ValueError, match="ratio"):
        COSTA(8, ratio=0.0)


def test_costa_sketch_rows_is_the_floor_of_ratio_times_n_and_at_least_one():
    model = COSTA(8, hidden=4, proj_hidden=4, ratio=0.5)
    assert model.sketch_rows(2708) == 1354 and model.sketch_rows(7) == 3
    assert COSTA(8, hidden=4, proj_hidden=4, ratio=0.01).sketch_rows(50) == 1
