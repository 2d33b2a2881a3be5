"""benchmarks/reproduce.py: per-seed records, reused with --resume only for the same run."""

import json
import os

import pytest
import torch


@pytest.fixture()
def reproduce(tmp_path, monkeypatch, load_benchmark):
    module = load_benchmark("reproduce")
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


ARGS = ["grace", "synthetic", "--seeds", "2", "--set", "train.epochs=2", "--tag", "_t",
        "--protocol", "grace"]


def test_each_seed_is_recorded_and_resume_reuses_it(reproduce, tmp_path, monkeypatch):
    assert reproduce.main(ARGS) == 0
    first = json.loads((tmp_path / "reproduce_grace_synthetic_grace_t.json").read_text())
    seed_files = sorted((tmp_path / "seeds" / "reproduce_grace_synthetic_t").glob("seed-*.json"))
    assert [p.name for p in seed_files] == ["seed-0.json", "seed-1.json"]
    recorded = json.loads(seed_files[1].read_text())
    assert recorded["protocols"]["grace"]["metrics"]["micro_f1"] == \
        first["metrics"]["micro_f1"]["values"][1]

    def no_training(*_args, **_kwargs):
        raise AssertionError("a recorded seed was trained again")

    monkeypatch.setattr(reproduce, "train_and_evaluate_seed", no_training)
    assert reproduce.main(ARGS + ["--resume"]) == 0
    again = json.loads((tmp_path / "reproduce_grace_synthetic_grace_t.json").read_text())
    assert again["metrics"] == first["metrics"]
    assert again["seeds"] == [0, 1]
    # the record's wall time is the seeds' own, not the seconds it took to reread them
    seed_seconds = sum(json.loads(p.read_text())["wall_seconds"] for p in seed_files)
    assert again["wall_seconds"] == pytest.approx(seed_seconds)
    assert again["wall_seconds_this_invocation"] < again["wall_seconds"]
    # which code produced each seed (a git checkout here; None elsewhere)
    versions = again["code_version_per_seed"]
    assert len(versions) == 2 and versions == [json.loads(p.read_text())["code_version"]
                                              for p in seed_files]
    assert versions[0] is None or len(versions[0].split("+")[0]) >= 7


def test_periodic_evaluations_use_the_final_protocols_and_splits(reproduce, tmp_path):
    args = ["grace", "synthetic", "--seeds", "1", "--set", "train.epochs=4", "--set",
            "train.eval_every=2", "--tag", "_periodic", "--protocol", "clean,pot"]
    assert reproduce.main(args) == 0
    record = json.loads((tmp_path / "seeds" / "reproduce_grace_synthetic_periodic"
                         / "seed-0.json").read_text())
    rows = record["periodic_evaluations"]
    assert [row["epoch"] for row in rows] == [2, 4]
    # the last periodic evaluation is the final one: same embeddings, protocols and splits
    for protocol in ("clean", "pot"):
        final = record["protocols"][protocol]["metrics"]
        assert rows[-1][f"{protocol}/micro_f1"] == pytest.approx(final["micro_f1"])


def test_resume_retrains_a_seed_recorded_for_another_configuration(reproduce, tmp_path,
                                                                     monkeypatch):
    trained = []

    def fake_training(config, protocols, seed, args):
        trained.append((seed, config["model"]["tau"]))
        return {"seed": seed, "seconds_per_epoch": 1.0, "epochs_run": 2, "peak_memory_mb": 1.0,
                "hardware": "test", "date": "today",
                "protocols": {spec["protocol"]: {"metrics": {"micro_f1": 50.0 + seed},
                                                 "validation": {}} for spec in protocols}}

    monkeypatch.setattr(reproduce, "train_and_evaluate_seed", fake_training)
    assert reproduce.main(ARGS[:3] + ["1"] + ARGS[4:]) == 0
    assert trained == [(0, 0.5)]
    # seed 0 is recorded with tau 0.5: with tau 0.4 it trains again, with 0.5 it does not
    del trained[:]
    assert reproduce.main(ARGS + ["--resume"]) == 0
    assert trained == [(1, 0.5)]
    del trained[:]
    assert reproduce.main(ARGS + ["--resume", "--set", "model.tau=0.4"]) == 0
    assert trained == [(0, 0.4), (1, 0.4)]
    del trained[:]
    assert reproduce.main(ARGS + ["--resume", "--set", "model.tau=0.4"]) == 0
    assert trained == []
    # the checkpoint interval is bookkeeping, not configuration
    del trained[:]
    assert reproduce.main(ARGS + ["--resume", "--set", "model.tau=0.4",
                                  "--set", "train.checkpoint_every=7"]) == 0
    assert trained == []
    # without --resume nothing is reused
    del trained[:]
    assert reproduce.main(ARGS) == 0
    assert trained == [(0, 0.5), (1, 0.5)]  # tau 0.5 again: recorded, but not asked to reuse
    result = json.loads((tmp_path / "reproduce_grace_synthetic_grace_t.json").read_text())
    assert result["metrics"]["micro_f1"]["values"] == [50.0, 51.0]


def test_an_empty_data_section_keeps_the_fingerprint(reproduce):
    config = {"method": "meow", "dataset": "aminer", "model": {"tau": 0.9},
              "train": {"seed": 1, "checkpoint_every": 25}, "eval": {"protocol": "heco"}}
    protocols = [{"protocol": "heco"}]
    fingerprint = reproduce.seed_fingerprint(config, protocols)
    assert reproduce.seed_fingerprint({**config, "data": {}}, protocols) == fingerprint
    walk = {**config, "data": {"walk_features": {"dim": 64}}}
    assert reproduce.seed_fingerprint(walk, protocols) != fingerprint
    assert config["train"]["checkpoint_every"] == 25  # the caller's config is left alone


def test_pot_kappa_grid_resumes_through_reproduce_and_picks_kappa_on_validation(
        tmp_path, monkeypatch, load_benchmark):
    module = load_benchmark("pot_kappa")
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    calls = []

    def fake_reproduce(argv):
        calls.append(argv)
        kappa = float(argv[argv.index("--set") + 1].split("=")[1])
        tag = argv[argv.index("--tag") + 1]
        record = {"seeds": [0, 1], "validation": {"micro_f1": {"mean": 80.0 - abs(kappa - 0.3)}},
                  "metrics": {"micro_f1": {"mean": 70.0 + kappa, "std": 0.1},
                              "macro_f1": {"mean": 60.0, "std": 0.1}}}
        (tmp_path / f"reproduce_pot-grace_cora_clean{tag}.json").write_text(json.dumps(record))
        return 0

    monkeypatch.setattr(module.reproduce, "main", fake_reproduce)
    assert module.main(["grace", "cora", "--kappas", "0.1,0.3", "--seeds", "2",
                        "--run-dir", str(tmp_path / "runs")]) == 0
    assert all("--resume" in argv for argv in calls)
    assert calls[1][calls[1].index("--run-dir") + 1] == str(tmp_path / "runs" / "kappa0.3")
    out = json.loads((tmp_path / "pot_kappa_grace_cora.json").read_text())
    assert out["chosen_kappa"] == 0.3 and out["metrics"]["micro_f1"]["mean"] == 70.3
    calls.clear()
    module.main(["grace", "cora", "--kappas", "0.1,0.3", "--seeds", "2"])
    assert calls == []  # both records hold the seeds and validation scores: reused


def test_official_gcool_log_is_parsed_into_last_and_best_printed_evaluations(
        tmp_path, load_benchmark):
    module = load_benchmark("official_gcool_log")
    block = "================ Test epoch: {:04d} ================\nMicro-F1 = {}\nMacro-F1 = {}\n\n"
    log = ("Random seed set to be: 39789\nTraining epoch: 0000, loss = 6.6\n"
           + block.format(0, 0.44, 0.26) + block.format(100, 0.91, 0.895)
           + block.format(200, 0.925, 0.89) + "Finished in 10.0 min\n"
           + "\tMaximum resident set size (kbytes): 2048000\n")
    parsed = module.parse_log(log)
    assert [row["epoch"] for row in parsed["printed_evaluations"]] == [0, 100, 200]
    summary = module.summarize(parsed, num_epochs=200)
    assert summary["metrics"]["micro_f1"]["mean"] == pytest.approx(92.5)
    assert summary["metrics"]["macro_f1"]["mean"] == pytest.approx(89.0)
    # maxima taken independently, epoch 0 (the untrained encoder) left out
    assert summary["max_over_printed_evaluations"] == pytest.approx(
        {"micro_f1": 92.5, "macro_f1": 89.5})
    with pytest.raises(ValueError, match="did not finish"):
        module.summarize(parsed, num_epochs=2900)
    log_file = tmp_path / "official.log"
    log_file.write_text(log)
    module.RESULTS = tmp_path
    assert module.main([str(log_file), "--dataset", "amazon-photo", "--epochs", "200"]) == 0
    record = json.loads((tmp_path / "official_gcool_amazon-photo_seed39789.json").read_text())
    assert record["seconds_per_epoch"] == pytest.approx(3.0)
    assert record["peak_memory_mb"] == pytest.approx(2000.0)


def test_pot_compare_pairs_the_seeds_both_runs_hold(tmp_path, load_benchmark):
    module = load_benchmark("pot_compare")
    module.RESULTS = tmp_path

    def record(seeds, micro):
        return {"seeds": seeds, "seconds_per_epoch": 1.0,
                "metrics": {"micro_f1": {"values": micro}, "macro_f1": {"values": micro}}}

    # the POT run holds 3 seeds in another order, the base run 4
    (tmp_path / "reproduce_pot-costa_cora_clean_kappa0.1.json").write_text(
        json.dumps(record([3, 1, 2], [83.0, 81.0, 82.5])))
    (tmp_path / "reproduce_costa-potbase_cora_clean.json").write_text(
        json.dumps(record([1, 2, 3, 4], [80.0, 82.0, 81.0, 99.0])))
    out = module.compare("costa", "cora", "clean", "_kappa0.1")
    assert out["seeds"] == [3, 1, 2]
    difference = out["metrics"]["micro_f1"]["difference"]
    assert difference["mean"] == pytest.approx((2.0 + 1.0 + 0.5) / 3)
    # the per-seed values are kept in the pairing order (seed 3, 1, 2 on both sides)
    assert out["metrics"]["micro_f1"]["with_pot"]["values"] == [83.0, 81.0, 82.5]
    assert out["metrics"]["micro_f1"]["without_pot"]["values"] == [81.0, 80.0, 82.0]
    (tmp_path / "reproduce_costa-potbase_cora_clean.json").write_text(
        json.dumps(record([7, 8], [80.0, 82.0])))
    with pytest.raises(ValueError, match="share no seed"):
        module.compare("costa", "cora", "clean", "_kappa0.1")


def test_official_meow_log_is_parsed_into_our_metric_names(tmp_path, load_benchmark):
    module = load_benchmark("official_meow_log")
    test = ("\t[Test Classification] Macro-F1_mean: {} var: 0.61  Micro-F1_mean: {} var: 0.63 "
            "auc: {} var: 0.48\n")
    log = ("Epoch: 0\ntotal loss: 17.3\nEpoch: 1\nEarly stopping!\n"
           "\t[Clustering] NMI: 6.47   ARI: 6.72\n"
           + test.format(58.82, 59.01, 77.28) + test.format(56.07, 56.08, 75.23)
           + test.format(57.05, 56.99, 75.54) + "Total time:  2237 s\n"
           + "\tMaximum resident set size (kbytes): 2058292\n")
    parsed = module.parse_log(log)
    assert parsed["epochs_run"] == 2 and parsed["wall_seconds"] == 2237
    assert parsed["peak_memory_mb"] == pytest.approx(2010.1)
    metrics = parsed["metrics"]
    assert metrics["macro_f1@40"]["mean"] == 56.07 and metrics["micro_f1@60"]["mean"] == 56.99
    assert metrics["auc@20"] == {"mean": 77.28, "std": 0.48}
    assert metrics["nmi"]["mean"] == 6.47 and metrics["ari"]["mean"] == 6.72
    with pytest.raises(ValueError, match="did the run finish"):
        module.parse_log("Epoch: 0\n")
    log_file = tmp_path / "official.log"
    log_file.write_text(log)
    module.RESULTS = tmp_path
    assert module.main([str(log_file), "--dataset", "imdb", "--seed", "2"]) == 0
    record = json.loads((tmp_path / "official_meow_imdb_seed2.json").read_text())
    assert record["seeds"] == [2] and record["epochs_run"] == [2]


def test_gcool_side_by_side_times_the_official_training_loop_only(tmp_path, load_benchmark):
    module = load_benchmark("gcool_side_by_side")
    # the shape of lblaoke/gCooL's main.py: setup under __main__, then its training loop
    (tmp_path / "main.py").write_text(
        "import argparse\nimport torch\nfrom time import time\n\n"
        "def train_epoch(epoch):\n"
        "    print('precision', torch.get_float32_matmul_precision())\n\n"
        "if __name__ == '__main__':\n"
        "    parser = argparse.ArgumentParser()\n"
        "    for name in ('--device', '--dataset', '--param'):\n"
        "        parser.add_argument(name)\n"
        "    parser.add_argument('--num_epochs', type=int)\n"
        "    param = {'num_epochs': parser.parse_args().num_epochs}\n\n"
        "    # training and testing\n"
        "    start = time()\n"
        "    raise SystemExit('the official loop (with its probe) must not run')\n")
    harness = module.write_official_harness(tmp_path)
    assert "must not run" not in harness.read_text()
    env = dict(os.environ, GRAPHCL_MATMUL_PRECISION="medium")
    times = module.time_official(tmp_path, "amazon-photo", 3, env)
    assert len(times) == 4 and all(t >= 0 for t in times)  # epochs 0..3
    assert module.median_of_epochs([9.0, 1.0, 3.0, 2.0]) == 2.0  # epoch 0 left out
    (tmp_path / "main.py").write_text("print('not gCooL')\n")
    with pytest.raises(SystemExit, match="training and testing"):
        module.write_official_harness(tmp_path)
    with pytest.raises(SystemExit, match="lblaoke/gCooL"):
        module.write_official_harness(tmp_path / "missing")


def test_plot_gcool_curves_draws_official_and_periodic_evaluations(tmp_path, load_benchmark):
    pytest.importorskip("matplotlib")
    module = load_benchmark("plot_gcool_curves")
    official = {"dataset": "amazon-photo", "printed_evaluations": [
        {"epoch": 0, "micro_f1": 44.5, "macro_f1": 26.5},
        {"epoch": 100, "micro_f1": 78.2, "macro_f1": 71.8}]}
    ours = {"periodic_evaluations": [
        {"epoch": 100, "gcool/micro_f1": 80.0, "gcool/macro_f1": 75.0, "clean/micro_f1": 79.0},
        {"epoch": 200, "gcool/micro_f1": 85.0, "gcool/macro_f1": 80.0, "clean/micro_f1": 84.0}]}
    (tmp_path / "official.json").write_text(json.dumps(official))
    (tmp_path / "seed.json").write_text(json.dumps(ours))
    assert module.our_curve(ours, "micro_f1") == ([100, 200], [80.0, 85.0])
    assert module.official_curve(official, "macro_f1") == ([0, 100], [26.5, 71.8])
    written = module.main(["--official", str(tmp_path / "official.json"), "--ours",
                           str(tmp_path / "seed.json"), "--out", str(tmp_path / "curves.png")])
    assert [p.name for p in written] == ["curves_micro.png", "curves_macro.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    with pytest.raises(ValueError, match="eval_every"):
        module.our_curve({"periodic_evaluations": []}, "micro_f1")


def test_official_multiplex_data_writes_dmgi_layout(tmp_path, load_benchmark):
    import pickle

    import numpy as np
    import scipy.sparse as sp
    module = load_benchmark("official_multiplex_data")
    raw = {"feats": sp.lil_matrix(np.arange(8.0).reshape(4, 2)),
           "adjs": {"MDM": ([0, 1], [1, 2]), "MAM": ([3], [0])},
           "labels": np.array([5, 7, 5, 9]),
           "splits": {"train_mask": np.array([1, 0, 0, 0], bool),
                      "val_mask": np.array([0, 1, 0, 0], bool),
                      "test_mask": np.array([0, 0, 1, 1], bool)}}
    source = tmp_path / "imdb.pkl"
    source.write_bytes(pickle.dumps(raw))
    assert module.main(["--source", str(source), "--out", str(tmp_path / "out" / "imdb.pkl")]) == 0
    out = pickle.loads((tmp_path / "out" / "imdb.pkl").read_bytes())
    expected_mdm = np.eye(4)
    expected_mdm[[0, 1, 1, 2], [1, 0, 2, 1]] = 1
    assert np.array_equal(out["MDM"], expected_mdm)  # both directions plus the diagonal
    assert out["MAM"][3, 0] == out["MAM"][0, 3] == 1 and out["MAM"].sum() == 6
    assert np.array_equal(out["label"].argmax(1), [0, 1, 0, 2])  # one-hot, classes in order
    assert out["train_idx"].tolist() == [[0]] and out["test_idx"].tolist() == [[2, 3]]
    assert np.array_equal(out["feature"], np.arange(8.0).reshape(4, 2))
    assert module.main(["--source", str(tmp_path / "missing.pkl"), "--out", str(tmp_path / "x")]) == 1



# prints what the official POT-GCL GRACE/train.py prints per epoch, with known timings, and
# allocates ~40 MB more when --use_pot is given (as its dense bounds would)
FAKE_OFFICIAL_TRAIN = '''
import sys
args = sys.argv[1:]
epochs = int(args[args.index("--num_epochs") + 1])
pot = "--use_pot" in args
held = bytearray(40 * 2**20) if pot else b""
if pot:
    held[::4096] = b"x" * len(held[::4096])
print(args)
for epoch in range(1, epochs + 1):
    seconds = (2.0 if pot else 0.5) * (5 if epoch == 1 else 1) + epoch / 1000
    print(f"(T) | Epoch={epoch:03d}, loss=6.0582, this epoch {seconds:.4f}, total 0")
print("=== Final ===")
'''


def test_pot_official_speed_maps_the_preset_and_reads_the_official_log(tmp_path, load_benchmark):
    module = load_benchmark("pot_official_speed")
    photo = module.official_arguments("amazon-photo", 7, True, "r.csv")
    assert photo == ["--dataset", "Photo", "--drop_1", "0.3", "--drop_2", "0.5", "--tau", "0.2",
                     "--num_epochs", "7", "--save_file", "r.csv", "--use_pot", "--kappa", "0.4"]
    cora = module.official_arguments("cora", 3, False, "r.csv")
    assert cora[:8] == ["--dataset", "Cora", "--drop_1", "0.4", "--drop_2", "0.3", "--tau", "0.9"]
    assert "--use_pot" not in cora
    times, peak = module.parse_official_log(
        "noise\n(T) | Epoch=001, loss=6.0582, this epoch 36.7314, total 36.7314\n"
        "(T) | Epoch=002, loss=nan, this epoch 1.5, total 38.2\nGRAPHCL_VMHWM_MB 812.5\n")
    assert times == [36.7314, 1.5] and peak == 812.5

    official = tmp_path / "GRACE"
    official.mkdir()
    (official / "train.py").write_text(FAKE_OFFICIAL_TRAIN)
    env = dict(os.environ)
    base, base_peak = module.time_official(official, "cora", 4, False, env)
    pot, pot_peak = module.time_official(official, "cora", 4, True, env)
    assert base == pytest.approx([2.501, 0.502, 0.503, 0.504])
    assert pot == pytest.approx([10.001, 2.002, 2.003, 2.004])
    assert pot_peak > base_peak + 30  # the wrapper reads each process's own peak
    with pytest.raises(SystemExit, match="2 of 4 epochs"):
        (official / "train.py").write_text(FAKE_OFFICIAL_TRAIN.replace(
            "range(1, epochs + 1)", "range(1, 3)"))
        module.time_official(official, "cora", 4, False, env)
    with pytest.raises(SystemExit, match="no train.py"):
        module.time_official(tmp_path, "cora", 4, False, env)


def test_probe_variants_probes_saved_embeddings_and_refuses_bad_runs(tmp_path, load_benchmark,
                                                                      monkeypatch):
    module = load_benchmark("probe_variants")
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    monkeypatch.setattr(module, "VARIANTS", {
        "clean": ("clean", {"epochs": 40, "num_splits": 2}),
        "clean, unnormalized": ("clean", {"epochs": 40, "num_splits": 2, "normalize": False})})
    from graphcl.data import load_dataset

    graph = load_dataset("synthetic")
    informative = torch.nn.functional.one_hot(graph.y).float() * 3.0  # norms 3, cv 0
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"embeddings": informative, "dataset": "synthetic"}, run / "embeddings.pt")
    noise = tmp_path / "noise"
    noise.mkdir()
    torch.save(torch.randn(graph.num_nodes, 4, generator=torch.Generator().manual_seed(0)),
               noise / "embeddings.pt")
    assert module.main(["--dataset", "synthetic", "--run", f"labels={run}",
                        "--run", f"noise={noise}", "--tag", "_t"]) == 0
    record = json.loads((tmp_path / "probe_variants_synthetic_t.json").read_text())
    assert record["metrics"]["labels"]["clean"]["micro_f1"] == pytest.approx(100.0)
    assert record["metrics"]["labels"]["clean, unnormalized"]["micro_f1"] == pytest.approx(100.0)
    assert record["metrics"]["noise"]["clean"]["micro_f1"] < 80.0
    assert record["row_norms"]["labels"] == pytest.approx({"row_norm_mean": 3.0,
                                                           "row_norm_cv": 0.0})
    with pytest.raises(SystemExit, match="NAME=DIR"):
        module.main(["--dataset", "synthetic", "--run", str(run)])
    with pytest.raises(SystemExit, match="does not exist"):
        module.main(["--dataset", "synthetic", "--run", f"x={tmp_path / 'missing'}"])
    torch.save({"embeddings": informative[:5]}, run / "embeddings.pt")
    with pytest.raises(SystemExit, match="holds 5 embeddings"):
        module.main(["--dataset", "synthetic", "--run", f"labels={run}"])
