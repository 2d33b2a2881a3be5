"""HeCo: encoders, the positive-set loss and the method against float64 dense references."""

import math
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import HeteroData

from graphcl.config import load_config
from graphcl.losses import (
    PositiveSetInfoNCE,
    positive_set_infonce,
    positive_set_infonce_dense,
    positive_set_infonce_directions,
)
from graphcl.methods import METHODS, HeCo, LossOutput, Method, build_method
from graphcl.nn import (
    HeteroInputProjection,
    NeighborAttention,
    SchemaEncoder,
    SemanticAttention,
)
from graphcl.train import Trainer

PAP = ["paper", "author", "paper"]
PSP = ["paper", "subject", "paper"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def tiny_graph(seed: int = 0) -> HeteroData:
    """12 papers (target, 6 dense features), 9 authors (4 features), 3 one-hot subjects
    (float64 features); paper p has 1 + p % 3 authors and subject p % 3."""
    gen = torch.Generator().manual_seed(seed)
    num_papers, num_authors, num_subjects = 12, 9, 3
    data = HeteroData()
    data["paper"].x = torch.rand(num_papers, 6, generator=gen, dtype=torch.float64)
    data["author"].x = torch.rand(num_authors, 4, generator=gen, dtype=torch.float64)
    data["subject"].x = torch.eye(num_subjects, dtype=torch.float64)
    for node_type, count in (("paper", num_papers), ("author", num_authors),
                             ("subject", num_subjects)):
        data[node_type].num_nodes = count
    pairs = [(p, int(a)) for p in range(num_papers)
             for a in torch.randperm(num_authors, generator=gen)[:1 + p % 3]]
    pa = torch.tensor(pairs).t()
    ps = torch.stack([torch.arange(num_papers), torch.arange(num_papers) % num_subjects])
    data["paper", "to", "author"].edge_index = pa
    data["author", "to", "paper"].edge_index = pa.flip(0)
    data["paper", "to", "subject"].edge_index = ps
    data["subject", "to", "paper"].edge_index = ps.flip(0)
    data.target_node_type = "paper"
    return data


def tiny_heco(**options) -> HeCo:
    graph = tiny_graph()
    settings = {"metapaths": [PAP, PSP], "sample_rates": {"author": 2, "subject": 1},
                "hidden": 8, "tau": 0.7, "positives": "built", "num_positives": 3}
    settings.update(options)
    return HeCo(graph.num_features, **settings)


def dense_metapath(graph: HeteroData, metapath) -> torch.Tensor:
    """D^{-1/2} M D^{-1/2} of the boolean meta-path matrix, dense float64."""
    matrix = None
    for src, dst in pairwise(metapath):
        edges = graph[src, "to", dst].edge_index
        hop = torch.zeros(graph[src].num_nodes, graph[dst].num_nodes, dtype=torch.float64)
        hop[edges[0], edges[1]] = 1.0
        matrix = hop if matrix is None else matrix @ hop
    matrix = (matrix > 0).double()
    inv_sqrt = matrix.sum(1).pow(-0.5)
    return inv_sqrt[:, None] * matrix * inv_sqrt[None, :]


# --------------------------------------------------------------------------- encoders


def test_input_projection_shapes_and_sparse_equals_dense():
    torch.manual_seed(0)
    projection = HeteroInputProjection({"paper": 6, "author": 4}, 8, dropout=0.0).double()
    x = {"paper": torch.rand(5, 6, dtype=torch.float64),
         "author": torch.rand(7, 4, dtype=torch.float64)}
    dense = projection(x)
    assert {k: tuple(v.shape) for k, v in dense.items()} == {"paper": (5, 8), "author": (7, 8)}
    sparse = projection({k: v.to_sparse_csr() for k, v in x.items()})
    for key in dense:
        torch.testing.assert_close(sparse[key], dense[key], rtol=1e-12, atol=1e-12)
        expected = F.elu(x[key] @ projection.linears[key].weight.t()
                         + projection.linears[key].bias)
        torch.testing.assert_close(dense[key], expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="must be \\[N, 6\\]"):
        projection.project("paper", torch.rand(5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="no input projection"):
        projection.project("venue", x["paper"])


def test_semantic_attention_weights_sum_to_one():
    torch.manual_seed(0)
    attention = SemanticAttention(8, dropout=0.5).double()
    views = [torch.randn(10, 8, dtype=torch.float64) for _ in range(3)]
    for mode in (attention.train, attention.eval):
        mode()
        z, beta = attention(views)
        assert z.shape == (10, 8) and beta.shape == (3,)
        assert beta.sum().item() == pytest.approx(1.0, abs=1e-12)
    attention.eval()
    summary = torch.stack([torch.tanh(attention.linear(v)).mean(0) for v in views])
    beta = torch.softmax(summary @ attention.att.view(-1), 0)
    torch.testing.assert_close(z, sum(b * v for b, v in zip(beta, views)))


def test_metapath_encoder_equals_dense_float64_reference():
    graph = tiny_graph()
    torch.manual_seed(0)
    method = tiny_heco(feat_drop=0.0, attn_drop=0.0).double()
    inputs = method.prepare(graph)
    encoder = method.mp_encoder.eval()
    h = torch.randn(12, 8, dtype=torch.float64)
    z, beta = encoder(h, inputs.adjacencies, return_attention=True)
    views = []
    for metapath, conv, act, adjacency in zip([PAP, PSP], encoder.convs, encoder.activations,
                                              inputs.adjacencies):
        dense = dense_metapath(graph, metapath)
        torch.testing.assert_close(adjacency.to_dense(), dense, rtol=1e-12, atol=1e-12)
        pre = dense @ h @ conv.linear.weight.t() + conv.bias
        views.append(torch.where(pre >= 0, pre, act.weight * pre))
    summary = torch.stack([torch.tanh(encoder.attention.linear(v)).mean(0) for v in views])
    expected_beta = torch.softmax(summary @ encoder.attention.att.view(-1), 0)
    torch.testing.assert_close(beta, expected_beta, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z, sum(b * v for b, v in zip(expected_beta, views)),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="expected 2 meta-path adjacencies"):
        encoder(h, inputs.adjacencies[:1])


def test_neighbor_attention_matches_official_loop_and_handles_missing():
    torch.manual_seed(0)
    attention = NeighborAttention(4).double().eval()
    h_target = torch.randn(5, 4, dtype=torch.float64)
    h_neighbors = torch.randn(6, 4, dtype=torch.float64)
    index = torch.tensor([[0, 1, 2], [3, 3, 5], [1, -1, -1], [-1, -1, -1], [5, 4, 0]])
    out, alpha = attention(h_target, h_neighbors, index, return_attention=True)
    assert out.shape == (5, 4) and alpha.shape == (5, 3)
    sums = alpha.sum(1)
    torch.testing.assert_close(sums, torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64))
    assert torch.all(out[3] == 0)
    for i in (0, 1, 2, 4):
        valid = index[i][index[i] >= 0]
        pairs = torch.cat([h_target[i].expand(len(valid), 4), h_neighbors[valid]], dim=1)
        weights = torch.softmax(F.leaky_relu(pairs @ attention.att.view(-1)), 0)
        torch.testing.assert_close(out[i], (weights[:, None] * h_neighbors[valid]).sum(0))
    with pytest.raises(ValueError, match="h_neighbors has 6 rows"):
        attention(h_target, h_neighbors, index.clamp(max=6) + 1)


def test_schema_encoder_shapes_and_type_attention():
    torch.manual_seed(0)
    encoder = SchemaEncoder(8, ["author", "subject"]).double()
    h = {"paper": torch.randn(12, 8, dtype=torch.float64),
         "author": torch.randn(9, 8, dtype=torch.float64),
         "subject": torch.randn(3, 8, dtype=torch.float64)}
    samples = {"author": torch.randint(0, 9, (12, 2)), "subject": torch.randint(0, 3, (12, 1))}
    z, beta = encoder(h["paper"], h, samples, return_attention=True)
    assert z.shape == (12, 8) and beta.shape == (2,)
    assert beta.sum().item() == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="lack embeddings or samples"):
        encoder(h["paper"], h, {"author": samples["author"]})


# --------------------------------------------------------------------------- loss


@pytest.mark.parametrize("tau,lam,block", [(0.8, 0.5, 4), (0.5, 0.3, 7), (0.9, 1.0, 64)])
def test_positive_set_loss_and_gradient_match_dense_reference(tau, lam, block):
    torch.manual_seed(1)
    n = 23
    u = torch.randn(n, 6, dtype=torch.float64, requires_grad=True)
    v = torch.randn(n, 6, dtype=torch.float64, requires_grad=True)
    extra = torch.randint(0, n, (2, 60))
    positives = torch.cat([extra, torch.arange(n).repeat(2, 1)], dim=1)
    loss = positive_set_infonce(u, v, positives, tau, lam, block_size=block)
    expected = positive_set_infonce_dense(u, v, positives, tau, lam)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    grads = torch.autograd.grad(loss, (u, v))
    expected_grads = torch.autograd.grad(expected, (u, v))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    # the official + 1e-8 in the normalization changes the loss by ~1e-8 only
    official = positive_set_infonce_dense(u, v, positives, tau, lam, eps=1e-8)
    assert loss.item() == pytest.approx(official.item(), rel=1e-6)


def test_positive_set_directions_and_module_cache():
    torch.manual_seed(2)
    u, v = torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 4, dtype=torch.float64)
    positives = torch.stack([torch.arange(10), (torch.arange(10) + 1) % 10])
    directions = positive_set_infonce_directions(u, v, positives, 0.5, block_size=3)
    # λ = 1 keeps the u → v direction only, λ = 0 the v → u one
    for lam, index in ((1.0, 0), (0.0, 1)):
        dense = positive_set_infonce_dense(u, v, positives, 0.5, lam)
        assert directions[index].item() == pytest.approx(dense.item(), rel=1e-12)
    module = PositiveSetInfoNCE(tau=0.5, lam=0.25, block_size=4)
    first = module(u, v, positives)
    tiles = module._tiles
    assert module(u, v, positives) == first and module._tiles is tiles
    assert first.item() == pytest.approx(
        positive_set_infonce_dense(u, v, positives, 0.5, 0.25).item(), rel=1e-12)
    # one positive pair per anchor on the diagonal: the cross-view InfoNCE
    diagonal = torch.arange(10).repeat(2, 1)
    logits = F.normalize(u, dim=1) @ F.normalize(v, dim=1).t() / 0.5
    infonce = F.cross_entropy(logits, torch.arange(10))
    assert positive_set_infonce(u, v, diagonal, 0.5, 1.0).item() == pytest.approx(
        infonce.item(), rel=1e-12)


def test_positive_set_loss_rejects_bad_positives():
    u, v = torch.randn(5, 3), torch.randn(5, 3)
    with pytest.raises(ValueError, match="another graph"):
        positive_set_infonce(u, v, torch.tensor([[0, 1, 2, 3, 4], [0, 1, 2, 3, 7]]), 0.5)
    with pytest.raises(ValueError, match="have no positive"):
        positive_set_infonce(u, v, torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3]]), 0.5)
    with pytest.raises(ValueError, match=r"\[2, P\]"):
        positive_set_infonce(u, v, torch.arange(5), 0.5)
    with pytest.raises(ValueError, match="lam"):
        positive_set_infonce(u, v, torch.arange(5).repeat(2, 1), 0.5, lam=1.5)


# --------------------------------------------------------------------------- method


def test_heco_loss_equals_dense_transcription_and_sampling_is_seeded():
    graph = tiny_graph()
    torch.manual_seed(3)
    method = tiny_heco(feat_drop=0.0, attn_drop=0.0, block_size=5).double()
    out = method.loss(graph, torch.Generator().manual_seed(7))
    assert isinstance(out, LossOutput) and set(out.parts) == {"mp", "sc"}
    assert out.total.item() == pytest.approx(method.loss(
        graph, torch.Generator().manual_seed(7)).total.item(), rel=0, abs=0)
    inputs = method.prepare(graph)
    samples = inputs.schema.sample_neighbors({"author": 2, "subject": 1},
                                             torch.Generator().manual_seed(7))
    again = inputs.schema.sample_neighbors({"author": 2, "subject": 1},
                                           torch.Generator().manual_seed(7))
    assert all(torch.equal(samples[t], again[t]) for t in samples)
    # a sampled author is one of the paper's authors; the subject is the paper's subject
    pa = graph["paper", "to", "author"].edge_index
    linked = set(zip(pa[0].tolist(), pa[1].tolist()))
    assert all((p, a) in linked for p in range(12) for a in samples["author"][p].tolist())
    assert torch.equal(samples["subject"].view(-1), torch.arange(12) % 3)

    x = {t: graph[t].x / graph[t].x.sum(1, keepdim=True)
         for t in ("paper", "author", "subject")}
    h = {t: F.elu(x[t] @ method.projection.linears[t].weight.t() + method.projection.linears[t].bias)
         for t in x}
    z_mp = method.mp_encoder(h["paper"], [dense_metapath(graph, m).to_sparse() for m in (PAP, PSP)])
    z_sc = method.sc_encoder(h["paper"], h, samples)
    expected = positive_set_infonce_dense(method.head(z_mp), method.head(z_sc),
                                          inputs.positives, 0.7, 0.5)
    assert out.total.item() == pytest.approx(expected.item(), rel=1e-12)


def test_heco_trains_on_tiny_graph_with_decreasing_loss():
    torch.manual_seed(0)
    method = tiny_heco(feat_drop=0.1, attn_drop=0.1)
    trainer = Trainer(method, tiny_graph(), epochs=30, lr=0.01, seed=0, progress=False,
                      device="cpu")
    history = trainer.fit()
    losses = [row["loss"] for row in history]
    assert all(math.isfinite(value) for value in losses)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    embeddings = trainer.embed()
    assert embeddings.shape == (12, 8) and torch.isfinite(embeddings).all()
    assert torch.equal(embeddings, trainer.embed())  # eval mode: no dropout
    weights = method.attention(trainer.graph, torch.Generator().manual_seed(0))
    assert float(weights["metapath"].sum()) == pytest.approx(1.0, abs=1e-6)
    assert float(weights["schema"].sum()) == pytest.approx(1.0, abs=1e-6)


def test_heco_one_hot_types_and_registry():
    graph = tiny_graph()
    assert METHODS["heco"] is HeCo
    method = build_method("heco", graph.num_features, metapaths=[PAP], sample_rates={"author": 2},
                          positives="built", num_positives=2, hidden=4,
                          one_hot_types=["author"], num_nodes={"author": 9})
    assert method.projection.linears["author"].in_features == 9
    inputs = method.prepare(graph)
    assert inputs.features["author"].layout == torch.sparse_csr
    torch.testing.assert_close(inputs.features["author"].to_dense(), torch.eye(9))
    assert torch.isfinite(method.loss(graph, torch.Generator().manual_seed(0)).total)
    wrong = build_method("heco", graph.num_features, metapaths=[PAP], sample_rates={"author": 2},
                         positives="built", num_positives=2, hidden=4,
                         one_hot_types=["author"], num_nodes={"author": 10})
    with pytest.raises(ValueError, match="built for num_nodes=10"):
        wrong.prepare(graph)
    with pytest.raises(ValueError, match="give its node count in num_nodes"):
        tiny_heco(one_hot_types=["author"])


def test_heco_clear_errors():
    graph = tiny_graph()
    lacking = tiny_heco(metapaths=[PAP, ["paper", "venue", "paper"]])
    with pytest.raises(ValueError, match="venue"):
        lacking.loss(graph)
    with pytest.raises(ValueError, match="target type"):
        tiny_heco(sample_rates={"author": 2, "subject": 1, "paper": 1})
    unlinked = HeteroData()
    for key, value in graph.node_items():
        unlinked[key].update(value)
    for edge_type in graph.edge_types:
        unlinked[edge_type].edge_index = graph[edge_type].edge_index
    unlinked["venue"].x = torch.rand(4, 2)
    unlinked["venue"].num_nodes = 4
    with pytest.raises(ValueError, match="not neighbour types"):
        HeCo(unlinked.num_features, metapaths=[PAP], sample_rates={"venue": 1},
             positives="built", num_positives=2).loss(unlinked)
    with pytest.raises(TypeError, match="HeteroData"):
        tiny_heco().loss(graph["paper"])
    no_target = HeteroData()
    no_target["author"].x = graph["author"].x
    with pytest.raises(ValueError, match="no node type 'paper'.*'author'"):
        tiny_heco().loss(no_target)
    with pytest.raises(TypeError, match="dict"):
        HeCo(6, metapaths=[PAP], sample_rates={"author": 1})
    with pytest.raises(ValueError, match="num_positives"):
        tiny_heco(num_positives=None)
    with pytest.raises(ValueError, match="positive int"):
        tiny_heco(sample_rates={"author": 0})
    with pytest.raises(TypeError, match="graph.name"):
        tiny_heco(positives="shipped").loss(graph)


def test_heco_shipped_positives_of_another_graph_are_refused(data_root):
    graph = tiny_graph()
    graph.name = "acm"  # ACM's pos.npz has 4019 nodes, this graph 12
    method = tiny_heco(positives="shipped", data_root=data_root)
    with pytest.raises(ValueError, match="another graph"):
        method.loss(graph)


# --------------------------------------------------------------------------- trainer


class _Scripted(Method):
    """A method whose loss follows a script; its weight records the epoch it was at."""

    name = "scripted"

    def __init__(self, losses):
        super().__init__()
        self.losses = losses
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        with torch.no_grad():
            self.weight.fill_(epoch)

    def loss(self, graph, generator=None):
        return LossOutput(self.weight.sum() * 0 + self.losses[self.current_epoch])


@pytest.mark.filterwarnings("ignore:early stopping ended training")
def test_trainer_early_stopping_restores_best_weights(tmp_path):
    script = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0, 1.0]
    method = _Scripted(script)
    trainer = Trainer(method, tiny_graph(), epochs=8, seed=0, progress=False, device="cpu",
                      early_stopping=3, run_dir=tmp_path)
    history = trainer.fit()
    assert len(history) == 6  # epochs 4, 5, 6 do not improve on epoch 3
    assert trainer.best["epoch"] == 3 and trainer.best["loss"] == 3.0
    assert trainer.best["stopped"]
    assert method.weight.item() == 2.0  # the weights that produced the loss of epoch 3
    resumed = Trainer(_Scripted(script), tiny_graph(), epochs=8, seed=0, progress=False,
                      device="cpu", early_stopping=3, run_dir=tmp_path)
    assert len(resumed.fit(resume=True)) == 6 and resumed.method.weight.item() == 2.0
    plain = Trainer(_Scripted(script), tiny_graph(), epochs=8, seed=0, progress=False,
                    device="cpu")
    assert len(plain.fit()) == 8
    with pytest.raises(ValueError, match="early_stopping"):
        Trainer(_Scripted(script), tiny_graph(), epochs=8, progress=False, early_stopping=0)


@pytest.mark.filterwarnings("ignore:early stopping ended training")
def test_trainer_min_epochs_defers_the_early_stop():
    # the patience of 3 runs out at epoch 6; min_epochs 7 keeps training to epoch 7, whose
    # loss 2.0 is a new best, and on to the end
    script = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0, 2.5, 2.6, 2.7, 2.8, 1.0]
    trainer = Trainer(_Scripted(script), tiny_graph(), epochs=12, seed=0, progress=False,
                      device="cpu", early_stopping=3, min_epochs=7)
    assert len(trainer.fit()) == 10  # stale again from epoch 8: stops after epoch 10
    assert trainer.best["epoch"] == 7 and trainer.method.weight.item() == 6.0
    # a stop whose best loss came within the first `patience` epochs warns
    flat = [5.0, 4.0, 4.5, 4.6, 4.7, 1.0]
    with pytest.warns(RuntimeWarning, match="lowest loss came at epoch 2.*min_epochs"):
        Trainer(_Scripted(flat), tiny_graph(), epochs=6, seed=0, progress=False,
                device="cpu", early_stopping=3).fit()
    # a min_epochs below the stopping epoch changes nothing
    early = Trainer(_Scripted(script), tiny_graph(), epochs=12, seed=0, progress=False,
                    device="cpu", early_stopping=3, min_epochs=2)
    assert len(early.fit()) == 6
    with pytest.raises(ValueError, match="min_epochs"):
        Trainer(_Scripted(script), tiny_graph(), epochs=8, progress=False, min_epochs=-1)


def test_train_section_rejects_unknown_keys():
    from graphcl.train import train_from_config

    config = load_config("grace", "synthetic", overrides=["train.min_epoch=5"])
    with pytest.raises(ValueError, match="min_epoch"):
        train_from_config(config, progress=False, evaluate=False)


# --------------------------------------------------------------------------- presets, ACM


@pytest.mark.parametrize("dataset", ["acm", "dblp-hetero", "aminer", "imdb"])
def test_presets_build(dataset):
    config = load_config("heco", dataset)
    assert config["eval"]["protocol"] == "heco" and config["train"]["early_stopping"] >= 5
    widths = {"acm": {"paper": 1902, "author": 1902, "subject": 60},
              "dblp-hetero": {"author": 334, "paper": 4231, "term": 50, "conference": 20},
              "aminer": {"paper": 6564, "author": 13329, "reference": 35890},
              "imdb": {"movie": 5927, "actor": 5432, "director": 2083, "keyword": 7313}}[dataset]
    method = build_method("heco", widths, **config["model"])
    assert method.target == config["model"]["metapaths"][0][0]


def test_heco_trains_on_acm(data_root):
    from graphcl.data import load_dataset

    config = load_config("heco", "acm")
    graph = load_dataset("acm", root=data_root)
    torch.manual_seed(0)
    method = build_method("heco", graph.num_features, **{**config["model"], "data_root": data_root})
    trainer = Trainer(method, graph, epochs=4, lr=0.005, seed=0, progress=False, device="cpu")
    losses = [row["loss"] for row in trainer.fit()]
    assert all(math.isfinite(value) for value in losses)
    assert losses[-1] < losses[0]
    assert trainer.embed().shape == (4019, 64)


def test_heco_block_form_psp_gives_the_csr_loss():
    from graphcl.nn import BlockDiagonalAdjacency, SparseAdjacency

    graph = tiny_graph()
    losses = []
    for density in (None, 0.0):
        torch.manual_seed(3)
        method = tiny_heco(feat_drop=0.0, attn_drop=0.0, block_density=density).double()
        kinds = {type(a) for a in method.prepare(graph).adjacencies}
        assert (kinds == {SparseAdjacency}) if density is None \
            else BlockDiagonalAdjacency in kinds
        out = method.loss(graph, torch.Generator().manual_seed(7))
        out.total.backward()
        losses.append((out.total.detach(), method.projection.linears["paper"].weight.grad))
    torch.testing.assert_close(losses[0][0], losses[1][0], rtol=1e-12, atol=0)
    torch.testing.assert_close(losses[0][1], losses[1][1], rtol=1e-10, atol=1e-12)
