"""Tests for graphcl.eval.hetero: the HeCo/MEOW and DMGI protocols."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from test_eval import blobs

from graphcl.eval import (
    HECO_EVAL_SETTINGS,
    PROTOCOLS,
    EvalResult,
    evaluate,
    evaluate_dmgi,
    evaluate_hdmi,
    evaluate_heco,
    heco_splits,
    linear_probe,
    repeated_linear_probe,
    roc_auc_ovr,
    similarity_at_k,
)


@pytest.fixture(autouse=True)
def _single_intra_op_thread():
    """Tiny problems: one thread is faster and does not wait on a busy second core.

    Function-scoped so that it runs after the conftest's autouse fixture, which sets two
    threads for every test (with a busy second core, two threads made these 100x slower).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rate_splits(y: torch.Tensor, rates=(20, 40, 60), num_val: int = 60, seed: int = 0):
    """HeCo-style splits: ``rate`` training nodes per class, then val and test index sets."""
    generator = torch.Generator().manual_seed(seed)
    num_classes = int(y.max()) + 1
    splits = {}
    for rate in rates:
        perm = torch.randperm(y.numel(), generator=generator)
        train = torch.cat([perm[y[perm] == c][:rate] for c in range(num_classes)])
        rest = perm[~torch.isin(perm, train)]
        splits[rate] = (train, rest[:num_val], rest[num_val:])
    return splits


FAST = {"repeats": 5, "epochs": 60, "kmeans_runs": 2}


# --------------------------------------------------------------------------- AUC


def test_roc_auc_ovr_equals_sklearn_on_a_fixed_probability_matrix():
    y = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    probabilities = np.array([
        [0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4],
        [0.4, 0.4, 0.2], [0.4, 0.4, 0.2], [0.5, 0.1, 0.4], [0.2, 0.2, 0.6],
    ])  # rows 4 and 5 tie; columns hold tied scores too
    expected = 100 * roc_auc_score(y, probabilities, multi_class="ovr")
    assert roc_auc_ovr(y, probabilities) == pytest.approx(expected, abs=1e-10)
    # Batched over leading dimensions, tensors accepted.
    rng = np.random.default_rng(0)
    batch = rng.dirichlet(np.ones(3), size=(4, 8)).astype(np.float32)
    got = roc_auc_ovr(torch.as_tensor(y), torch.as_tensor(batch))
    assert got.shape == (4,)
    for b in range(4):
        assert got[b] == pytest.approx(100 * roc_auc_score(y, batch[b], multi_class="ovr"))
    # Perfect and reversed rankings.
    one_hot = np.eye(3)[y]
    assert roc_auc_ovr(y, one_hot) == pytest.approx(100.0)
    assert roc_auc_ovr(y, 1 - one_hot) == pytest.approx(0.0)


def test_roc_auc_ovr_rejects_bad_input():
    with pytest.raises(ValueError, match="no sample"):
        roc_auc_ovr([0, 0, 1], np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match="shape"):
        roc_auc_ovr([0, 1], np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        roc_auc_ovr([0, 1], np.array([[np.nan, 0.5], [0.5, 0.5]]))


def test_similarity_at_k_by_hand_with_dmgis_identity_quirk():
    # Two tight pairs with opposite directions: each node's nearest other node shares its
    # label; its second nearest (similarity 0 after subtracting 1 from the diagonal) is
    # itself, as in DMGI's run_similarity_search.
    x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, -0.1]])
    y = torch.tensor([0, 0, 1, 1])
    scores = similarity_at_k(x, y, ks=(1, 2, 3))
    assert scores["sim@1"] == pytest.approx(100.0)
    assert scores["sim@2"] == pytest.approx(100.0)  # the partner and the node itself
    assert scores["sim@3"] == pytest.approx(100 * 2 / 3)
    with pytest.raises(ValueError, match="similarity k"):
        similarity_at_k(x, y, ks=(5,))


# --------------------------------------------------------------------------- probe


def test_repeated_probe_heads_are_linear_probes_with_consecutive_seeds():
    x, y = blobs(240, 3, 8, spread=1.0, seed=1)
    train, val, test = rate_splits(y, rates=(10,), num_val=80)[10]
    out = repeated_linear_probe(x, y, train, val, test, repeats=3, epochs=40, lr=0.05, seed=7)
    for head in range(3):
        single = linear_probe(x, y, train, val, test, epochs=40, lr=0.05, eval_every=1,
                              normalize=False, seed=7 + head, return_history=True)
        history = single["history"]
        for key, split, metric in (("val_accuracy", "val", "accuracy"),
                                   ("val_macro_f1", "val", "macro_f1"),
                                   ("test_accuracy", "test", "accuracy"),
                                   ("test_macro_f1", "test", "macro_f1")):
            expected = torch.tensor([point[split][metric] for point in history],
                                    dtype=torch.float64)
            assert torch.allclose(100 * out["history"][key][:, head], expected, atol=1e-4)


def test_repeated_probe_selects_each_metric_at_its_first_best_validation_epoch():
    x, y = blobs(240, 3, 8, spread=1.5, seed=2)
    train, val, test = rate_splits(y, rates=(10,), num_val=80)[10]
    out = repeated_linear_probe(x, y, train, val, test, repeats=4, epochs=50, lr=0.05)
    history = out["history"]
    for head in range(4):
        val_macro = history["val_macro_f1"][:, head].tolist()
        val_acc = history["val_accuracy"][:, head].tolist()
        macro_epoch = val_macro.index(max(val_macro))
        micro_epoch = val_acc.index(max(val_acc))
        assert out["epochs"][head] == {"macro_f1": macro_epoch + 1, "micro_f1": micro_epoch + 1}
        assert out["test"][head]["macro_f1"] == pytest.approx(
            100 * history["test_macro_f1"][macro_epoch, head].item())
        assert out["test"][head]["micro_f1"] == pytest.approx(
            100 * history["test_accuracy"][micro_epoch, head].item())
    one_epoch = repeated_linear_probe(x, y, train, val, test, repeats=4, epochs=50, lr=0.05,
                                      select="accuracy")
    assert all(e["macro_f1"] == e["micro_f1"] for e in one_epoch["epochs"])
    with pytest.raises(ValueError, match="select"):
        repeated_linear_probe(x, y, train, val, test, select="max_test")


# --------------------------------------------------------------------------- heco


def test_heco_on_separable_embeddings_is_perfect():
    # Every node sits exactly on its class centre, so validation and test nodes are copies
    # of each other: the first epoch of 100 % validation F1 is one of 100 % test F1.
    x, y = blobs(360, 3, 8, spread=0.0)
    result = evaluate_heco(x, y, rate_splits(y), **FAST)
    assert isinstance(result, EvalResult) and result.protocol == "heco"
    assert list(result.metrics) == [f"{m}@{r}" for r in (20, 40, 60)
                                    for m in ("macro_f1", "micro_f1", "auc")] + ["nmi", "ari"]
    for name, summary in result.metrics.items():
        if name.startswith("auc"):
            # Correct arg-max everywhere does not order each column across classes when
            # C > 2; with two classes it does (below).
            assert summary["mean"] > 99.0, name
        else:
            assert summary["mean"] == pytest.approx(100.0), name
    assert len(result.metrics["auc@40"]["values"]) == 5
    assert len(result.metrics["nmi"]["values"]) == 2
    probe_details = [d for d in result.details if "rate" in d]
    assert len(probe_details) == 15
    assert probe_details[0]["num_train"] == 60 and probe_details[0]["num_val"] == 60
    assert result.details[-1]["clustering"]["num_clusters"] == 3

    x2, y2 = blobs(200, 2, 4, spread=0.0)
    binary = evaluate_heco(x2, y2, rate_splits(y2, rates=(20,)), clustering=False, **FAST)
    for name, summary in binary.metrics.items():
        assert summary["mean"] == pytest.approx(100.0), name


def test_heco_on_random_embeddings_is_near_chance():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(1200, 16, generator=generator)
    y = torch.arange(1200) % 3
    splits = rate_splits(y, rates=(20,), num_val=300)
    result = evaluate_heco(x, y, splits, repeats=10, epochs=100, kmeans_runs=2)
    assert 25 < result.metrics["micro_f1@20"]["mean"] < 42
    assert 40 < result.metrics["auc@20"]["mean"] < 60
    assert abs(result.metrics["nmi"]["mean"]) < 2
    assert abs(result.metrics["ari"]["mean"]) < 2


def test_heco_is_seeded_and_registered():
    x, y = blobs(300, 3, 8, spread=1.5)
    splits = rate_splits(y, rates=(20, 40))
    first = evaluate(x, y, protocol="heco", splits=splits, seed=4, **FAST)
    again = evaluate(x, y, protocol="heco", splits=splits, seed=4, **FAST)
    assert first.to_dict() == again.to_dict()
    other = evaluate(x, y, protocol="heco", splits=splits, seed=5, **FAST)
    assert other.metrics["auc@20"]["values"] != first.metrics["auc@20"]["values"]
    assert PROTOCOLS["heco"] is evaluate_heco and PROTOCOLS["dmgi"] is evaluate_dmgi
    # rates selects a subset; the probe never updates the embeddings.
    x.requires_grad_(True)
    subset = evaluate_heco(x, y, splits, rates=[40], clustering=False, seed=4,
                           **{**FAST, "kmeans_runs": 1})
    assert list(subset.metrics) == ["macro_f1@40", "micro_f1@40", "auc@40"]
    assert subset.metrics["auc@40"] == first.metrics["auc@40"]
    assert x.grad is None


def test_heco_options_and_label_mapping():
    x, y = blobs(300, 3, 8, spread=1.0)
    splits = rate_splits(y, rates=(20,))
    base = evaluate_heco(x, y, splits, clustering=False, **FAST, **HECO_EVAL_SETTINGS["acm"])
    # Labels 1..3 (MEOW's IMDB) are mapped to 0..2, as the official one-hot encoding does.
    shifted = evaluate_heco(x, y + 1, splits, clustering=False, **FAST,
                            **HECO_EVAL_SETTINGS["acm"])
    assert shifted.metrics == base.metrics
    # Masks work like indices; string rate keys and {"train", "val", "test"} dicts too.
    train, val, test = splits[20]
    masks = [torch.zeros(300, dtype=torch.bool).index_fill_(0, i, True)
             for i in (train, val, test)]
    as_masks = evaluate_heco(x, y, {"20": {"train": masks[0], "val": masks[1],
                                           "test": masks[2]}},
                             clustering=False, **FAST, **HECO_EVAL_SETTINGS["acm"])
    # Bool masks order the nodes by index, so predictions are the same up to float order.
    for key in ("macro_f1@20", "micro_f1@20", "auc@20"):
        assert as_masks.metrics[key]["mean"] == pytest.approx(base.metrics[key]["mean"],
                                                              abs=0.5)
    no_auc = evaluate_heco(x, y, splits, clustering=False, auc=False, **FAST)
    assert list(no_auc.metrics) == ["macro_f1@20", "micro_f1@20"]


def test_heco_rejects_bad_input():
    x, y = blobs(300, 3, 8, spread=1.0)
    splits = rate_splits(y, rates=(20, 40))
    with pytest.raises(ValueError, match=r"label rate 60 is missing.*\[20, 40\]"):
        evaluate_heco(x, y, splits, rates=(20, 40, 60), **FAST)
    with pytest.raises(ValueError, match="y has 299 entries"):
        evaluate_heco(x, y[:-1], splits, **FAST)
    bad = x.clone()
    bad[5, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        evaluate_heco(bad, y, splits, **FAST)
    with pytest.raises(ValueError, match="splits is required"):
        evaluate_heco(x, y, None)
    with pytest.raises(ValueError, match="overlap"):
        train, val, test = splits[20]
        evaluate_heco(x, y, {20: (train, val, torch.cat([test, train[:1]]))}, **FAST)
    with pytest.raises(ValueError, match="selects no nodes"):
        evaluate_heco(x, y, {20: (splits[20][0], torch.tensor([], dtype=torch.long),
                                  splits[20][2])}, **FAST)
    with pytest.raises(ValueError, match=r"triple"):
        evaluate_heco(x, y, {20: splits[20][:2]}, **FAST)
    with pytest.raises(ValueError, match="outside"):
        evaluate_heco(x, y, {20: (splits[20][0], splits[20][1], torch.tensor([300]))}, **FAST)
    # A test set without class 2: AUC is undefined (scikit-learn refuses too).
    train, val, test = splits[20]
    with pytest.raises(ValueError, match=r"label rate 20: classes \[2\] have no test node"):
        evaluate_heco(x, y, {20: (train, val, test[y[test] != 2])}, **FAST)
    with pytest.raises(ValueError, match="repeats"):
        evaluate_heco(x, y, splits, repeats=0)


def test_heco_splits_from_hetero_data():
    torch_geometric = pytest.importorskip("torch_geometric")
    x, y = blobs(300, 3, 8, spread=0.0)
    splits = rate_splits(y, rates=(20, 40))
    data = torch_geometric.data.HeteroData()
    data["paper"].y = y
    data["paper"].num_nodes = 300
    data["author"].num_nodes = 10
    data.target_node_type = "paper"
    data.label_rates = [20, 40]
    for rate, parts in splits.items():
        for part, index in zip(("train", "val", "test"), parts):
            data["paper"][f"{part}_mask_{rate}"] = torch.zeros(
                300, dtype=torch.bool).index_fill_(0, index, True)
    read = heco_splits(data)
    assert sorted(read) == [20, 40]
    assert torch.equal(read[40][1], data["paper"].val_mask_40)
    # The node store alone: rates found from the mask names.
    assert sorted(heco_splits(data["paper"])) == [20, 40]
    result = evaluate(x, data["paper"].y, protocol="heco", splits=data, **FAST)
    assert result.metrics["macro_f1@40"]["mean"] == pytest.approx(100.0)
    data.label_rates = [20, 40, 60]
    with pytest.raises(ValueError, match="label rate 60: the target node store has no "
                                         "'train_mask_60'"):
        heco_splits(data)
    del data.target_node_type
    with pytest.raises(ValueError, match="target_node_type"):
        heco_splits(data)


# --------------------------------------------------------------------------- dmgi


def test_hdmi_is_dmgi_with_hdmis_probe():
    x, y = blobs(240, 3, 8, spread=2.5)
    train, val, test = rate_splits(y, rates=(20,))[20]
    masks = {"train_mask": train, "val_mask": val, "test_mask": test}
    hdmi = evaluate(x, y, protocol="hdmi", repeats=4, kmeans_runs=2, **masks)
    same = evaluate_dmgi(x, y, repeats=4, kmeans_runs=2, epochs=100, lr=0.1, **masks)
    dmgi = evaluate_dmgi(x, y, repeats=4, kmeans_runs=2, **masks)
    assert PROTOCOLS["hdmi"] is evaluate_hdmi and hdmi.protocol == "hdmi"
    assert hdmi.metrics == same.metrics
    # the probe settings are what differs from DMGI's (50 epochs at lr 0.01)
    assert [d["best_epoch"] for d in hdmi.details] == [d["best_epoch"] for d in same.details]
    assert hdmi.metrics["macro_f1"] != dmgi.metrics["macro_f1"]
    with pytest.raises(ValueError, match="protocol 'hdmi'.*folds"):
        evaluate(x, y, protocol="hdmi", folds=3, **masks)


def test_dmgi_on_separable_embeddings_is_perfect_and_registered():
    x, y = blobs(300, 3, 8, spread=0.0)
    train, val, test = rate_splits(y, rates=(20,))[20]
    result = evaluate(x, y, protocol="dmgi", train_mask=train, val_mask=val, test_mask=test,
                      repeats=5, kmeans_runs=2)
    assert result.protocol == "dmgi"
    assert list(result.metrics) == ["macro_f1", "micro_f1", "nmi", "sim@5"]
    for name, summary in result.metrics.items():
        assert summary["mean"] == pytest.approx(100.0), name
    assert len(result.details) == 5
    assert all(d["best_epoch"]["micro_f1"] <= 50 for d in result.details)  # 50 epochs
    again = evaluate_dmgi(x, y, train, val, test, repeats=5, kmeans_runs=2)
    assert again.to_dict() == result.to_dict()


def test_dmgi_clusters_the_test_nodes_only_and_rejects_bad_input():
    x, y = blobs(300, 3, 8, spread=0.1)
    train, val, test = rate_splits(y, rates=(20,))[20]
    x_noisy = x.clone()
    x_noisy[train] = torch.randn(train.numel(), 8, generator=torch.Generator().manual_seed(0))
    result = evaluate_dmgi(x_noisy, y, train, val, test, repeats=2, epochs=5, kmeans_runs=1,
                           similarity_ks=(5, 10))
    assert result.metrics["nmi"]["mean"] == pytest.approx(100.0)
    assert result.metrics["sim@10"]["mean"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="test_mask not given"):
        evaluate_dmgi(x, y, train, val)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_dmgi(torch.full((300, 8), float("nan")), y, train, val, test)
    with pytest.raises(ValueError, match="y has 10 entries"):
        evaluate_dmgi(x, y[:10], train, val, test)
