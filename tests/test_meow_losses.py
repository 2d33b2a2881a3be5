"""MEOW / AdaMEOW objectives: cluster-weighted InfoNCE, k-means, ProtoNCE, learned weights."""

import math

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses import (
    ClusterNegativeWeights,
    PairWeightMLP,
    cluster_concentration,
    infonce_loss,
    infonce_loss_dense,
    learned_weight_infonce,
    learned_weight_infonce_dense,
    proto_nce_loss,
    spherical_kmeans,
)


def _pair(n=23, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    return u, v


def _official_meow_infonce(u, v, clusters, tau):
    """contrast.py's InfoNce written out: weight = G - Σ_g same_g, positive not summed."""
    u, v = F.normalize(u, dim=1), F.normalize(v, dim=1)
    dots = torch.exp(u @ v.t() / tau)
    same = (clusters[:, :, None] == clusters[:, None, :]).double().sum(0)
    weight = clusters.size(0) - same
    return (-torch.log(dots.diagonal() / (dots * weight).sum(1))).mean()


@pytest.mark.parametrize("block", [4, 7, 64])
def test_count_weighted_infonce_without_positive_matches_official_formula(block):
    u, v = _pair()
    clusters = torch.stack([torch.arange(23) % 3, torch.arange(23) % 5])
    weights = ClusterNegativeWeights(clusters, mode="count")
    loss = infonce_loss(u, v, 0.4, block, pair_weight=weights, positive_weight=0.0)
    reference = _official_meow_infonce(u, v, clusters, 0.4)
    assert torch.allclose(loss, reference, atol=1e-10)
    dense = infonce_loss_dense(u, v, 0.4, weight=weights.dense().double(), positive_weight=0.0)
    assert torch.allclose(loss, dense, atol=1e-10)
    grads = torch.autograd.grad(loss, (u, v))
    expected = torch.autograd.grad(reference, (u, v))
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, atol=1e-9)


def test_one_cluster_per_node_reduces_to_infonce_without_positive():
    u, v = _pair(n=17)
    singletons = ClusterNegativeWeights(torch.arange(17), mode="count")
    weighted = infonce_loss(u, v, 0.5, 5, pair_weight=singletons, positive_weight=0.0)
    plain_without_positive = infonce_loss_dense(u, v, 0.5, positive_weight=0.0)
    assert torch.allclose(weighted, plain_without_positive, atol=1e-10)
    # and with the positive kept, to plain InfoNCE exactly
    kept = infonce_loss(u, v, 0.5, 5, pair_weight=singletons, positive_weight=1.0)
    assert torch.allclose(kept, infonce_loss(u, v, 0.5, 5), atol=1e-10)


def test_binary_and_count_modes():
    clusters = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])
    count = ClusterNegativeWeights(clusters, mode="count").dense()
    binary = ClusterNegativeWeights(clusters, mode="binary").dense()
    assert count[0].tolist() == [0, 1, 2, 2]
    assert count[2].tolist() == [2, 1, 0, 0]
    assert binary[0].tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="mode"):
        ClusterNegativeWeights(clusters, mode="soft")


def test_positive_weight_needs_pair_weight():
    u, v = _pair(n=5)
    with pytest.raises(ValueError, match="pair_weight"):
        infonce_loss(u, v, 0.5, positive_weight=0.0)


def _blobs(per=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(3, 8, generator=g), dim=1) * 4
    points = torch.cat([c + 0.3 * torch.randn(per, 8, generator=g) for c in centres])
    return F.normalize(points, dim=1), torch.arange(3).repeat_interleave(per)


def test_kmeans_recovers_separated_clusters_and_is_seeded():
    x, truth = _blobs()
    first = spherical_kmeans(x, 3, generator=torch.Generator().manual_seed(4))
    again = spherical_kmeans(x, 3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(first.assignment, again.assignment)
    assert torch.equal(first.centroids, again.centroids)
    # same partition as the truth up to relabelling
    pairs = set(zip(first.assignment.tolist(), truth.tolist()))
    assert len(pairs) == 3
    # score is the inner product with the assigned centroid, which is the cluster mean
    assert torch.allclose(first.score, (x * first.centroids[first.assignment]).sum(1))
    for k in range(3):
        assert torch.allclose(first.centroids[k], x[first.assignment == k].mean(0), atol=1e-6)
    assert first.objective == pytest.approx(float(first.score.sum()))


def test_faiss_backend_matches_the_torch_clustering_and_is_seeded():
    pytest.importorskip("faiss")
    from graphcl.losses import faiss_kmeans

    x, truth = _blobs()
    first = faiss_kmeans(x, 3, seed=1)
    again = faiss_kmeans(x, 3, seed=1)
    assert torch.equal(first.assignment, again.assignment)
    assert first.assignment.dtype == torch.long and first.centroids.shape == (3, x.size(1))
    assert len(set(zip(first.assignment.tolist(), truth.tolist()))) == 3
    ours = spherical_kmeans(x, 3, generator=torch.Generator().manual_seed(1))
    assert first.objective == pytest.approx(ours.objective, rel=1e-5)
    assert torch.allclose(first.score, (x * first.centroids[first.assignment]).sum(1),
                          atol=1e-5)
    with pytest.raises(ValueError, match="exceeds"):
        faiss_kmeans(x, x.size(0) + 1)


def _plain_lloyd(x, k, iterations, restarts, generator):
    """Unpruned reference: the same initialization and update, full assignments."""
    from graphcl.losses.prototypes import _update

    n = x.size(0)
    starts = [torch.randperm(n, generator=generator)[:k] for _ in range(restarts)]
    best = None
    for start in starts:
        centroids = x[start].clone()
        scores, labels = (x @ centroids.t()).max(1)
        for _ in range(iterations):
            centroids = _update(x, labels[None], scores[None], k)[0]
            scores, new_labels = (x @ centroids.t()).max(1)
            done = torch.equal(new_labels, labels)
            labels = new_labels
            if done:
                break
        if best is None or scores.sum() > best[2].sum():
            best = (labels, centroids, scores)
    return best


@pytest.mark.parametrize("k", [1, 7, 40])
def test_kmeans_pruned_rounds_equal_plain_lloyd(k):
    """Hamerly-pruned assignments give exactly the labels of full ones (float64, overlapping
    clusters so that many points move between rounds)."""
    g = torch.Generator().manual_seed(k)
    centres = torch.randn(6, 5, generator=g, dtype=torch.float64)
    x = centres[torch.randint(0, 6, (400,), generator=g)]
    x = F.normalize(x + 0.8 * torch.randn(400, 5, generator=g, dtype=torch.float64), dim=1)
    ours = spherical_kmeans(x, k, 25, 3, torch.Generator().manual_seed(9))
    labels, centroids, scores = _plain_lloyd(x, k, 25, 3, torch.Generator().manual_seed(9))
    assert torch.equal(ours.assignment, labels)
    assert torch.allclose(ours.centroids, centroids, atol=1e-12)
    assert torch.allclose(ours.score, scores, atol=1e-12)


def test_kmeans_errors():
    x, _ = _blobs(per=2)
    with pytest.raises(ValueError, match="exceeds"):
        spherical_kmeans(x, 7)
    with pytest.raises(ValueError, match="NaN"):
        spherical_kmeans(torch.full((5, 2), float("nan")), 2)


def test_cluster_concentration_hand_computed():
    score = torch.tensor([0.64, 0.36, 0.81, 0.25, 0.49, 1.0], dtype=torch.float64)
    assignment = torch.tensor([0, 0, 1, 1, 1, 2])
    phi = cluster_concentration(score, assignment, 3, tau=0.5)
    raw0 = (0.8 + 0.6) / 2 / math.log(7)
    raw1 = (0.9 + 0.5 + 0.7) / 3 / math.log(8)
    raw = torch.tensor([raw0, raw1, max(raw0, raw1)], dtype=torch.float64)  # singleton: max
    low, high = torch.quantile(raw, torch.tensor([0.1, 0.9], dtype=torch.float64))
    clipped = raw.clamp(low, high)
    assert torch.allclose(phi, 0.5 * clipped / clipped.mean())
    assert phi.mean().item() == pytest.approx(0.5)


def test_proto_nce_matches_pcl_formula():
    g = torch.Generator().manual_seed(1)
    z = F.normalize(torch.randn(10, 4, generator=g, dtype=torch.float64), dim=1)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    phi = torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64)
    loss = proto_nce_loss(z, [mu, mu], [labels, labels], [phi, phi])
    mu_hat = F.normalize(mu, dim=1)
    expected = 0.0
    for i in range(10):
        terms = [math.exp(float(z[i] @ mu_hat[k]) / float(phi[k])) for k in range(3)]
        expected -= math.log(terms[labels[i]] / sum(terms))
    assert loss.item() == pytest.approx(expected / 10, rel=1e-10)


@pytest.mark.parametrize("block_rows", [1, 3, None])
def test_learned_weight_infonce_matches_official_dense(block_rows):
    torch.manual_seed(0)
    net = PairWeightMLP(6, 16).double()
    u, v = _pair(n=11)
    a, b = F.normalize(u, dim=1), F.normalize(v, dim=1)
    loss = learned_weight_infonce(a, b, net, 0.9, block_rows=block_rows)
    reference = learned_weight_infonce_dense(a, b, net, 0.9)
    assert torch.allclose(loss, reference, atol=1e-10)
    params = (u, v, *net.parameters())
    got = torch.autograd.grad(loss, params, retain_graph=True)
    want = torch.autograd.grad(reference, params)
    for x, y in zip(got, want):
        assert torch.allclose(x, y, atol=1e-9)


def test_learned_weight_infonce_bad_input():
    net = PairWeightMLP(4)
    with pytest.raises(ValueError, match="both be"):
        learned_weight_infonce(torch.randn(3, 4), torch.randn(4, 4), net, 0.5)
    with pytest.raises(ValueError, match="tau"):
        learned_weight_infonce(torch.randn(3, 4), torch.randn(3, 4), net, 0.0)


def test_learned_weight_infonce_float32_and_no_grad_path():
    """float32 (the sigmoid form of tanh) against the float64 dense official computation,
    and the forward-only path (no input needs a gradient) against the fused one."""
    torch.manual_seed(1)
    net = PairWeightMLP(5, 4).double()
    a = F.normalize(torch.randn(40, 5, dtype=torch.float64), dim=1)
    b = F.normalize(torch.randn(40, 5, dtype=torch.float64), dim=1)
    reference = learned_weight_infonce_dense(a, b, net, 0.7)
    net32 = PairWeightMLP(5, 4)
    net32.load_state_dict({k: v.float() for k, v in net.state_dict().items()})
    a32, b32 = a.float().requires_grad_(), b.float().requires_grad_()
    fused = learned_weight_infonce(a32, b32, net32, 0.7, block_rows=7)
    assert fused.item() == pytest.approx(reference.item(), abs=1e-5)
    with torch.no_grad():
        plain = learned_weight_infonce(a32, b32, net32, 0.7, block_rows=7)
    assert plain.item() == pytest.approx(fused.item(), abs=1e-6)
    got = torch.autograd.grad(fused, (a32, b32, *net32.parameters()))
    a64, b64 = a.clone().requires_grad_(), b.clone().requires_grad_()
    want = torch.autograd.grad(learned_weight_infonce_dense(a64, b64, net, 0.7),
                               (a64, b64, *net.parameters()))
    for x, y in zip(got, want):
        assert torch.allclose(x.double(), y, atol=1e-5)


def test_learned_weight_infonce_large_preactivations_use_plain_sigmoids():
    """Pre-activations beyond the exponential product's safe range (|2·pre| ≥ 80) take the
    plain-sigmoid path and still match the dense float64 computation, finite."""
    torch.manual_seed(2)
    net = PairWeightMLP(4, 3).double()
    with torch.no_grad():
        net.first.weight.mul_(200.0)
    a = F.normalize(torch.randn(12, 4, dtype=torch.float64), dim=1).requires_grad_()
    b = F.normalize(torch.randn(12, 4, dtype=torch.float64), dim=1).requires_grad_()
    assert float(net.first(a).detach().abs().max()) > 40  # the guard must trigger
    loss = learned_weight_infonce(a, b, net, 0.5, block_rows=5)
    reference = learned_weight_infonce_dense(a, b, net, 0.5)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(reference.item(), abs=1e-9)
    got = torch.autograd.grad(loss, (a, b, *net.parameters()))
    want = torch.autograd.grad(learned_weight_infonce_dense(a, b, net, 0.5),
                               (a, b, *net.parameters()))
    for x, y in zip(got, want):
        assert torch.isfinite(x).all() and torch.allclose(x, y, atol=1e-7)


def _uneven_labels(sizes, seed):
    labels = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return labels[torch.randperm(labels.numel(), generator=torch.Generator().manual_seed(seed))]


@pytest.mark.parametrize("mode", ["count", "binary"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("positive_weight", [0.0, 1.0])
@pytest.mark.parametrize("layout", ["even", "uneven"])
def test_cluster_weights_sparse_correction_equals_dense(mode, symmetric, positive_weight,
                                                        layout):
    """Clusters take the sparse same-cluster correction (no weight tiles), bucketed by size
    when uneven; loss and gradients equal the dense float64 formula and the tile path."""
    u, v = _pair(n=96, d=5)
    if layout == "even":
        clusters = torch.stack([torch.arange(96) % 32, (torch.arange(96) * 7) % 48])
    else:
        clusters = torch.stack([_uneven_labels([24, 18, 14, 12, 10, 8, 5, 2, 1, 1, 1], 0),
                                _uneven_labels([30, 15, 15, 11, 9, 6, 4, 3, 2, 1], 1)])
    weights = ClusterNegativeWeights(clusters, mode=mode)
    assert weights.sparse_correction(96 * 96 // 2) is not None
    loss = infonce_loss(u, v, 0.4, 7, symmetric=symmetric, pair_weight=weights,
                        positive_weight=positive_weight)
    dense = infonce_loss_dense(u, v, 0.4, symmetric=symmetric, weight=weights.dense().double(),
                               positive_weight=positive_weight)
    tiles = infonce_loss(u, v, 0.4, 7, symmetric=symmetric,
                         pair_weight=lambda rows, cols: weights(rows, cols),
                         positive_weight=positive_weight)
    assert torch.allclose(loss, dense, atol=1e-10) and torch.allclose(loss, tiles, atol=1e-10)
    for got, want in zip(torch.autograd.grad(loss, (u, v)), torch.autograd.grad(dense, (u, v))):
        assert torch.allclose(got, want, atol=1e-10)


def test_padded_cluster_blocks_hand_computed():
    from graphcl.nn.segment import padded_groups

    labels = torch.tensor([1, 0, 1, 2, 1])
    # sizes 3, 1, 1: the singletons share a bucket, the triple has its own
    buckets = padded_groups(labels)
    assert [b.tolist() for b in buckets] == [[[0, 2, 4]], [[1], [3]]]
    # uneven sizes are bucketed, not padded to the largest: 6, 5 | 2, 2 | 1 (pad 7 = N)
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 3, 3, 4])
    buckets = padded_groups(labels, growth=1.25)
    assert [tuple(b.shape) for b in buckets] == [(2, 6), (2, 2), (1, 1)]
    assert buckets[0][1].tolist() == [6, 7, 8, 9, 10, 16]
    assert sorted(torch.cat([b[b < 16] for b in buckets]).tolist()) == list(range(16))
    with pytest.raises(ValueError, match="growth"):
        padded_groups(labels, growth=0.5)
    # one large cluster is left to the tiles
    weights = ClusterNegativeWeights(torch.zeros(40, dtype=torch.long))
    assert weights.sparse_correction(40 * 40 // 16) is None


def test_cluster_correction_without_cached_blocks_gives_the_same_gradients(monkeypatch):
    from graphcl.losses import infonce

    u, v = _pair(n=96, d=5)
    clusters = torch.stack([_uneven_labels([24, 18, 14, 12, 10, 8, 5, 2, 1, 1, 1], 0)])
    weights = ClusterNegativeWeights(clusters, mode="count")
    grads = []
    for limit in (infonce._CACHED_BLOCK_ENTRIES, 0):
        monkeypatch.setattr(infonce, "_CACHED_BLOCK_ENTRIES", limit)
        loss = infonce_loss(u, v, 0.4, 7, pair_weight=weights, positive_weight=0.0)
        grads.append(torch.autograd.grad(loss, (u, v)))
    for cached, recomputed in zip(*grads):
        assert torch.equal(cached, recomputed)


@pytest.mark.parametrize("membership_product", [False, True])
def test_kmeans_update_means_both_paths_against_float64_loops(membership_product):
    from graphcl.losses.prototypes import _update

    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (3, 40), generator=g)
    labels[2][labels[2] == 3] = 0  # restart 2 leaves cluster 3 empty
    scores = torch.randn(3, 40, generator=g, dtype=torch.float64)
    centroids = _update(x, labels, scores, 6, membership_product=membership_product)
    assert centroids.shape == (3, 6, 5)
    for restart in range(3):
        empty = [c for c in range(6) if not (labels[restart] == c).any()]
        worst = torch.argsort(scores[restart])[: len(empty)]
        for c in range(6):
            if c in empty:  # restarted at the points this restart fits worst, in order
                expected = x[worst[empty.index(c)]]
            else:
                expected = x[labels[restart] == c].mean(0)
            assert torch.allclose(centroids[restart, c], expected, atol=1e-12)
