"""POT's overhead: seconds per epoch of a base method with and without the POT term, in one
process on one graph, plus peak memory of each in a fresh subprocess.

    python benchmarks/pot_speed.py --dataset cora --epochs 20
    python benchmarks/pot_speed.py --dataset coauthor-cs --epochs 5 --base grace

Each variant (``base``: the base method alone; ``pot``: POT around the same base, same
views) trains ``--epochs`` Adam steps after two warm-up steps, alternating so both see the
same machine state. Features are stored sparse, as the trainer does. Also reported:

* the exact InfoNCE floor of the base epoch: GRACE's loss over the ``2N`` stacked
  embeddings costs about ``4·(2N)²·d`` flops (half the Gram matrix forward, recomputed plus two
  products backward), divided by the matmul rate measured here; COSTA contrasts its
  ``k = ⌊ratio·N⌋`` sketched rows instead of the ``N`` nodes, so its floor counts ``k``;
* the memory the official code's dense bounds would take: two ``N × N`` float32 matrices per
  view (computed, not allocated).

Writes ``benchmarks/results/pot_speed_<base>_<dataset><tag>.json``.
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

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def build(dataset: str, base: str, variant: str):
    """``(graph, method, optimizer, config)`` of one variant: ``base``, ``pot`` or
    ``pot-compiled`` (POT with ``compile=True``)."""
    from graphcl.config import load_config, preset_path
    from graphcl.data import load_dataset
    from graphcl.methods import build_method
    from graphcl.methods.pot import POT_OPTIONS
    from graphcl.nn.features import to_sparse_features

    preset = f"pot-{base}"
    # no preset for this dataset (e.g. Coauthor-CS): the Amazon-Photo preset's settings
    config = load_config(preset, dataset if preset_path(preset, dataset) else "amazon-photo")
    graph = load_dataset(dataset)
    graph.x = to_sparse_features(graph.x)
    model = dict(config["model"])
    if variant == "base":
        for key in POT_OPTIONS:
            model.pop(key, None)
        method = build_method(base, graph.num_features, **model)
    else:
        model["compile"] = variant == "pot-compiled"
        method = build_method(preset, graph.num_features, **model)
    optimizer = torch.optim.Adam(method.parameters(), lr=float(config["train"]["lr"]))
    return graph, method, optimizer, config


def step(method, graph, optimizer, generator) -> None:
    optimizer.zero_grad()
    method.loss(graph, generator).total.backward()
    optimizer.step()


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def high_water_mb() -> float:
    """This process's peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries that over
    ``execve`` from the parent, so a child started by a big process reports the parent's."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(dataset: str, base: str, variant: str, epochs: int) -> float:
    """Peak RSS (MB) of a fresh process that trains ``epochs`` steps of one variant."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
            "import pot_speed as p, torch, resource;"
            f"g, m, o, c = p.build({dataset!r}, {base!r}, {variant!r});"
            "gen = torch.Generator().manual_seed(0);"
            f"[p.step(m, g, o, gen) for _ in range({epochs})];"
            "print(p.high_water_mb())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--base", default="grace")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-only", action="store_true",
                        help="re-measure only the peak memory of an existing result file")
    parser.add_argument("--compile", action="store_true",
                        help="also time POT with its torch.compile'd dense part")
    parser.add_argument("--tag", default="",
                        help="suffix of the result file name, to keep an earlier measurement")
    args = parser.parse_args(argv)
    out = RESULTS / f"pot_speed_{args.base}_{args.dataset}{args.tag}.json"
    if args.memory_only:
        record = json.loads(out.read_text())
        epochs = max(3, min(record["epochs"], 5))
        record["reference_peak_memory_mb"] = peak_memory(args.dataset, args.base, "base", epochs)
        record["peak_memory_mb"] = peak_memory(args.dataset, args.base, "pot", epochs)
        out.write_text(json.dumps(record, indent=2))
        print(f"peak RSS base {record['reference_peak_memory_mb']:.0f} MB, +POT "
              f"{record['peak_memory_mb']:.0f} MB (recorded in {out})")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    from graphcl.methods.costa import COSTA
    from graphcl.train import flush_denormals

    # as training does (Trainer.fit): subnormal bounds and weights otherwise cost 10-100x
    flush_denormals()
    variants = ("base", "pot", "pot-compiled") if args.compile else ("base", "pot")
    runs = {variant: build(args.dataset, args.base, variant) for variant in variants}
    graph = runs["base"][0]
    seconds = {variant: [] for variant in variants}
    generators = {v: torch.Generator().manual_seed(0) for v in runs}
    for variant, (g, method, optimizer, _) in runs.items():
        for _ in range(3):
            step(method, g, optimizer, generators[variant])
    for _ in range(args.epochs):
        for variant, (g, method, optimizer, _) in runs.items():
            start = time.perf_counter()
            step(method, g, optimizer, generators[variant])
            seconds[variant].append(time.perf_counter() - start)
    median = {v: sorted(s)[len(s) // 2] for v, s in seconds.items()}
    n = graph.num_nodes
    base_method = runs["base"][1]
    d = base_method.projection.fc2.out_features
    # rows the base loss contrasts: COSTA sketches the N nodes down to k = ⌊ratio·N⌋ rows
    contrasted = base_method.sketch_rows(n) if isinstance(base_method, COSTA) else n
    rate = matmul_rate()
    floor = 4 * (2 * contrasted) ** 2 * d / rate
    memory = {v: peak_memory(args.dataset, args.base, v, max(3, min(args.epochs, 5)))
              for v in ("base", "pot")}
    dense_bounds_mb = 2 * 2 * n * n * 4 / 2**20
    record = {
        "method": f"pot-{args.base}",
        "dataset": args.dataset,
        "protocol": "speed",
        "metrics": {},
        "seconds_per_epoch": median["pot"],
        "reference_seconds_per_epoch": median["base"],
        "overhead_ratio": median["pot"] / median["base"],
        "infonce_floor_seconds": floor,
        "infonce_floor_rows": contrasted,
        "base_epoch_to_floor": median["base"] / floor,
        "matmul_gflops": rate / 1e9,
        "peak_memory_mb": memory["pot"],
        "reference_peak_memory_mb": memory["base"],
        "official_dense_bounds_mb": dense_bounds_mb,
        "epochs": args.epochs,
        "seeds": [0],
        "hardware": f"{os.cpu_count()} cores, {torch.get_num_threads()} threads, torch "
                    f"{torch.__version__}",
        "environment": {k: os.environ[k] for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_",
                                                   "OMP_NUM_THREADS") if k in os.environ},
        "flush_denormals": True,
        "command": "python benchmarks/pot_speed.py " + " ".join(argv or sys.argv[1:]),
        "date": dt.date.today().isoformat(),
        "peak_rss_this_process_mb": high_water_mb(),
    }
    if args.compile:
        record["compiled_seconds_per_epoch"] = median["pot-compiled"]
        record["compiled_overhead_ratio"] = median["pot-compiled"] / median["base"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(f"{args.base} on {args.dataset} (N={n}): base {median['base']:.3f} s/epoch, "
          f"+POT {median['pot']:.3f} s/epoch ({record['overhead_ratio']:.2f}x); InfoNCE floor "
          f"{floor:.3f} s (base at {record['base_epoch_to_floor']:.1f}x); peak RSS base "
          f"{memory['base']:.0f} MB, +POT {memory['pot']:.0f} MB; the official dense bounds "
          f"would hold {dense_bounds_mb:.0f} MB")
    if args.compile:
        print(f"+POT with compile=True: {median['pot-compiled']:.3f} s/epoch "
              f"({record['compiled_overhead_ratio']:.2f}x)")
    print(f"recorded in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
