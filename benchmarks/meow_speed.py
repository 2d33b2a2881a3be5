"""MEOW / AdaMEOW epoch time and peak memory (ours), with the work floor of each epoch.

    python benchmarks/meow_speed.py                          # meow + adameow on acm, dblp-hetero
    python benchmarks/meow_speed.py --methods meow --datasets acm --epochs 10
    python benchmarks/meow_speed.py --official-csv /tmp/official_meow/meow_acm_epochs.csv \\
        --official-rss-mb 1400                               # add the official run's numbers

Each (method, dataset) trains its preset for ``--warmup`` + ``--epochs`` epochs in a fresh
subprocess (so peak RSS belongs to that configuration alone); the median of the timed epochs
is reported. The official code cannot run in this process (it needs faiss and its own data
loader): its per-epoch CSV, written by the harness described in ``benchmarks/README.md`` and
run on the same machine with the same thread and allocator settings, is read and compared.

Floor: the dense work an epoch cannot avoid, over the measured float32 rates. MEOW: the
weighted InfoNCE (one forward N×N×d product and, in the backward pass, the recomputed tile
plus two gradient products: 4·2·N²·d flops) and k-means (restarts × (iterations + 1)
assignment products of N×K×d, 2·N·K·d flops each, for every granularity K). AdaMEOW: its
loss computes forward and gradients in one pass (3·2·N²·d flops) plus the pair-weight MLP's
N²·h hidden units, one sigmoid each, at the measured in-place sigmoid rate. The sparse
products of the GCN are left out of the floor (they are memory-bound, not flop-bound).
Results: ``benchmarks/results/meow_speed_<method>_<dataset>[_<backend>][<tag>].json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import ENVIRONMENT, hardware
from speed import matmul_rate


def run_one(method: str, dataset: str, warmup: int, epochs: int,
            kmeans_backend: str | None = None) -> dict:
    """Train the preset in this process; returns per-epoch seconds and peak RSS."""
    from graphcl.config import load_config
    from graphcl.data import load_dataset
    from graphcl.methods import build_method
    from graphcl.train import Trainer

    config = load_config(method, dataset)
    graph = load_dataset(dataset)
    torch.manual_seed(int(config["train"]["seed"]))
    options = dict(config["model"])
    if kmeans_backend and method == "meow":
        options["kmeans_backend"] = kmeans_backend
    model = build_method(method, graph.num_features, **options)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trainer = Trainer(model, graph, epochs=warmup + epochs, lr=float(config["train"]["lr"]),
                      weight_decay=float(config["train"].get("weight_decay", 0.0)),
                      seed=int(config["train"]["seed"]), progress=False, device="cpu")
    start = time.perf_counter()
    history = trainer.fit()
    wall = time.perf_counter() - start
    seconds = [row["seconds"] for row in history[warmup:]]
    n = graph[model.target].num_nodes
    d = model.head.out_features
    clusters = list(getattr(model, "num_clusters", []) or [])
    return {"seconds": seconds, "wall": wall, "num_nodes": n, "projection": d,
            "clusters": clusters, "kmeans_iterations": model.kmeans_iterations,
            "kmeans_restarts": model.kmeans_restarts,
            "weight_hidden": (model.weight_net.first.out_features
                              if hasattr(model, "weight_net") else 0),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_load_mb": rss_loaded, "threads": torch.get_num_threads()}


def sigmoid_rate(trials: int = 5) -> float:
    """Best measured in-place float32 sigmoid rate (elements/s) on a cache-sized block."""
    x = torch.randn(1 << 20)
    best, reps = 0.0, 20
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(reps):
            x.sigmoid_()
        best = max(best, x.numel() * reps / (time.perf_counter() - start))
    return best


def floor_seconds(info: dict, method: str, matmul: float, sigmoid: float) -> float:
    n, d = info["num_nodes"], info["projection"]
    if method == "adameow":
        return 3 * 2.0 * n * n * d / matmul + n * n * info["weight_hidden"] / sigmoid
    flops = 4 * 2.0 * n * n * d
    iterations, restarts = info["kmeans_iterations"], info["kmeans_restarts"]
    flops += sum(restarts * (iterations + 1) * 2.0 * n * k * d for k in info["clusters"])
    return flops / matmul


def official_seconds(path: str | None, skip: int) -> float | None:
    if not path:
        return None
    lines = [line.strip().split(",") for line in Path(path).read_text().splitlines() if line]
    column = lines[0].index("seconds") if "seconds" in lines[0] else 1
    seconds = [float(row[column]) for row in lines[1:]][skip:]
    return float(np.median(seconds)) if seconds else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="meow,adameow")
    parser.add_argument("--datasets", default="acm,dblp-hetero")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--official-csv", default=None,
                        help="per-epoch CSV of the official code (a 'seconds' column)")
    parser.add_argument("--official-rss-mb", type=float, default=None)
    parser.add_argument("--official-label", default="meow:acm",
                        help="which (method:dataset) the official numbers belong to")
    parser.add_argument("--kmeans-backend", default=None, choices=["torch", "faiss"],
                        help="MEOW's k-means backend (default: the preset's, torch); the "
                             "result file gets a _<backend> suffix when given")
    parser.add_argument("--tag", default="", help="suffix of the result file name (one per "
                        "machine or session, so a new host does not overwrite an older record)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        method, dataset = args.child.split(":")
        print(json.dumps(run_one(method, dataset, args.warmup, args.epochs,
                                 args.kmeans_backend)))
        return 0

    rate, sig_rate = matmul_rate(), sigmoid_rate()
    for method in args.methods.split(","):
        for dataset in args.datasets.split(","):
            output = subprocess.run(
                [sys.executable, __file__, "--child", f"{method}:{dataset}",
                 "--warmup", str(args.warmup), "--epochs", str(args.epochs),
                 *(["--kmeans-backend", args.kmeans_backend] if args.kmeans_backend else [])],
                check=True, capture_output=True, text=True).stdout
            info = json.loads(output.strip().splitlines()[-1])
            median = float(np.median(info["seconds"]))
            floor = floor_seconds(info, method, rate, sig_rate)
            record = {
                "method": method, "dataset": dataset, "protocol": "speed",
                "metrics": {},
                "seconds_per_epoch": median,
                "kmeans_backend": (args.kmeans_backend or "torch") if method == "meow" else None,
                "seconds_per_epoch_all": info["seconds"],
                "floor_seconds_per_epoch": floor,
                "ratio_to_floor": median / floor,
                "matmul_gflops": rate / 1e9,
                "sigmoid_gelements_per_s": sig_rate / 1e9,
                "peak_memory_mb": info["peak_rss_mb"],
                "rss_after_load_mb": info["rss_after_load_mb"],
                "threads": info["threads"],
                "epochs": args.epochs, "warmup_epochs": args.warmup, "seeds": [],
                "hardware": hardware(),
                "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ},
                "command": "python benchmarks/meow_speed.py " + " ".join(argv or sys.argv[1:]),
                "date": dt.date.today().isoformat(),
            }
            if args.official_label == f"{method}:{dataset}":
                official = official_seconds(args.official_csv, args.warmup)
                if official is not None:
                    record["official_seconds_per_epoch"] = official
                    record["speedup_vs_official"] = official / median
                if args.official_rss_mb is not None:
                    record["official_peak_memory_mb"] = args.official_rss_mb
            RESULTS.mkdir(parents=True, exist_ok=True)
            suffix = f"_{args.kmeans_backend}" if args.kmeans_backend and method == "meow" else ""
            path = RESULTS / f"meow_speed_{method}_{dataset}{suffix}{args.tag}.json"
            path.write_text(json.dumps(record, indent=2))
            extra = ""
            if "official_seconds_per_epoch" in record:
                extra = (f", official {record['official_seconds_per_epoch']:.3f} s "
                         f"({record['speedup_vs_official']:.2f}x)")
            print(f"{method} {dataset}: {median:.3f} s/epoch (floor {floor:.3f} s, "
                  f"{median / floor:.1f}x), peak RSS {info['peak_rss_mb']:.0f} MB{extra}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
