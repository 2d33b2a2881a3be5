"""Two views per augmenter, graphcl vs PyG's functional utilities, in one process.

    python benchmarks/augment.py                          # coauthor-cs and synthetic-200k
    python benchmarks/augment.py --datasets cora --repeats 20

For each pair the time of drawing two views (median of ``--repeats``) is reported, with the
ratio PyG / graphcl (> 1: graphcl faster). graphcl's edge augmenters also hand the hot path an
edge mask, so their view's adjacency needs no sort afterwards; that saving is not counted here.
Results go to ``benchmarks/results/augment_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import hardware

RESULTS = Path(__file__).resolve().parent / "results"


def pairs(graph):
    """(name, graphcl two-view callable, PyG two-view callable)."""
    from torch_geometric.utils import add_random_edge, dropout_edge, mask_feature

    from graphcl.augment import EdgeAdding, EdgeDropping, FeatureMasking

    generator = torch.Generator().manual_seed(0)
    drop, drop_sym = EdgeDropping(0.3), EdgeDropping(0.3, symmetric=True)
    mask, add = FeatureMasking(0.3), EdgeAdding(0.1)
    return [
        ("edge dropping", lambda: [drop(graph, generator) for _ in range(2)],
         lambda: [dropout_edge(graph.edge_index, p=0.3) for _ in range(2)]),
        ("edge dropping, symmetric", lambda: [drop_sym(graph, generator) for _ in range(2)],
         lambda: [dropout_edge(graph.edge_index, p=0.3, force_undirected=True)
                  for _ in range(2)]),
        ("feature masking (columns)", lambda: [mask(graph, generator) for _ in range(2)],
         lambda: [mask_feature(graph.x, p=0.3, mode="col") for _ in range(2)]),
        ("edge adding", lambda: [add(graph, generator) for _ in range(2)],
         lambda: [add_random_edge(graph.edge_index, p=0.1, num_nodes=graph.num_nodes)
                  for _ in range(2)]),
    ]


def median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["coauthor-cs", "synthetic-200k"])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    from graphcl.data import load_dataset

    RESULTS.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        graph = load_dataset(dataset)
        rows = []
        for name, ours, pyg in pairs(graph):
            ours_s, pyg_s = median_seconds(ours, args.repeats), median_seconds(pyg, args.repeats)
            rows.append({"augmenter": name, "seconds_two_views": ours_s,
                         "reference_seconds_two_views": pyg_s, "speedup": pyg_s / ours_s})
            print(f"{dataset:>16} | {name:<26} | graphcl {ours_s * 1e3:8.2f} ms | "
                  f"PyG {pyg_s * 1e3:8.2f} ms | {pyg_s / ours_s:5.2f}x", flush=True)
        record = {
            "method": "augmenters", "dataset": dataset,
            "protocol": "two views per augmenter, median over repeats",
            "metrics": {}, "rows": rows, "seconds_per_epoch": None, "peak_memory_mb": None,
            "epochs": None, "seeds": [0], "hardware": hardware(),
            "command": "python benchmarks/augment.py " + " ".join(argv or sys.argv[1:]),
            "date": dt.date.today().isoformat(),
        }
        (RESULTS / f"augment_{dataset}.json").write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
