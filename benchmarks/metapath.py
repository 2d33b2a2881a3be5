"""Building DBLP's meta-path views: graphcl vs PyG's AddMetaPaths, in one process.

    python benchmarks/metapath.py                # APA, APCPA, APTPA on DBLP (HeCo's files)
    python benchmarks/metapath.py --heco-pos     # also check HeCo's shipped pos.npz (~2 min)

For each meta-path (author-paper-author, author-paper-conference-paper-author,
author-paper-term-paper-author) three builds are timed (median of ``--repeats``) and their
peak memory measured: graphcl's path counts (``metapath_adjacency``), graphcl with MEOW's
PathSim top-k (``top_k`` 25 / 200 / 40, MEOW's ``nei_max`` for DBLP) and PyG's
``AddMetaPaths(weighted=True)``. The counts are checked equal to AddMetaPaths' (as coalesced
matrices) and their patterns to HeCo's shipped boolean ``apa/apcpa/aptpa.npz``.

Peak memory: the process's resident set size (``/proc/self/statm``) sampled every
millisecond by a background thread, peak minus the RSS when the build starts (it counts
numpy, scipy and torch allocations alike; tracemalloc would miss torch's). glibc is told
to serve every allocation above 128 KiB with mmap and memory is trimmed before each build,
so what one build frees does not hide the next one's growth. Threads: 1 (torch, OMP, MKL).

``--heco-pos`` rebuilds HeCo's positive sets (``positive_pairs``, binary meta-path matrices,
no forced diagonal) and compares them with the shipped ``pos.npz`` of ACM (pos_num 5) and
DBLP (pos_num 1000): row sizes, per-row score multisets (equal = the same sets up to ties),
rows identical under graphcl's lowest-index tie-break, and for ACM the rows identical under
an emulation of NumPy 1.x's introsort ``argsort`` (the sort HeCo's ``pos.py`` ran).
Results go to ``benchmarks/results/metapath_dblp.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import json
import os
import sys
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import hardware

RESULTS = Path(__file__).resolve().parent / "results"
METAPATHS = {
    "APA": ("author", "paper", "author"),
    "APCPA": ("author", "paper", "conference", "paper", "author"),
    "APTPA": ("author", "paper", "term", "paper", "author"),
}
TOP_K = {"APA": 25, "APCPA": 200, "APTPA": 40}  # MEOW's nei_max for DBLP
SHIPPED = {"APA": "apa.npz", "APCPA": "apcpa.npz", "APTPA": "aptpa.npz"}


# --------------------------------------------------------------------------- memory


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


LIBC = _libc()
if LIBC is not None:
    LIBC.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD fixed at 128 KiB (no dynamic raise)


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak RSS above the starting RSS, sampled every ``interval`` seconds in a thread."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval

    def __enter__(self):
        gc.collect()
        if LIBC is not None:
            LIBC.malloc_trim(0)
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self.peak = max(self.peak, rss_bytes())
        self._stop.set()
        self._thread.join()

    @property
    def megabytes(self) -> float:
        return (self.peak - self.start) / 2**20


def measure(fn, repeats: int):
    """(result of the first call, median seconds, peak MB of the first call)."""
    with PeakRSS() as memory:
        start = time.perf_counter()
        result = fn()
        times = [time.perf_counter() - start]
    for _ in range(repeats - 1):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return result, float(np.median(times)), memory.megabytes


# --------------------------------------------------------------------------- data


def hetero(folder: Path, counts: dict, files: dict):
    from torch_geometric.data import HeteroData

    data = HeteroData()
    for node_type, count in counts.items():
        data[node_type].num_nodes = count
    for name, (source, target) in files.items():
        raw = np.loadtxt(folder / name, dtype=np.int64)
        edge_index = torch.from_numpy(raw.T.copy())
        data[source, "to", target].edge_index = edge_index
        data[target, "to", source].edge_index = edge_index.flip(0).contiguous()
    return data


def load_dblp(root: Path):
    data = hetero(root / "DBLP", {"author": 4057, "paper": 14328, "term": 7723,
                                  "conference": 20},
                  {"pa.txt": ("paper", "author"), "pc.txt": ("paper", "conference"),
                   "pt.txt": ("paper", "term")})
    data.target_node_type = "author"
    return data


def load_acm(root: Path):
    data = hetero(root / "ACM", {"paper": 4019, "author": 7167, "subject": 60},
                  {"pa.txt": ("paper", "author"), "ps.txt": ("paper", "subject")})
    data.target_node_type = "paper"
    return data


def coalesced(edge_index, weight, size):
    matrix = torch.sparse_coo_tensor(edge_index, weight, size).coalesce()
    return matrix.indices(), matrix.values()


# --------------------------------------------------------------------------- build


def build_rows(data, root: Path, repeats: int) -> list[dict]:
    from torch_geometric.transforms import AddMetaPaths

    from graphcl.augment import metapath_adjacency, resolve_metapath

    rows = []
    size = (4057, 4057)
    for name, metapath in METAPATHS.items():
        hops = resolve_metapath(data, metapath)
        counts, seconds, peak = measure(partial(metapath_adjacency, data, metapath), repeats)
        pruned, pruned_seconds, pruned_peak = measure(
            partial(metapath_adjacency, data, metapath, top_k=TOP_K[name]), repeats)

        def pyg(hops=hops):
            out = AddMetaPaths([hops], weighted=True)(data.clone())
            store = out["author", "metapath_0", "author"]
            return store.edge_index, store.edge_weight

        reference, pyg_seconds, pyg_peak = measure(pyg, repeats)
        reference = coalesced(*reference, size)
        equal = torch.equal(counts[0], reference[0]) and torch.equal(counts[1], reference[1])
        shipped_equal = None
        if (root / "DBLP" / SHIPPED[name]).is_file():
            pattern = sp.load_npz(root / "DBLP" / SHIPPED[name]).tocsr()
            pattern.sort_indices()
            rows_of = np.repeat(np.arange(size[0]), np.diff(pattern.indptr))
            shipped_equal = bool(torch.equal(
                counts[0], torch.from_numpy(np.stack([rows_of, pattern.indices]))))
        row = {
            "metapath": name, "nnz": counts[0].size(1),
            "graphcl_counts": {"seconds": seconds, "peak_memory_mb": peak},
            "graphcl_pathsim_top_k": {"top_k": TOP_K[name], "nnz": pruned[0].size(1),
                                      "seconds": pruned_seconds, "peak_memory_mb": pruned_peak},
            "add_metapaths": {"seconds": pyg_seconds, "peak_memory_mb": pyg_peak},
            "counts_equal_add_metapaths": bool(equal),
            "pattern_equal_shipped_npz": shipped_equal,
            "output_mb": counts[0].numel() * 8 / 2**20 + counts[1].numel() * 4 / 2**20,
        }
        rows.append(row)
        print(f"{name:>6} | nnz {row['nnz']:>9,} | graphcl {seconds:6.2f} s {peak:7.1f} MB | "
              f"top-{TOP_K[name]} {pruned_seconds:6.2f} s {pruned_peak:7.1f} MB "
              f"(nnz {pruned[0].size(1):,}) | AddMetaPaths {pyg_seconds:6.2f} s "
              f"{pyg_peak:7.1f} MB | equal {equal} | shipped pattern {shipped_equal}",
              flush=True)
        del counts, pruned, reference
    return rows


def context_rows(data) -> list[dict]:
    from graphcl.augment import metapath_context

    rows = []
    for name, metapath in METAPATHS.items():
        contexts, seconds, peak = measure(partial(metapath_context, data, metapath), 1)
        rows.append({"metapath": name, "seconds": seconds, "peak_memory_mb": peak,
                     "nnz": {f"{c.position}:{c.node_type}": int(c.incidence.values().numel())
                             for c in contexts}})
        print(f"{name:>6} contexts | {seconds:6.2f} s {peak:7.1f} MB | {rows[-1]['nnz']}",
              flush=True)
        del contexts
    return rows


# --------------------------------------------------------------------------- HeCo positives


def _numpy1_argsort(values: list) -> list:
    """NumPy 1.x's ``aquicksort`` (introsort, insertion sort below 16 elements), in Python,
    to reproduce how HeCo's ``pos.py`` broke ties (NumPy >= 1.25 may sort with SIMD)."""
    order = list(range(len(values)))
    if len(values) < 2:
        return order
    low, high, stack = 0, len(values) - 1, []
    depth = (len(values).bit_length() - 1) * 2
    while True:
        if depth < 0:
            raise RuntimeError("heapsort fallback not emulated")
        while high - low > 15:
            mid = low + ((high - low) >> 1)
            if values[order[mid]] < values[order[low]]:
                order[mid], order[low] = order[low], order[mid]
            if values[order[high]] < values[order[mid]]:
                order[high], order[mid] = order[mid], order[high]
            if values[order[mid]] < values[order[low]]:
                order[mid], order[low] = order[low], order[mid]
            pivot = values[order[mid]]
            i, j = low, high - 1
            order[mid], order[j] = order[j], order[mid]
            while True:
                i += 1
                while values[order[i]] < pivot:
                    i += 1
                j -= 1
                while pivot < values[order[j]]:
                    j -= 1
                if i >= j:
                    break
                order[i], order[j] = order[j], order[i]
            order[i], order[high - 1] = order[high - 1], order[i]
            depth -= 1
            if i - low < high - i:
                stack.append((i + 1, high, depth))
                high = i - 1
            else:
                stack.append((low, i - 1, depth))
                low = i + 1
        for i in range(low + 1, high + 1):
            item, key, j = order[i], values[order[i]], i
            while j > low and key < values[order[j - 1]]:
                order[j] = order[j - 1]
                j -= 1
            order[j] = item
        if not stack:
            return order
        low, high, depth = stack.pop()


def heco_positive_check(data, folder: Path, shipped_names: list, metapaths: list,
                        num_positives: int, emulate: bool) -> dict:
    from graphcl.augment import positive_pairs

    shipped = sp.load_npz(folder / "pos.npz").tocsr()
    shipped.sort_indices()
    pairs, seconds, peak = measure(partial(
        positive_pairs, data, metapaths, num_positives, binary=True, include_self=False), 1)
    num_nodes = shipped.shape[0]
    ours = sp.csr_matrix((np.ones(pairs.size(1)), tuple(pairs.numpy())), shape=shipped.shape)
    score = None
    for name in shipped_names:  # HeCo's pos.py: row-normalized boolean matrices, summed
        matrix = sp.load_npz(folder / name).astype(np.float64).tocsr()
        matrix = sp.diags(1.0 / np.asarray(matrix.sum(1)).ravel()) @ matrix
        score = matrix if score is None else score + matrix
    score = sp.csr_matrix(score)
    score.sort_indices()
    score32 = score.astype(np.float32)

    def sorted_scores(pattern):
        pattern = pattern.tocoo()
        values = np.asarray(score32[pattern.row, pattern.col]).ravel()
        return values[np.lexsort((values, pattern.row))]

    sizes_equal = bool(np.array_equal(np.diff(ours.indptr), np.diff(shipped.indptr)))
    ours_scores, heco_scores = sorted_scores(ours), sorted_scores(shipped)
    rows_of = np.repeat(np.arange(num_nodes), np.diff(ours.indptr))
    bad = np.unique(rows_of[ours_scores != heco_scores]) if sizes_equal else None
    identical = sum(np.array_equal(ours.indices[ours.indptr[i]:ours.indptr[i + 1]],
                                   shipped.indices[shipped.indptr[i]:shipped.indptr[i + 1]])
                    for i in range(num_nodes))
    result = {
        "num_positives": num_positives, "seconds": seconds, "peak_memory_mb": peak,
        "pairs": int(pairs.size(1)), "shipped_pairs": int(shipped.nnz),
        "row_sizes_equal": sizes_equal,
        "rows_with_equal_score_multiset": None if bad is None else num_nodes - bad.size,
        "rows_identical_lowest_index_ties": int(identical), "rows": num_nodes,
        "shipped_rows_without_diagonal": int((shipped.diagonal() == 0).sum()),
    }
    if emulate:
        start, same = time.perf_counter(), 0
        for i in range(num_nodes):
            cols = score.indices[score.indptr[i]:score.indptr[i + 1]]
            values = (-score.data[score.indptr[i]:score.indptr[i + 1]].astype(np.float32))
            chosen = cols[_numpy1_argsort(values.tolist())[:num_positives]] \
                if cols.size > num_positives else cols
            same += np.array_equal(np.sort(chosen),
                                   shipped.indices[shipped.indptr[i]:shipped.indptr[i + 1]])
        result["rows_identical_numpy1_introsort_ties"] = int(same)
        result["emulation_seconds"] = time.perf_counter() - start
    print(f"HeCo pos {folder.name}: {result}", flush=True)
    return result


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None,
                        help="folder holding hetero/DBLP (default $GRAPHCL_DATA or ./datasets)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--heco-pos", action="store_true",
                        help="also compare positive_pairs with HeCo's shipped pos.npz")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    base = args.root or Path(os.environ.get("GRAPHCL_DATA", "datasets"))
    root = base / "hetero"
    data = load_dblp(root)
    rows = build_rows(data, root, args.repeats)
    contexts = context_rows(data)
    heco = {}
    if args.heco_pos:
        heco["acm"] = heco_positive_check(
            load_acm(root), root / "ACM", ["pap.npz", "psp.npz"],
            [("paper", "author", "paper"), ("paper", "subject", "paper")], 5, emulate=True)
        heco["dblp"] = heco_positive_check(
            data, root / "DBLP", [SHIPPED[name] for name in METAPATHS],
            list(METAPATHS.values()), 1000, emulate=False)
    record = {
        "method": "metapath-views (graphcl.augment.metapath_adjacency, PathSim top-k)",
        "dataset": "dblp-hetero",
        "protocol": "build",
        "metrics": {},
        "seconds": sum(r["graphcl_pathsim_top_k"]["seconds"] for r in rows),
        "peak_memory_mb": max(r["graphcl_pathsim_top_k"]["peak_memory_mb"] for r in rows),
        "nnz": {r["metapath"]: r["nnz"] for r in rows},
        "nnz_top_k": {r["metapath"]: r["graphcl_pathsim_top_k"]["nnz"] for r in rows},
        "reference": {
            "method": "torch_geometric.transforms.AddMetaPaths(weighted=True)",
            "seconds": sum(r["add_metapaths"]["seconds"] for r in rows),
            "peak_memory_mb": max(r["add_metapaths"]["peak_memory_mb"] for r in rows),
        },
        "counts_seconds": sum(r["graphcl_counts"]["seconds"] for r in rows),
        "counts_peak_memory_mb": max(r["graphcl_counts"]["peak_memory_mb"] for r in rows),
        "memory_method": "peak RSS above the build's starting RSS, /proc/self/statm sampled "
                         "every 1 ms (mmap threshold 128 KiB, malloc_trim before each build)",
        "timing": f"median of {args.repeats} builds",
        "rows": rows,
        "contexts": contexts,
        "heco_positives": heco or None,
        "hardware": hardware(),
        "command": "python benchmarks/metapath.py " + " ".join(argv or sys.argv[1:]),
        "date": dt.date.today().isoformat(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "metapath_dblp.json").write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
