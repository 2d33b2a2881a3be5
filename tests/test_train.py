"""Trainer: seeds reproduce runs; a stopped and resumed run equals an uninterrupted one."""

import csv

import pytest
import torch

from graphcl.methods import GRACE
from graphcl.train import Trainer, resolve_device, seed_everything


def make_trainer(graph, run_dir, epochs=6, checkpoint_every=2, callback=None, seed=5):
    seed_everything(seed)
    method = GRACE(graph.num_features, hidden=8, proj_hidden=8, activation="rrelu")
    return Trainer(method, graph, epochs=epochs, lr=0.01, weight_decay=1e-5, seed=seed,
                   device="cpu", run_dir=run_dir, checkpoint_every=checkpoint_every,
                   progress=False, callback=callback)


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
