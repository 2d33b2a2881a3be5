"""Tests for graphcl.data: loaders, synthetic graphs, validation and splits.

Real datasets are read from ``$GRAPHCL_DATA``, else ``<repo>/../shared/datasets``; tests
that need them are skipped when neither exists. Every test runs with ``$GRAPHCL_CACHE`` in a
temporary directory, and the raw root is checked to be left exactly as it was.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from torch_geometric.data import Data, HeteroData
from torch_geometric.utils import coalesce, contains_self_loops, degree, is_undirected

from graphcl.data import (
    DATASETS,
    DatasetNotFoundError,
    cache_dir,
    contextual_sbm,
    dataset_status,
    load_dataset,
    per_class_split_masks,
    random_split_masks,
    resolve_root,
    validate_graph,
)

REPO = Path(__file__).resolve().parents[1]


def _shared_root() -> Path | None:
    env = os.environ.get("GRAPHCL_DATA")
    if env:
        return Path(env)
    fallback = REPO.parent / "shared" / "datasets"
    return fallback if fallback.is_dir() else None


# Read before the autouse fixture below clears $GRAPHCL_DATA for each test.
SHARED_ROOT = _shared_root()
needs_shared = pytest.mark.skipif(
    SHARED_ROOT is None or not SHARED_ROOT.is_dir(),
    reason="no raw datasets: set GRAPHCL_DATA or provide <repo>/../shared/datasets",
)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``root`` with its size and mtime: any write shows up as a change."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in dirnames + filenames:
            path = Path(dirpath) / entry
            stat = path.lstat()
            entries[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return entries


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never write to the user's cache; run each test without $GRAPHCL_DATA / XDG set."""
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GRAPHCL_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


class _SharedDatasets:
    """Loads each shared dataset once per session, into one session cache."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.cache = cache
        self._loaded: dict[tuple, Data] = {}

    def load(self, name: str, **kwargs) -> Data:
        key = (name, tuple(sorted(kwargs.items())))
        if key not in self._loaded:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("GRAPHCL_CACHE", str(self.cache))
                self._loaded[key] = load_dataset(name, self.root, **kwargs)
        return self._loaded[key]


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    if SHARED_ROOT is None or not SHARED_ROOT.is_dir():
        pytest.skip("no raw datasets: set GRAPHCL_DATA or provide <repo>/../shared/datasets")
    before = _snapshot(SHARED_ROOT)
    yield _SharedDatasets(SHARED_ROOT, tmp_path_factory.mktemp("shared-cache"))
    assert _snapshot(SHARED_ROOT) == before, f"{SHARED_ROOT} was modified by a loader"


# --------------------------------------------------------------------------- loaders


def _check_common(data: Data, name: str, num_nodes: int, num_edges: int, num_features: int,
                  num_classes: int) -> None:
    assert data.name == name
    assert data.num_nodes == num_nodes
    assert data.edge_index.shape == (2, num_edges)
    assert data.edge_index.dtype == torch.long
    assert data.x.shape == (num_nodes, num_features)
    assert data.x.dtype == torch.float32
    assert data.y.shape == (num_nodes,)
    assert data.y.dtype == torch.long
    assert int(data.y.max()) + 1 == num_classes
    assert is_undirected(data.edge_index, num_nodes=num_nodes)
    validate_graph(data, name=name)


def _assert_rows_normalised(x: torch.Tensor) -> None:
    sums = x.sum(dim=1)
    nonzero = sums > 0
    assert nonzero.float().mean() > 0.99
    torch.testing.assert_close(sums[nonzero], torch.ones(int(nonzero.sum())))


@needs_shared
def test_cora_public_split_and_normalised_features(shared):
    data = shared.load("cora")
    _check_common(data, "cora", 2708, 10556, 1433, 7)
    assert not contains_self_loops(data.edge_index)
    masks = [data.train_mask, data.val_mask, data.test_mask]
    assert [m.dtype for m in masks] == [torch.bool] * 3
    assert [m.shape for m in masks] == [(2708,)] * 3
    assert [int(m.sum()) for m in masks] == [140, 500, 1000]
    overlap = (data.train_mask & data.val_mask) | (data.val_mask & data.test_mask)
    assert not bool(overlap.any())
    _assert_rows_normalised(data.x)


@needs_shared
def test_cora_without_normalisation_keeps_binary_features(shared):
    data = shared.load("cora", normalize_features=False)
    assert set(torch.unique(data.x).tolist()) == {0.0, 1.0}
    assert torch.equal(data.x > 0, shared.load("cora").x > 0)


@needs_shared
@pytest.mark.parametrize("spelling", ["Cora", " CORA ", "cora"])
def test_names_are_case_and_separator_insensitive(shared, spelling):
    assert shared.load(spelling).name == "cora"


@needs_shared
@pytest.mark.parametrize("spelling", ["Amazon_Photo", "amazon photo", "AMAZON-PHOTO", "photo"])
def test_amazon_photo_spellings(shared, spelling):
    assert shared.load(spelling).name == "amazon-photo"


@needs_shared
@pytest.mark.parametrize(
    ("name", "nodes", "edges", "features", "classes"),
    [
        ("amazon-photo", 7650, 238162, 745, 8),
        ("amazon-computers", 13752, 491722, 767, 10),
        ("coauthor-cs", 18333, 163788, 6805, 15),
    ],
)
def test_shchur_datasets(shared, name, nodes, edges, features, classes):
    data = shared.load(name)
    _check_common(data, name, nodes, edges, features, classes)
    assert not contains_self_loops(data.edge_index)
    # No standard split exists for these: none is invented.
    assert [key for key, _ in data if key.endswith("_mask")] == []
    _assert_rows_normalised(data.x)
    assert DATASETS[name].num_nodes == nodes and DATASETS[name].num_classes == classes


@needs_shared
def test_processed_files_go_to_cache_and_are_reused(tmp_path, monkeypatch):
    before = _snapshot(SHARED_ROOT)
    first = load_dataset("cora", SHARED_ROOT)
    workdirs = list((cache_dir() / "datasets").glob("*/Planetoid/Cora"))
    assert len(workdirs) == 1
    workdir = workdirs[0]
    assert (workdir / "raw").is_symlink()
    assert (workdir / "raw").resolve() == (SHARED_ROOT / "Planetoid/Cora/raw").resolve()
    assert (workdir.parents[1] / "ROOT").read_text().strip() == str(SHARED_ROOT.resolve())
    processed = workdir / "processed" / "data.pt"
    stamp = processed.stat().st_mtime_ns

    start = time.perf_counter()
    second = load_dataset("cora", SHARED_ROOT)
    assert time.perf_counter() - start < 5.0
    assert processed.stat().st_mtime_ns == stamp, "second load re-processed the raw files"
    assert torch.equal(first.x, second.x) and torch.equal(first.edge_index, second.edge_index)
    assert _snapshot(SHARED_ROOT) == before


@needs_shared
def test_changed_raw_file_triggers_reprocessing(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(SHARED_ROOT / "Planetoid" / "Cora", root / "Planetoid" / "Cora")
    load_dataset("cora", root)
    processed = next((cache_dir() / "datasets").glob("*/Planetoid/Cora/processed/data.pt"))
    old = processed.stat().st_mtime_ns
    raw_file = root / "Planetoid/Cora/raw/ind.cora.graph"
    os.utime(raw_file, ns=(raw_file.stat().st_atime_ns, raw_file.stat().st_mtime_ns + 10**9))
    load_dataset("cora", root)
    assert processed.stat().st_mtime_ns != old


@needs_shared
def test_pubmed_names_the_missing_allx_file(shared, tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("pubmed", SHARED_ROOT)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "ind.pubmed.allx" in message
    assert str(SHARED_ROOT / "Planetoid" / "PubMed" / "raw") in message
    missing_line = next(line for line in message.splitlines() if "missing:" in line)
    assert missing_line.split("missing:")[1].strip() == "ind.pubmed.allx"
    assert "GRAPHCL_DATA" in message and "root=" in message
    assert not (tmp_path / "cache").exists(), "a failed load must not build a cache entry"


@pytest.mark.parametrize(
    "name", ["pubmed", "citeseer", "wikics", "ogbn-arxiv", "coauthor-physics", "cora", "dblp",
             "amazon-computers"],
)
def test_missing_dataset_error_names_path_and_files(tmp_path, name):
    root = tmp_path / "empty-root"
    root.mkdir()
    info = DATASETS[name]
    with pytest.raises(DatasetNotFoundError) as raised:
        load_dataset(name, root)
    message = str(raised.value)
    assert repr(name) in message
    assert str(root / info.raw_dir) in message
    for rel in info.required_files:
        assert rel.rsplit("/", 1)[1] in message
    assert "GRAPHCL_DATA" in message and "root=" in message
    assert info.source.split(" ")[0] in message
    assert list(root.iterdir()) == []


def test_missing_error_says_where_the_root_came_from(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHCL_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError, match=r"\$GRAPHCL_DATA") as raised:
        load_dataset("wikics")
    assert "does not exist" in str(raised.value)
    assert str(tmp_path / "nowhere" / "WikiCS" / "raw") in str(raised.value)


def test_ogbn_arxiv_error_lists_split_files(tmp_path):
    with pytest.raises(DatasetNotFoundError) as raised:
        load_dataset("ogbn_arxiv", tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "ogb" / "ogbn_arxiv" / "split" / "time") in message
    assert "node-label.csv.gz" in message and "num-node-list.csv.gz" in message


def test_unknown_name_lists_known_datasets():
    with pytest.raises(ValueError, match="unknown dataset 'corra'") as raised:
        load_dataset("corra")
    for name in ("cora", "ogbn-arxiv", "amazon-photo", "synthetic-<N>k"):
        assert name in str(raised.value)


def test_root_resolution_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_root() == tmp_path / "datasets"
    monkeypatch.setenv("GRAPHCL_DATA", str(tmp_path / "from-env"))
    assert resolve_root() == tmp_path / "from-env"
    assert resolve_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_root("relative") == tmp_path / "relative"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_root("~/data") == tmp_path / "home" / "data"


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("GRAPHCL_CACHE")
    assert cache_dir() == tmp_path / "home" / ".cache" / "graphcl"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "graphcl"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_dir() == tmp_path / "home" / ".cache" / "graphcl"


@needs_shared
def test_dataset_status_on_shared_root():
    status = {entry["name"]: entry for entry in dataset_status(SHARED_ROOT)}
    assert set(status) == set(DATASETS)
    assert status["cora"]["available"] and status["cora"]["missing"] == []
    assert status["cora"]["path"] == str(SHARED_ROOT / "Planetoid" / "Cora")
    assert not status["pubmed"]["available"]
    assert status["pubmed"]["missing"] == ["raw/ind.pubmed.allx"]
    assert not status["wikics"]["available"]
    assert status["synthetic"]["available"] and status["synthetic"]["path"] is None


def test_dataset_status_on_empty_root(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHCL_DATA", str(tmp_path))
    status = dataset_status()
    assert [entry["name"] for entry in status if entry["available"]] == ["synthetic"]
    for entry in status:
        assert set(entry) >= {"name", "display_name", "available", "path", "required",
                              "missing", "num_nodes", "num_classes", "source"}
        assert entry["missing"] == entry["required"]


def _write_csv_gz(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.write("".join(",".join(str(v) for v in row) + "\n" for row in rows))


def _fake_ogbn_arxiv(root: Path, num_nodes: int = 40, num_edges: int = 90) -> dict:
    """A tiny graph in OGB's raw CSV layout: exercises the real OGB class end to end."""
    rng = np.random.default_rng(0)
    base = root / "ogb" / "ogbn_arxiv"
    src, dst = rng.integers(0, num_nodes, num_edges), rng.integers(0, num_nodes, num_edges)
    features = rng.normal(size=(num_nodes, 5)).round(3)
    labels = rng.integers(0, 4, num_nodes)
    perm = rng.permutation(num_nodes)
    _write_csv_gz(base / "raw/edge.csv.gz", zip(src, dst))
    _write_csv_gz(base / "raw/node-feat.csv.gz", features.tolist())
    _write_csv_gz(base / "raw/node-label.csv.gz", [[int(v)] for v in labels])
    _write_csv_gz(base / "raw/node_year.csv.gz", [[2015]] * num_nodes)
    _write_csv_gz(base / "raw/num-node-list.csv.gz", [[num_nodes]])
    _write_csv_gz(base / "raw/num-edge-list.csv.gz", [[num_edges]])
    for split, part in (("train", perm[:10]), ("valid", perm[10:20]), ("test", perm[20:])):
        _write_csv_gz(base / f"split/time/{split}.csv.gz", [[int(i)] for i in part])
    return {"features": features, "labels": labels, "perm": perm, "src": src, "dst": dst}


def test_ogbn_arxiv_loader_on_tiny_fake_files(tmp_path):
    root = tmp_path / "root"
    fake = _fake_ogbn_arxiv(root)
    before = _snapshot(root)
    for _ in range(2):  # the second load goes through OGB's release-marker check
        data = load_dataset("ogbn-arxiv", root)
        assert data.name == "ogbn-arxiv"
        assert data.y.shape == (40,) and data.y.dtype == torch.long
        assert torch.equal(data.y, torch.from_numpy(fake["labels"]))
        # Not normalised: OGB's features are used as they are.
        torch.testing.assert_close(data.x, torch.from_numpy(fake["features"]).float())
        assert is_undirected(data.edge_index, num_nodes=40)
        directed = torch.stack([torch.from_numpy(fake["src"]), torch.from_numpy(fake["dst"])])
        assert data.edge_index.size(1) == coalesce(
            torch.cat([directed, directed.flip(0)], 1), num_nodes=40).size(1)
        for key, count in (("train_mask", 10), ("val_mask", 10), ("test_mask", 20)):
            mask = data[key]
            assert mask.dtype == torch.bool and mask.shape == (40,) and int(mask.sum()) == count
        assert bool(data.train_mask[torch.from_numpy(fake["perm"][:10])].all())
    assert _snapshot(root) == before
    assert list((cache_dir() / "datasets").glob("*/ogb/ogbn_arxiv/processed/*.pt"))


def test_wikics_loader_on_tiny_fake_file(tmp_path):
    rng = np.random.default_rng(1)
    num_nodes = 12
    features = rng.normal(size=(num_nodes, 3))  # GloVe-like: signed, so the min shift shows
    links = [[int(j) for j in rng.choice(num_nodes, 2, replace=False) if j != i]
             for i in range(num_nodes)]
    raw = tmp_path / "root" / "WikiCS" / "raw"
    raw.mkdir(parents=True)
    (raw / "data.json").write_text(json.dumps({
        "features": features.tolist(),
        "labels": rng.integers(0, 3, num_nodes).tolist(),
        "links": links,
        "train_masks": rng.random((20, num_nodes)).__lt__(0.3).tolist(),
        "val_masks": rng.random((20, num_nodes)).__lt__(0.3).tolist(),
        "stopping_masks": rng.random((20, num_nodes)).__lt__(0.3).tolist(),
        "test_mask": rng.random(num_nodes).__lt__(0.5).tolist(),
    }))
    data = load_dataset("WikiCS", tmp_path / "root")
    assert data.name == "wikics"
    assert data.train_mask.shape == (num_nodes, 20) and data.val_mask.shape == (num_nodes, 20)
    assert data.test_mask.shape == (num_nodes,)
    assert is_undirected(data.edge_index)
    # PyG's NormalizeFeatures: shift by the global minimum, divide rows by max(sum, 1).
    shifted = torch.tensor(features, dtype=torch.float32) - float(features.min())
    torch.testing.assert_close(data.x, shifted / shifted.sum(1, keepdim=True).clamp(min=1))
    validate_graph(data)


def test_pyg_download_is_refused(tmp_path):
    from torch_geometric.datasets import Planetoid

    from graphcl.data import datasets as module

    offline = module._offline_class(Planetoid, DATASETS["cora"])
    with pytest.raises(DatasetNotFoundError, match="offline"):
        offline(root=str(tmp_path / "Planetoid"), name="Cora")


# ------------------------------------------------------------------------- synthetic


def _mean_aggregate(data: Data, hops: int) -> torch.Tensor:
    row, col = data.edge_index
    inv_degree = 1.0 / (degree(row, data.num_nodes) + 1).unsqueeze(1)
    h = data.x
    for _ in range(hops):
        h = (h + torch.zeros_like(h).index_add_(0, row, h[col])) * inv_degree
    return h


def _probe_accuracy(features: torch.Tensor, data: Data) -> float:
    probe = LogisticRegression(max_iter=500)
    probe.fit(features[data.train_mask].numpy(), data.y[data.train_mask].numpy())
    return probe.score(features[data.test_mask].numpy(), data.y[data.test_mask].numpy())


def test_synthetic_graph_structure():
    data = contextual_sbm(num_nodes=3000, num_classes=5, num_features=32, avg_degree=8.0,
                          homophily=0.7, seed=3)
    validate_graph(data)
    n = 3000
    assert data.x.shape == (n, 32) and data.x.dtype == torch.float32
    assert data.edge_index.dtype == torch.long
    assert data.edge_index.size(1) == 2 * round(n * 8.0 / 2)  # exact edge count
    assert not contains_self_loops(data.edge_index)
    assert is_undirected(data.edge_index, num_nodes=n)
    assert coalesce(data.edge_index, num_nodes=n).size(1) == data.edge_index.size(1)
    assert torch.equal(coalesce(data.edge_index, num_nodes=n), data.edge_index)  # sorted
    assert degree(data.edge_index[0], n).mean().item() == pytest.approx(8.0)
    row, col = data.edge_index
    assert (data.y[row] == data.y[col]).float().mean().item() == pytest.approx(0.7, abs=1e-3)
    sizes = torch.bincount(data.y)
    assert sizes.numel() == 5 and int(sizes.max() - sizes.min()) <= 1
    counts = [int(data[k].sum()) for k in ("train_mask", "val_mask", "test_mask")]
    assert counts == [300, 300, 2400]
    assert bool((data.train_mask | data.val_mask | data.test_mask).all())


def test_synthetic_is_seeded_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    first, second = contextual_sbm(seed=7), contextual_sbm(seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    for key in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(first[key], second[key]), key
    other = contextual_sbm(seed=8)
    assert not torch.equal(first.edge_index, other.edge_index)
    assert not torch.equal(first.x, other.x)


def test_synthetic_graph_structure_helps_a_linear_probe():
    data = contextual_sbm()
    raw = _probe_accuracy(data.x, data)
    propagated = _probe_accuracy(_mean_aggregate(data, hops=2), data)
    assert 0.3 < raw < 0.6, raw  # features alone: above chance (0.25), far from solved
    assert propagated > 0.85, propagated
    assert propagated > raw + 0.3


def test_synthetic_through_load_dataset():
    data = load_dataset("synthetic")
    assert data.name == "synthetic" and data.num_nodes == 2000
    big = load_dataset("Synthetic_5k")
    assert big.name == "synthetic-5k" and big.num_nodes == 5000 and big.x.size(1) == 128
    assert load_dataset("synthetic-3000").num_nodes == 3000


def test_synthetic_200k_is_fast():
    start = time.perf_counter()
    data = load_dataset("synthetic-200k")
    elapsed = time.perf_counter() - start
    assert data.num_nodes == 200_000 and data.x.shape == (200_000, 128)
    assert data.edge_index.size(1) == 2_000_000
    assert elapsed < 30.0, f"synthetic-200k took {elapsed:.1f}s"


@pytest.mark.parametrize(
    "kwargs",
    [{"num_nodes": 5, "num_classes": 4}, {"homophily": 1.5}, {"avg_degree": 0.0},
     {"feature_signal": -1.0}, {"num_nodes": 20, "num_classes": 2, "avg_degree": 30.0}],
)
def test_synthetic_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        contextual_sbm(**kwargs)


def test_synthetic_dense_small_graph_has_exact_edges():
    data = contextual_sbm(num_nodes=40, num_classes=2, avg_degree=15.0, homophily=0.5)
    assert data.edge_index.size(1) == 600
    assert coalesce(data.edge_index, num_nodes=40).size(1) == 600


# ------------------------------------------------------------------------ validation


def _graph(**overrides) -> Data:
    n = 6
    fields = {
        "x": torch.randn(n, 3, generator=torch.Generator().manual_seed(0)),
        "edge_index": torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]]),
        "y": torch.tensor([0, 1, 0, 1, 0, 1]),
        "train_mask": torch.tensor([True, True, False, False, False, False]),
    }
    fields.update(overrides)
    return Data(**{k: v for k, v in fields.items() if v is not None})


def test_valid_graph_passes_with_isolated_nodes_and_self_loops():
    # nodes 4 and 5 are isolated; (2, 2) is a self-loop.
    validate_graph(_graph(edge_index=torch.tensor([[0, 1, 2], [1, 0, 2]])))
    validate_graph(_graph(edge_index=torch.empty(2, 0, dtype=torch.long)))
    validate_graph(_graph(train_mask=torch.zeros(6, 20, dtype=torch.bool)))
    validate_graph(_graph(y=torch.tensor([1])))  # graph-level label
    validate_graph(_graph(x=None, num_nodes=6))
    validate_graph(_graph(edge_weight=torch.ones(4), edge_attr=torch.ones(4, 2)))


def test_validate_rejects_non_data():
    with pytest.raises(TypeError, match="torch_geometric.data.Data"):
        validate_graph({"x": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="no node types"):
        validate_graph(HeteroData())


def test_validate_hetero_graph():
    graph = HeteroData()
    graph["paper"].x = torch.ones(3, 2)
    graph["author"].num_nodes = 2
    graph["paper", "to", "author"].edge_index = torch.tensor([[0, 2], [1, 1]])
    validate_graph(graph)
    graph["paper", "to", "author"].edge_index = torch.tensor([[0, 2], [1, 2]])
    with pytest.raises(ValueError, match="target row.*refers to node 2.*num_nodes=2"):
        validate_graph(graph)
    graph["paper", "to", "author"].edge_index = torch.tensor([[3], [0]])
    with pytest.raises(ValueError, match="source row.*refers to node 3"):
        validate_graph(graph)
    graph["paper", "to", "author"].edge_index = torch.tensor([[0], [0]])
    graph["paper", "to", "venue"].edge_index = torch.tensor([[0], [0]])
    with pytest.raises(ValueError, match="node type 'venue'.*node types: paper, author"):
        validate_graph(graph)
    del graph["paper", "to", "venue"]
    graph["paper"].x[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"\['paper'\]\.x has NaN"):
        validate_graph(graph)


@pytest.mark.parametrize(
    ("graph", "fragments"),
    [
        (lambda: Data(x=torch.empty(0, 3)), ["no nodes", "num_nodes=0"]),
        (lambda: Data(num_nodes=0), ["no nodes"]),
        (lambda: Data(edge_index=torch.tensor([[0], [1]])), ["num_nodes", "no node count"]),
        (lambda: _graph(num_nodes=7), ["x has 6 rows", "num_nodes is 7"]),
        (lambda: _graph(edge_index=torch.tensor([[0, 1], [1, 0]], dtype=torch.int32)),
         ["edge_index", "torch.int32", "torch.long", ".long()"]),
        (lambda: _graph(edge_index=torch.tensor([0, 1, 1, 0])), ["edge_index", "[2, num_edges]"]),
        (lambda: _graph(edge_index=torch.tensor([[0, 1], [1, 2], [2, 0]])),
         ["edge_index", "transposed"]),
        (lambda: _graph(edge_index=torch.tensor([[0, -1], [1, 0]])),
         ["edge_index", "negative", "min -1"]),
        (lambda: _graph(edge_index=torch.tensor([[0, 9], [1, 0]])),
         ["edge_index", "node 9", "num_nodes=6"]),
        (lambda: _graph(x=torch.ones(6, 3, dtype=torch.long)), ["x", "torch.int64", ".float()"]),
        (lambda: _graph(x=torch.ones(6)), ["x", "[num_nodes, num_features]", "unsqueeze"]),
        (lambda: _graph(x=torch.tensor([[0.0, float("nan")], [1, 1], [float("nan"), 0],
                                        [1, 1], [1, 1], [1, 1]])),
         ["x", "NaN", "2 of 6 rows", "first bad row: 0"]),
        (lambda: _graph(x=torch.tensor([[1.0, 1], [1, 1], [1, 1], [1, float("inf")],
                                        [1, 1], [1, 1]])),
         ["x", "inf", "1 of 6 rows", "first bad row: 3"]),
        (lambda: _graph(y=torch.zeros(5, dtype=torch.long)), ["y", "5 entries", "6 nodes"]),
        (lambda: _graph(train_mask=torch.ones(6, dtype=torch.uint8)),
         ["train_mask", "torch.uint8", "torch.bool", ".bool()"]),
        (lambda: _graph(train_mask=torch.ones(6, dtype=torch.long)),
         ["train_mask", "torch.int64", "index_to_mask"]),
        (lambda: _graph(val_mask=torch.ones(4, dtype=torch.bool)), ["val_mask", "(4,)", "[6]"]),
        (lambda: _graph(edge_weight=torch.ones(3)), ["edge_weight", "expected 4 rows"]),
        (lambda: _graph(edge_weight=torch.tensor([1.0, float("nan"), 1, 1])),
         ["edge_weight", "NaN or inf", "in 1 edge(s)"]),
        (lambda: _graph(edge_weight=torch.ones(4, dtype=torch.long)),
         ["edge_weight", "floating"]),
        (lambda: _graph(edge_attr=torch.ones(5, 2)), ["edge_attr", "expected 4 rows"]),
        (lambda: _graph(edge_attr=torch.tensor([[1.0], [float("inf")], [1], [1]])),
         ["edge_attr", "NaN or inf"]),
        (lambda: _graph(edge_index=None, edge_weight=torch.ones(4)),
         ["edge_weight", "edge_index is missing"]),
    ],
    ids=["empty-x", "zero-nodes", "no-count", "x-vs-num_nodes", "edge-int32", "edge-1d",
         "edge-transposed", "edge-negative", "edge-out-of-range", "x-int", "x-1d", "x-nan",
         "x-inf", "y-length", "mask-uint8", "mask-long", "mask-length", "weight-length",
         "weight-nan", "weight-int", "attr-length", "attr-inf", "weight-no-edges"],
)
def test_validate_errors_name_the_field(graph, fragments):
    with pytest.raises(ValueError) as raised:
        validate_graph(graph(), name="g")
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize("field", ["x", "y", "edge_index", "train_mask", "edge_weight"])
def test_validate_rejects_non_tensor_fields(field):
    with pytest.raises(TypeError, match=rf"g\.{field} must be a torch\.Tensor"):
        validate_graph(_graph(**{field: [[0, 1], [1, 0]]}), name="g")


def test_validate_uses_the_given_name():
    with pytest.raises(ValueError, match=r"^view 1\.edge_index"):
        validate_graph(_graph(edge_index=torch.tensor([[0, 9], [1, 0]])), name="view 1")


def test_validate_accepts_huge_finite_features():
    # The sum of these overflows float32: the fast path must fall back, not reject.
    validate_graph(_graph(x=torch.full((6, 3), 3e38)))


# ---------------------------------------------------------------------------- splits


def test_random_split_counts_are_floor_based_and_partition():
    train, val, test = random_split_masks(1001, 0.1, 0.1, seed=0)
    assert [int(train.sum()), int(val.sum()), int(test.sum())] == [100, 100, 801]
    assert not bool((train & val).any() | (train & test).any() | (val & test).any())
    assert bool((train | val | test).all())
    train, val, _ = random_split_masks(100, 0.29, 0.07)  # 0.29 * 100 == 28.999999999999996
    assert (int(train.sum()), int(val.sum())) == (29, 7)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), train=st.floats(0, 1), val=st.floats(0, 1), seed=st.integers(0, 99))
def test_random_split_partition_property(n, train, val, seed):
    if train + val > 1:
        with pytest.raises(ValueError, match="<= 1"):
            random_split_masks(n, train, val, seed=seed)
        return
    masks = random_split_masks(n, train, val, seed=seed)
    stacked = torch.stack(masks).long()
    assert bool((stacked.sum(0) == 1).all())
    assert int(masks[0].sum()) == int(np.floor(train * n + 1e-9))


def test_random_split_reproducible_and_seeded():
    state = torch.get_rng_state()
    a = random_split_masks(500, seed=1)
    b = random_split_masks(500, seed=1)
    c = random_split_masks(500, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    generator = torch.Generator().manual_seed(1)
    assert torch.equal(random_split_masks(500, generator=generator)[0], a[0])
    assert not torch.equal(random_split_masks(500, generator=generator)[0], a[0])  # advanced


def test_random_split_rejects_bad_arguments():
    with pytest.raises(ValueError, match="train_ratio"):
        random_split_masks(10, 1.5)
    with pytest.raises(ValueError, match="not both"):
        random_split_masks(10, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="num_nodes"):
        random_split_masks(-1)


def test_per_class_split():
    y = torch.arange(300) % 3
    y[:5] = -1  # unlabelled nodes are in no split
    train, val, test = per_class_split_masks(y, 20, 50, 100, seed=0)
    assert torch.bincount(y[train]).tolist() == [20, 20, 20]
    assert (int(val.sum()), int(test.sum())) == (50, 100)
    assert not bool((train & val).any() | (train & test).any() | (val & test).any())
    assert not bool((train | val | test)[:5].any())
    again = per_class_split_masks(y, 20, 50, 100, seed=0)
    other = per_class_split_masks(y, 20, 50, 100, seed=1)
    assert all(torch.equal(p, q) for p, q in zip((train, val, test), again))
    assert not torch.equal(train, other[0])
    _, _, rest = per_class_split_masks(y, 20, 50, None)
    assert int(rest.sum()) == 295 - 60 - 50


def test_per_class_split_errors():
    y = torch.tensor([0] * 10 + [1] * 3)
    with pytest.raises(ValueError, match="class 1 has 3"):
        per_class_split_masks(y, 5, 0, 0)
    with pytest.raises(ValueError, match="num_val \\+ num_test"):
        per_class_split_masks(y, 2, 5, 5)
    with pytest.raises(ValueError, match="1-D integer"):
        per_class_split_masks(y.float(), 2, 1, 1)


def test_ogb_style_labels_are_accepted_by_per_class_split():
    y = (torch.arange(60) % 3).view(-1, 1)
    train, _, _ = per_class_split_masks(y, 5, 10, 10)
    assert int(train.sum()) == 15
