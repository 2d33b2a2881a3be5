"""Heterogeneous (HeCo / MEOW layout) and multiplex (DMGI layout) graphs as ``HeteroData``.

These datasets have no PyG class; :func:`~graphcl.data.load_dataset` reads their raw files
with the functions here. Layout under the data root (see
:func:`~graphcl.data.resolve_root`; a lowercase folder name, e.g. ``hetero/acm``, is
accepted too)::

    <root>/hetero/ACM/       acm           HeCo   liun-online/HeCo data/acm/
    <root>/hetero/DBLP/      dblp-hetero   HeCo   liun-online/HeCo data/dblp/
    <root>/hetero/Aminer/    aminer        HeCo   liun-online/HeCo data/aminer/
    <root>/hetero/Freebase/  freebase      HeCo   liun-online/HeCo data/freebase/
    <root>/hetero/IMDB/      imdb          MEOW   jianxiangyu/MEOW data/imdb/
    <root>/multiplex/IMDB/imdb.pkl   imdb-multiplex   DMGI's IMDB as re-packed by MGFNN

Files of a heterogeneous dataset (one letter per node type, e.g. ACM ``p``/``a``/``s``):

* ``labels.npy``: class of each target node (any integer coding: it is mapped to
  ``0..C-1`` in sorted order, as HeCo's and MEOW's one-hot encoders do; MEOW's IMDB codes
  its classes 1, 2, 3);
* ``xy.txt``: relation edge list, one ``src dst`` row per edge, ``src`` a node of type
  ``x`` and ``dst`` of type ``y`` (DBLP's ``pa.txt`` is paper -> author even though author
  is the target type);
* ``x_feat.npz``: features of type ``x`` as a scipy sparse matrix (DBLP's ``t_feat.npz``
  holds ``.npy`` content, a dense float64 array: detected by its magic bytes);
* ``{train,val,test}_{20,40,60}.npy``: target-node indices for 20/40/60 labelled nodes
  per class;
* read only by :func:`load_shipped_metapaths` / :func:`load_positive_pairs`: the
  meta-path matrices (``pap.npz``, ...) and HeCo's ``pos.npz``.

Node counts are HeCo's / MEOW's ``type_num`` and every file is checked against them, so a
file from a different version of a dataset fails with a message naming it.

Processed graphs are cached (compact: sparse features, deduplicated edges) under
``<cache>/datasets/<hash of the root>/<same relative folder>/`` and reused while the raw
files keep their size and mtime; nothing is ever written under the data root.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import Data, HeteroData

from .datasets import (
    DATASETS,
    DatasetInfo,
    DatasetNotFoundError,
    _canonical_name,
    _dataset_path,
    _resolve_root_and_origin,
    _workspace,
)

__all__ = ["load_positive_pairs", "load_shipped_metapaths", "multiplex_layers"]

# Feature matrices with more entries than this stay sparse (torch CSR) instead of dense:
# DBLP's paper bag-of-words is 14328 x 4231 = 60.6M entries at 0.16% density.
DENSE_FEATURE_LIMIT = 50_000_000
SPLIT_RATES = (20, 40, 60)
_CACHE_VERSION = 1
_CACHE_FILE = "graphcl-processed.pt"
_NPY_MAGIC = b"\x93NUMPY"
_CSR_BETA_WARNING = "Sparse CSR tensor support is in beta state"


@dataclass(frozen=True)
class _HeteroSpec:
    """Schema of one HeCo/MEOW-format dataset."""

    node_types: tuple[tuple[str, str, int], ...]  # (letter, type name, count); target first
    relations: tuple[str, ...]  # relation file stems, e.g. "pa" for pa.txt
    feature_files: Mapping[str, str]  # letter -> file name; other types get one-hot
    metapaths: tuple[str, ...]  # shipped meta-path file stems
    has_pos: bool
    source: str

    @property
    def target(self) -> str:
        return self.node_types[0][1]

    def type_of(self, letter: str) -> str:
        return {lt: name for lt, name, _ in self.node_types}[letter]

    def count(self, letter: str) -> int:
        return {lt: n for lt, _, n in self.node_types}[letter]

    def required_files(self) -> tuple[str, ...]:
        return ("labels.npy", *(f"{r}.txt" for r in self.relations),
                *self.feature_files.values())


_HECO = "https://github.com/liun-online/HeCo/tree/main/data/{} (the whole folder)"
_MEOW = "https://github.com/jianxiangyu/MEOW/tree/main/data/imdb (the whole folder)"
HETERO_SPECS: dict[str, _HeteroSpec] = {
    "acm": _HeteroSpec(
        node_types=(("p", "paper", 4019), ("a", "author", 7167), ("s", "subject", 60)),
        relations=("pa", "ps"), feature_files={"p": "p_feat.npz", "a": "a_feat.npz"},
        metapaths=("pap", "psp"), has_pos=True, source=_HECO.format("acm")),
    "dblp-hetero": _HeteroSpec(
        node_types=(("a", "author", 4057), ("p", "paper", 14328), ("t", "term", 7723),
                    ("c", "conference", 20)),
        relations=("pa", "pc", "pt"),
        feature_files={"a": "a_feat.npz", "p": "p_feat.npz", "t": "t_feat.npz"},
        metapaths=("apa", "apcpa", "aptpa"), has_pos=True, source=_HECO.format("dblp")),
    "aminer": _HeteroSpec(
        node_types=(("p", "paper", 6564), ("a", "author", 13329), ("r", "reference", 35890)),
        relations=("pa", "pr"), feature_files={},
        metapaths=("pap", "prp"), has_pos=True, source=_HECO.format("aminer")),
    "imdb": _HeteroSpec(
        node_types=(("m", "movie", 4275), ("a", "actor", 5432), ("d", "director", 2083),
                    ("k", "keyword", 7313)),
        relations=("ma", "md", "mk"), feature_files={"m": "m_feat.npz"},
        metapaths=("mam", "mdm", "mkm"), has_pos=False, source=_MEOW),
    "freebase": _HeteroSpec(
        node_types=(("m", "movie", 3492), ("d", "director", 2502), ("a", "actor", 33401),
                    ("w", "writer", 4459)),
        relations=("ma", "md", "mw"), feature_files={},
        metapaths=("mam", "mdm", "mwm"), has_pos=True, source=_HECO.format("freebase")),
}
MULTIPLEX_FILE = "imdb.pkl"
MULTIPLEX_LAYERS = ("MDM", "MAM")


# --------------------------------------------------------------------------- locating files


def _not_found(info: DatasetInfo, directory: Path, root: Path, origin: str,
               missing: list[str], expected: Iterable[str], what: str = "file(s)",
               optional: str | None = None) -> str:
    expected = list(expected)
    lower = Path(info.dataset_dir).parent / Path(info.dataset_dir).name.lower()
    lines = [
        (f"dataset {info.name!r} ({info.display_name}) cannot be loaded: {len(missing)} "
         f"{what} missing."),
        f"  in {directory}:",
        f"    missing:  {', '.join(missing)}",
        f"    expected: {', '.join(expected)}",
    ]
    if optional:
        lines.append(f"    optional: {optional}")
    lines.append(f"  data root: {root} (from {origin})")
    if not root.is_dir():
        lines.append("  (that data root does not exist)")
    elif not directory.is_dir():
        lines.append(f"  (no folder {info.dataset_dir} or {lower} under the data root)")
    lines += [
        ("How to fix: put the files at exactly those paths, or point graphcl at a data root "
         f"that has them: `load_dataset({info.name!r}, root=...)` or "
         "`export GRAPHCL_DATA=/path/to/datasets`."),
        f"  upstream source: {info.source}",
        "  graphcl never downloads; `graphcl datasets` lists what is present.",
    ]
    return "\n".join(lines)


def _hetero_info(name: str) -> DatasetInfo:
    canonical = _canonical_name(name)
    info = DATASETS.get(canonical)
    if info is None or info.kind != "heterogeneous":
        known = [n for n, i in DATASETS.items() if i.kind == "heterogeneous"]
        hint = " (plain 'dblp' is CitationFull-DBLP; HeCo's DBLP is 'dblp-hetero')" \
            if canonical == "dblp" else ""
        raise ValueError(f"{name!r} is not a heterogeneous dataset{hint}; "
                         f"known: {', '.join(known)}")
    return info


def _locate(info: DatasetInfo, root: str | os.PathLike[str] | None,
            files: Iterable[str]) -> tuple[Path, Path, str, list[str]]:
    """(directory, data root, where the root came from, missing files among ``files``)."""
    data_root, origin = _resolve_root_and_origin(root)
    directory = _dataset_path(data_root, info)
    missing = [f for f in files if not (directory / f).is_file()]
    return directory, data_root, origin, missing


# --------------------------------------------------------------------------- raw readers


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an int64 array (sort + neighbour compare; ``np.unique``
    measured 4.3 s against 0.1 s for ``np.sort`` on ACM's 4.3M meta-path keys, numpy 2.4)."""
    if keys.size and bool((keys[1:] > keys[:-1]).all()):
        return keys
    keys = np.sort(keys)
    if keys.size:
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    return keys


def _split_keys(keys: np.ndarray, width: int) -> torch.Tensor:
    """``[2, K]`` int64 tensor ``(keys // width, keys % width)``, written in place."""
    out = torch.empty((2, keys.shape[0]), dtype=torch.int64)
    np.divmod(keys, width, out=(out[0].numpy(), out[1].numpy()))
    return out


def _read_edges(path: Path, num_src: int, num_dst: int) -> torch.Tensor:
    """``xy.txt`` -> deduplicated ``[2, E]`` int64 array sorted by (src, dst)."""
    try:
        # numpy >= 1.23's loadtxt is C code: measured faster here than np.fromfile(sep=" ").
        pairs = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path}: expected integer rows `src dst`: {err}") from None
    if pairs.size == 0:
        return torch.empty((2, 0), dtype=torch.int64)
    if pairs.shape[1] != 2:
        raise ValueError(f"{path}: expected 2 columns `src dst`, got {pairs.shape[1]}")
    for column, bound, role in ((0, num_src, "source"), (1, num_dst, "destination")):
        low, high = int(pairs[:, column].min()), int(pairs[:, column].max())
        if low < 0 or high >= bound:
            bad = low if low < 0 else high
            raise ValueError(f"{path}: {role} index {bad} out of range for {bound} nodes "
                             f"(column {column + 1}); is this file from another version "
                             "of the dataset?")
    return _split_keys(_sorted_unique(pairs[:, 0] * num_dst + pairs[:, 1]), num_dst)


def _reverse(edges: torch.Tensor, num_src: int) -> torch.Tensor:
    """Transpose of a ``[2, E]`` edge index, sorted by (new src, new dst)."""
    keys = edges[1].numpy() * num_src + edges[0].numpy()
    return _split_keys(np.sort(keys), num_src)


def _read_matrix(path: Path) -> sp.spmatrix | np.ndarray:
    with open(path, "rb") as handle:
        magic = handle.read(len(_NPY_MAGIC))
    if magic == _NPY_MAGIC:  # DBLP's t_feat.npz: .npy content behind an .npz name
        return np.load(path, allow_pickle=False)
    return sp.load_npz(path)


def _compact_features(matrix: sp.spmatrix | np.ndarray, num_nodes: int,
                      path: Path) -> dict[str, Any]:
    """Features as float32 CSR parts (``crow``, ``col``, ``val``, ``shape``)."""
    if matrix.ndim != 2 or matrix.shape[0] != num_nodes:
        raise ValueError(f"{path}: expected features with {num_nodes} rows (one per node), "
                         f"got shape {tuple(matrix.shape)}")
    csr = sp.csr_matrix(matrix, dtype=np.float32)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    if not np.isfinite(csr.data).all():
        raise ValueError(f"{path}: features contain NaN or infinity")
    return {"crow": torch.from_numpy(csr.indptr.astype(np.int64)),
            "col": torch.from_numpy(csr.indices.astype(np.int64)),
            "val": torch.from_numpy(csr.data), "shape": list(csr.shape)}


def _read_labels(path: Path, num_nodes: int) -> np.ndarray:
    labels = np.load(path, allow_pickle=False)
    if labels.ndim == 2 and labels.shape[1] > 1:  # one-hot rows
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1)
    if labels.shape[0] != num_nodes:
        raise ValueError(f"{path}: expected {num_nodes} labels, got {labels.shape[0]}")
    if not np.array_equal(labels, np.round(labels)):
        raise ValueError(f"{path}: labels must be integers")
    _, coded = np.unique(labels, return_inverse=True)
    return coded.astype(np.int64)


def _read_index(path: Path, num_nodes: int) -> torch.Tensor:
    index = np.load(path, allow_pickle=False).reshape(-1)
    if index.size and (not np.issubdtype(index.dtype, np.integer)
                       or index.min() < 0 or index.max() >= num_nodes):
        raise ValueError(f"{path}: expected node indices in [0, {num_nodes}), got dtype "
                         f"{index.dtype}, range [{index.min()}, {index.max()}]")
    return torch.from_numpy(index.astype(np.int64))


def _pattern(path: Path, shape: tuple[int, int]) -> torch.Tensor:
    """Sparsity pattern of a sparse-matrix file as a sorted ``[2, nnz]`` int64 tensor."""
    matrix = _read_matrix(path)
    if tuple(matrix.shape) != shape:
        raise ValueError(f"{path}: expected shape {shape}, got {tuple(matrix.shape)}")
    coo = sp.coo_matrix(matrix)  # no copy for the (usual) COO files
    nonzero = coo.data != 0
    rows, cols = coo.row, coo.col
    if not nonzero.all():
        rows, cols = rows[nonzero], cols[nonzero]
    return _split_keys(_sorted_unique(rows.astype(np.int64) * shape[1] + cols), shape[1])


# --------------------------------------------------------------------------- cache


def _fingerprint(directory: Path, files: Iterable[str]) -> dict[str, Any]:
    stats = {}
    for name in sorted(files):
        stat = (directory / name).stat()
        stats[name] = [stat.st_size, stat.st_mtime_ns]
    return {"version": _CACHE_VERSION, "dir": str(directory.resolve()), "files": stats}


def _cache_path(info: DatasetInfo, directory: Path, data_root: Path) -> Path:
    try:
        relative = directory.resolve().relative_to(data_root.resolve())
    except ValueError:
        relative = Path(info.dataset_dir)
    return _workspace(data_root) / relative / _CACHE_FILE


def _cached(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        # absent, truncated, or written by another torch: rebuild it
        return None
    if not isinstance(payload, dict) or payload.get("fingerprint") != json.dumps(fingerprint):
        return None
    return payload


def _store(path: Path, fingerprint: dict[str, Any], payload: dict[str, Any]) -> None:
    """Write atomically (temp file + rename); a cache that cannot be written is skipped."""
    payload = {**payload, "fingerprint": json.dumps(fingerprint)}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except OSError as err:
        warnings.warn(f"could not cache the processed graph at {path}: {err}", stacklevel=3)
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- tensors


def _sparse_csr(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor,
                shape: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_CSR_BETA_WARNING)
        return torch.sparse_csr_tensor(crow, col, val, size=shape, check_invariants=False)


def _sparse_identity(num_nodes: int) -> torch.Tensor:
    """``[N, N]`` float32 identity as a torch sparse CSR tensor (one-hot node features)."""
    steps = torch.arange(num_nodes + 1, dtype=torch.int64)
    return _sparse_csr(steps, steps[:-1].clone(), torch.ones(num_nodes),
                       (num_nodes, num_nodes))


def _features(parts: Mapping[str, Any]) -> torch.Tensor:
    rows, cols = parts["shape"]
    if rows * cols > DENSE_FEATURE_LIMIT:
        return _sparse_csr(parts["crow"], parts["col"], parts["val"], (rows, cols))
    csr = sp.csr_matrix((parts["val"].numpy(), parts["col"].numpy(), parts["crow"].numpy()),
                        shape=(rows, cols))
    return torch.from_numpy(csr.toarray())


def _mask(index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    mask = torch.zeros(num_nodes, dtype=torch.bool)
    mask[index] = True
    return mask


# --------------------------------------------------------------------------- heterogeneous


def _parse_hetero(spec: _HeteroSpec, directory: Path, rates: list[int]) -> dict[str, Any]:
    counts = {name: n for _, name, n in spec.node_types}
    target_count = spec.node_types[0][2]
    features = {
        spec.type_of(letter): _compact_features(_read_matrix(directory / file),
                                                spec.count(letter), directory / file)
        for letter, file in spec.feature_files.items()
    }
    edges = {}
    for rel in spec.relations:
        src, dst = spec.type_of(rel[0]), spec.type_of(rel[1])
        forward = _read_edges(directory / f"{rel}.txt", counts[src], counts[dst])
        edges[rel] = (forward, _reverse(forward, counts[src]))
    splits = {
        rate: [_read_index(directory / f"{part}_{rate}.npy", target_count)
               for part in ("train", "val", "test")]
        for rate in rates
    }
    labels = torch.from_numpy(_read_labels(directory / "labels.npy", target_count))
    return {"features": features, "edges": edges, "splits": splits, "y": labels}


def _load_hetero(info: DatasetInfo, root: str | os.PathLike[str] | None,
                 *, use_cache: bool = True) -> HeteroData:
    spec = HETERO_SPECS[info.name]
    required = spec.required_files()
    directory, data_root, origin, missing = _locate(info, root, required)
    if missing:
        optional = ("{train,val,test}_{20,40,60}.npy (label-rate splits), "
                    f"{', '.join(f'{m}.npz' for m in spec.metapaths)}"
                    f"{', pos.npz' if spec.has_pos else ''}")
        raise DatasetNotFoundError(_not_found(info, directory, data_root, origin, missing,
                                              required, optional=optional))
    rates = []
    for rate in SPLIT_RATES:
        parts = [f"{part}_{rate}.npy" for part in ("train", "val", "test")]
        present = [(directory / p).is_file() for p in parts]
        if all(present):
            rates.append(rate)
        elif any(present):
            absent = [p for p, ok in zip(parts, present) if not ok]
            raise DatasetNotFoundError(_not_found(info, directory, data_root, origin, absent,
                                                  parts, what=f"split file(s) of rate {rate}"))

    files = list(required) + [f"{p}_{r}.npy" for r in rates for p in ("train", "val", "test")]
    fingerprint = _fingerprint(directory, files)
    cache = _cache_path(info, directory, data_root)
    payload = _cached(cache, fingerprint) if use_cache else None
    if payload is None:
        payload = _parse_hetero(spec, directory, rates)
        if use_cache:
            _store(cache, fingerprint, payload)

    data = HeteroData()
    for _, node_type, count in spec.node_types:
        store = data[node_type]
        store.num_nodes = count
        if node_type in payload["features"]:
            store.x = _features(payload["features"][node_type])
            store.one_hot = False
        else:
            store.x = _sparse_identity(count)
            store.one_hot = True
    target = data[spec.target]
    target.y = payload["y"]
    for rate in rates:
        train, val, test = payload["splits"][rate]
        target[f"train_mask_{rate}"] = _mask(train, spec.node_types[0][2])
        target[f"val_mask_{rate}"] = _mask(val, spec.node_types[0][2])
        target[f"test_mask_{rate}"] = _mask(test, spec.node_types[0][2])
    for rel in spec.relations:
        src, dst = spec.type_of(rel[0]), spec.type_of(rel[1])
        forward, backward = payload["edges"][rel]
        data[src, "to", dst].edge_index = forward
        data[dst, "to", src].edge_index = backward
    data.target_node_type = spec.target
    data.label_rates = rates
    data.name = info.name
    return data


def _present_files(info: DatasetInfo, root: str | os.PathLike[str] | None,
                   stems: list[str], what: str, *, require_all: bool) -> tuple[Path, list[str]]:
    """(directory, the stems whose ``.npz`` exists); an error when none (or, with
    ``require_all``, not all) does."""
    directory, data_root, origin, missing = _locate(info, root, [f"{s}.npz" for s in stems])
    if len(missing) == len(stems) or (require_all and missing):
        raise DatasetNotFoundError(_not_found(info, directory, data_root, origin, missing,
                                              [f"{s}.npz" for s in stems], what=what))
    return directory, [s for s in stems if f"{s}.npz" not in missing]


def load_shipped_metapaths(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    metapaths: Iterable[str] | None = None,
) -> dict[str, torch.Tensor]:
    """The meta-path adjacency files shipped with a heterogeneous dataset, as edge indices.

    HeCo's files (``pap.npz``, ``psp.npz`` for ACM; ``apa.npz``, ``apcpa.npz``,
    ``aptpa.npz`` for DBLP; ``pap.npz``, ``prp.npz`` for Aminer; ``mam.npz``, ``mdm.npz``,
    ``mwm.npz`` for Freebase) are **boolean**: they record which target-node pairs a
    meta-path instance connects, not how many instances (MEOW's IMDB files ``mam.npz``,
    ``mdm.npz``, ``mkm.npz`` do store counts, but only the pattern is returned here). Only
    the sparsity pattern is returned, self-pairs included (the files' diagonals are set).
    For path *counts* (e.g. MEOW's PathSim pruning), multiply the relation matrices built
    from the graph's ``edge_index`` instead.

    Args:
        name: a heterogeneous dataset name (``"acm"``, ``"dblp-hetero"``, ``"aminer"``,
            ``"imdb"``, ``"freebase"``), as :func:`~graphcl.data.load_dataset` knows it.
        root: data root; resolved by :func:`~graphcl.data.resolve_root`.
        metapaths: file stems to read (e.g. ``["pap"]``); default all of the dataset's.

    Returns:
        ``{stem: edge_index}`` for each file present, ``edge_index`` int64 ``[2, nnz]``
        over target nodes, sorted by (row, column). E.g. ACM's ``"pap"`` has 57,853 pairs.

    Raises:
        ValueError: not a heterogeneous dataset, an unknown stem, or a file of the wrong
            shape.
        DatasetNotFoundError: none of the requested files is present (or, with
            ``metapaths`` given, one of them is missing).
    """
    info = _hetero_info(name)
    spec = HETERO_SPECS[info.name]
    if isinstance(metapaths, str):
        metapaths = [metapaths]
    stems = list(spec.metapaths if metapaths is None else metapaths)
    unknown = [s for s in stems if s not in spec.metapaths]
    if unknown:
        raise ValueError(f"metapaths: {unknown} not among {info.name!r}'s meta-path files "
                         f"{list(spec.metapaths)}")
    directory, present = _present_files(info, root, stems, "meta-path file(s)",
                                        require_all=metapaths is not None)
    n = spec.node_types[0][2]
    return {stem: _pattern(directory / f"{stem}.npz", (n, n)) for stem in present}


def load_positive_pairs(name: str, root: str | os.PathLike[str] | None = None) -> torch.Tensor:
    """HeCo's positive pairs (``pos.npz``) of a heterogeneous dataset as an edge index.

    ``pos.npz`` marks, for each target node, the nodes HeCo's contrastive loss treats as
    positives (those sharing the most meta-path instances with it; not always including
    the node itself: ACM has 3,096 self-pairs out of 4,019 nodes). MEOW's IMDB has none.

    Args:
        name: a heterogeneous dataset name (see :func:`load_shipped_metapaths`).
        root: data root; resolved by :func:`~graphcl.data.resolve_root`.

    Returns:
        int64 ``[2, P]``: ``(i, j)`` for every non-zero entry, sorted by (i, j).

    Raises:
        ValueError: not a heterogeneous dataset, or a file of the wrong shape.
        DatasetNotFoundError: ``pos.npz`` is absent.
    """
    info = _hetero_info(name)
    spec = HETERO_SPECS[info.name]
    if not spec.has_pos:
        raise DatasetNotFoundError(
            f"dataset {info.name!r} ({info.display_name}) ships no positive pairs (pos.npz): "
            f"its upstream ({info.source}) does not use them. Derive positives from the "
            "meta-path counts instead.")
    directory, _ = _present_files(info, root, ["pos"], "positive-pair file", require_all=True)
    n = spec.node_types[0][2]
    return _pattern(directory / "pos.npz", (n, n))


# --------------------------------------------------------------------------- multiplex


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and scipy sparse matrices only (no arbitrary code)."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset({
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        # scipy < 1.8 pickled `scipy.sparse.lil`, later versions `scipy.sparse._lil`.
        if module.startswith("scipy.sparse") and name in {"lil_matrix", "csr_matrix",
                                                          "coo_matrix", "csc_matrix"}:
            return getattr(sp, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _parse_multiplex(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        try:
            raw = _ArrayUnpickler(handle).load()
        except (pickle.UnpicklingError, EOFError, AttributeError) as err:
            raise ValueError(f"{path}: not a DMGI/MGFNN multiplex pickle: {err}") from None
    if not isinstance(raw, dict) or not {"feats", "labels", "adjs", "splits"} <= set(raw):
        raise ValueError(f"{path}: expected a dict with keys feats, labels, adjs, splits")
    labels = np.asarray(raw["labels"]).reshape(-1)
    n = labels.shape[0]
    features = _compact_features(raw["feats"], n, path)
    _, coded = np.unique(labels, return_inverse=True)
    layers = {}
    for layer in MULTIPLEX_LAYERS:
        if layer not in raw["adjs"]:
            raise ValueError(f"{path}: no layer {layer!r} in adjs (has {list(raw['adjs'])})")
        src, dst = (np.asarray(a).astype(np.int64).reshape(-1) for a in raw["adjs"][layer])
        if src.shape != dst.shape:
            raise ValueError(f"{path}: layer {layer}: src and dst differ in length")
        if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
            raise ValueError(f"{path}: layer {layer}: node index out of range for {n} nodes")
        keep = src != dst
        both = np.concatenate([src[keep] * n + dst[keep], dst[keep] * n + src[keep]])
        layers[layer] = _split_keys(_sorted_unique(both), n)
    masks = {}
    for split in ("train_mask", "val_mask", "test_mask"):
        mask = np.asarray(raw["splits"][split]).reshape(-1)
        if mask.shape[0] != n:
            raise ValueError(f"{path}: splits[{split!r}] has {mask.shape[0]} entries, "
                             f"expected {n}")
        masks[split] = torch.from_numpy(mask.astype(bool))
    return {"features": features, "y": torch.from_numpy(coded.astype(np.int64)),
            "layers": layers, "masks": masks}


def _load_multiplex(info: DatasetInfo, root: str | os.PathLike[str] | None,
                    *, use_cache: bool = True) -> HeteroData:
    directory, data_root, origin, missing = _locate(info, root, [MULTIPLEX_FILE])
    if missing:
        raise DatasetNotFoundError(_not_found(info, directory, data_root, origin, missing,
                                              [MULTIPLEX_FILE]))
    fingerprint = _fingerprint(directory, [MULTIPLEX_FILE])
    cache = _cache_path(info, directory, data_root)
    payload = _cached(cache, fingerprint) if use_cache else None
    if payload is None:
        payload = _parse_multiplex(directory / MULTIPLEX_FILE)
        if use_cache:
            _store(cache, fingerprint, payload)
    data = HeteroData()
    movie = data["movie"]
    movie.num_nodes = int(payload["y"].shape[0])
    movie.x = _features(payload["features"])
    movie.one_hot = False
    movie.y = payload["y"]
    for split, mask in payload["masks"].items():
        movie[split] = mask
    for layer in MULTIPLEX_LAYERS:
        data["movie", layer, "movie"].edge_index = payload["layers"][layer]
    data.target_node_type = "movie"
    data.layers = list(MULTIPLEX_LAYERS)
    data.name = info.name
    return data


def load_registered(info: DatasetInfo, root: str | os.PathLike[str] | None) -> HeteroData:
    """Load a heterogeneous or multiplex entry of :data:`~graphcl.data.DATASETS`.

    Called by :func:`~graphcl.data.load_dataset`, which documents the result.
    """
    if info.kind == "heterogeneous":
        return _load_hetero(info, root)
    if info.kind == "multiplex":
        return _load_multiplex(info, root)
    raise ValueError(f"{info.name!r} is a {info.kind} dataset, not heterogeneous/multiplex")


def multiplex_layers(data: HeteroData) -> list[Data]:
    """One homogeneous ``Data`` per layer of a multiplex graph.

    Args:
        data: a ``HeteroData`` with exactly one node type and one edge type per layer
            (``(t, layer, t)``), e.g. ``load_dataset("imdb-multiplex")``. Layers come in
            the order of ``data.layers`` when set, else of ``data.edge_types``.

    Returns:
        ``[Data(x, edge_index, y, masks..., layer=<name>, num_nodes=N), ...]``: ``x``
        ``[N, F]``, ``y`` ``[N]`` and the masks are the same tensor objects in every layer
        (no copies); ``edge_index`` int64 ``[2, E_layer]``.

    Raises:
        TypeError: ``data`` is not a ``HeteroData``.
        ValueError: more than one node type, no layers, a layer missing its
            ``edge_index``, or a layer whose node indices disagree with the node count.
    """
    if not isinstance(data, HeteroData):
        raise TypeError(f"data must be a torch_geometric.data.HeteroData, got "
                        f"{type(data).__name__}")
    if len(data.node_types) != 1:
        raise ValueError(f"data: a multiplex graph has exactly one node type, got "
                         f"{len(data.node_types)}: {data.node_types}")
    node_type = data.node_types[0]
    by_name = {edge_type[1]: edge_type for edge_type in data.edge_types}
    order = list(getattr(data, "layers", None) or by_name)
    if not order:
        raise ValueError("data: a multiplex graph needs at least one layer (edge type)")
    unknown = [name for name in order if name not in by_name]
    if unknown:
        raise ValueError(f"data.layers names {unknown}, which are not edge types of data "
                         f"({data.edge_types})")
    store = data[node_type]
    num_nodes = store.num_nodes
    layers = []
    for name in order:
        edge_store = data[by_name[name]]
        edge_index = getattr(edge_store, "edge_index", None)
        if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 \
                or edge_index.size(0) != 2:
            raise ValueError(f"data[{by_name[name]}]: expected an edge_index of shape [2, E]")
        if edge_index.numel() and (int(edge_index.min()) < 0
                                   or int(edge_index.max()) >= num_nodes):
            raise ValueError(
                f"layer {name!r} disagrees on the node count: it refers to node "
                f"{int(edge_index.max())} (min {int(edge_index.min())}) but node type "
                f"{node_type!r} has {num_nodes} nodes")
        layer = Data(edge_index=edge_index, num_nodes=num_nodes)
        for key, value in store.items():
            if key != "num_nodes":
                layer[key] = value
        layer.layer = name
        if "name" in data:
            layer.name = data.name
        layers.append(layer)
    return layers
