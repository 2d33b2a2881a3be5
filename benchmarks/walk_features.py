"""Meta-path walk features on their own: build time, peak memory, and a linear probe.

    python benchmarks/walk_features.py aminer
    python benchmarks/walk_features.py aminer --dim 64 --window 10
    python benchmarks/walk_features.py aminer --per-metapath   # each meta-path's walk alone

Builds :class:`graphcl.augment.WalkEmbeddingFeatures` (NetMF of the preset's meta-path walks)
for the target type of a heterogeneous dataset, then evaluates the raw embedding with the
``heco`` protocol and the MEOW preset's probe settings. This is the baseline a method trained
on these inputs has to beat. With ``--per-metapath`` each meta-path's walk is embedded on its
own (``per_metapath=True``, MEOW's ``view_features`` inputs) and probed alone and
concatenated. Writes ``results/walk_features_<dataset>[_per_metapath].json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reproduce
import torch

from graphcl.augment import WalkEmbeddingFeatures
from graphcl.config import load_config
from graphcl.data import load_dataset
from graphcl.train import evaluate_embeddings

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--method", default="meow", help="preset whose meta-paths and probe "
                        "settings are used")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--root", default=None)
    parser.add_argument("--per-metapath", action="store_true",
                        help="embed each meta-path's walk on its own; probe each and their "
                        "concatenation")
    args = parser.parse_args(argv)
    config = load_config(args.method, args.dataset)
    metapaths = config["model"]["metapaths"]
    graph = load_dataset(args.dataset, root=args.root)
    start = time.perf_counter()
    transform = WalkEmbeddingFeatures(metapaths, dim=args.dim, window=args.window,
                                      per_metapath=args.per_metapath)
    featured = transform(graph)
    build_seconds = time.perf_counter() - start
    target = metapaths[0][0]

    def probe(embedding):
        torch.manual_seed(0)
        result = evaluate_embeddings(embedding, graph, {**config["eval"], "seed": 0})
        return {name: {"mean": stats["mean"], "std": stats["std"]}
                for name, stats in result.metrics.items()}

    per_metapath = {}
    if args.per_metapath:
        stacked = featured[target].x_metapath
        for position, metapath in enumerate(metapaths):
            per_metapath["-".join(metapath)] = probe(stacked[:, position])
        metrics = probe(stacked.flatten(1))
    else:
        metrics = probe(featured[target].x)
    record = {
        "method": "walk-features",
        "dataset": args.dataset,
        "protocol": config["eval"].get("protocol"),
        "metrics": metrics,
        "features": repr(transform) + (" (meta-path embeddings concatenated)"
                                       if args.per_metapath else ""),
        "per_metapath_metrics": per_metapath or None,
        "build_seconds": build_seconds,
        "seconds_per_epoch": None,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "epochs": 0,
        "seeds": [0],
        "hardware": reproduce.hardware(),
        "environment": reproduce.recorded_environment(),
        "command": "python benchmarks/walk_features.py " + " ".join(argv or sys.argv[1:]),
        "date": dt.date.today().isoformat(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "_per_metapath" if args.per_metapath else ""
    out = RESULTS / f"walk_features_{args.dataset}{suffix}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"{transform} on {args.dataset}: built in {build_seconds:.1f} s")
    for name, values in [*per_metapath.items(), ("probe", metrics)]:
        print(f"  {name}: " + " | ".join(f"{k} {v['mean']:.2f} ± {v['std']:.2f}"
                                         for k, v in values.items()))
    print(f"recorded in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
