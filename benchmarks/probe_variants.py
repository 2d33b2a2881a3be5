"""The same trained embeddings under several linear-probe settings: how much of a comparison
is the probe's doing.

    python benchmarks/probe_variants.py --dataset amazon-photo --seed 12351 \\
        --run grace=/work/runs/ph_base/seed-12351 --run grace+pot=/work/runs/ph_pot/seed-12351 \\
        --tag _pot_grace_seed12351

Each ``--run NAME=DIR`` names a run directory holding the ``embeddings.pt`` that training
saved (``graphcl train`` / ``reproduce.py --run-dir``). Every run is probed with the
``clean`` protocol (embeddings L2-normalized, 5 seeded 10/10/80 splits) and the ``pot``
protocol (no normalization, as POT-GCL's ``log_regression``), each also with the other
normalization and ``pot`` also over 5 splits; ``--seed`` is the evaluation seed
(``reproduce.py`` passes the training seed, so the recorded numbers come back). Also recorded:
the embeddings' row norms (mean and coefficient of variation), which only the unnormalized
probes see. Writes ``results/probe_variants_<dataset><tag>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
from reproduce import hardware

#: name -> (protocol, options): the two recorded protocols and their variants
VARIANTS = {
    "clean": ("clean", {}),
    "clean, unnormalized": ("clean", {"normalize": False}),
    "pot": ("pot", {}),
    "pot, 5 splits": ("pot", {"num_splits": 5}),
    "pot, 5 splits, normalized": ("pot", {"num_splits": 5, "normalize": True}),
}


def load_embeddings(run_dir: Path) -> torch.Tensor:
    path = run_dir / "embeddings.pt"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: pass run directories of finished training "
                         "runs (graphcl train --run-dir / reproduce.py --run-dir)")
    saved = torch.load(path, map_location="cpu")
    return saved["embeddings"] if isinstance(saved, dict) else saved


def probe_variants(embeddings: torch.Tensor, y: torch.Tensor, seed: int) -> dict:
    from graphcl.eval import evaluate

    norms = embeddings.norm(dim=1)
    out = {"row_norm_mean": float(norms.mean()),
           "row_norm_cv": float(norms.std() / norms.mean())}
    for name, (protocol, options) in VARIANTS.items():
        result = evaluate(embeddings, y, protocol=protocol, seed=seed, **options)
        out[name] = {metric: result.metrics[metric]["mean"] for metric in ("micro_f1", "macro_f1")}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--run", action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed")
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.run:
        name, sep, directory = item.partition("=")
        if not sep or not name or not directory:
            raise SystemExit(f"--run takes NAME=DIR, got {item!r}")
        runs[name] = Path(directory)
    from graphcl.data import load_dataset

    torch.set_num_threads(1)
    graph = load_dataset(args.dataset)
    results = {}
    for name, directory in runs.items():
        embeddings = load_embeddings(directory)
        if embeddings.size(0) != graph.num_nodes:
            raise SystemExit(f"{directory} holds {embeddings.size(0)} embeddings; "
                             f"{args.dataset} has {graph.num_nodes} nodes")
        results[name] = probe_variants(embeddings, graph.y, args.seed)
        print(name, {k: (round(v["micro_f1"], 2) if isinstance(v, dict) else round(v, 3))
                     for k, v in results[name].items()}, flush=True)
    record = {"method": " vs ".join(runs), "dataset": args.dataset,
              "protocol": "probe variants: " + ", ".join(VARIANTS),
              "metrics": {name: {variant: values for variant, values in result.items()
                                 if isinstance(values, dict)} for name, result in results.items()},
              "row_norms": {name: {k: v for k, v in result.items() if k.startswith("row_norm")}
                            for name, result in results.items()},
              "runs": {name: str(directory) for name, directory in runs.items()},
              "seeds": [args.seed], "hardware": hardware(),
              "command": "python benchmarks/probe_variants.py " + " ".join(
                  argv if argv is not None else sys.argv[1:]),
              "date": dt.date.today().isoformat()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"probe_variants_{args.dataset}{args.tag}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"recorded in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
