"""The `graphcl` command end to end, and configuration resolution."""

import json

import pytest
import torch

from graphcl.cli import main
from graphcl.config import apply_overrides, list_presets, load_config


def test_train_eval_resume_on_synthetic(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--epochs", "4", "--run-dir", str(run), "--no-progress",
                 "--set", "model.hidden=16", "--set", "model.proj_hidden=16",
                 "--set", "eval.num_splits=2", "--set", "eval.epochs=200",
                 "--set", "train.eval_every=2"])
    assert code == 0
    out = capsys.readouterr().out
    with open(run / "eval.csv") as handle:  # periodic evaluations at epochs 2 and 4
        assert [line.split(",")[0] for line in handle.read().split()] == ["epoch", "2", "4"]
    assert "clean protocol: micro_f1" in out
    for name in ("config.yaml", "log.csv", "checkpoint.pt", "embeddings.pt", "metrics.json"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert 0 <= metrics["micro_f1"]["mean"] <= 100
    assert torch.load(run / "embeddings.pt")["embeddings"].shape == (2000, 16)

    assert main(["eval", "--run-dir", str(run)]) == 0
    assert "micro_f1" in capsys.readouterr().out
    pytest.importorskip("matplotlib")
    assert main(["plot", "--run-dir", str(run)]) == 0
    assert (run / "loss.png").stat().st_size > 1000
    assert (run / "eval.png").stat().st_size > 1000

    # extend the finished run by two epochs
    assert main(["train", "--resume", "--run-dir", str(run), "--epochs", "6", "--no-progress",
                 "--no-eval"]) == 0
    assert torch.load(run / "checkpoint.pt", weights_only=False)["epoch"] == 6


def test_default_train_learns(tmp_path, capsys):
    """`graphcl train` with no dataset: GRACE on the synthetic graph, far above chance (25%)."""
    assert main(["train", "--run-dir", str(tmp_path / "r"), "--no-progress",
                 "--set", "eval.num_splits=2"]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())["metrics"]
    assert metrics["micro_f1"]["mean"] > 70


def test_datasets_and_presets_commands(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "cora" in out and "ogbn-arxiv" in out
    assert main(["presets"]) == 0
    assert "grace" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys):
    assert main(["train", "--set", "nonsense", "--run-dir", str(tmp_path)]) == 2
    assert "section.key=value" in capsys.readouterr().err
    assert main(["train", "--dataset", "no-such-graph", "--run-dir", str(tmp_path)]) == 2
    assert "no-such-graph" in capsys.readouterr().err
    assert main(["train", "--set", "model.nonsense=1", "--epochs", "1",
                 "--run-dir", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "nonsense" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--resume"])


def test_train_takes_method_and_dataset_as_positionals(tmp_path, capsys):
    assert main(["train", "grace", "synthetic", "--epochs", "1", "--no-eval", "--no-progress",
                 "--run-dir", str(tmp_path / "r")]) == 0
    assert "grace on synthetic" in capsys.readouterr().err
    assert main(["train", "grace", "--dataset", "cora", "--epochs", "1", "--no-eval",
                 "--run-dir", str(tmp_path / "s"), "--method", "gca"]) == 2
    assert "given twice" in capsys.readouterr().err
    # reproduce.py's form for POT: `pot BASE DATASET` is method pot-BASE
    assert main(["train", "pot", "grace", "synthetic", "--epochs", "1", "--no-eval",
                 "--no-progress", "--run-dir", str(tmp_path / "p")]) == 0
    assert "pot-grace on synthetic" in capsys.readouterr().err
    assert main(["train", "grace", "cora", "extra", "--run-dir", str(tmp_path / "q")]) == 2
    assert "METHOD [DATASET]" in capsys.readouterr().err


def test_config_resolution(tmp_path):
    cora = load_config("grace", "cora")
    assert cora["model"]["tau"] == 0.4 and cora["train"]["lr"] == 5e-4
    assert cora["model"]["drop_edge"] == [0.2, 0.4] and cora["train"]["epochs"] == 200
    assert cora["eval"]["protocol"] == "grace"
    assert ("grace", "pubmed") in list_presets()
    updated = apply_overrides(cora, ["model.drop_edge=[0.1, 0.2]", "train.epochs=3"])
    assert updated["model"]["drop_edge"] == [0.1, 0.2] and updated["train"]["epochs"] == 3
    assert cora["train"]["epochs"] == 200  # not mutated
    with pytest.raises(ValueError, match="unknown section"):
        apply_overrides(cora, ["optim.lr=1"])
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  tau: 0.9\n")
    assert load_config("grace", "cora", path)["model"]["tau"] == 0.9
    path.write_text("bogus: 1\n")
    with pytest.raises(ValueError, match="unknown top-level"):
        load_config("grace", "cora", path)


def test_speed_plot_from_records(tmp_path):
    pytest.importorskip("matplotlib")
    from graphcl.viz import plot_speed_results
    files = []
    for name, n, ours, ref in [("a", 100, 0.1, 0.5), ("b", 1000, 1.0, None)]:
        path = tmp_path / f"speed_{name}.json"
        path.write_text(json.dumps({"dataset": name, "num_nodes": n, "seconds_per_epoch": ours,
                                    "reference_seconds_per_epoch": ref,
                                    "speedup": ref / ours if ref else None}))
        files.append(path)
    out = plot_speed_results(files, tmp_path / "speed.png")
    assert out.stat().st_size > 1000


def test_paired_plot_draws_and_refuses_unpaired_arms(tmp_path):
    pytest.importorskip("matplotlib")
    from graphcl.viz import plot_paired_arms
    out = plot_paired_arms({"micro_f1": ([80.0, 81.0, 79.5], [80.5, 80.0, 79.5]),
                            "macro_f1": ([78.0, 79.0, 77.0], [79.0, 79.5, 78.0])},
                           tmp_path / "sub" / "paired.png", arms=("grace", "grace+POT"))
    assert out == tmp_path / "sub" / "paired.png" and out.stat().st_size > 1000
    with pytest.raises(ValueError, match="equally many paired values"):
        plot_paired_arms({"micro_f1": ([80.0, 81.0], [80.5])}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="at least one metric"):
        plot_paired_arms({}, tmp_path / "none.png")
    assert not (tmp_path / "bad.png").exists()


def test_matmul_precision_applies_to_training_only(tmp_path, monkeypatch):
    from graphcl import train as train_module
    from graphcl.config import load_config
    seen = []
    original = train_module.Trainer.train_epoch
    monkeypatch.setattr(train_module.Trainer, "train_epoch",
                        lambda self: seen.append(torch.get_float32_matmul_precision())
                        or original(self))
    config = apply_overrides(load_config("grace", None), [
        "train.epochs=2", "train.matmul_precision=medium", "model.hidden=8",
        "model.proj_hidden=8", "eval.num_splits=1", "eval.epochs=20"])
    before = torch.get_float32_matmul_precision()
    train_module.train_from_config(config, progress=False, evaluate=False)
    assert seen == ["medium", "medium"]
    assert torch.get_float32_matmul_precision() == before
    config["train"]["matmul_precision"] = "low"
    with pytest.raises(ValueError, match="matmul_precision must be one of highest, high, medium"):
        train_module.train_from_config(config, progress=False, evaluate=False)


def test_t_interval_halfwidth_against_a_hand_computed_case():
    from graphcl.eval import t_interval_halfwidth
    # values 1, 2, 3: mean 2, s = 1, n = 3, t_{0.975, 2} = 4.302652729...
    assert t_interval_halfwidth([1.0, 2.0, 3.0]) == pytest.approx(4.302652729749464 / 3 ** 0.5)
    assert t_interval_halfwidth([1.0, 2.0, 3.0], level=0.9) == pytest.approx(2.919985580 / 3 ** 0.5)
    assert t_interval_halfwidth([5.0]) != t_interval_halfwidth([5.0])  # NaN: no spread
    with pytest.raises(ValueError, match="level"):
        t_interval_halfwidth([1.0, 2.0], level=1.5)
