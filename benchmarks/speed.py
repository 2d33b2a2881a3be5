"""GRACE epoch: graphcl vs a reference written the way the official GRACE code does it.

    python benchmarks/speed.py                        # cora, amazon-photo, coauthor-cs, synthetic-50k
    python benchmarks/speed.py --datasets synthetic-200k --epochs 1   # ours only (reference infeasible)

Both sides train the same model (2-layer GCN in→256→128, projection 128, τ 0.4, edge drop
0.2/0.4, feature mask 0.3/0.4, Adam) for ``--epochs`` epochs, interleaved in **one process**
so they share the allocator settings, thread count and machine state. The reference is
PyG's ``GCNConv`` on each view's ``edge_index`` (normalization recomputed per layer) and
GRACE's dense loss (four N×N similarity matrices per epoch), as in CRIPAC-DIG/GRACE.

Peak memory is measured per side in a fresh subprocess (peak RSS minus the RSS after loading
the data), because a process's peak RSS cannot be split between two sides run in it.

Each timing is also compared with its floor: the exact GRACE loss needs c·N²·d flops
(c = 16 for graphcl's symmetric tiles: 4 forward and 12 backward flops per similarity entry
over half the 2N×2N Gram matrix; c = 24 for the dense reference, which forms four N×N
matrices and their gradients), over the machine's measured float32 matmul rate.
Results go to ``benchmarks/results/speed_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import hardware

HIDDEN, PROJ, TAU = 128, 128, 0.4
REFERENCE_BYTES_PER_ENTRY = 30


def available_memory() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0
DROP_EDGE, DROP_FEATURE = (0.2, 0.4), (0.3, 0.4)


def load(name: str):
    from graphcl.data import load_dataset
    return load_dataset(name)


def build_ours(num_features: int, block_size: int | None):
    from graphcl.methods import GRACE
    return GRACE(num_features, hidden=HIDDEN, proj_hidden=PROJ, tau=TAU, drop_edge=DROP_EDGE,
                 drop_feature=DROP_FEATURE, block_size=block_size)


class ReferenceGRACE(torch.nn.Module):
    """GRACE as the official code writes it: GCNConv on edge_index, dense N×N loss."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv
        self.conv1 = GCNConv(num_features, 2 * HIDDEN)
        self.conv2 = GCNConv(2 * HIDDEN, HIDDEN)
        self.fc1 = torch.nn.Linear(HIDDEN, PROJ)
        self.fc2 = torch.nn.Linear(PROJ, HIDDEN)

    def encode(self, x, edge_index):
        return F.relu(self.conv2(F.relu(self.conv1(x, edge_index)), edge_index))

    def semi_loss(self, z1, z2):
        refl = torch.exp(F.normalize(z1) @ F.normalize(z1).t() / TAU)
        between = torch.exp(F.normalize(z1) @ F.normalize(z2).t() / TAU)
        return -torch.log(between.diag() / (refl.sum(1) + between.sum(1) - refl.diag()))

    def loss(self, graph):
        from torch_geometric.utils import dropout_edge
        zs = []
        for pe, pf in zip(DROP_EDGE, DROP_FEATURE):
            edge_index, _ = dropout_edge(graph.edge_index, p=pe)
            drop = torch.rand(graph.x.size(1)) < pf
            x = graph.x.clone()
            x[:, drop] = 0
            z = self.encode(x, edge_index)
            zs.append(self.fc2(F.elu(self.fc1(z))))
        return 0.5 * (self.semi_loss(zs[0], zs[1]) + self.semi_loss(zs[1], zs[0])).mean()


def matmul_rate(trials: int = 5) -> float:
    """Best measured float32 GEMM rate (flop/s) at the loss's tile shape, over ``trials``
    (the floor is what the machine can do, so the best trial, not a noisy mean)."""
    a, b = torch.randn(1024, HIDDEN), torch.randn(1024, HIDDEN)
    out = torch.empty(1024, 1024)
    torch.mm(a, b.t(), out=out)
    best, reps = 0.0, 40
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b.t(), out=out)
        best = max(best, 2 * 1024 * 1024 * HIDDEN * reps / (time.perf_counter() - start))
    return best


def epoch_fn(side: str, graph, block_size):
    """One training epoch of ``side``; ours stores sparse features as CSR, as the Trainer does."""
    torch.manual_seed(0)
    if side == "ours":
        from graphcl.nn.features import to_sparse_features
        graph = graph.clone()
        graph.x = to_sparse_features(graph.x)
    model = build_ours(graph.num_features, block_size) if side == "ours" \
        else ReferenceGRACE(graph.num_features)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(0)

    def step():
        optimizer.zero_grad()
        loss = model.loss(graph, generator).total if side == "ours" else model.loss(graph)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def status_mb(field: str) -> float:
    """A memory field of /proc/self/status in MB (``VmRSS`` now, ``VmHWM`` the peak)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(side: str, dataset: str, block_size: int | None) -> None:
    """Subprocess entry: one side, two epochs, print its peak RSS above the data's."""
    graph = load(dataset)
    base = status_mb("VmRSS")
    step = epoch_fn(side, graph, block_size)
    for _ in range(2):
        step()
    print(json.dumps({"peak_mb": status_mb("VmHWM") - base, "base_mb": base}))


def measure_memory(side: str, dataset: str, block_size: int | None) -> float | None:
    command = [sys.executable, __file__, "--memory-child", side, "--datasets", dataset]
    if block_size:
        command += ["--block-size", str(block_size)]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(),
                          check=False)
    if done.returncode != 0:
        print(f"  memory run of {side} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+",
                        default=["cora", "amazon-photo", "coauthor-cs", "synthetic-50k"])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per side")
    parser.add_argument("--block-size", type=int, default=None)
    parser.add_argument("--reference-max-nodes", type=int, default=None,
                        help="skip the dense reference above this many nodes (default: where "
                             "its measured ~30 bytes per N² entry exceed 80%% of free memory)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs per side first")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        memory_child(args.memory_child, args.datasets[0], args.block_size)
        return 0

    allocator = {k: os.environ[k] for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")
                 if k in os.environ} or "glibc defaults"
    rate = matmul_rate()
    print(f"matmul rate {rate / 1e9:.1f} GFLOP/s; allocator: {allocator}; "
          f"threads {torch.get_num_threads()}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        graph = load(dataset)
        n, d = graph.num_nodes, HIDDEN
        dense_bytes = REFERENCE_BYTES_PER_ENTRY * n * n
        if args.reference_max_nodes is not None:
            run_reference = n <= args.reference_max_nodes
        else:  # Coauthor-CS (N = 18,333) peaked at 10.2 GB: about 30 bytes per N² entry
            run_reference = REFERENCE_BYTES_PER_ENTRY * n * n < 0.8 * available_memory()
        sides = ["ours"] + (["reference"] if run_reference else [])
        steps = {side: epoch_fn(side, graph, args.block_size) for side in sides}
        base_rss = status_mb("VmRSS")
        for _ in range(args.warmup):
            for side in sides:
                steps[side]()  # warm-up (first-call allocations, thread pools)
        times = {side: [] for side in sides}
        for _ in range(args.epochs):
            for side in sides:
                start = time.perf_counter()
                steps[side]()
                times[side].append(time.perf_counter() - start)
        median = {side: float(np.median(values)) for side, values in times.items()}
        floor_ours = 16 * n * n * d / rate
        floor_ref = 24 * n * n * d / rate
        memory = {}
        if not run_reference:
            # one side only: this process's own peak is that side's
            memory["ours"] = status_mb("VmHWM") - base_rss
        elif not args.no_memory:
            for side in sides:
                memory[side] = measure_memory(side, dataset, args.block_size)
        record = {
            "method": "grace",
            "dataset": dataset,
            "protocol": "speed: one training epoch (two views, forward and backward, Adam step)",
            "metrics": {},
            "num_nodes": n,
            "num_edges": int(graph.edge_index.size(1)),
            "num_features": graph.num_features,
            "seconds_per_epoch": median["ours"],
            "reference_seconds_per_epoch": median.get("reference"),
            "speedup": (median["reference"] / median["ours"]) if run_reference else None,
            "reference_infeasible": None if run_reference else
                f"the dense reference needs about {dense_bytes / 2**30:.0f} GiB (30 bytes per "
                f"N² entry, as measured on coauthor-cs) and the machine has "
                f"{available_memory() / 2**30:.0f} GiB free",
            "floor_seconds_per_epoch": floor_ours,
            "ratio_to_floor": median["ours"] / floor_ours,
            "reference_floor_seconds_per_epoch": floor_ref,
            "reference_ratio_to_floor": (median["reference"] / floor_ref) if run_reference else None,
            "matmul_gflops": rate / 1e9,
            "peak_memory_mb": memory.get("ours"),
            "reference_peak_memory_mb": memory.get("reference"),
            "epochs": args.epochs,
            "seeds": [0],
            "allocator": allocator,
            "hardware": hardware(),
            "command": "python benchmarks/speed.py " + " ".join(argv or sys.argv[1:]),
            "date": dt.date.today().isoformat(),
        }
        (RESULTS / f"speed_{dataset}.json").write_text(json.dumps(record, indent=2))
        ref = (f"reference {median['reference']:.3f} s ({record['speedup']:.2f}x slower, "
               f"{record['reference_ratio_to_floor']:.2f}x its floor)" if run_reference
               else record["reference_infeasible"])
        mem = ", ".join(f"{k} {v:.0f} MB" for k, v in memory.items() if v is not None)
        print(f"{dataset}: N={n} E={record['num_edges']} | ours {median['ours']:.3f} s/epoch "
              f"({record['ratio_to_floor']:.2f}x floor {floor_ours:.3f} s) | {ref} | peak {mem}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
