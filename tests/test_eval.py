"""Tests for graphcl.eval: metrics, linear probe, protocols and clustering."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import OneHotEncoder, normalize

from graphcl.eval import (
    EvalResult,
    classification_metrics,
    evaluate,
    evaluate_clean,
    evaluate_grace,
    kmeans_scores,
    linear_probe,
    summarize,
)
from graphcl.eval.metrics import _classification_metrics_torch
from graphcl.eval.protocols import _random_split


@pytest.fixture(autouse=True, scope="module")
def _single_intra_op_thread():
    """Run these tiny problems on one thread.

    With two OpenMP threads and a busy second core, a 300 x 8 step waits on the other
    thread's barrier (measured 100x slower); one thread is also simply faster at this size.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def blobs(num_nodes: int, num_classes: int, dim: int, spread: float, seed: int = 0):
    """Gaussian clusters around orthogonal centres; small ``spread`` = separable."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_nodes) % num_classes
    labels = labels[torch.randperm(num_nodes, generator=generator)]
    centres = torch.eye(num_classes, dim) * 3.0
    points = centres[labels] + spread * torch.randn(num_nodes, dim, generator=generator)
    return points, labels


def thirds(num_nodes: int, seed: int = 0):
    """A random 1/3-1/3-1/3 split as bool masks."""
    perm = torch.randperm(num_nodes, generator=torch.Generator().manual_seed(seed))
    masks = [torch.zeros(num_nodes, dtype=torch.bool) for _ in range(3)]
    for mask, part in zip(masks, perm.chunk(3)):
        mask[part] = True
    return masks


# --------------------------------------------------------------------------- metrics


def test_classification_metrics_hand_computed():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    # class 0: tp 1, fp 1, fn 1 -> F1 1/2; class 1: tp 2, fp 1, fn 0 -> F1 4/5;
    # class 2: tp 1, fp 0, fn 1 -> F1 2/3; 4 of 6 correct.
    per_class = [1 / 2, 4 / 5, 2 / 3]
    metrics = classification_metrics(torch.tensor(y_true), np.array(y_pred))
    assert metrics["accuracy"] == pytest.approx(100 * 4 / 6)
    assert metrics["micro_f1"] == pytest.approx(100 * 4 / 6)
    assert metrics["macro_f1"] == pytest.approx(100 * sum(per_class) / 3)
    # With an unseen fourth class the macro average is over all four (F1 0 for it).
    metrics4 = classification_metrics(y_true, y_pred, num_classes=4)
    assert metrics4["macro_f1"] == pytest.approx(100 * sum(per_class) / 4)
    assert metrics4["micro_f1"] == pytest.approx(100 * 4 / 6)


def test_classification_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        classification_metrics([0, 1], [0])
    with pytest.raises(ValueError, match="y_true is empty"):
        classification_metrics([], [])
    with pytest.raises(ValueError, match="y_pred holds labels outside"):
        classification_metrics([0, 1], [0, 5], num_classes=2)
    with pytest.raises(TypeError, match="y_true"):
        classification_metrics([0.5, 1.0], [0, 1])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda c: st.lists(
    st.tuples(st.integers(0, c - 1), st.integers(0, c - 1)), min_size=1, max_size=40)))
def test_probe_metrics_equal_sklearn_metrics(pairs):
    y_true = torch.tensor([t for t, _ in pairs])
    y_pred = torch.tensor([p for _, p in pairs])
    fast = _classification_metrics_torch(y_true, y_pred, num_classes=6)
    reference = classification_metrics(y_true, y_pred)
    assert fast == pytest.approx(reference, abs=1e-9)


def test_summarize_by_hand():
    summary = summarize([{"a": 80.0, "b": 1.0}, {"a": 90.0, "b": 1.0}, {"a": 100.0, "b": 4.0}])
    assert summary["a"]["mean"] == pytest.approx(90.0)
    assert summary["a"]["std"] == pytest.approx(math.sqrt(200 / 3))  # ddof = 0
    assert summary["a"]["values"] == [80.0, 90.0, 100.0]
    assert summary["b"]["mean"] == pytest.approx(2.0)
    assert summary["b"]["std"] == pytest.approx(math.sqrt(2.0))
    assert summarize([{"a": 5.0}])["a"]["std"] == 0.0
    with pytest.raises(ValueError, match="runs is empty"):
        summarize([])
    with pytest.raises(ValueError, match=r"runs\[1\]"):
        summarize([{"a": 1.0}, {"b": 1.0}])


def test_eval_result_str_and_to_dict():
    result = EvalResult("clean", summarize([{"micro_f1": 83.0, "macro_f1": 80.0},
                                            {"micro_f1": 84.0, "macro_f1": 81.0}]),
                        [{"split": 0}, {"split": 1}])
    assert str(result) == "micro_f1 83.50 ± 0.50 | macro_f1 80.50 ± 0.50"
    as_dict = result.to_dict()
    assert as_dict["protocol"] == "clean"
    assert as_dict["metrics"]["micro_f1"]["values"] == [83.0, 84.0]
    as_dict["details"][0]["split"] = 99
    assert result.details[0]["split"] == 0


# --------------------------------------------------------------------------- probe


def test_linear_probe_separable_reaches_100():
    x, y = blobs(300, 3, 8, spread=0.2)
    train, val, test = thirds(300)
    result = linear_probe(x, y, train, val, test, epochs=200)
    assert result["test"]["accuracy"] == pytest.approx(100.0)
    assert result["test"]["macro_f1"] == pytest.approx(100.0)
    assert result["val"]["accuracy"] == pytest.approx(100.0)


def test_linear_probe_random_labels_near_chance():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1200, 16, generator=generator)
    y = torch.randint(0, 4, (1200,), generator=generator)
    train, val, test = thirds(1200)
    result = linear_probe(x, y, train, val, test, epochs=300)
    assert 15.0 < result["test"]["accuracy"] < 35.0  # chance = 25 %, ~2 % std on 400 nodes


@pytest.mark.parametrize("select_metric", ["accuracy", "macro_f1"])
def test_linear_probe_reports_test_at_best_validation(select_metric):
    x, y = blobs(450, 3, 8, spread=2.0, seed=3)  # overlapping: validation score fluctuates
    train, val, test = thirds(450, seed=3)
    result = linear_probe(x, y, train, val, test, epochs=150, eval_every=5,
                          select_metric=select_metric, return_history=True)
    history = result["history"]
    assert [p["epoch"] for p in history] == list(range(5, 151, 5))
    val_scores = [p["val"][select_metric] for p in history]
    assert len(set(val_scores)) > 1, "test case should have a non-constant validation curve"
    best = int(np.argmax(val_scores))  # first maximum = earliest tie
    assert result["best_epoch"] == history[best]["epoch"]
    assert result["val"] == history[best]["val"]
    assert result["test"] == history[best]["test"]


def test_linear_probe_breaks_ties_to_earliest_epoch():
    x, y = blobs(300, 3, 8, spread=0.2)
    train, val, test = thirds(300)
    result = linear_probe(x, y, train, val, test, epochs=100, eval_every=1,
                          return_history=True)
    perfect = [p["epoch"] for p in result["history"] if p["val"]["accuracy"] == 100.0]
    assert len(perfect) > 1
    assert result["best_epoch"] == perfect[0]


def test_linear_probe_max_test_is_per_metric_maximum():
    x, y = blobs(450, 3, 8, spread=2.0, seed=3)
    train, val, test = thirds(450, seed=3)
    result = linear_probe(x, y, train, None, test, epochs=100, eval_every=5,
                          select="max_test", return_history=True)
    history = result["history"]
    for name in ("micro_f1", "macro_f1", "accuracy"):
        assert result["test"][name] == max(p["test"][name] for p in history)
    assert result["val"] is None
    assert result["select"] == "max_test"
    honest = linear_probe(x, y, train, val, test, epochs=100, eval_every=5)
    assert result["test"]["accuracy"] >= honest["test"]["accuracy"]


def test_linear_probe_seeded_and_leaves_global_rng_alone():
    x, y = blobs(300, 3, 8, spread=1.5)
    train, val, test = thirds(300)
    state = torch.get_rng_state()
    first = linear_probe(x, y, train, val, test, epochs=60, eval_every=3, seed=7,
                         return_history=True)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(12345)  # a different global state must not matter
    second = linear_probe(x, y, train, val, test, epochs=60, eval_every=3, seed=7,
                          return_history=True)
    assert first == second


def test_linear_probe_index_masks_match_bool_masks():
    x, y = blobs(300, 3, 8, spread=1.5)
    train, val, test = thirds(300)
    by_mask = linear_probe(x, y, train, val, test, epochs=50)
    by_index = linear_probe(x, y, train.nonzero().view(-1), val.nonzero().view(-1),
                            test.nonzero().view(-1), epochs=50)
    assert by_mask == by_index


def test_linear_probe_detaches_embeddings():
    x, y = blobs(90, 3, 4, spread=0.2)
    x.requires_grad_(True)
    train, val, test = thirds(90)
    linear_probe(x, y, train, val, test, epochs=5)
    assert x.grad is None


def _probe_args(**changes):
    x, y = blobs(60, 3, 4, spread=0.2)
    train, val, test = thirds(60)
    args = {"embeddings": x, "y": y, "train_mask": train, "val_mask": val, "test_mask": test}
    args.update(changes)
    return args


@pytest.mark.parametrize(
    ("changes", "error", "name"),
    [
        ({"embeddings": torch.full((60, 4), float("nan"))}, ValueError, "embeddings"),
        ({"embeddings": torch.zeros(60)}, ValueError, "embeddings"),
        ({"embeddings": torch.zeros(60, 4, dtype=torch.long)}, TypeError, "embeddings"),
        ({"y": torch.zeros(59, dtype=torch.long)}, ValueError, "y has 59"),
        ({"y": torch.zeros(60)}, TypeError, "y must hold integer"),
        ({"train_mask": torch.zeros(60, dtype=torch.bool)}, ValueError, "train_mask"),
        ({"test_mask": torch.tensor([], dtype=torch.long)}, ValueError, "test_mask"),
        ({"val_mask": torch.ones(59, dtype=torch.bool)}, ValueError, "val_mask"),
        ({"val_mask": None}, ValueError, "val_mask"),
        ({"test_mask": torch.tensor([0, 60])}, ValueError, "test_mask"),
        ({"y": torch.full((60,), -1)}, ValueError, "train_mask"),
    ],
)
def test_linear_probe_rejects_bad_input_naming_the_argument(changes, error, name):
    with pytest.raises(error, match=name):
        linear_probe(**_probe_args(**changes), epochs=2)


def test_linear_probe_rejects_bad_options():
    with pytest.raises(ValueError, match="select_metric"):
        linear_probe(**_probe_args(), select_metric="auc")
    with pytest.raises(ValueError, match="select must be"):
        linear_probe(**_probe_args(), select="last")
    with pytest.raises(ValueError, match="epochs"):
        linear_probe(**_probe_args(), epochs=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_linear_probe_on_gpu_matches_cpu():
    x, y = blobs(300, 3, 8, spread=0.2)
    train, val, test = thirds(300)
    on_cpu = linear_probe(x, y, train, val, test, epochs=100)
    on_gpu = linear_probe(x.cuda(), y.cuda(), train.cuda(), val.cuda(), test.cuda(), epochs=100)
    assert on_gpu["test"]["accuracy"] == pytest.approx(on_cpu["test"]["accuracy"])


# --------------------------------------------------------------------------- clean protocol


def test_evaluate_clean_runs_one_probe_per_mask_column():
    num_nodes, num_splits = 240, 3
    x, y = blobs(num_nodes, 3, 8, spread=1.5)
    test = torch.zeros(num_nodes, dtype=torch.bool)
    test[160:] = True  # one shared test mask, as in WikiCS
    train = torch.zeros(num_nodes, num_splits, dtype=torch.bool)
    val = torch.zeros(num_nodes, num_splits, dtype=torch.bool)
    for k in range(num_splits):
        perm = torch.randperm(160, generator=torch.Generator().manual_seed(100 + k))
        train[perm[:40 + 10 * k], k] = True
        val[perm[80:], k] = True
    result = evaluate_clean(x, y, train_mask=train, val_mask=val, test_mask=test, seed=5,
                            epochs=40)
    assert result.protocol == "clean"
    assert len(result.details) == num_splits
    for k, detail in enumerate(result.details):
        assert detail["num_train"] == 40 + 10 * k
        assert detail["num_val"] == 80
        assert detail["num_test"] == 80
        direct = linear_probe(x, y, train[:, k], val[:, k], test, seed=5 + k, epochs=40)
        assert detail["test"] == direct["test"]
        assert detail["best_epoch"] == direct["best_epoch"]
    assert result.metrics["accuracy"]["values"] == [d["test"]["accuracy"] for d in result.details]


def test_evaluate_clean_repeats_a_fixed_split_with_probe_seeds():
    x, y = blobs(150, 3, 8, spread=1.5)
    train, val, test = thirds(150)
    result = evaluate_clean(x, y, train_mask=train, val_mask=val, test_mask=test,
                            num_splits=3, seed=2, epochs=30)
    assert [d["probe_seed"] for d in result.details] == [2, 3, 4]
    assert [d["split_seed"] for d in result.details] == [None, None, None]
    assert {d["num_train"] for d in result.details} == {50}


def test_random_split_is_seeded_disjoint_and_sized():
    train, val, test = _random_split(1000, 0.1, 0.15, seed=3)
    assert (train.numel(), val.numel(), test.numel()) == (100, 150, 750)
    assert torch.equal(torch.sort(torch.cat([train, val, test])).values, torch.arange(1000))
    again = _random_split(1000, 0.1, 0.15, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), again))
    other = _random_split(1000, 0.1, 0.15, seed=4)
    assert not torch.equal(train, other[0])


def test_evaluate_clean_random_splits_are_reproducible():
    x, y = blobs(200, 4, 8, spread=1.0)
    state = torch.get_rng_state()
    first = evaluate_clean(x, y, num_splits=2, train_ratio=0.2, val_ratio=0.2, epochs=30)
    assert torch.equal(torch.get_rng_state(), state)
    second = evaluate_clean(x, y, num_splits=2, train_ratio=0.2, val_ratio=0.2, epochs=30)
    assert first.to_dict() == second.to_dict()
    assert [d["split_seed"] for d in first.details] == [0, 1]
    assert [(d["num_train"], d["num_val"], d["num_test"]) for d in first.details] == [
        (40, 40, 120)
    ] * 2


def test_evaluate_clean_max_test_is_labelled():
    x, y = blobs(150, 3, 8, spread=1.5)
    result = evaluate_clean(x, y, num_splits=1, epochs=20, select="max_test")
    assert result.protocol == "clean[max_test]"


def test_evaluate_clean_rejects_bad_input():
    x, y = blobs(60, 3, 4, spread=0.2)
    train, val, test = thirds(60)
    with pytest.raises(ValueError, match="test_mask must be given"):
        evaluate_clean(x, y, train_mask=train, val_mask=val)
    with pytest.raises(ValueError, match="same number of columns"):
        evaluate_clean(x, y, train_mask=train[:, None].repeat(1, 2),
                       val_mask=val[:, None].repeat(1, 3), test_mask=test)
    with pytest.raises(ValueError, match="train_ratio"):
        evaluate_clean(x, y, train_ratio=0.0)
    with pytest.raises(ValueError, match="embeddings"):
        evaluate_clean(x[:, 0], y)


# --------------------------------------------------------------------------- grace protocol


def official_grace_once(x: np.ndarray, y: np.ndarray, ratio: float, random_state: int):
    """CRIPAC-DIG/GRACE eval.py's label_classification body, with a fixed split seed."""
    labels = OneHotEncoder(categories="auto").fit_transform(y.reshape(-1, 1)).toarray()
    labels = labels.astype(bool)
    x = normalize(x, norm="l2")
    x_train, x_test, y_train, y_test = train_test_split(
        x, labels, test_size=1 - ratio, random_state=random_state
    )
    clf = GridSearchCV(estimator=OneVsRestClassifier(LogisticRegression(solver="liblinear")),
                       param_grid={"estimator__C": 2.0 ** np.arange(-10, 10)}, n_jobs=1, cv=5)
    clf.fit(x_train, y_train)
    probabilities = clf.predict_proba(x_test)
    y_pred = np.zeros(probabilities.shape, dtype=bool)
    y_pred[np.arange(len(y_pred)), probabilities.argmax(axis=1)] = True
    return (100 * f1_score(y_test, y_pred, average="micro"),
            100 * f1_score(y_test, y_pred, average="macro"))


def test_evaluate_grace_matches_the_official_procedure():
    x, y = blobs(250, 4, 8, spread=1.5, seed=2)
    result = evaluate_grace(x, y, ratio=0.2, repeats=2, seed=10, n_jobs=1)
    assert result.protocol == "grace"
    for repeat, detail in enumerate(result.details):
        assert detail["random_state"] == 10 + repeat
        micro, macro = official_grace_once(x.numpy(), y.numpy(), 0.2, 10 + repeat)
        assert detail["test"]["micro_f1"] == pytest.approx(micro)
        assert detail["test"]["macro_f1"] == pytest.approx(macro)
        assert detail["test"]["accuracy"] == pytest.approx(micro)
        assert (detail["num_train"], detail["num_test"]) == (50, 200)


def test_evaluate_grace_separable_and_reproducible():
    x, y = blobs(200, 3, 8, spread=0.2)
    first = evaluate_grace(x, y, ratio=0.3, repeats=1, n_jobs=1)
    assert first.metrics["micro_f1"]["mean"] > 99.0
    assert first.metrics["macro_f1"]["mean"] > 99.0
    second = evaluate(x, y, protocol="grace", ratio=0.3, repeats=1, n_jobs=1)
    assert first.to_dict() == second.to_dict()


def test_evaluate_grace_rejects_bad_input():
    x, y = blobs(60, 3, 4, spread=0.2)
    with pytest.raises(ValueError, match="ratio"):
        evaluate_grace(x, y, ratio=1.0)
    with pytest.raises(ValueError, match="embeddings"):
        evaluate_grace(torch.full((60, 4), float("nan")), y)


def test_evaluate_unknown_protocol_lists_known_ones():
    x, y = blobs(30, 3, 4, spread=0.2)
    with pytest.raises(ValueError, match=r"unknown protocol 'dgi'.*'clean', 'grace'"):
        evaluate(x, y, protocol="dgi")


# --------------------------------------------------------------------------- clustering


def test_kmeans_scores_on_separated_blobs_are_perfect():
    x, y = blobs(300, 4, 8, spread=0.1)
    scores = kmeans_scores(x, y, n_runs=3)
    assert set(scores) == {"nmi", "ari"}
    assert scores["nmi"]["mean"] == pytest.approx(100.0, abs=1e-6)
    assert scores["ari"]["mean"] == pytest.approx(100.0, abs=1e-6)
    assert len(scores["nmi"]["values"]) == 3


def test_kmeans_scores_on_random_labels_are_near_zero():
    x, _ = blobs(600, 4, 8, spread=0.1)
    y = torch.randint(0, 4, (600,), generator=torch.Generator().manual_seed(5))
    scores = kmeans_scores(x, y, n_runs=2)
    assert abs(scores["nmi"]["mean"]) < 3.0
    assert abs(scores["ari"]["mean"]) < 3.0


def test_kmeans_scores_mask_and_seed():
    x, y = blobs(300, 4, 8, spread=1.2)
    mask = y < 2  # two classes only: default num_clusters becomes 2
    masked = kmeans_scores(x, y, mask=mask, n_runs=2, seed=4)
    direct = kmeans_scores(x[mask], y[mask], n_runs=2, seed=4)
    assert masked == direct
    assert kmeans_scores(x, y, n_runs=2, seed=4) == kmeans_scores(x, y, n_runs=2, seed=4)
    with pytest.raises(ValueError, match="num_clusters"):
        kmeans_scores(x, y, num_clusters=0)
    with pytest.raises(ValueError, match="mask"):
        kmeans_scores(x, y, mask=torch.zeros(300, dtype=torch.bool))


def test_gca_protocol_is_random_splits_at_best_validation():
    from graphcl.eval import evaluate
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 4
    z = torch.nn.functional.one_hot(y, 4).float() + 0.05 * torch.randn(200, 4, generator=gen)
    result = evaluate(z, y, protocol="gca", num_splits=2, epochs=200)
    assert result.protocol == "gca" and len(result.details) == 2
    assert result.metrics["accuracy"]["mean"] > 95
    again = evaluate(z, y, protocol="gca", num_splits=2, epochs=200)
    assert again.metrics == result.metrics


def test_gcool_protocol_is_the_max_test_probe_on_a_seeded_random_split():
    from graphcl.eval import evaluate_gcool

    generator = torch.Generator().manual_seed(3)
    y = torch.arange(300) % 3
    embeddings = torch.nn.functional.one_hot(y, 3).float() * 2 + torch.randn(
        300, 3, generator=generator)
    result = evaluate_gcool(embeddings, y, seed=5, epochs=60)
    assert result.protocol == "gcool"
    train, val, test = _random_split(300, 0.1, 0.1, 5)
    expected = linear_probe(embeddings, y, train, val, test, epochs=60, lr=0.01,
                            weight_decay=1e-5, eval_every=5, normalize=False,
                            select="max_test", select_metric="micro_f1", seed=5)
    assert result.metrics["micro_f1"]["mean"] == pytest.approx(expected["test"]["micro_f1"])
    assert result.metrics["macro_f1"]["mean"] == pytest.approx(expected["test"]["macro_f1"])
    # the optimistic number is never below the honest one on the same split
    honest = linear_probe(embeddings, y, train, val, test, epochs=60, lr=0.01,
                          weight_decay=1e-5, eval_every=5, normalize=False, seed=5)
    assert expected["test"]["micro_f1"] >= honest["test"]["micro_f1"]


def test_gcool_protocol_uses_wikics_columns():
    from graphcl.eval import evaluate_gcool

    y = torch.arange(100) % 2
    embeddings = torch.nn.functional.one_hot(y, 2).float()
    train = torch.zeros(100, 4, dtype=torch.bool)
    train[:20] = True
    val = torch.zeros(100, 4, dtype=torch.bool)
    val[20:40] = True
    test = torch.zeros(100, dtype=torch.bool)
    test[40:] = True
    result = evaluate_gcool(embeddings, y, train_mask=train, val_mask=val, test_mask=test,
                            epochs=300)
    assert len(result.details) == 4
    assert [d["num_train"] for d in result.details] == [20] * 4
    assert result.metrics["micro_f1"]["mean"] == pytest.approx(100.0)


def test_evaluate_names_an_option_the_protocol_does_not_take():
    from graphcl.eval import evaluate

    embeddings, y = torch.randn(40, 4), torch.arange(40) % 2
    with pytest.raises(ValueError, match="protocol 'grace' has no option 'nonsense'; its options: ratio"):
        evaluate(embeddings, y, protocol="grace", nonsense=1)
    with pytest.raises(ValueError, match="protocol 'clean'.*nonsense"):
        evaluate(embeddings, y, protocol="clean", nonsense=1)
