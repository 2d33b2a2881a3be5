"""k-means NMI of a trained multiplex gCooL model's layer embeddings and their fusions.

    python benchmarks/multiplex_layer_nmi.py RUN_DIR [--runs 3] [--tag _s18]

``RUN_DIR`` is a ``reproduce.py gcool imdb-multiplex --run-dir`` directory with one
``seed-S/`` per seed (``config.yaml`` and ``checkpoint.pt``). For each seed the encoder is
applied to every layer of the clean graph and k-means (``kmeans_scores``: DMGI's test nodes,
``--runs`` seeded runs of 10 inits) scores: each layer alone, their mean (the preset's
fusion), their concatenation, the mean with L2-normalized rows, the mean of the
projection-head outputs, and the raw features. Result:
``benchmarks/results/multiplex_layer_nmi_<dataset><tag>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from reproduce import hardware

from graphcl.data import load_dataset
from graphcl.eval.clustering import kmeans_scores
from graphcl.methods import build_method


def layer_embeddings(run: Path, graph) -> tuple[list[str], list[torch.Tensor], list[torch.Tensor]]:
    """Layer names, encoder outputs and normalized projections (one ``[N, d]`` per layer)."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    store = graph[graph.node_types[0]]
    method = build_method("gcool", store.x.size(1), **config["model"])
    method.load_state_dict(torch.load(run / "checkpoint.pt", weights_only=False)["method"])
    method.eval()
    layers = method.layers(graph)
    with torch.no_grad():
        encoded = [method.encoder(layer.x, method.adjacency(layer)) for layer in layers]
        projected = [F.normalize(method.projection(z), dim=1) for z in encoded]
    return [layer.layer for layer in layers], encoded, projected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--dataset", default="imdb-multiplex")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    seeds = sorted(args.run_dir.glob("seed-*"))
    if not seeds:
        raise SystemExit(f"{args.run_dir} has no seed-*/ directories: pass the --run-dir of a "
                         "reproduce.py gcool run on a multiplex dataset")
    graph = load_dataset(args.dataset)
    store = graph[graph.node_types[0]]

    def nmi(embedding: torch.Tensor) -> float:
        return kmeans_scores(embedding, store.y, mask=store.test_mask,
                             n_runs=args.runs)["nmi"]["mean"]

    per_seed = {}
    for run in seeds:
        layer_names, encoded, projected = layer_embeddings(run, graph)
        mean = torch.stack(encoded).mean(0)
        scores = {f"{name} alone": nmi(z) for name, z in zip(layer_names, encoded)}
        scores.update({"mean (preset fusion)": nmi(mean), "concat": nmi(torch.cat(encoded, 1)),
                       "mean, rows L2-normalized": nmi(F.normalize(mean, dim=1)),
                       "projections, mean": nmi(torch.stack(projected).mean(0)),
                       "raw features": nmi(store.x)})
        per_seed[run.name] = scores
        print(run.name, {key: round(value, 2) for key, value in scores.items()}, flush=True)
    keys = next(iter(per_seed.values())).keys()
    metrics = {f"nmi[{key}]": {"mean": statistics.mean(s[key] for s in per_seed.values()),
                               "std": statistics.pstdev(s[key] for s in per_seed.values()),
                               "values": [s[key] for s in per_seed.values()]} for key in keys}
    record = {"method": "gcool", "dataset": args.dataset,
              "protocol": f"k-means NMI on the test nodes ({args.runs} runs of 10 inits) of the "
                          "clean graph's layer embeddings and their fusions",
              "metrics": metrics, "seconds_per_epoch": None, "peak_memory_mb": None,
              "epochs": None, "seeds": [run.name for run in seeds], "hardware": hardware(),
              "command": f"python benchmarks/multiplex_layer_nmi.py RUN_DIR --runs {args.runs}",
              "date": dt.date.today().isoformat()}
    out = HERE / "results" / f"multiplex_layer_nmi_{args.dataset}{args.tag}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"recorded in {out}")


if __name__ == "__main__":
    main()
