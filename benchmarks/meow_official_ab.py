"""MEOW epoch time, ours against the official code, epochs alternating in one process.

    python benchmarks/meow_official_ab.py --official-dir /tmp/official_meow/code_meow \\
        [--dataset acm] [--epochs 12] [--warmup 2] [--threads 2] [--kmeans-backend torch] \\
        [--tag _s19]

The official ``code_meow`` (jianxiangyu/MEOW, patched only to run on the CPU: faiss
``IndexFlatIP``, ``.cuda()`` → CPU, ``np.float`` → ``np.float64``; not part of graphcl) is
imported from ``--official-dir`` with its own data loader, parameters and seed, and trained
step for step beside ours: official epoch ``e``, then ours, then official ``e + 1``, ... Each
epoch is zero_grad + forward (k-means included) + backward + step on both sides. The
machine's speed drifts by up to 25% between minutes (shared host), so only epochs taken next
to each other are compared: the record holds both medians and the median of the per-epoch
ratios. Needs faiss-cpu (the official k-means) in this environment.
Result: ``benchmarks/results/meow_official_ab_<dataset>[_<backend>][<tag>].json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import ENVIRONMENT, hardware


@contextlib.contextmanager
def _inside(directory: Path, argv: list[str]):
    """Run with ``directory`` as cwd, first on ``sys.path`` and ``sys.argv`` as given (the
    official code reads its dataset from ``sys.argv[1]`` and its files by relative paths)."""
    cwd, old_argv = os.getcwd(), sys.argv
    os.chdir(directory)
    sys.path.insert(0, str(directory))
    sys.argv = argv
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.argv = old_argv
        sys.path.remove(str(directory))


# the official code's dataset names that differ from graphcl's load_dataset names
GRAPHCL_NAMES = {"dblp": "dblp-hetero"}


def official_step(directory: Path, dataset: str):
    """The official set-up (as its ``main.train``), returning one training step."""
    with _inside(directory, ["main.py", dataset]):
        import main as official
        from module.meow import MEOW as OfficialMEOW
        from module.preprocess import mask_edges, mask_features, normalize_adj, pathsim
        from utils import load_data

        args = official.args
        nei_index, feats, adjs, *_ = load_data(args.dataset, args.ratio, args.type_num)
        dims = [64, 64, 64] if args.dataset == "aminer" else [f.shape[1] for f in feats]
        adjs = pathsim(adjs, args.nei_max)
        mask_feat = mask_features(feats[0], args.feat_mask)
        adjs_norm = [normalize_adj(adj) for adj in adjs]
        mask_adjs = mask_edges(adjs, len(adjs), args.adj_mask)
        model = OfficialMEOW(dims, len(adjs), args.hidden_dim, args.embed_dim, args.tau,
                             adjs_norm, args.lam_proto, args.dropout, nei_index, args.dataset)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.l2_coef)

    def step() -> float:
        model.train()
        optimizer.zero_grad()
        loss = model(feats, mask_feat, mask_adjs, adjs_norm, args.num_cluster)
        loss.backward()
        optimizer.step()
        return float(loss)

    return step


def our_step(dataset: str, kmeans_backend: str | None):
    from graphcl.config import load_config
    from graphcl.data import load_dataset
    from graphcl.methods import build_method
    from graphcl.train import _with_sparse_features

    config = load_config("meow", dataset)
    graph = _with_sparse_features(load_dataset(dataset))
    options = dict(config["model"])
    if kmeans_backend:
        options["kmeans_backend"] = kmeans_backend
    torch.manual_seed(int(config["train"]["seed"]))
    model = build_method("meow", graph.num_features, **options)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(config["train"]["lr"]),
                                 weight_decay=float(config["train"].get("weight_decay", 0.0)))
    generator = torch.Generator().manual_seed(int(config["train"]["seed"]))

    def step() -> float:
        model.train()
        optimizer.zero_grad()
        out = model.loss(graph, generator)
        out.total.backward()
        optimizer.step()
        return float(out.total)

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-dir", required=True, type=Path)
    parser.add_argument("--dataset", default="acm")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kmeans-backend", default=None, choices=["torch", "faiss"])
    parser.add_argument("--tag", default="", help="suffix of the result file name (one per "
                        "machine or session, so a new host does not overwrite an older record)")
    args = parser.parse_args(argv)
    if not (args.official_dir / "main.py").is_file():
        parser.error(f"{args.official_dir} has no main.py: point --official-dir at the "
                     "official code_meow/ directory")
    import faiss

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    official = official_step(args.official_dir.resolve(), args.dataset)
    ours = our_step(GRAPHCL_NAMES.get(args.dataset, args.dataset), args.kmeans_backend)
    times = {"official": [], "ours": []}
    for epoch in range(args.warmup + args.epochs):
        for name, step in (("official", official), ("ours", ours)):
            start = time.perf_counter()
            step()
            if epoch >= args.warmup:
                times[name].append(time.perf_counter() - start)
        if epoch >= args.warmup:
            print(f"epoch {epoch}: official {times['official'][-1]:.3f} s, ours "
                  f"{times['ours'][-1]:.3f} s", flush=True)
    ratios = [o / u for o, u in zip(times["official"], times["ours"])]
    backend = args.kmeans_backend or "torch"
    record = {
        "method": "meow", "dataset": GRAPHCL_NAMES.get(args.dataset, args.dataset), "protocol": "speed (epochs alternating)",
        "metrics": {},
        "seconds_per_epoch": statistics.median(times["ours"]),
        "official_seconds_per_epoch": statistics.median(times["official"]),
        "speedup_vs_official": statistics.median(times["official"])
        / statistics.median(times["ours"]),
        "median_paired_speedup": statistics.median(ratios),
        "seconds_per_epoch_all": times["ours"], "official_seconds_per_epoch_all":
        times["official"], "kmeans_backend": backend, "threads": args.threads,
        "peak_memory_mb": None, "epochs": args.epochs, "warmup_epochs": args.warmup,
        "seeds": [0], "hardware": hardware(),
        "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ},
        "command": "python benchmarks/meow_official_ab.py " + " ".join(argv or sys.argv[1:]),
        "date": dt.date.today().isoformat(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = f"_{args.kmeans_backend}" if args.kmeans_backend else ""
    name = GRAPHCL_NAMES.get(args.dataset, args.dataset)
    (RESULTS / f"meow_official_ab_{name}{suffix}{args.tag}.json").write_text(
        json.dumps(record, indent=2))
    print(f"meow {args.dataset} ({backend} k-means): ours {record['seconds_per_epoch']:.3f} s, "
          f"official {record['official_seconds_per_epoch']:.3f} s per epoch: "
          f"{record['speedup_vs_official']:.2f}x (median paired {record['median_paired_speedup']:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
