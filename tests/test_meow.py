"""MEOW / AdaMEOW: encoders, views, masks and objectives against dense float64 transcriptions
of the official code."""

import math
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from test_heco import PAP, PSP, tiny_graph
from torch_geometric.data import HeteroData

from graphcl.config import load_config
from graphcl.losses import cluster_concentration, spherical_kmeans
from graphcl.methods import MEOW, AdaMEOW, build_method
from graphcl.nn import ContextEnrichment, MetaPathGCN
from graphcl.train import Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def tiny_meow(cls=MEOW, **options):
    graph = tiny_graph()
    settings = {"metapaths": [PAP, PSP], "hidden": 8, "tau": 0.5, "dropout": 0.0,
                "feat_mask": 0.3, "edge_mask": [0.3, 0.2], "num_clusters": [2, 4]}
    if cls is AdaMEOW:
        settings.pop("num_clusters")
    settings.update(options)
    torch.manual_seed(0)
    return cls(graph.num_features, **settings).double(), graph


def count_matrix(graph, metapath):
    matrix = None
    for src, dst in pairwise(metapath):
        edges = graph[src, "to", dst].edge_index
        hop = torch.zeros(graph[src].num_nodes, graph[dst].num_nodes, dtype=torch.float64)
        hop.index_put_((edges[0], edges[1]), torch.ones(edges.size(1), dtype=torch.float64),
                       accumulate=True)
        matrix = hop if matrix is None else matrix @ hop
    return matrix


def official_normalize(matrix):
    """preprocess.normalize_adj: (A D^-1/2)ᵀ D^-1/2 with D the row sums."""
    inv_sqrt = matrix.sum(1).pow(-0.5)
    inv_sqrt[torch.isinf(inv_sqrt)] = 0
    return (matrix * inv_sqrt[None, :]).t() * inv_sqrt[None, :]


def test_metapath_gcn_equals_dense_reference():
    torch.manual_seed(0)
    gcn = MetaPathGCN(5, 4, 3).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    adj = torch.rand(6, 6, dtype=torch.float64)
    out = gcn(x, adj.to_sparse_csr())
    hidden = F.prelu(adj @ (x @ gcn.weight1), gcn.activation.weight)
    z = adj @ (hidden @ gcn.weight2)
    expected = torch.nn.functional.layer_norm(z, z.shape, eps=1e-5)
    assert torch.allclose(out, expected, atol=1e-12)
    assert out.mean().abs() < 1e-12  # standardized over all entries, not per row


def test_context_enrichment_formula_and_errors():
    torch.manual_seed(0)
    module = ContextEnrichment(4, [1, 3]).double()
    h = torch.randn(5, 4, dtype=torch.float64)
    contexts = [[torch.randn(5, 4, dtype=torch.float64)],
                [torch.randn(5, 4, dtype=torch.float64) for _ in range(3)]]
    terms = module.context_terms(contexts)
    out = module(h, terms)
    expected = F.elu(h + sum(lin(c) for lin, c in zip(module.linears[1], contexts[1])))
    assert torch.allclose(out[1], expected)
    with pytest.raises(ValueError, match="context positions"):
        module.context_terms([contexts[0], contexts[0]])
    with pytest.raises(ValueError, match="at least one context"):
        ContextEnrichment(4, [0])


def test_inputs_match_official_preprocessing():
    method, graph = tiny_meow()
    inputs = method.prepare(graph)
    dense = []
    for metapath, adjacency in zip([PAP, PSP], inputs.adjacencies):
        expected = official_normalize(count_matrix(graph, metapath))
        assert torch.allclose(adjacency.to_dense().double(), expected, atol=1e-12)
        dense.append(expected)
    assert torch.allclose(inputs.coarse.to_dense().double(), (dense[0] + dense[1]) / 2,
                          atol=1e-12)
    # contexts: the distinct authors / the subject of each paper
    authors = inputs.contexts[0][0][1].incidence.to_dense()
    pa = graph["paper", "to", "author"].edge_index
    expected = torch.zeros_like(authors)
    expected[pa[0], pa[1]] = 1
    assert torch.equal(authors > 0, expected > 0)


@pytest.mark.parametrize("ties", ["numpy", "low"])
def test_pathsim_pruning_with_official_tie_breaking(ties):
    """``pathsim_ties="numpy"`` keeps exactly what ``preprocess.pathsim`` keeps (its
    ``np.argsort`` over the dense row, reversed); the default keeps the diagonal first."""
    import numpy as np

    k = 2
    method, graph = tiny_meow(top_k=[k, k], pathsim_ties=ties)
    inputs = method.prepare(graph)
    for metapath, adjacency in zip([PAP, PSP], inputs.adjacencies):
        counts = count_matrix(graph, metapath).numpy()
        diag = np.diag(counts)
        pruned = np.zeros_like(counts)
        for i in range(counts.shape[0]):
            nonzero = np.flatnonzero(counts[i])
            if nonzero.size <= k:
                pruned[i] = counts[i]
                continue
            if ties == "numpy":
                score = np.zeros(counts.shape[1])
                score[nonzero] = 2 * counts[i, nonzero] / (diag[i] + diag[nonzero])
                kept = np.argsort(score)[::-1][:k]
            else:
                score = 2 * counts[i, nonzero] / (diag[i] + diag[nonzero])
                score[nonzero == i] = np.inf
                kept = nonzero[np.argsort(-score, kind="stable")[:k]]
            pruned[i, kept] = counts[i, kept]
        expected = official_normalize(torch.from_numpy(pruned))
        assert torch.allclose(adjacency.to_dense().double(), expected, atol=1e-12)
    with pytest.raises(ValueError, match="ties"):
        tiny_meow(pathsim_ties="first")


def test_edge_and_feature_masks_follow_the_official_recipe():
    method, graph = tiny_meow()
    inputs = method.prepare(graph)
    x = inputs.features["paper"]
    masked_x, masked = method._draw_masks(inputs, torch.Generator().manual_seed(3))
    zeroed = (x != 0) & (masked_x == 0)
    assert int(zeroed.sum()) == int(0.3 * int((x != 0).sum()))
    assert torch.equal(masked_x[~zeroed], x[~zeroed])
    for metapath, rate, adjacency in zip([PAP, PSP], [0.3, 0.2], masked):
        counts = count_matrix(graph, metapath)
        off = counts.clone().fill_diagonal_(0) > 0
        dense = adjacency.to_dense().double()
        # recover the kept pattern B (its transpose is what the official matrix multiplies)
        kept = (dense.t() > 0) & off
        assert int(off.sum()) - int(kept.sum()) == int(rate * int(off.sum()))
        b = kept.double() + torch.eye(counts.size(0), dtype=torch.float64)
        assert torch.allclose(dense, official_normalize(b), atol=1e-12)


def test_masks_once_are_fixed_and_epoch_masks_follow_the_generator():
    method, graph = tiny_meow(masks="once", mask_seed=5)
    inputs = method.prepare(graph)
    first = method._masks(inputs, torch.Generator().manual_seed(0))
    second = method._masks(inputs, torch.Generator().manual_seed(1))
    assert first is second
    epoch, _ = tiny_meow(masks="epoch")
    inputs = epoch.prepare(graph)
    a = epoch._masks(inputs, torch.Generator().manual_seed(0))[0]
    b = epoch._masks(inputs, torch.Generator().manual_seed(0))[0]
    c = epoch._masks(inputs, torch.Generator().manual_seed(1))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_meow_loss_equals_dense_transcription_of_official_objective():
    method, graph = tiny_meow(num_clusters=[2, 4], lam_proto=0.7)
    out = method.loss(graph)
    z, z_coarse = method._views(graph, None)
    u = F.normalize(torch.tanh(method.head(z_coarse)), dim=1)
    v = F.normalize(torch.tanh(method.head(z)), dim=1)
    # contrast.py InfoNce: weight = G - Σ same, mean(dots·weight)·N, positive not added
    clusterings = [spherical_kmeans(v.detach(), k, 20, 5, torch.Generator().manual_seed(g))
                   for g, k in enumerate([2, 4])]
    same = sum((c.assignment[:, None] == c.assignment[None, :]).double() for c in clusterings)
    dots = torch.exp(u @ v.t() / 0.5)
    info = (-torch.log(dots.diagonal() / ((dots * (2 - same)).mean(1) * 12))).mean()
    proto = 0.0
    for c, k in zip(clusterings, [2, 4]):
        phi = cluster_concentration(c.score, c.assignment, k, 0.5)
        mu = F.normalize(c.centroids, dim=1)
        positive = torch.exp((u * mu[c.assignment]).sum(1) / phi[c.assignment])
        negative = torch.exp(u @ mu.t() / phi).mean(1) * 12
        # the official N/K factor adds the constant log(N/K), left out of ours
        proto = proto + (-torch.log(positive / negative)).mean() - math.log(12 / k)
    expected = info + 0.7 * proto / 2
    assert out.total.item() == pytest.approx(expected.item(), abs=1e-9)
    assert out.parts["info"] == pytest.approx(info.item(), abs=1e-9)


def test_one_cluster_per_node_reduces_meow_info_to_infonce_without_positive():
    method, graph = tiny_meow(num_clusters=[12], lam_proto=0.0)
    out = method.loss(graph)
    z, z_coarse = method._views(graph, None)
    u = F.normalize(torch.tanh(method.head(z_coarse)), dim=1)
    v = F.normalize(torch.tanh(method.head(z)), dim=1)
    logits = u @ v.t() / 0.5
    off = ~torch.eye(12, dtype=torch.bool)
    expected = (torch.logsumexp(logits.masked_fill(~off, -math.inf), 1)
                - logits.diagonal()).mean()
    assert out.total.item() == pytest.approx(expected.item(), abs=1e-9)


def test_adameow_loss_equals_official_dense_weighting():
    method, graph = tiny_meow(AdaMEOW)
    out = method.loss(graph)
    z, z_coarse = method._views(graph, None)
    v = F.normalize(torch.tanh(method.head(z)), dim=1)
    u = F.normalize(torch.tanh(method.head(z_coarse)), dim=1)
    dots = torch.exp(v @ u.t() / 0.5)
    pairs = (v.unsqueeze(1) + u.unsqueeze(0)).reshape(144, -1)
    net = method.weight_net
    weight = torch.sigmoid(net.second(torch.tanh(net.first(pairs)))).view(12, 12)
    expected = (-torch.log(dots.diagonal() / (dots * weight).sum(1))).mean()
    assert out.total.item() == pytest.approx(expected.item(), abs=1e-10)
    grads = torch.autograd.grad(out.total, list(net.parameters()))
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("cls", [MEOW, AdaMEOW])
def test_methods_train_with_decreasing_loss_and_embedding_modes(cls):
    method, graph = tiny_meow(cls, dropout=0.3)
    trainer = Trainer(method, graph, epochs=25, lr=0.01, seed=0, progress=False, device="cpu")
    losses = [row["loss"] for row in trainer.fit()]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    last = trainer.embed()
    assert last.shape == (12, 8)
    assert torch.equal(last, method._last_embedding.cpu())
    method.embedding = "eval"
    clean = method.embed(graph)
    assert not torch.allclose(clean, last)  # eval mode turns dropout off
    assert torch.equal(clean, method.embed(graph))


@pytest.mark.filterwarnings("ignore:early stopping ended training")
def test_trainer_can_keep_last_weights_on_early_stop():
    from test_heco import _Scripted

    script = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0, 1.0]
    method = _Scripted(script)
    trainer = Trainer(method, tiny_graph(), epochs=8, seed=0, progress=False, device="cpu",
                      early_stopping=3, restore_best=False)
    assert len(trainer.fit()) == 6
    assert method.weight.item() != 2.0  # not reloaded: the weights after the last step


def test_clear_errors():
    graph = tiny_graph()
    with pytest.raises(ValueError, match="intermediate"):
        MEOW(graph.num_features, [["paper", "paper"]])
    with pytest.raises(ValueError, match="edge_mask"):
        MEOW(graph.num_features, [PAP, PSP], edge_mask=[0.1])
    with pytest.raises(ValueError, match="masks"):
        MEOW(graph.num_features, [PAP], masks="sometimes")
    with pytest.raises(ValueError, match="in_channels"):
        MEOW({"paper": 6}, [PAP])
    method = MEOW({**graph.num_features, "venue": 3}, [["paper", "venue", "paper"]],
                  num_clusters=[2])
    with pytest.raises(ValueError, match="venue"):
        method.loss(graph)
    with pytest.raises(TypeError, match="HeteroData"):
        MEOW(graph.num_features, [PAP]).loss(graph["paper"])
    no_target = HeteroData()
    no_target["author"].x = graph["author"].x
    with pytest.raises(ValueError, match="no node type 'paper'.*'author'"):
        MEOW(graph.num_features, [PAP]).loss(no_target)
    too_many, _ = tiny_meow(num_clusters=[50])
    with pytest.raises(ValueError, match="exceeds"):
        too_many.loss(graph)


@pytest.mark.parametrize("method", ["meow", "adameow"])
@pytest.mark.parametrize("dataset", ["acm", "dblp-hetero", "aminer", "imdb"])
def test_presets_build(method, dataset):
    config = load_config(method, dataset)
    assert config["eval"]["protocol"] == "heco"
    widths = {"acm": {"paper": 1902, "author": 1902, "subject": 60},
              "dblp-hetero": {"author": 334, "paper": 4231, "term": 50, "conference": 20},
              "aminer": {"paper": 6564, "author": 13329, "reference": 35890},
              "imdb": {"movie": 5927, "actor": 5432, "director": 2083, "keyword": 7313},
              }[dataset]
    model = build_method(method, widths, **config["model"])
    assert model.target == config["model"]["metapaths"][0][0]
    if dataset == "dblp-hetero":
        assert model.enrichment.positions == [1, 3, 3]  # 7 context maps, as the official


def test_meow_resume_reproduces_an_uninterrupted_run(tmp_path):
    straight, graph = tiny_meow(dropout=0.2)
    full = Trainer(straight, graph, epochs=6, lr=0.01, seed=3, progress=False, device="cpu")
    expected = [row["loss"] for row in full.fit()]
    first, graph = tiny_meow(dropout=0.2)
    Trainer(first, graph, epochs=3, lr=0.01, seed=3, progress=False, device="cpu",
            run_dir=tmp_path).fit()
    second, graph = tiny_meow(dropout=0.2)
    resumed = Trainer(second, graph, epochs=6, lr=0.01, seed=3, progress=False, device="cpu",
                      run_dir=tmp_path)
    resumed.fit(resume=True)
    assert [row["loss"] for row in resumed.history] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("masks", ["once", "epoch"])
def test_block_form_adjacencies_give_the_csr_loss_and_gradients(masks):
    from graphcl.nn import AdjacencySum, BlockDiagonalAdjacency, SparseAdjacency

    results = []
    for density in (None, 0.0):
        method, graph = tiny_meow(block_density=density, masks=masks, num_clusters=[3])
        inputs = method.prepare(graph)
        kinds = {type(a) for a in inputs.adjacencies}
        if density is None:
            assert kinds == {SparseAdjacency} and isinstance(inputs.coarse, SparseAdjacency)
        else:
            assert BlockDiagonalAdjacency in kinds and isinstance(inputs.coarse, AdjacencySum)
        out = method.loss(graph, torch.Generator().manual_seed(7))
        out.total.backward()
        results.append((out.total.detach(), [p.grad.clone() for p in method.parameters()
                                              if p.grad is not None]))
    (loss_csr, grads_csr), (loss_block, grads_block) = results
    # the CSR form's coarse Ā sums the views' float32 weights before the float64 cast; the
    # block form sums the float64 products, so they differ by float32 rounding of Ā
    torch.testing.assert_close(loss_block, loss_csr, rtol=1e-8, atol=0)
    assert len(grads_csr) == len(grads_block)
    for a, b in zip(grads_csr, grads_block):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_faiss_kmeans_backend_trains_and_unknown_backends_are_refused():
    pytest.importorskip("faiss")
    method, graph = tiny_meow(kmeans_backend="faiss", num_clusters=[2, 3])
    out = method.loss(graph)
    assert torch.isfinite(out.total)
    out.total.backward()
    with pytest.raises(ValueError, match="kmeans_backend"):
        tiny_meow(kmeans_backend="sklearn")


@pytest.mark.parametrize("cls", [MEOW, AdaMEOW])
def test_view_features_equal_to_x_give_the_shared_input_loss(cls):
    """One input per meta-path, each a copy of x with the target's projection weights, is
    the shared-input model (no dropout, no feature mask: the draws would differ)."""
    shared, graph = tiny_meow(cls, feat_mask=0.0)
    per_view, _ = tiny_meow(cls, feat_mask=0.0, view_features="x_metapath")
    per_view.load_state_dict(shared.state_dict(), strict=False)
    linear = shared.projection.linears["paper"]
    for view in per_view.view_projection.linears.values():
        view.load_state_dict(linear.state_dict())
    assert "paper" not in per_view.projection.linears  # the target is no context here
    x = graph["paper"].x
    graph["paper"].x_metapath = torch.stack([x, x], dim=1)
    expected = shared.loss(graph).total
    got = per_view.loss(graph).total
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_view_features_feed_each_view_its_own_input_and_coarse_their_mean():
    model, graph = tiny_meow(feat_mask=0.0, view_features="x_metapath")
    x = graph["paper"].x
    gen = torch.Generator().manual_seed(3)
    graph["paper"].x_metapath = torch.stack([x, torch.rand(x.shape, generator=gen)], dim=1)
    model.loss(graph).total.backward()
    for view in model.view_projection.linears.values():
        assert view.weight.grad is not None and view.weight.grad.abs().sum() > 0
    inputs = model.prepare(graph)
    normalized = [row / row.sum() if row.sum() else row
                  for row in graph["paper"].x_metapath[:, 1]]
    torch.testing.assert_close(inputs.view_features[1].double(),
                               torch.stack(normalized).double())
    model.eval()
    h = [model.view_projection.project(str(i), v) for i, v in enumerate(inputs.view_features)]
    _, z_coarse = model._views(graph, None)
    torch.testing.assert_close(z_coarse, model.encoder((h[0] + h[1]) / 2, inputs.coarse))


def test_view_features_errors():
    model, graph = tiny_meow(view_features="x_metapath")
    with pytest.raises(ValueError, match="per_metapath=True"):
        model.loss(graph)
    graph["paper"].x_metapath = graph["paper"].x[:, None].repeat(1, 3, 1)
    with pytest.raises(ValueError, match=r"must be \[N, P, F\]"):
        model.loss(graph)
    with pytest.raises(ValueError, match="must name a target-type attribute"):
        tiny_meow(view_features="")
