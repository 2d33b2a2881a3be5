"""Blockwise InfoNCE objectives against dense float64 references and a hand computation."""

import math

import pytest
import torch

from graphcl.losses import (
    GRACELoss,
    InfoNCELoss,
    default_block_size,
    grace_loss,
    grace_loss_dense,
    infonce_loss,
    infonce_loss_dense,
)


def pair(n=37, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h1 = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    h2 = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    return h1, h2


def assert_rel_close(actual, expected, tol=1e-10):
    scale = expected.abs().max().clamp_min(1e-300)
    assert ((actual - expected).abs().max() / scale).item() < tol


CASES = [
    (grace_loss, grace_loss_dense, {}),
    (infonce_loss, infonce_loss_dense, {}),
    (infonce_loss, infonce_loss_dense, {"symmetric": True}),
]


@pytest.mark.parametrize("blockwise, dense, kwargs", CASES)
@pytest.mark.parametrize("block", [1, 7, 16, 37, 74, 1000])
@pytest.mark.parametrize("tau", [0.2, 0.5, 1.0])
def test_blockwise_equals_dense_float64(blockwise, dense, kwargs, block, tau):
    h1, h2 = pair()
    loss = blockwise(h1, h2, tau, block, **kwargs)
    grads = torch.autograd.grad(loss, (h1, h2))
    ref = dense(h1, h2, tau, **kwargs)
    ref_grads = torch.autograd.grad(ref, (h1, h2))
    assert_rel_close(loss, ref)
    for g, r in zip(grads, ref_grads):
        assert_rel_close(g, r)


def test_grace_hand_computed():
    # Two nodes, views chosen so all cosines are 0 or ±1: u = (e1, e2), v = (e1, -e2).
    h1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    h2 = torch.tensor([[2.0, 0.0], [0.0, -3.0]], dtype=torch.float64)
    tau = 0.5
    e = math.exp
    # anchor u1: pos cos(u1,v1)=1; negatives v2 (0) and u2 (0)
    l_u1 = -math.log(e(2) / (e(2) + e(0) + e(0)))
    # anchor u2: pos cos(u2,v2)=-1; negatives v1 (0), u1 (0)
    l_u2 = -math.log(e(-2) / (e(-2) + e(0) + e(0)))
    # anchor v1: pos 1; negatives u2 (0), v2 (0); anchor v2: pos -1; negatives u1 (0), v1 (0)
    expected = (l_u1 + l_u2 + l_u1 + l_u2) / 4
    assert grace_loss(h1, h2, tau, 1).item() == pytest.approx(expected, rel=1e-12)
    assert grace_loss_dense(h1, h2, tau).item() == pytest.approx(expected, rel=1e-12)


def test_small_temperature_is_stable():
    # tau = 0.01: logits up to 100, exp(-2/tau) underflows float32; compare with a
    # logsumexp reference (the dense formula itself loses precision here).
    h1, h2 = pair(n=20, d=3, seed=3)
    tau = 0.01
    u = torch.nn.functional.normalize(h1, dim=1)
    v = torch.nn.functional.normalize(h2, dim=1)
    stacked = torch.cat([u, v])
    logits = stacked @ stacked.t() / tau
    logits.fill_diagonal_(-float("inf"))
    n = u.size(0)
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    ref = (torch.logsumexp(logits, 1) - logits[torch.arange(2 * n), positive]).mean()
    for dtype in (torch.float64, torch.float32):
        out = grace_loss(h1.to(dtype), h2.to(dtype), tau, 8)
        assert torch.isfinite(out)
        assert out.item() == pytest.approx(ref.item(), rel=1e-5 if dtype == torch.float32 else 1e-10)


def test_float32_matches_float64():
    h1, h2 = pair(n=300, d=16)
    ref = grace_loss(h1, h2, 0.4, 64)
    out = grace_loss(h1.float(), h2.float(), 0.4, 64)
    assert out.item() == pytest.approx(ref.item(), rel=1e-5)


def test_modules_and_errors():
    h1, h2 = pair()
    assert GRACELoss(0.5, block_size=8)(h1, h2).item() == pytest.approx(
        grace_loss_dense(h1, h2, 0.5).item(), rel=1e-12)
    assert InfoNCELoss(0.5, symmetric=True, block_size=8)(h1, h2).item() == pytest.approx(
        infonce_loss_dense(h1, h2, 0.5, symmetric=True).item(), rel=1e-12)
    with pytest.raises(ValueError, match="equal shapes"):
        grace_loss(h1, h2[:5], 0.5)
    with pytest.raises(ValueError, match="at least 2 nodes"):
        grace_loss(h1[:1], h2[:1], 0.5)
    with pytest.raises(ValueError, match="tau must be positive"):
        infonce_loss(h1, h2, 0.0)


def test_default_block_size_bounds():
    assert default_block_size(10) == 10
    assert 64 <= default_block_size(10**6) <= 1024
    assert default_block_size(10**6, max_block=128) == 128


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("block", [5, 16, 100])
def test_weighted_negatives_equal_dense(symmetric, block):
    from graphcl.losses import ClusterNegativeWeights, LowRankNegativeWeights
    h1, h2 = pair(n=33, d=4, seed=2)
    gen = torch.Generator().manual_seed(0)
    clusters = torch.randint(0, 4, (2, 33), generator=gen)
    left = torch.rand(33, 2, generator=gen, dtype=torch.float64)
    right = torch.rand(33, 2, generator=gen, dtype=torch.float64)
    same_everywhere = (clusters[:, :, None] == clusters[:, None, :]).all(0)
    for callback, dense_weight in [
        (ClusterNegativeWeights(clusters), (~same_everywhere).double()),
        (LowRankNegativeWeights(left, right), left @ right.t()),
    ]:
        loss = infonce_loss(h1, h2, 0.5, block, symmetric=symmetric, pair_weight=callback)
        grads = torch.autograd.grad(loss, (h1, h2))
        ref = infonce_loss_dense(h1, h2, 0.5, symmetric=symmetric, weight=dense_weight)
        ref_grads = torch.autograd.grad(ref, (h1, h2))
        assert_rel_close(loss, ref)
        for g, r in zip(grads, ref_grads):
            assert_rel_close(g, r)


def test_one_cluster_per_node_reduces_to_plain_infonce():
    from graphcl.losses import ClusterNegativeWeights
    h1, h2 = pair(n=25, d=3)
    weights = ClusterNegativeWeights(torch.arange(25))
    weighted = infonce_loss(h1, h2, 0.4, 8, pair_weight=weights)
    assert weighted.item() == pytest.approx(infonce_loss(h1, h2, 0.4, 8).item(), rel=1e-12)
    # all in one cluster: no negatives left, the loss is -log(1) = 0
    none_left = infonce_loss(h1, h2, 0.4, 8, pair_weight=ClusterNegativeWeights(torch.zeros(25, dtype=torch.long)))
    assert none_left.item() == pytest.approx(0.0, abs=1e-12)


def test_bad_weight_tile_shape():
    h1, h2 = pair(n=10, d=3)
    with pytest.raises(ValueError, match="pair_weight"):
        infonce_loss(h1, h2, 0.5, 4, pair_weight=lambda rows, cols: torch.ones(2, 2))


@pytest.mark.parametrize("block", [1, 7, 37, 1000])
@pytest.mark.parametrize("weighted", ["none", "tiles", "count", "binary"])
def test_one_pass_and_two_pass_infonce_agree_with_dense(monkeypatch, block, weighted):
    """The cross-view loss computes its gradients in the forward pass when it can (one
    direction; tile weights, MEOW's cluster corrections or none); the recomputing two-pass
    path must give the same values."""
    from graphcl.losses import ClusterNegativeWeights, LowRankNegativeWeights, infonce
    h1, h2 = pair(n=37, d=5, seed=4)
    gen = torch.Generator().manual_seed(1)
    left = torch.rand(37, 3, generator=gen, dtype=torch.float64)
    right = torch.rand(37, 3, generator=gen, dtype=torch.float64)
    clusters = torch.randint(0, 12, (3, 37), generator=gen)
    differ = (clusters[:, :, None] != clusters[:, None, :]).double()
    callback, dense_weight = {
        "none": (None, None),
        "tiles": (LowRankNegativeWeights(left, right), left @ right.t()),
        "count": (ClusterNegativeWeights(clusters, mode="count"), differ.sum(0)),
        "binary": (ClusterNegativeWeights(clusters), differ.amax(0)),
    }[weighted]
    if weighted in ("count", "binary"):  # the blocks path, not weight tiles
        assert infonce._sparse_correction(callback, 37) is not None
    ref = infonce_loss_dense(h1, h2, 0.3, weight=dense_weight)
    ref_grads = torch.autograd.grad(ref, (h1, h2))
    used = []
    original = infonce._CrossInfoNCE._one_pass
    monkeypatch.setattr(infonce._CrossInfoNCE, "_one_pass",
                        staticmethod(lambda *args: used.append(1) or original(*args)))
    for one_pass in (True, False):
        monkeypatch.setattr(infonce, "_ONE_PASS", one_pass)
        loss = infonce_loss(h1, h2, 0.3, block, pair_weight=callback)
        grads = torch.autograd.grad(loss * 2.5, (h1, h2))  # a non-unit incoming gradient
        assert_rel_close(loss, ref)
        for g, r in zip(grads, ref_grads):
            assert_rel_close(g, 2.5 * r)
        assert len(used) == 1  # the one-pass path ran exactly when enabled
    with torch.no_grad():  # no gradient needed: the forward-only tiles, same value
        monkeypatch.setattr(infonce, "_ONE_PASS", True)
        assert_rel_close(infonce_loss(h1, h2, 0.3, block, pair_weight=callback), ref)
    assert len(used) == 1


def test_one_pass_panel_rows_follow_the_memory_budget(monkeypatch):
    from graphcl.losses import infonce
    monkeypatch.setattr(infonce, "_tile_memory_budget", lambda device: 100 * 4 * 1000)
    assert infonce._one_pass_rows(1000, 1024, 4, torch.device("cpu")) == 100
    assert infonce._one_pass_rows(1000, 50, 4, torch.device("cpu")) == 50
    monkeypatch.setattr(infonce, "_tile_memory_budget", lambda device: 2**30)
    assert infonce._one_pass_rows(1000, 1024, 4, torch.device("cpu")) == 256  # CPU cap
    monkeypatch.setattr(infonce, "_tile_memory_budget", lambda device: 100 * 4 * 1000)
    # fewer than 64 rows (or than the tile edge) fit: the two-pass path is used instead
    assert infonce._one_pass_rows(10_000, 1024, 4, torch.device("cpu")) == 0
    monkeypatch.setattr(infonce, "_ONE_PASS", False)
    assert infonce._one_pass_rows(1000, 1024, 4, torch.device("cpu")) == 0


def test_one_pass_is_not_used_for_half_precision_inputs(monkeypatch):
    """Unshifted exponentials e^{1/τ} and their row sums overflow float16: such inputs take the
    shifted two-pass tiles."""
    from graphcl.losses import infonce
    used = []
    original = infonce._CrossInfoNCE._one_pass
    monkeypatch.setattr(infonce._CrossInfoNCE, "_one_pass",
                        staticmethod(lambda *args: used.append(1) or original(*args)))
    h1, h2 = pair(n=40, d=6, seed=5)
    ref = infonce_loss_dense(h1, h2, 0.05)
    for dtype in (torch.bfloat16, torch.float16):
        u = h1.detach().to(dtype).requires_grad_()
        v = h2.detach().to(dtype).requires_grad_()
        loss = infonce_loss(u, v, 0.05, 16)
        loss.backward()
        assert torch.isfinite(u.grad).all() and torch.isfinite(v.grad).all()
        assert loss.item() == pytest.approx(ref.item(), rel=0.02)
    assert used == []
