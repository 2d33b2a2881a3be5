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
