"""Trainer: seeds reproduce runs; a stopped and resumed run equals an uninterrupted one."""

import csv

import pytest
import torch

from graphcl.methods import GRACE
from graphcl.train import Trainer, resolve_device, seed_everything


def make_trainer(graph, run_dir, epochs=6, checkpoint_every=2, callback=None, seed=5,
                 **options):
    seed_everything(seed)
    method = GRACE(graph.num_features, hidden=8, proj_hidden=8, activation="rrelu")
    return Trainer(method, graph, epochs=epochs, lr=0.01, weight_decay=1e-5, seed=seed,
                   device="cpu", run_dir=run_dir, checkpoint_every=checkpoint_every,
                   progress=False, callback=callback, **options)


def noisy_evaluator(embeddings):
    """An evaluator that draws from every global random stream, as probes do."""
    import random

    import numpy as np
    torch.rand(3)
    np.random.rand(3)
    random.random()
    return {"norm": float(embeddings.norm()), "first": float(embeddings[0, 0])}


def test_periodic_evaluation_rows_and_unchanged_training(small_graph, tmp_path):
    plain = make_trainer(small_graph, None)
    plain.fit()
    evaluated = make_trainer(small_graph, tmp_path, eval_every=2, evaluator=noisy_evaluator)
    evaluated.fit()
    # the evaluations restore every random state: same trajectory as without them
    assert torch.equal(plain.embed(), evaluated.embed())
    assert [row["epoch"] for row in evaluated.evaluations] == [2, 4, 6]
    assert evaluated.evaluations[-1]["norm"] == pytest.approx(float(evaluated.embed().norm()))
    with open(tmp_path / "eval.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [2, 4, 6] and set(rows[0]) == {"epoch", "norm", "first"}


def test_periodic_evaluations_survive_an_interruption(small_graph, tmp_path):
    reference = make_trainer(small_graph, None, eval_every=2, evaluator=noisy_evaluator)
    reference.fit()

    def stop_at_5(epoch, record):
        if epoch == 5:
            raise KeyboardInterrupt

    interrupted = make_trainer(small_graph, tmp_path, eval_every=2, evaluator=noisy_evaluator,
                               callback=stop_at_5, checkpoint_every=4)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    resumed = make_trainer(small_graph, tmp_path, eval_every=2, evaluator=noisy_evaluator,
                           checkpoint_every=4)
    resumed.fit(resume=True)
    assert resumed.evaluations == reference.evaluations  # the resumed run is bit-identical
    with open(tmp_path / "eval.csv") as handle:
        assert [int(r["epoch"]) for r in csv.DictReader(handle)] == [2, 4, 6]


def test_periodic_evaluation_arguments(small_graph):
    with pytest.raises(ValueError, match="needs an evaluator"):
        make_trainer(small_graph, None, eval_every=2)
    with pytest.raises(ValueError, match="eval_every"):
        make_trainer(small_graph, None, eval_every=-1, evaluator=noisy_evaluator)
    with pytest.raises(ValueError, match="no evaluator"):
        make_trainer(small_graph, None).evaluate_now()


def test_same_seed_same_embeddings(small_graph, tmp_path):
    a = make_trainer(small_graph, tmp_path / "a")
    a.fit()
    b = make_trainer(small_graph, tmp_path / "b")
    b.fit()
    assert torch.equal(a.embed(), b.embed())
    c = make_trainer(small_graph, tmp_path / "c", seed=6)
    c.fit()
    assert not torch.equal(a.embed(), c.embed())


def test_interrupted_then_resumed_equals_uninterrupted(small_graph, tmp_path):
    reference = make_trainer(small_graph, tmp_path / "ref")
    reference.fit()

    def stop_at_3(epoch, record):
        if epoch == 3:
            raise KeyboardInterrupt

    interrupted = make_trainer(small_graph, tmp_path / "run", callback=stop_at_3)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["epoch"] == 3

    # a fresh process would rebuild the model from scratch (other init) and resume
    resumed = make_trainer(small_graph, tmp_path / "run", seed=123)
    resumed.fit(resume=True)
    assert resumed.epoch == 6
    assert torch.equal(resumed.embed(), reference.embed())
    with open(tmp_path / "run" / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    ref_losses = [row["loss"] for row in reference.history]
    assert [float(r["loss"]) for r in rows] == pytest.approx(ref_losses, rel=0, abs=0)


def test_log_and_checkpoint_files(small_graph, tmp_path):
    trainer = make_trainer(small_graph, tmp_path, epochs=3, checkpoint_every=0)
    history = trainer.fit()
    assert len(history) == 3 and {"epoch", "loss", "infonce", "seconds"} <= set(history[0])
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "log.csv").exists()
    assert trainer.seconds_per_epoch > 0


def test_bad_arguments(small_graph):
    with pytest.raises(ValueError, match="epochs"):
        make_trainer(small_graph, None, epochs=-1)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_device("auto").type in ("cpu", "cuda")


def test_non_finite_loss_is_reported(small_graph):
    trainer = make_trainer(small_graph, None, epochs=1)
    with torch.no_grad():
        trainer.method.encoder.layers[0].linear.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="loss became nan"):
        trainer.fit()


def test_deterministic_switch_round_trip():
    from graphcl import deterministic
    deterministic(True)
    try:
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_flush_subnormals_zeroes_only_subnormal_parameters_and_moments():
    from graphcl.train import flush_subnormals_

    tiny = torch.finfo(torch.float32).tiny
    weight = torch.nn.Parameter(torch.tensor([tiny / 4, -tiny / 2, tiny, -2 * tiny, 0.5, 0.0]))
    optimizer = torch.optim.Adam([weight], lr=0.1)
    weight.grad = torch.tensor([tiny / 8, 1.0, 0.0, 0.0, 0.0, 0.0])
    optimizer.step()
    moment = optimizer.state[weight]["exp_avg"]
    moment.copy_(torch.tensor([tiny / 3, 1.0, -tiny / 5, 3 * tiny, 0.0, 0.0]))
    kept_weight = weight.detach().clone()
    flush_subnormals_([weight], optimizer)
    subnormal = (kept_weight != 0) & (kept_weight.abs() < tiny)
    assert torch.equal(weight.detach(), torch.where(subnormal, 0.0, kept_weight))
    assert torch.equal(moment, torch.tensor([0.0, 1.0, 0.0, 3 * tiny, 0.0, 0.0]))
    assert optimizer.state[weight]["step"].dim() == 0  # the step counter is left alone
    float64 = torch.tensor([torch.finfo(torch.float32).tiny / 4], dtype=torch.float64)
    flush_subnormals_([float64])  # normal in float64: kept
    assert float64.item() > 0


def test_trainer_flushes_weights_that_decay_into_the_subnormal_range(small_graph):
    from graphcl import train as train_module

    tiny = torch.finfo(torch.float32).tiny
    remaining = {}
    for flush in (True, False):
        torch.set_flush_denormal(False)  # fit turns FTZ/DAZ on; start each run without it
        seed_everything(5)
        method = GRACE(small_graph.num_features, hidden=8, proj_hidden=8)
        # a gradient-free corner of the model, already decayed below the normal range
        method.register_parameter("decayed", torch.nn.Parameter(torch.full((3,), tiny / 16)))
        trainer = Trainer(method, small_graph, epochs=train_module.SUBNORMAL_FLUSH_INTERVAL,
                          lr=0.01, seed=5, device="cpu", progress=False,
                          flush_subnormals=flush)
        trainer.fit()
        # compare bit patterns: under DAZ a float comparison reads subnormals as zero
        remaining[flush] = int((method.decayed.detach().view(torch.int32) != 0).sum())
    torch.set_flush_denormal(False)
    assert remaining == {True: 0, False: 3}


def test_fit_turns_on_flush_to_zero_on_the_cpu(small_graph):
    tiny = torch.finfo(torch.float32).tiny
    torch.set_flush_denormal(False)
    try:
        assert (torch.tensor([tiny]) / 4).view(torch.int32).item() != 0
        make_trainer(small_graph, None, epochs=1).fit()
        assert (torch.tensor([tiny]) / 4).view(torch.int32).item() == 0
    finally:
        torch.set_flush_denormal(False)


def test_train_section_numbers_are_checked_by_name():
    from graphcl.config import load_config
    from graphcl.train import _train_number, train_from_config

    assert _train_number({"epochs": 3.0}, "epochs", 200, int) == 3
    assert _train_number({}, "lr", 1e-3, float) == 1e-3
    for key, value in (("lr", "abc"), ("epochs", 2.5), ("seed", True), ("checkpoint_every", None)):
        config = load_config("grace", "synthetic", overrides=[f"train.{key}={value}"])
        with pytest.raises(ValueError, match=f"train.{key} must be"):
            train_from_config(config, progress=False, evaluate=False)


def test_trainer_checks_the_graph_before_training():
    from torch_geometric.data import Data

    x = torch.randn(10, 4)
    x[3, 1] = float("nan")
    bad = Data(x=x, edge_index=torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="NaN values.*first bad row: 3"):
        Trainer(GRACE(4, hidden=4, proj_hidden=4), bad, epochs=1, progress=False)
    out_of_range = Data(x=torch.randn(10, 4), edge_index=torch.tensor([[0, 1], [1, 12]]))
    with pytest.raises(ValueError, match="refers to node 12 but the graph has num_nodes=10"):
        Trainer(GRACE(4, hidden=4, proj_hidden=4), out_of_range, epochs=1, progress=False)


def test_evaluation_passes_the_graphs_split_to_protocols_that_take_one():
    from torch_geometric.data import Data

    from graphcl.train import evaluate_embeddings

    generator = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.eye(3)[y] * 3 + 0.1 * torch.randn(60, 3, generator=generator)
    index = torch.arange(60)
    masks = {name: (index % 3 == residue) for name, residue in
             (("train_mask", 0), ("val_mask", 1), ("test_mask", 2))}
    graph = Data(x=x, y=y, num_nodes=60, **masks)
    for protocol in ("dmgi", "hdmi"):  # they need the fixed split: the graph's own
        result = evaluate_embeddings(x, graph, {"protocol": protocol, "repeats": 2,
                                                "kmeans_runs": 1})
        assert result.protocol == protocol
        assert result.details[0]["num_test"] == 20
    # the graph's split is used by clean too, instead of seeded random splits
    clean = evaluate_embeddings(x, graph, {"protocol": "clean"})
    assert clean.details[0]["num_test"] == 20
    with pytest.raises(ValueError, match="unknown protocol 'nope'"):
        evaluate_embeddings(x, graph, {"protocol": "nope"})
