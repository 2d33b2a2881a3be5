"""gCooL: the joint objective equals its parts, the schedule, errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses import deca_loss, infonce_loss, resc_loss, soft_assignments
from graphcl.methods import GCooL, build_method
from graphcl.train import Trainer, seed_everything


def make(small_graph, **options):
    torch.manual_seed(0)
    defaults = {"hidden_layer": 16, "hidden": 8, "proj_hidden": 8, "num_communities": 3,
                "stride": 10, "tau": 0.5, "lamda": 0.5}
    defaults.update(options)
    return GCooL(small_graph.num_features, **defaults)


@pytest.mark.parametrize("similarity", ["cos", "rbf"])
def test_joint_objective_is_node_plus_scheduled_community_terms(small_graph, similarity):
    method = make(small_graph, similarity=similarity, gamma=0.5)
    method.set_epoch(1)
    out = method.loss(small_graph, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    views = [aug(small_graph, gen) for aug in method.views]
    h = [F.normalize(method.projection(method.encoder(v.x, method.adjacency(small_graph, v))), dim=1)
         for v in views]
    r = [soft_assignments(x, method.centres, 0.5, similarity) for x in h]
    node = infonce_loss(h[0], h[1], 0.5)
    deca = 0.5 * (deca_loss(r[0], views[0].edge_index, 0.5) + deca_loss(r[1], views[1].edge_index, 0.5))
    resc = resc_loss(h[0], h[1], r[0], r[1], 0.5, similarity, 0.5)
    alpha, omega = max(0, 1 - 1 / (0.2 * 10)), math.exp(-1 / 10)
    expected = node + alpha * (omega * deca + (1 - omega) * resc)
    assert out.total.item() == pytest.approx(expected.item(), rel=1e-5)
    assert out.parts["alpha"] == pytest.approx(alpha) and out.parts["omega"] == pytest.approx(omega)


def test_schedule_cutoff_and_no_cutoff(small_graph):
    official = make(small_graph)
    assert official.weights(0) == (1.0, 1.0)
    assert official.weights(2)[0] == 0.0  # cut off after 0.2 * stride = 2 epochs
    official.set_epoch(5)
    out = official.loss(small_graph, torch.Generator().manual_seed(0))
    assert math.isnan(out.parts["deca"]) and out.parts["alpha"] == 0.0
    assert make(small_graph, schedule="no_cutoff").weights(5)[0] == 1.0
    out.total.backward()
    assert official.centres.grad is None  # community terms off: centres get no gradient


def test_centres_learn_through_deca_and_trainer_sets_the_epoch(small_graph):
    seed_everything(0)
    method = build_method("gcool", small_graph.num_features, hidden_layer=16, hidden=8,
                          proj_hidden=8, num_communities=3, stride=10)
    before = method.centres.detach().clone()
    trainer = Trainer(method, small_graph, epochs=3, lr=0.01, device="cpu", progress=False)
    trainer.fit()
    assert method.current_epoch == 2
    assert not torch.equal(before, method.centres.detach())
    assert [row["alpha"] for row in trainer.history] == [1.0, 0.5, 0.0]


def test_errors(small_graph):
    with pytest.raises(ValueError, match="num_communities = 500 exceeds the 120 nodes"):
        make(small_graph, num_communities=500).loss(small_graph)
    edgeless = small_graph.clone()
    edgeless.edge_index = edgeless.edge_index[:, :0]
    with pytest.raises(ValueError, match="has no edges"):
        make(small_graph).loss(edgeless)
    with pytest.raises(ValueError, match="fusion"):
        make(small_graph, fusion="sum")
    with pytest.raises(ValueError, match="schedule"):
        make(small_graph, schedule="paper?")
    with pytest.raises(ValueError, match="node_loss"):
        make(small_graph, node_loss="x")


def multiplex(small_graph, second_layer=None):
    from torch_geometric.data import HeteroData

    graph = HeteroData()
    graph["movie"].x = small_graph.x
    graph["movie"].y = small_graph.y
    graph["movie"].num_nodes = small_graph.num_nodes
    graph["movie", "A", "movie"].edge_index = small_graph.edge_index
    if second_layer is None:  # a sparser second layer: every other edge pair
        second_layer = small_graph.edge_index[:, ::2]
    graph["movie", "B", "movie"].edge_index = second_layer
    graph.target_node_type = "movie"
    return graph


def test_multiplex_objective_is_layer_terms_plus_cross_layer_terms(small_graph):
    graph = multiplex(small_graph)
    method = build_method("gcool", graph.num_features, hidden_layer=16, hidden=8,
                          proj_hidden=8, num_communities=3, stride=10, tau=0.5, lamda=0.5,
                          cross_layer=0.7)
    method.set_epoch(1)
    out = method.loss(graph, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    layers = method.layers(graph)
    assert [int(layer.edge_index.size(1)) for layer in layers] == [
        small_graph.edge_index.size(1), (small_graph.edge_index.size(1) + 1) // 2]
    drawn, h, r = [], [], []
    for index, layer in enumerate(layers):
        views = [aug(layer, gen) for aug in method._layer_views(index)]
        drawn.append(views)
        h.append([F.normalize(method.projection(method.encoder(v.x, method.adjacency(layer, v))),
                              dim=1) for v in views])
        r.append([soft_assignments(x, method.centres, 0.5, "cos") for x in h[-1]])
    node = (infonce_loss(h[0][0], h[0][1], 0.5) + infonce_loss(h[1][0], h[1][1], 0.5)) / 2
    cross_node = infonce_loss(h[0][0], h[1][1], 0.5, symmetric=True)
    deca = sum(0.5 * (deca_loss(r[k][0], drawn[k][0].edge_index, 0.5)
                      + deca_loss(r[k][1], drawn[k][1].edge_index, 0.5)) for k in range(2)) / 2
    resc = sum(resc_loss(h[k][0], h[k][1], r[k][0], r[k][1], 0.5, "cos", 8e-5)
               for k in range(2)) / 2
    cross_resc = resc_loss(h[0][0], h[1][1], r[0][0], r[1][1], 0.5, "cos", 8e-5)
    alpha, omega = 0.5, math.exp(-1 / 10)
    expected = (node + 0.7 * cross_node
                + alpha * (omega * deca + (1 - omega) * (resc + 0.7 * cross_resc)))
    assert out.total.item() == pytest.approx(expected.item(), rel=1e-5)
    assert out.parts["cross_node"] == pytest.approx(cross_node.item(), rel=1e-5)


def test_multiplex_trains_and_fuses_layer_embeddings(small_graph):
    graph = multiplex(small_graph)
    seed_everything(0)
    method = build_method("gcool", graph.num_features, hidden_layer=16, hidden=8,
                          proj_hidden=8, num_communities=3, stride=10)
    trainer = Trainer(method, graph, epochs=3, lr=0.01, device="cpu", progress=False)
    trainer.fit()
    assert all(math.isfinite(row["loss"]) for row in trainer.history)
    z = trainer.embed()
    layers = method.layers(trainer.graph)
    method.eval()
    with torch.no_grad():
        per_layer = [method.encoder(layer.x, method.adjacency(layer)) for layer in layers]
    assert z.shape == (small_graph.num_nodes, 8)
    torch.testing.assert_close(z, (per_layer[0] + per_layer[1]) / 2)
    method.fusion = "concat"
    assert method.embed(trainer.graph).shape == (small_graph.num_nodes, 16)
    # unit rows of the fused embedding, the same directions
    method.fusion, method.normalize_embedding = "mean", True
    unit = method.embed(trainer.graph)
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(small_graph.num_nodes))
    torch.testing.assert_close(unit * z.norm(dim=1, keepdim=True), z)
    # single-view graphs too
    single = method.embed(small_graph)
    torch.testing.assert_close(single.norm(dim=1), torch.ones(small_graph.num_nodes))


def test_multiplex_errors(small_graph):
    method = make(small_graph)
    bad = multiplex(small_graph, second_layer=torch.tensor([[0, 1], [1, small_graph.num_nodes]]))
    with pytest.raises(ValueError, match="disagrees on the node count"):
        method.loss(bad)
    empty = multiplex(small_graph, second_layer=torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="layer 1 of the multiplex graph has no edges"):
        make(small_graph).loss(empty)
    two_types = multiplex(small_graph)
    two_types["actor"].x = torch.ones(3, small_graph.num_features)
    with pytest.raises(ValueError, match="single node type"):
        GCooL.from_config(two_types.num_features)
