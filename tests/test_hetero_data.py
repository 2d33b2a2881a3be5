"""Tests for graphcl.data.hetero: HeCo/MEOW heterogeneous and DMGI multiplex loaders.

Real files are read from ``$GRAPHCL_DATA``, else ``<repo>/../shared/datasets``; those tests
are skipped when the files are absent. The rest write tiny fake datasets in a temporary
directory. Every test runs with ``$GRAPHCL_CACHE`` in a temporary directory.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from test_data import _snapshot
from torch_geometric.data import Data, HeteroData
from torch_geometric.utils import contains_self_loops, is_undirected

from graphcl.cli import main as cli_main
from graphcl.data import (
    DATASETS,
    DatasetNotFoundError,
    dataset_status,
    load_dataset,
    load_positive_pairs,
    load_shipped_metapaths,
    multiplex_layers,
    validate_graph,
)
from graphcl.data import hetero as hetero_module

REPO = Path(__file__).resolve().parents[1]


def _shared_root() -> Path | None:
    env = os.environ.get("GRAPHCL_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "datasets"
    return root if root.is_dir() else None


SHARED_ROOT = _shared_root()  # read before the autouse fixture clears $GRAPHCL_DATA


def _has(*parts: str) -> bool:
    return SHARED_ROOT is not None and (SHARED_ROOT.joinpath(*parts)).exists()


def needs(*parts: str):
    return pytest.mark.skipif(
        not _has(*parts),
        reason=f"raw files absent: {'/'.join(parts)} (set GRAPHCL_DATA or provide "
               "<repo>/../shared/datasets)")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GRAPHCL_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    """``load(name)``: each real dataset loaded once per session, into a session cache."""
    if SHARED_ROOT is None:
        pytest.skip("no raw datasets: set GRAPHCL_DATA or provide <repo>/../shared/datasets")
    before = _snapshot(SHARED_ROOT / "hetero") if _has("hetero") else {}
    cache = tmp_path_factory.mktemp("hetero-cache")
    loaded: dict[str, HeteroData] = {}

    def load(name: str) -> HeteroData:
        if name not in loaded:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("GRAPHCL_CACHE", str(cache))
                loaded[name] = load_dataset(name, SHARED_ROOT)
        return loaded[name]

    yield load
    if _has("hetero"):
        assert _snapshot(SHARED_ROOT / "hetero") == before, "a loader wrote into the data root"


# --------------------------------------------------------------------------- real files

# name: folder, node counts (target first), feature widths (None: one-hot), relations
# with their edge counts, class counts, train sizes at 20/40/60 (val and test are 1000).
REAL = {
    "acm": ("ACM", {"paper": 4019, "author": 7167, "subject": 60},
            {"paper": 1902, "author": 1902, "subject": None},
            {("paper", "author"): 13407, ("paper", "subject"): 4019},
            [1993, 965, 1061], [60, 120, 180]),
    "dblp-hetero": ("DBLP", {"author": 4057, "paper": 14328, "term": 7723, "conference": 20},
                    {"author": 334, "paper": 4231, "term": 50, "conference": None},
                    {("paper", "author"): 19645, ("paper", "conference"): 14328,
                     ("paper", "term"): 85810},
                    [1197, 745, 1109, 1006], [80, 160, 240]),
    "aminer": ("Aminer", {"paper": 6564, "author": 13329, "reference": 35890},
               {"paper": None, "author": None, "reference": None},
               {("paper", "author"): 18007, ("paper", "reference"): 58831},
               [1333, 1114, 526, 3591], [80, 160, 240]),
    # MEOW's IMDB split files repeat some indices: 120 -> 119 and 180 -> 175 distinct nodes.
    "imdb": ("IMDB", {"movie": 4275, "actor": 5432, "director": 2083, "keyword": 7313},
             {"movie": 5927, "actor": None, "director": None, "keyword": None},
             {("movie", "actor"): 12831, ("movie", "director"): 4181,
              ("movie", "keyword"): 20428},
             [1112, 1594, 1569], [60, 119, 175]),
}


def _keys(edge_index: torch.Tensor, width: int) -> torch.Tensor:
    return edge_index[0] * width + edge_index[1]


@pytest.mark.parametrize("name", list(REAL))
def test_real_heterogeneous_graph(shared, name):
    folder, counts, widths, relations, class_counts, train_sizes = REAL[name]
    if not _has("hetero", folder):
        pytest.skip(f"raw files absent: hetero/{folder}")
    data = shared(name)
    assert isinstance(data, HeteroData)
    target = next(iter(counts))
    assert data.name == name and data.target_node_type == target
    assert data.node_types == list(counts)
    for node_type, count in counts.items():
        store = data[node_type]
        assert store.num_nodes == count
        assert store.x.dtype == torch.float32 and store.x.shape[0] == count
        if widths[node_type] is None:  # one-hot identity, sparse (never N x N dense)
            assert store.one_hot is True
            assert store.x.layout == torch.sparse_csr and store.x.shape == (count, count)
            assert store.x.values().numel() == count
            assert torch.equal(store.x.col_indices(), torch.arange(count))
        else:
            assert store.one_hot is False and store.x.shape[1] == widths[node_type]
            big = count * widths[node_type] > hetero_module.DENSE_FEATURE_LIMIT
            assert store.x.layout == (torch.sparse_csr if big else torch.strided)

    assert len(data.edge_types) == 2 * len(relations)
    for (src, dst), num_edges in relations.items():
        forward = data[src, "to", dst].edge_index
        backward = data[dst, "to", src].edge_index
        assert forward.dtype == backward.dtype == torch.long
        assert forward.shape == backward.shape == (2, num_edges)
        keys = _keys(forward, counts[dst])
        assert bool((keys[1:] > keys[:-1]).all()), "sorted and deduplicated"
        back_keys = _keys(backward, counts[src])
        assert bool((back_keys[1:] > back_keys[:-1]).all())
        assert torch.equal(torch.sort(_keys(backward.flip(0), counts[dst])).values, keys)

    y = data[target].y
    assert y.dtype == torch.long and y.shape == (counts[target],)
    assert torch.bincount(y).tolist() == class_counts
    assert data.label_rates == [20, 40, 60]
    for rate, train_size in zip((20, 40, 60), train_sizes):
        masks = [data[target][f"{part}_mask_{rate}"] for part in ("train", "val", "test")]
        assert all(m.dtype == torch.bool and m.shape == (counts[target],) for m in masks)
        assert [int(m.sum()) for m in masks] == [train_size, 1000, 1000]
        assert not bool((masks[0] & masks[1]).any() | (masks[0] & masks[2]).any()
                        | (masks[1] & masks[2]).any())
    validate_graph(data, name=name)


@needs("hetero", "ACM")
def test_real_feature_values_are_the_files(shared):
    data = shared("acm")
    raw = sp.load_npz(SHARED_ROOT / "hetero" / "ACM" / "p_feat.npz").toarray()
    assert np.array_equal(data["paper"].x.numpy(), raw.astype(np.float32))  # no scaling


@needs("hetero", "DBLP", "t_feat.npz")
def test_real_dblp_term_features_from_npy_content(shared):
    term = shared("dblp-hetero")["term"].x
    raw = np.load(SHARED_ROOT / "hetero" / "DBLP" / "t_feat.npz")
    assert term.layout == torch.strided
    np.testing.assert_allclose(term.numpy(), raw.astype(np.float32))


@needs("hetero", "ACM")
def test_real_acm_shipped_metapaths_and_positives():
    metapaths = load_shipped_metapaths("ACM", SHARED_ROOT)
    assert set(metapaths) == {"pap", "psp"}
    for stem, nnz in (("pap", 57853), ("psp", 4338213)):
        edge_index = metapaths[stem]
        assert edge_index.dtype == torch.long and edge_index.shape == (2, nnz)
        assert int(edge_index.max()) < 4019
        assert int((edge_index[0] == edge_index[1]).sum()) == 4019  # diagonal set
    assert is_undirected(metapaths["pap"], num_nodes=4019)
    positives = load_positive_pairs("acm", SHARED_ROOT)
    assert positives.dtype == torch.long and positives.shape == (2, 20053)


@needs("hetero")
@pytest.mark.parametrize("name, folder, expected", [
    ("dblp-hetero", "DBLP", {"apa": 11113}),
    ("aminer", "Aminer", {"pap": 21976, "prp": 129824}),
    ("imdb", "IMDB", {"mam": 81360, "mdm": 16498, "mkm": 319435}),
])
def test_real_shipped_metapath_counts(name, folder, expected):
    if not _has("hetero", folder):
        pytest.skip(f"raw files absent: hetero/{folder}")
    only = list(expected) if name == "dblp-hetero" else None  # DBLP's others are 12M pairs
    metapaths = load_shipped_metapaths(name, SHARED_ROOT, metapaths=only)
    assert {stem: e.shape[1] for stem, e in metapaths.items()} == expected


@needs("hetero", "Aminer", "pos.npz")
def test_real_positive_pairs_aminer_and_none_for_imdb():
    assert load_positive_pairs("aminer", SHARED_ROOT).shape == (2, 67730)
    if _has("hetero", "IMDB"):
        with pytest.raises(DatasetNotFoundError, match="pos.npz"):
            load_positive_pairs("imdb", SHARED_ROOT)


@needs("multiplex", "IMDB", "imdb.pkl")
def test_real_multiplex_imdb(shared):
    data = shared("imdb-multiplex")
    assert data.node_types == ["movie"] and data.layers == ["MDM", "MAM"]
    assert data.target_node_type == "movie" and data.name == "imdb-multiplex"
    movie = data["movie"]
    assert movie.x.shape == (3550, 2000) and movie.x.dtype == torch.float32
    assert movie.x.layout == torch.strided
    assert torch.bincount(movie.y).tolist() == [1339, 979, 1232]
    assert [int(movie[f"{s}_mask"].sum()) for s in ("train", "val", "test")] == [300, 300, 2950]
    # README / DMGI: each layer's pairs in both directions, plus self-loops, give DMGI's
    # edge counts 13788 (MDM) and 66428 (MAM).
    for layer, pairs, dmgi in (("MDM", 5119, 13788), ("MAM", 31439, 66428)):
        edge_index = data["movie", layer, "movie"].edge_index
        assert edge_index.dtype == torch.long and edge_index.shape == (2, 2 * pairs)
        assert edge_index.shape[1] + 3550 == dmgi
        assert is_undirected(edge_index, num_nodes=3550)
        assert not contains_self_loops(edge_index)
    layers = multiplex_layers(data)
    assert [g.layer for g in layers] == ["MDM", "MAM"]
    assert all(g.x is movie.x and g.y is movie.y and g.num_nodes == 3550 for g in layers)
    for graph in layers:
        validate_graph(graph)
    validate_graph(data)
    # row-normalized by default, as DMGI/HDMI preprocess; raw bag-of-words counts on request
    sums = movie.x.sum(1)
    assert torch.allclose(sums[sums > 0], torch.ones_like(sums[sums > 0]))
    raw = load_dataset("imdb-multiplex", SHARED_ROOT, normalize_features=False)["movie"].x
    assert raw.sum(1).max() > 1 and torch.equal(raw > 0, movie.x > 0)


@needs("hetero", "ACM")
def test_lowercase_folder_and_spelling(tmp_path):
    (tmp_path / "hetero").mkdir()
    (tmp_path / "hetero" / "acm").symlink_to(SHARED_ROOT / "hetero" / "ACM")
    data = load_dataset(" ACM ", tmp_path)
    assert data.name == "acm" and data["paper"].num_nodes == 4019
    status = {e["name"]: e for e in dataset_status(tmp_path)}
    assert status["acm"]["available"]
    assert status["acm"]["path"] == str(tmp_path / "hetero" / "acm")


@needs("hetero", "ACM")
def test_dataset_status_and_cli_list_the_new_datasets(capsys):
    status = {e["name"]: e for e in dataset_status(SHARED_ROOT)}
    assert set(status) == set(DATASETS)
    assert status["acm"]["available"] and status["acm"]["kind"] == "heterogeneous"
    assert status["acm"]["path"] == str(SHARED_ROOT / "hetero" / "ACM")
    assert not status["freebase"]["available"]
    assert "labels.npy" in status["freebase"]["missing"]
    assert status["dblp"]["kind"] == "homogeneous"  # CitationFull-DBLP stays as it was
    assert cli_main(["datasets", "--root", str(SHARED_ROOT)]) == 0
    out = capsys.readouterr().out
    for name in ("acm", "dblp-hetero", "aminer", "imdb", "freebase", "imdb-multiplex"):
        assert f"  {name} " in out


# --------------------------------------------------------------------------- fake files


def _write_edges(path: Path, rows) -> None:
    path.write_text("".join(f"{a}\t{b}\n" for a, b in rows))


def _write_features(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """One random non-zero per row (plus a second in every other row)."""
    rng = np.random.default_rng(seed)
    row = np.concatenate([np.arange(rows), np.arange(0, rows, 2)])
    col = rng.integers(0, cols, row.size)
    matrix = sp.csr_matrix((rng.random(row.size) + 0.5, (row, col)), shape=(rows, cols))
    sp.save_npz(path, matrix)


def _fake_acm(root: Path, rates=(20,), folder: str = "ACM") -> Path:
    """Files with ACM's node counts (4019 papers, 7167 authors, 60 subjects), few edges."""
    base = root / "hetero" / folder
    base.mkdir(parents=True)
    np.save(base / "labels.npy", np.arange(4019) % 3)
    _write_edges(base / "pa.txt", [(0, 5), (0, 5), (3, 7166), (1, 2), (4018, 0)])
    _write_edges(base / "ps.txt", [(i, i % 60) for i in range(4019)])
    _write_features(base / "p_feat.npz", 4019, 3)
    _write_features(base / "a_feat.npz", 7167, 3, seed=1)
    for rate in rates:
        np.save(base / f"train_{rate}.npy", np.arange(0, 60))
        np.save(base / f"val_{rate}.npy", np.arange(60, 160))
        np.save(base / f"test_{rate}.npy", np.arange(160, 360))
    return base


def test_fake_acm_structure(tmp_path):
    base = _fake_acm(tmp_path)
    data = load_dataset("acm", tmp_path)
    assert data.label_rates == [20]
    assert {"train_mask_20", "val_mask_20", "test_mask_20"} <= set(data["paper"].keys())
    assert "train_mask_40" not in data["paper"]
    # duplicates dropped, rows sorted, reverse sorted too
    assert data["paper", "to", "author"].edge_index.tolist() == [[0, 1, 3, 4018],
                                                                 [5, 2, 7166, 0]]
    assert data["author", "to", "paper"].edge_index.tolist() == [[0, 2, 5, 7166],
                                                                 [4018, 1, 0, 3]]
    expected = sp.load_npz(base / "p_feat.npz").toarray().astype(np.float32)
    np.testing.assert_array_equal(data["paper"].x.numpy(), expected)
    assert data["subject"].one_hot and data["subject"].x.layout == torch.sparse_csr
    torch.testing.assert_close(data["subject"].x.to_dense(), torch.eye(60))
    assert torch.bincount(data["paper"].y).tolist() == [1340, 1340, 1339]
    validate_graph(data)


def test_missing_file_error_names_dataset_directory_and_file(tmp_path):
    base = _fake_acm(tmp_path)
    (base / "ps.txt").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("acm", tmp_path)
    message = str(err.value)
    assert "'acm'" in message and str(base) in message
    assert "missing:  ps.txt" in message
    assert "liun-online/HeCo" in message and "data/acm" in message


def test_missing_dataset_names_upstream_sources(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("freebase", tmp_path)
    message = str(err.value)
    assert str(tmp_path / "hetero" / "Freebase") in message
    assert "labels.npy" in message and "mw.txt" in message and "data/freebase" in message
    assert "does not exist" not in message  # the root exists; the folder does not
    with pytest.raises(DatasetNotFoundError, match="jianxiangyu/MEOW"):
        load_dataset("imdb", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"multiplex.IMDB[\s\S]*imdb\.pkl"):
        load_dataset("imdb-multiplex", tmp_path)


def test_incomplete_split_rate_is_reported(tmp_path):
    base = _fake_acm(tmp_path, rates=(20, 40))
    (base / "val_40.npy").unlink()
    with pytest.raises(DatasetNotFoundError, match="val_40.npy"):
        load_dataset("acm", tmp_path)


@pytest.mark.parametrize("rows, fragment", [
    ([(0, 7167)], "destination index 7167 out of range for 7167 nodes"),
    ([(4019, 0)], "source index 4019 out of range for 4019 nodes"),
    ([(-1, 0)], "source index -1"),
])
def test_out_of_range_index_names_the_file(tmp_path, rows, fragment):
    base = _fake_acm(tmp_path)
    _write_edges(base / "pa.txt", rows)
    with pytest.raises(ValueError, match="pa.txt") as err:
        load_dataset("acm", tmp_path)
    assert fragment in str(err.value)


@pytest.mark.parametrize("text, fragment", [("0 1 2\n", "2 columns"), ("0 x\n", "integer")])
def test_malformed_relation_file(tmp_path, text, fragment):
    base = _fake_acm(tmp_path)
    (base / "ps.txt").write_text(text)
    with pytest.raises(ValueError, match=fragment) as err:
        load_dataset("acm", tmp_path)
    assert "ps.txt" in str(err.value)


def test_feature_rows_must_match_the_node_count(tmp_path):
    base = _fake_acm(tmp_path)
    _write_features(base / "a_feat.npz", 7000, 3)
    with pytest.raises(ValueError, match=r"a_feat\.npz.*7167 rows"):
        load_dataset("acm", tmp_path)


def test_out_of_range_split_index(tmp_path):
    base = _fake_acm(tmp_path)
    np.save(base / "test_20.npy", np.array([0, 4019]))
    with pytest.raises(ValueError, match="test_20.npy"):
        load_dataset("acm", tmp_path)


def _fake_dblp(root: Path) -> tuple[Path, np.ndarray]:
    base = root / "hetero" / "dblp"  # lowercase, as upstream
    base.mkdir(parents=True)
    np.save(base / "labels.npy", np.arange(4057) % 4)
    _write_edges(base / "pa.txt", [(0, 0), (1, 4056)])
    _write_edges(base / "pc.txt", [(0, 0), (14327, 19)])
    _write_edges(base / "pt.txt", [(0, 7722)])
    _write_features(base / "a_feat.npz", 4057, 4)
    _write_features(base / "p_feat.npz", 14328, 4231, seed=2)
    terms = np.random.default_rng(0).normal(size=(7723, 5))
    with open(base / "t_feat.npz", "wb") as handle:  # .npy content behind an .npz name
        np.save(handle, terms)
    return base, terms


def test_dblp_npy_content_in_npz_is_detected(tmp_path):
    _, terms = _fake_dblp(tmp_path)
    data = load_dataset("dblp_hetero", tmp_path)
    assert data.name == "dblp-hetero" and data.target_node_type == "author"
    assert data.label_rates == []
    np.testing.assert_allclose(data["term"].x.numpy(), terms.astype(np.float32))
    assert data["term"].x.dtype == torch.float32 and not data["term"].one_hot
    # 14328 x 4231 > 50M entries: stays a sparse CSR tensor
    assert data["paper"].x.layout == torch.sparse_csr and data["paper"].x.shape == (14328, 4231)
    assert data["paper", "to", "author"].edge_index.tolist() == [[0, 1], [0, 4056]]
    assert data["author", "to", "paper"].edge_index.tolist() == [[0, 4056], [0, 1]]
    assert data["conference"].x.shape == (20, 20) and data["conference"].one_hot


def test_labels_are_recoded_from_zero(tmp_path):
    base = tmp_path / "hetero" / "IMDB"
    base.mkdir(parents=True)
    np.save(base / "labels.npy", (np.arange(4275) % 3 + 1).astype(np.float64))  # MEOW: 1..3
    for rel in ("ma", "md", "mk"):
        _write_edges(base / f"{rel}.txt", [(0, 0)])
    _write_features(base / "m_feat.npz", 4275, 2)
    y = load_dataset("imdb", tmp_path)["movie"].y
    assert y.dtype == torch.long and y.unique().tolist() == [0, 1, 2]


def test_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    base = _fake_acm(tmp_path / "root")
    before = _snapshot(tmp_path / "root")
    first = load_dataset("acm", tmp_path / "root")
    assert list((tmp_path / "cache").rglob(hetero_module._CACHE_FILE))

    def refuse(*args, **kwargs):
        raise AssertionError("parsed again although the cache is valid")

    with monkeypatch.context() as patch:
        patch.setattr(hetero_module, "_parse_hetero", refuse)
        second = load_dataset("acm", tmp_path / "root")
    for key in ("paper", "author"):
        assert torch.equal(first[key].x, second[key].x)
    for edge_type in first.edge_types:
        assert torch.equal(first[edge_type].edge_index, second[edge_type].edge_index)
    assert _snapshot(tmp_path / "root") == before, "nothing is written under the root"

    _write_edges(base / "pa.txt", [(2, 3)])
    stat = (base / "pa.txt").stat()
    os.utime(base / "pa.txt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = load_dataset("acm", tmp_path / "root")
    assert third["paper", "to", "author"].edge_index.tolist() == [[2], [3]]


def test_fake_shipped_metapaths_and_positives(tmp_path):
    base = _fake_acm(tmp_path)
    pap = sp.coo_matrix((np.array([True, True, True]), (np.array([2, 0, 1]),
                                                         np.array([2, 0, 1]))),
                        shape=(4019, 4019))
    sp.save_npz(base / "pap.npz", pap)
    counts = sp.coo_matrix((np.array([2.0, 0.0, 1.0]), (np.array([0, 1, 3]),
                                                        np.array([3, 1, 0]))),
                           shape=(4019, 4019))
    sp.save_npz(base / "pos.npz", counts)
    assert load_shipped_metapaths("acm", tmp_path)["pap"].tolist() == [[0, 1, 2], [0, 1, 2]]
    assert load_positive_pairs("acm", tmp_path).tolist() == [[0, 3], [3, 0]]  # zeros dropped
    with pytest.raises(DatasetNotFoundError, match="psp.npz"):
        load_shipped_metapaths("acm", tmp_path, metapaths=["pap", "psp"])
    with pytest.raises(ValueError, match="not among"):
        load_shipped_metapaths("acm", tmp_path, metapaths="apa")
    sp.save_npz(base / "pap.npz", sp.coo_matrix((5, 5), dtype=bool))
    with pytest.raises(ValueError, match=r"pap\.npz.*shape"):
        load_shipped_metapaths("acm", tmp_path)


def test_metapath_functions_reject_other_datasets(tmp_path):
    with pytest.raises(ValueError, match="dblp-hetero"):
        load_shipped_metapaths("dblp", tmp_path)
    for name in ("cora", "imdb-multiplex", "nope"):
        with pytest.raises(ValueError, match="not a heterogeneous dataset"):
            load_positive_pairs(name, tmp_path)
    with pytest.raises(DatasetNotFoundError, match="pap.npz"):
        load_shipped_metapaths("aminer", tmp_path)


def test_registry_agrees_with_the_schemas():
    for name, spec in hetero_module.HETERO_SPECS.items():
        info = DATASETS[name]
        assert info.kind == "heterogeneous"
        assert set(info.required_files) == set(spec.required_files())
        assert info.num_nodes == spec.node_types[0][2]
    assert DATASETS["imdb-multiplex"].kind == "multiplex"
    assert DATASETS["dblp"].kind == "homogeneous"


def _fake_multiplex(root: Path, **overrides) -> Path:
    base = root / "multiplex" / "imdb"
    base.mkdir(parents=True)
    feats = sp.lil_matrix((6, 4), dtype=np.float32)
    feats[0, 1] = feats[5, 3] = 1.0
    raw = {
        "feats": feats,
        "labels": np.array([0, 1, 2, 0, 1, 2], dtype=np.int8),
        "adjs": {"MDM": (np.array([0, 1, 1, 2], dtype=np.int16),
                         np.array([1, 0, 2, 2], dtype=np.int16)),  # (1,0) repeats, (2,2) loop
                 "MAM": (np.array([3], dtype=np.int16), np.array([5], dtype=np.int16))},
        "splits": {"train_mask": np.array([1, 0, 0, 0, 0, 0], bool),
                   "val_mask": np.array([0, 1, 0, 0, 0, 0], bool),
                   "test_mask": np.array([0, 0, 1, 1, 1, 1], bool)},
    }
    raw.update(overrides)
    with open(base / "imdb.pkl", "wb") as handle:
        pickle.dump(raw, handle)
    return base


def test_fake_multiplex(tmp_path):
    _fake_multiplex(tmp_path)
    data = load_dataset("imdb-multiplex", tmp_path)
    assert data["movie"].x.tolist()[0] == [0.0, 1.0, 0.0, 0.0]
    assert data["movie", "MDM", "movie"].edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert data["movie", "MAM", "movie"].edge_index.tolist() == [[3, 5], [5, 3]]
    assert data["movie"].test_mask.tolist() == [False, False, True, True, True, True]
    layers = multiplex_layers(data)
    assert [g.edge_index.shape[1] for g in layers] == [4, 2]
    assert all(isinstance(g, Data) and g.num_nodes == 6 for g in layers)


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_multiplex_pickle_with_code_is_refused(tmp_path):
    _fake_multiplex(tmp_path, extra=_Evil())
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_dataset("imdb-multiplex", tmp_path)


def test_multiplex_index_out_of_range(tmp_path):
    _fake_multiplex(tmp_path, adjs={"MDM": (np.array([0]), np.array([6])),
                                    "MAM": (np.array([0]), np.array([1]))})
    with pytest.raises(ValueError, match=r"imdb\.pkl: layer MDM: node index out of range"):
        load_dataset("imdb-multiplex", tmp_path)


def test_multiplex_layers_errors():
    with pytest.raises(TypeError, match="HeteroData"):
        multiplex_layers(Data(num_nodes=3))
    two = HeteroData()
    two["a"].num_nodes = 2
    two["b"].num_nodes = 2
    two["a", "r", "b"].edge_index = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match="exactly one node type"):
        multiplex_layers(two)
    bad = HeteroData()
    bad["m"].x = torch.zeros(3, 2)
    bad["m", "L1", "m"].edge_index = torch.tensor([[0, 1], [1, 0]])
    bad["m", "L2", "m"].edge_index = torch.tensor([[0, 4], [4, 0]])
    with pytest.raises(ValueError, match="'L2' disagrees on the node count.*3 nodes"):
        multiplex_layers(bad)
    empty = HeteroData()
    empty["m"].num_nodes = 3
    with pytest.raises(ValueError, match="at least one layer"):
        multiplex_layers(empty)
