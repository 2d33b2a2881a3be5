"""Named node-classification datasets, loaded offline-first through PyG's and OGB's classes.

Where the files live
--------------------
The *data root* holds raw files only, in the layout PyG's and OGB's dataset classes use
(a user with internet gets the same layout from their normal download)::

    <root>/Planetoid/Cora/raw/ind.cora.{x,tx,allx,y,ty,ally,graph,test.index}
    <root>/Planetoid/CiteSeer/raw/ind.citeseer.{...}
    <root>/Planetoid/PubMed/raw/ind.pubmed.{...}
    <root>/Amazon/Computers/raw/amazon_electronics_computers.npz
    <root>/Amazon/Photo/raw/amazon_electronics_photo.npz
    <root>/Coauthor/CS/raw/ms_academic_cs.npz
    <root>/Coauthor/Physics/raw/ms_academic_phy.npz
    <root>/WikiCS/raw/data.json
    <root>/ogb/ogbn_arxiv/raw/{edge,node-feat,node-label,node_year,num-node-list,
                               num-edge-list}.csv.gz
    <root>/ogb/ogbn_arxiv/split/time/{train,valid,test}.csv.gz

Heterogeneous and multiplex graphs have no PyG class; :mod:`graphcl.data.hetero` reads
their files (HeCo's / MEOW's / DMGI's layout, no ``raw/`` level; a lowercase folder name
such as ``hetero/acm`` is accepted too) and caches the processed graph in the cache below::

    <root>/hetero/{ACM,DBLP,Aminer,IMDB,Freebase}/{labels.npy,xy.txt,x_feat.npz,...}
    <root>/multiplex/IMDB/imdb.pkl

The root is found by :func:`resolve_root`: an explicit ``root``, else ``$GRAPHCL_DATA``,
else ``./datasets``. It may be read-only: nothing is ever written under it.

Where processed files go
------------------------
PyG writes ``processed/`` next to ``raw/``. To keep the root untouched, each dataset gets a
working directory in the cache (:func:`cache_dir`) that mirrors the root's layout, with
``raw`` (and for OGB ``split``) as symlinks back into the root::

    <cache>/datasets/<sha256(resolved root)[:16]>/
        ROOT                              the resolved root, for humans
        Planetoid/Cora/raw -> <root>/Planetoid/Cora/raw
        Planetoid/Cora/processed/         written by PyG on the first load
        Planetoid/Cora/.graphcl-raw-stamp.json   size + mtime of each raw file
        Planetoid/Cora/.graphcl.lock      serialises concurrent first loads (POSIX flock)
        ogb/ogbn_arxiv/{raw,split} -> <root>/ogb/ogbn_arxiv/{raw,split}
        ogb/ogbn_arxiv/RELEASE_v1.txt     OGB's version marker (see below)
        ogb/ogbn_arxiv/processed/

The second load reads ``processed/`` directly. If a raw file's size or mtime changes,
``processed/`` is rebuilt. Processed files are shared between ``normalize_features=True``
and ``False``: normalisation is applied after loading, not as a PyG ``pre_transform``.

Never downloading
-----------------
Every raw file a class reads is checked *before* the class is built; a missing one raises
:class:`DatasetNotFoundError` naming the directory and the files. The classes are also
wrapped so that their ``download()`` raises instead of fetching (offline, PyG's download
hangs or fails with an obscure network error, and it would write into the root through
the ``raw`` symlink).

Quirks of the upstream classes that this module works around
------------------------------------------------------------
* ``PygNodePropPredDataset`` (OGB 1.3.6) lists only ``edge.csv.gz`` and
  ``node-feat.csv.gz`` as raw files but its ``process()`` also reads
  ``num-node-list.csv.gz``, ``num-edge-list.csv.gz``, ``node-label.csv.gz`` and
  ``node_year.csv.gz``, and ``get_idx_split()`` reads ``split/time/*.csv.gz`` beside (not
  inside) ``raw/``: all of them are checked here.
* OGB calls ``input()`` ("Will you update the dataset now?") when its dataset folder
  exists without a ``RELEASE_v<version>.txt``; the working directory gets that marker.
* OGB reads its processed file with a bare ``torch.load``, which fails under torch >= 2.6
  (``weights_only=True`` by default) on three PyG classes; they are allowlisted for the
  duration of the load only.
* If any raw file is missing, PyG's ``Dataset`` calls ``download()`` with ``raw_dir`` as
  the target, i.e. it would write into the data root through the symlink.
* Coauthor Physics's file is ``ms_academic_phy.npz`` (not ``..._physics``); WikiCS's raw
  folder is ``WikiCS/raw`` with no per-name subfolder.
* ``NormalizeFeatures`` divides each row by ``max(row sum, 1)`` after subtracting the
  global minimum, so an all-zero row stays zero and bag-of-words rows sum to 1; WikiCS's
  signed GloVe features are shifted first (GRACE and GCA normalise WikiCS the same way).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import re
import shutil
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from torch_geometric.data import Data, HeteroData
from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
from torch_geometric.data.storage import GlobalStorage
from torch_geometric.transforms import NormalizeFeatures
from torch_geometric.utils import index_to_mask, to_undirected

from .synthetic import contextual_sbm

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotFoundError",
    "cache_dir",
    "dataset_status",
    "load_dataset",
    "resolve_root",
]

DATA_ENV = "GRAPHCL_DATA"
CACHE_ENV = "GRAPHCL_CACHE"
_STAMP_FILE = ".graphcl-raw-stamp.json"
# OGB turns pandas' read-only arrays into tensors (then copies them): harmless noise.
_READONLY_NUMPY_WARNING = "The given NumPy array is not writable"


class DatasetNotFoundError(FileNotFoundError):
    """A named dataset's raw files are not where the loader looks for them.

    The message names the dataset, the exact directory and missing file names, and how to
    provide them (``root=`` or ``$GRAPHCL_DATA``, and the upstream source).
    """


@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`load_dataset` needs to know about one named dataset.

    Attributes:
        name: canonical name (``"cora"``, ``"amazon-photo"``, ...).
        display_name: name as papers print it (``"Cora"``, ``"Amazon-Photo"``).
        pyg_class: dotted path of the PyG / OGB dataset class, ``None`` for synthetic data.
        pyg_kwargs: keyword arguments for that class besides ``root``.
        class_root: directory, relative to the data root, passed to the class as ``root``.
        dataset_dir: directory, relative to the data root, holding ``raw/`` (and for OGB
            ``split/``).
        required_files: every file the class reads, relative to ``dataset_dir``.
        num_nodes: number of nodes when known.
        num_classes: number of classes when known.
        normalize_features: whether ``load_dataset(normalize_features=True)`` row-normalises
            ``x`` for this dataset (as GRACE, GCA and gCooL do).
        split: the split attached as masks: ``"public"`` (Planetoid), ``"wikics-20"``
            (20 train/val columns), ``"ogb-time"`` (OGB's official split), ``"random"``
            (synthetic 10/10/80) or ``None``.
        source: where the raw files come from upstream.
        make_undirected: whether the loader adds reverse edges (``to_undirected``); the
            PyG classes already return undirected graphs, OGB's citation graph is directed.
        kind: ``"homogeneous"`` (a ``Data``, loaded with ``pyg_class`` or generated),
            ``"heterogeneous"`` or ``"multiplex"`` (a ``HeteroData`` read by
            :mod:`graphcl.data.hetero`; ``dataset_dir`` then holds the files directly,
            ``required_files`` are the ones the graph needs, and ``num_nodes`` counts the
            target node type).
    """

    name: str
    display_name: str
    pyg_class: str | None
    class_root: str
    dataset_dir: str
    required_files: tuple[str, ...]
    num_nodes: int | None
    num_classes: int | None
    normalize_features: bool
    split: str | None
    source: str
    pyg_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    make_undirected: bool = False
    kind: str = "homogeneous"

    @property
    def raw_dir(self) -> str:
        """``raw/`` directory relative to the data root (e.g. ``"Planetoid/Cora/raw"``)."""
        return f"{self.dataset_dir}/raw" if self.dataset_dir else ""


def _planetoid(name: str, display: str, num_nodes: int, num_classes: int) -> DatasetInfo:
    suffixes = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
    lower = display.lower()
    return DatasetInfo(
        name=name, display_name=display,
        pyg_class="torch_geometric.datasets.Planetoid",
        pyg_kwargs=MappingProxyType({"name": display}),
        class_root="Planetoid", dataset_dir=f"Planetoid/{display}",
        required_files=tuple(f"raw/ind.{lower}.{s}" for s in suffixes),
        num_nodes=num_nodes, num_classes=num_classes, normalize_features=True,
        split="public",
        source=f"https://github.com/kimiyoung/planetoid/tree/master/data (ind.{lower}.*)",
    )


def _shchur(name: str, display: str, family: str, sub: str, file: str,
            num_nodes: int, num_classes: int) -> DatasetInfo:
    return DatasetInfo(
        name=name, display_name=display,
        pyg_class=f"torch_geometric.datasets.{family}",
        pyg_kwargs=MappingProxyType({"name": sub}),
        class_root=family, dataset_dir=f"{family}/{sub}", required_files=(f"raw/{file}",),
        num_nodes=num_nodes, num_classes=num_classes, normalize_features=True, split=None,
        source=f"https://github.com/shchur/gnn-benchmark/raw/master/data/npz/{file}",
    )


_OGB_ARXIV_FILES = tuple(
    [f"raw/{f}.csv.gz" for f in ("edge", "node-feat", "node-label", "node_year",
                                 "num-node-list", "num-edge-list")]
    + [f"split/time/{f}.csv.gz" for f in ("train", "valid", "test")]
)

def _heco(name: str, display: str, folder: str, required: tuple[str, ...], num_nodes: int,
          num_classes: int, source: str) -> DatasetInfo:
    # Required files only; the splits and the meta-path / pos files are optional. They must
    # agree with graphcl.data.hetero.HETERO_SPECS (a test checks it).
    return DatasetInfo(
        name=name, display_name=display, pyg_class=None, class_root="",
        dataset_dir=f"hetero/{folder}", required_files=required, num_nodes=num_nodes,
        num_classes=num_classes, normalize_features=False, split="heco-20-40-60",
        source=source, kind="heterogeneous",
    )


_HECO_SOURCE = "https://github.com/liun-online/HeCo/tree/main/data/{} (the whole folder)"

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _planetoid("cora", "Cora", 2708, 7),
        _planetoid("citeseer", "CiteSeer", 3327, 6),
        _planetoid("pubmed", "PubMed", 19717, 3),
        _shchur("amazon-computers", "Amazon-Computers", "Amazon", "Computers",
                "amazon_electronics_computers.npz", 13752, 10),
        _shchur("amazon-photo", "Amazon-Photo", "Amazon", "Photo",
                "amazon_electronics_photo.npz", 7650, 8),
        _shchur("coauthor-cs", "Coauthor-CS", "Coauthor", "CS", "ms_academic_cs.npz", 18333, 15),
        _shchur("coauthor-physics", "Coauthor-Physics", "Coauthor", "Physics",
                "ms_academic_phy.npz", 34493, 5),
        DatasetInfo(
            name="dblp", display_name="DBLP (CitationFull)",
            pyg_class="torch_geometric.datasets.CitationFull",
            pyg_kwargs=MappingProxyType({"name": "DBLP"}),
            class_root="CitationFull", dataset_dir="CitationFull/dblp",
            required_files=("raw/dblp.npz",),
            num_nodes=17716, num_classes=4, normalize_features=True, split=None,
            source="https://github.com/abojchevski/graph2gauss/raw/master/data/dblp.npz",
        ),
        DatasetInfo(
            name="wikics", display_name="WikiCS",
            pyg_class="torch_geometric.datasets.WikiCS",
            pyg_kwargs=MappingProxyType({"is_undirected": True}),
            class_root="WikiCS", dataset_dir="WikiCS", required_files=("raw/data.json",),
            num_nodes=11701, num_classes=10, normalize_features=True, split="wikics-20",
            source="https://github.com/pmernyei/wiki-cs-dataset/raw/master/dataset/data.json",
        ),
        DatasetInfo(
            name="ogbn-arxiv", display_name="ogbn-arxiv",
            pyg_class="ogb.nodeproppred.PygNodePropPredDataset",
            pyg_kwargs=MappingProxyType({"name": "ogbn-arxiv"}), make_undirected=True,
            class_root="ogb", dataset_dir="ogb/ogbn_arxiv", required_files=_OGB_ARXIV_FILES,
            num_nodes=169343, num_classes=40, normalize_features=False, split="ogb-time",
            source="http://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip (unzip into "
                   "<root>/ogb/ and rename the folder `arxiv` to `ogbn_arxiv`)",
        ),
        _heco("acm", "ACM (HeCo)", "ACM",
              ("labels.npy", "pa.txt", "ps.txt", "p_feat.npz", "a_feat.npz"), 4019, 3,
              _HECO_SOURCE.format("acm")),
        _heco("dblp-hetero", "DBLP (HeCo)", "DBLP",
              ("labels.npy", "pa.txt", "pc.txt", "pt.txt", "a_feat.npz", "p_feat.npz",
               "t_feat.npz"), 4057, 4, _HECO_SOURCE.format("dblp")),
        _heco("aminer", "Aminer (HeCo)", "Aminer", ("labels.npy", "pa.txt", "pr.txt"),
              6564, 4, _HECO_SOURCE.format("aminer")),
        _heco("imdb", "IMDB (MEOW)", "IMDB",
              ("labels.npy", "ma.txt", "md.txt", "mk.txt", "m_feat.npz"), 4275, 3,
              "https://github.com/jianxiangyu/MEOW/tree/main/data/imdb (the whole folder)"),
        _heco("freebase", "Freebase (HeCo)", "Freebase",
              ("labels.npy", "ma.txt", "md.txt", "mw.txt"), 3492, 3,
              _HECO_SOURCE.format("freebase")),
        DatasetInfo(
            name="imdb-multiplex", display_name="IMDB (multiplex, DMGI)", pyg_class=None,
            class_root="", dataset_dir="multiplex/IMDB", required_files=("imdb.pkl",),
            num_nodes=3550, num_classes=3, normalize_features=True, split="dmgi",
            source="https://github.com/Cloudy1225/MGFNN/blob/main/data/imdb.pkl (DMGI's "
                   "IMDB, re-packed by MGFNN)",
            kind="multiplex",
        ),
        DatasetInfo(
            name="synthetic", display_name="Synthetic CSBM",
            pyg_class=None, class_root="", dataset_dir="", required_files=(),
            num_nodes=2000, num_classes=4, normalize_features=False, split="random",
            source="generated by graphcl.data.contextual_sbm (no files); also "
                   "synthetic-<N> or synthetic-<N>k, e.g. synthetic-200k",
        ),
    )
}

_ALIASES = {"wiki-cs": "wikics", "arxiv": "ogbn-arxiv", "computers": "amazon-computers",
            "photo": "amazon-photo"}
_SYNTHETIC_SIZE = re.compile(r"synthetic-(\d+)(k?)")
# Mean degree and feature width of `synthetic-<N>`: the scale of the common GCL benchmarks.
_SYNTHETIC_AVG_DEGREE = 10.0
_SYNTHETIC_FEATURES = 128


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GRAPHCL_DATA`` if set, else ``./datasets``.

    Args:
        root: an explicit directory (``~`` is expanded).

    Returns:
        An absolute path (relative ones are taken from the current directory). It need not
        exist; :func:`load_dataset` reports what is missing under it.
    """
    return _resolve_root_and_origin(root)[0]


def _resolve_root_and_origin(root: str | os.PathLike[str] | None) -> tuple[Path, str]:
    if root is not None:
        return Path(root).expanduser().absolute(), "the `root` argument"
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().absolute(), f"${DATA_ENV}"
    return Path("datasets").absolute(), f"the default ./datasets (${DATA_ENV} is not set)"


def cache_dir() -> Path:
    """Where graphcl keeps derived files: ``$GRAPHCL_CACHE``, else ``$XDG_CACHE_HOME/graphcl``,
    else ``~/.cache/graphcl``.

    Returns:
        An absolute path; it is created on first write, not here.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "graphcl"
    return Path.home() / ".cache" / "graphcl"


def _canonical_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    return _ALIASES.get(key, key)


def _known_names() -> str:
    return ", ".join(list(DATASETS) + ["synthetic-<N>", "synthetic-<N>k"])


def _dataset_path(root: Path, info: DatasetInfo) -> Path:
    """The directory of ``info``'s files under ``root``: ``root / info.dataset_dir``; for
    heterogeneous and multiplex datasets (HeCo's folders are lowercase upstream) the
    lowercase folder name is tried next, and a complete folder is preferred."""
    path = root / info.dataset_dir
    if info.kind == "homogeneous":
        return path
    candidates = [path, path.with_name(path.name.lower())]
    for candidate in candidates:
        if candidate.is_dir() and not _missing_files(candidate, info):
            return candidate
    return next((c for c in candidates if c.is_dir()), path)


def _missing_files(dataset_root: Path, info: DatasetInfo) -> list[str]:
    return [f for f in info.required_files if not (dataset_root / f).is_file()]


def dataset_status(root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """For every known dataset, whether its raw files are present under the data root.

    Args:
        root: data root; resolved by :func:`resolve_root`.

    Returns:
        One dict per entry of :data:`DATASETS`, in its order, with keys ``name``,
        ``display_name``, ``available`` (bool), ``path`` (the directory expected to hold
        ``raw/``, or the files themselves for heterogeneous / multiplex data; ``None`` for
        synthetic data), ``required`` and ``missing`` (the files read, and those absent,
        relative to ``path``), ``num_nodes``, ``num_classes``, ``source`` and ``kind``.
    """
    resolved = resolve_root(root)
    status = []
    for info in DATASETS.values():
        if info.pyg_class is None and not info.required_files:  # generated, no files
            path, missing = None, []
        else:
            path = _dataset_path(resolved, info)
            missing = _missing_files(path, info)
        status.append({
            "name": info.name,
            "display_name": info.display_name,
            "available": not missing,
            "path": None if path is None else str(path),
            "required": list(info.required_files),
            "missing": missing,
            "num_nodes": info.num_nodes,
            "num_classes": info.num_classes,
            "source": info.source,
            "kind": info.kind,
        })
    return status


def _not_found_message(info: DatasetInfo, root: Path, origin: str, missing: list[str]) -> str:
    dataset_root = root / info.dataset_dir
    lines = [
        (f"dataset {info.name!r} ({info.display_name}) cannot be loaded: {len(missing)} of "
         f"{len(info.required_files)} raw file(s) missing."),
    ]
    by_dir: dict[str, list[str]] = {}
    for rel in info.required_files:
        by_dir.setdefault(rel.rsplit("/", 1)[0], []).append(rel.rsplit("/", 1)[1])
    for rel_dir, names in by_dir.items():
        absent = [n for n in names if f"{rel_dir}/{n}" in missing]
        lines.append(f"  in {dataset_root / rel_dir}:")
        lines.append(f"    missing:  {', '.join(absent) if absent else '(none)'}")
        lines.append(f"    expected: {', '.join(names)}")
    lines.append(f"  data root: {root} (from {origin})")
    if not root.is_dir():
        lines.append("  (that data root does not exist)")
    lines += [
        ("How to fix: put the files at exactly those paths, or point graphcl at a data root "
         f"that has them: `load_dataset({info.name!r}, root=...)` or "
         f"`export {DATA_ENV}=/path/to/datasets`."),
        f"  upstream source: {info.source}",
        "  graphcl never downloads; `graphcl datasets` lists what is present.",
    ]
    return "\n".join(lines)


def _raw_fingerprint(dataset_root: Path, info: DatasetInfo) -> dict[str, Any]:
    files = {}
    for rel in info.required_files:
        stat = (dataset_root / rel).stat()
        files[rel] = [stat.st_size, stat.st_mtime_ns]
    return {"dataset_dir": str(dataset_root), "files": files}


def _ensure_symlink(link: Path, target: Path) -> None:
    if link.is_symlink():
        if os.readlink(link) == str(target):
            return
    elif link.exists():
        raise RuntimeError(
            f"{link} should be a symlink to {target} but is a real "
            f"{'directory' if link.is_dir() else 'file'}; move it away (it is inside the "
            f"graphcl cache, {cache_dir()}) and load again"
        )
    # Build the link beside its final name and rename it into place: concurrent loaders
    # then never see a half-made or missing link.
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, link)


def _workspace(root: Path) -> Path:
    """``<cache>/datasets/<hash>``: one mirror of the data root per resolved root path."""
    root_key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return cache_dir() / "datasets" / root_key


def _prepare_workdir(info: DatasetInfo, root: Path) -> Path:
    """Make ``<workspace>/<dataset_dir>`` with links back into the root."""
    resolved_root = root.resolve()
    base = _workspace(root)
    workdir = base / info.dataset_dir
    workdir.mkdir(parents=True, exist_ok=True)
    marker = base / "ROOT"
    if not marker.exists():
        marker.write_text(f"{resolved_root}\n")

    source_dir = resolved_root / info.dataset_dir
    for top in sorted({rel.split("/", 1)[0] for rel in info.required_files}):
        _ensure_symlink(workdir / top, source_dir / top)

    stamp_path = workdir / _STAMP_FILE
    fingerprint = _raw_fingerprint(source_dir, info)
    try:
        stale = json.loads(stamp_path.read_text()) != fingerprint
    except (OSError, ValueError):
        stale = True
    if stale:
        # Raw files changed (or no stamp yet): PyG only checks that processed files exist,
        # so drop them to force a rebuild. This directory is ours, never the data root.
        shutil.rmtree(workdir / "processed", ignore_errors=True)
        stamp_path.write_text(json.dumps(fingerprint, indent=1, sort_keys=True))
    return workdir


def _offline_class(cls: type, info: DatasetInfo) -> type:
    """Subclass whose ``download()`` raises instead of going to the network."""

    def download(self: Any) -> None:
        raw_paths = [Path(p) for p in self.raw_paths]
        missing = [p.name for p in raw_paths if not p.exists()]
        raise DatasetNotFoundError(
            f"{cls.__name__} wants to download {info.name!r} ({', '.join(missing)} missing "
            f"in {raw_paths[0].parent if raw_paths else '?'}); graphcl loads offline only. "
            f"Upstream source: {info.source}"
        )

    return type(f"Offline{cls.__name__}", (cls,), {"download": download})


def _ogb_release_marker(workdir: Path, ogb_name: str) -> None:
    import ogb.nodeproppred
    import pandas as pd

    master = pd.read_csv(Path(ogb.nodeproppred.__file__).parent / "master.csv",
                         index_col=0, keep_default_na=False)
    marker = workdir / f"RELEASE_v{master[ogb_name]['version']}.txt"
    if not marker.exists():
        marker.write_text("written by graphcl so that OGB does not prompt for an update\n")


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock (POSIX) so that concurrent loaders, e.g. the ranks of
    a distributed run, do not process into the same files at once."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent first loads are then unguarded.
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load_with_class(info: DatasetInfo, root: Path) -> Data:
    base = _workspace(root)
    (base / info.dataset_dir).mkdir(parents=True, exist_ok=True)
    module_name, class_name = info.pyg_class.rsplit(".", 1)
    cls = _offline_class(getattr(importlib.import_module(module_name), class_name), info)
    # OGB 1.3.6 reads its processed file with a bare `torch.load`, which torch >= 2.6 runs
    # with weights_only=True; these PyG classes (besides the ones PyG allowlists itself) are
    # what that file pickles. The allowlist is scoped to this call.
    with _exclusive(base / info.dataset_dir / ".graphcl.lock"), \
            torch.serialization.safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage]), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_READONLY_NUMPY_WARNING)
        workdir = _prepare_workdir(info, root)
        if module_name.startswith("ogb."):
            _ogb_release_marker(workdir, info.pyg_kwargs["name"])
        dataset = cls(root=str(base / info.class_root), **info.pyg_kwargs)
        data = dataset[0]
        if info.split == "ogb-time":
            split = dataset.get_idx_split()
            n = data.num_nodes
            data.train_mask = index_to_mask(split["train"], n)
            data.val_mask = index_to_mask(split["valid"], n)
            data.test_mask = index_to_mask(split["test"], n)
    return data


def _synthetic(name: str) -> Data | None:
    if name == "synthetic":
        return contextual_sbm()
    match = _SYNTHETIC_SIZE.fullmatch(name)
    if match is None:
        return None
    num_nodes = int(match.group(1)) * (1000 if match.group(2) else 1)
    return contextual_sbm(num_nodes=num_nodes, num_features=_SYNTHETIC_FEATURES,
                          avg_degree=_SYNTHETIC_AVG_DEGREE)


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    normalize_features: bool = True,
) -> Data | HeteroData:
    """Load a named node-classification dataset as one ``Data`` (or ``HeteroData``).

    Names are case-insensitive, with ``_`` and spaces read as ``-`` (``"Cora"``,
    ``"amazon_photo"``, ``"Coauthor CS"``): ``cora``, ``citeseer``, ``pubmed``,
    ``amazon-computers``, ``amazon-photo``, ``coauthor-cs``, ``coauthor-physics``,
    ``wikics``, ``ogbn-arxiv``; and, needing no files, ``synthetic`` (the default
    :func:`~graphcl.data.contextual_sbm`, 2,000 nodes) and ``synthetic-<N>`` /
    ``synthetic-<N>k`` (``N`` or ``N * 1000`` nodes, mean degree 10, 128 features, seed 0).
    Heterogeneous graphs ``acm``, ``dblp-hetero`` (HeCo's; plain ``dblp`` is
    CitationFull-DBLP), ``aminer``, ``freebase`` (HeCo), ``imdb`` (MEOW) and the multiplex
    ``imdb-multiplex`` (DMGI) are returned as ``HeteroData``, described below.

    Real datasets are read from the data root (see :func:`resolve_root` and this module's
    docstring for the layout) with PyG's / OGB's own classes; processed files go to the
    cache, never beside the raw files, and later loads reuse them.

    What the returned graph holds:

    * ``x``: float32 ``[N, F]``; row-normalised (``NormalizeFeatures``) when
      ``normalize_features`` is true, except for ogbn-arxiv (its features are already
      dense embeddings) and synthetic graphs (Gaussian features), whose
      :attr:`DatasetInfo.normalize_features` is false;
    * ``edge_index``: int64 ``[2, E]``, both directions of every edge (ogbn-arxiv's
      directed citations are made undirected with ``to_undirected``, as GCL papers do);
    * ``y``: int64 ``[N]`` (OGB's ``[N, 1]`` flattened);
    * masks (bool): Planetoid's public split as 1-D ``train_mask`` / ``val_mask`` /
      ``test_mask``; WikiCS's 20 splits as ``train_mask`` / ``val_mask`` (and
      ``stopping_mask``) of shape ``[N, 20]`` and a 1-D ``test_mask``; OGB's official split
      as 1-D masks; synthetic graphs a random 10/10/80 split; Amazon and Coauthor none
      (they have no standard split: use :func:`~graphcl.data.random_split_masks`);
    * ``name``: the canonical name (e.g. ``"amazon-photo"``).

    A heterogeneous graph (``kind == "heterogeneous"`` in :data:`DATASETS`) is a
    ``HeteroData`` with full type names (ACM ``paper``/``author``/``subject``; DBLP
    ``author``/``paper``/``term``/``conference``; Aminer ``paper``/``author``/``reference``;
    IMDB ``movie``/``actor``/``director``/``keyword``; Freebase
    ``movie``/``director``/``actor``/``writer``; the target type first), holding:

    * per node type ``x`` float32 ``[N_t, F_t]``, never normalised (``normalize_features``
      is ignored: the methods normalise): dense from ``<t>_feat.npz``, or a torch sparse
      CSR tensor above 50M entries (DBLP's papers); a type without a feature file gets the
      one-hot identity as a sparse CSR ``[N_t, N_t]`` tensor and ``one_hot = True``
      (``False`` elsewhere); ``num_nodes``;
    * per relation file ``xy.txt`` the edge types ``(x, "to", y)`` and ``(y, "to", x)``,
      int64 ``[2, E]``, deduplicated, sorted, each the transpose of the other;
    * on the target type: ``y`` int64 ``[N]`` (classes ``0..C-1``) and, per label rate
      ``r`` in ``data.label_rates`` (20/40/60 labelled nodes per class, those whose files
      exist), bool masks ``train_mask_r``, ``val_mask_r``, ``test_mask_r``;
    * ``data.target_node_type``, ``data.label_rates`` and ``data.name``.

    ``imdb-multiplex`` has one node type ``movie`` (``x`` dense float32 ``[3550, 2000]``,
    row-normalized unless ``normalize_features=False``, as DMGI's and HDMI's preprocessing,
    ``y``, ``train_mask`` / ``val_mask`` / ``test_mask`` with 300/300/2950 nodes) and one
    undirected edge type ``("movie", layer, "movie")`` per layer in ``data.layers``
    (``["MDM", "MAM"]``), both directions, no self-loops; see
    :func:`~graphcl.data.multiplex_layers`. The shipped meta-path and positive-pair files
    are read by :func:`~graphcl.data.load_shipped_metapaths` and
    :func:`~graphcl.data.load_positive_pairs`.

    Args:
        name: dataset name, see above.
        root: data root; resolved by :func:`resolve_root`.
        normalize_features: row-normalise ``x`` for the datasets that call for it.

    Returns:
        The graph on the CPU.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        DatasetNotFoundError: a raw file is missing; the message names the directory, the
            missing files, and how to provide them. Nothing is downloaded.
    """
    canonical = _canonical_name(name)
    synthetic = _synthetic(canonical)
    if synthetic is not None:
        synthetic.name = canonical
        return synthetic
    info = DATASETS.get(canonical)
    if info is None:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {_known_names()}")

    if info.kind != "homogeneous":
        from .hetero import load_registered  # imports this module: load it lazily

        data = load_registered(info, root)
        if normalize_features and info.normalize_features:
            data = NormalizeFeatures()(data)  # per node store
        return data

    data_root, origin = _resolve_root_and_origin(root)
    missing = _missing_files(data_root / info.dataset_dir, info)
    if missing:
        raise DatasetNotFoundError(_not_found_message(info, data_root, origin, missing))

    data = _load_with_class(info, data_root)

    if info.make_undirected:
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    if data.x.dtype != torch.float32:
        data.x = data.x.float()
    if data.y is not None:
        data.y = data.y.view(-1).long()
    if normalize_features and info.normalize_features:
        data = NormalizeFeatures()(data)
    data.name = canonical
    return data
