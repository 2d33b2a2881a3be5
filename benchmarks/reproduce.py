"""Reproduce a method's published numbers: ``python benchmarks/reproduce.py METHOD DATASET``.

Trains the bundled preset (the official hyper-parameters) once per seed, evaluates with the
preset's protocol, prints paper vs ours, and records the result as JSON under
``benchmarks/results/`` (plus the markdown row to paste into ``benchmarks/README.md``).

Examples::

    python benchmarks/reproduce.py grace cora --seeds 5
    python benchmarks/reproduce.py grace cora --seeds 5 --protocol clean
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from graphcl.config import load_config
from graphcl.train import train_from_config

RESULTS = Path(__file__).resolve().parent / "results"

# Published numbers, in percent, with where they were read.
PAPER = {
    ("grace", "cora"): {"micro_f1": (83.3, 0.4),
                        "source": "Zhu et al. 2020 (GRACE), Table 3, Cora accuracy"},
    ("grace", "citeseer"): {"micro_f1": (72.1, 0.5),
                            "source": "Zhu et al. 2020 (GRACE), Table 3"},
    ("grace", "pubmed"): {"micro_f1": (86.7, 0.1),
                          "source": "Zhu et al. 2020 (GRACE), Table 3"},
}


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} threads, {device}, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method")
    parser.add_argument("dataset")
    parser.add_argument("--seeds", type=int, default=5, help="training runs (seeds preset+0..k-1)")
    parser.add_argument("--protocol", default=None, help="override the preset's eval protocol")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--root", default=None)
    parser.add_argument("--tag", default="", help="suffix of the result file name")
    parser.add_argument("--run-dir", default=None,
                        help="keep each seed's checkpoints in RUN_DIR/seed-N and resume from them "
                             "(long runs survive being killed)")
    args = parser.parse_args(argv)

    base = load_config(args.method, args.dataset, overrides=args.overrides)
    if args.protocol:
        base["eval"] = {**base.get("eval", {}), "protocol": args.protocol}
    protocol = base["eval"]["protocol"]
    first_seed = int(base["train"]["seed"])
    per_seed, seconds = [], []
    start = time.perf_counter()
    for offset in range(args.seeds):
        config = json.loads(json.dumps(base))
        config["train"]["seed"] = first_seed + offset
        # fresh evaluation splits per training run, so runs do not share split luck
        config["eval"]["seed"] = first_seed + offset
        run_dir = None if args.run_dir is None else Path(args.run_dir) / f"seed-{first_seed + offset}"
        outcome = train_from_config(config, root=args.root, device=args.device, progress=False,
                                    run_dir=run_dir, resume=run_dir is not None)
        metrics = outcome["metrics"].metrics
        per_seed.append({name: metrics[name]["mean"] for name in metrics})
        seconds.append(outcome["seconds_per_epoch"])
        print(f"seed {first_seed + offset}: " + ", ".join(
            f"{k} {v:.2f}" for k, v in per_seed[-1].items()) +
            f" | {outcome['seconds_per_epoch']:.3f} s/epoch", flush=True)

    summary = {name: {"mean": float(np.mean([run[name] for run in per_seed])),
                      "std": float(np.std([run[name] for run in per_seed])),
                      "values": [run[name] for run in per_seed]}
               for name in per_seed[0]}
    paper = PAPER.get((args.method, args.dataset))
    record = {
        "method": args.method,
        "dataset": args.dataset,
        "protocol": protocol,
        "metrics": summary,
        "paper": paper,
        "seconds_per_epoch": float(np.median(seconds)),
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "epochs": int(base["train"]["epochs"]),
        "seeds": [first_seed + k for k in range(args.seeds)],
        "hardware": hardware(),
        "config": base,
        "command": "python benchmarks/reproduce.py " + " ".join(argv or sys.argv[1:]),
        "wall_seconds": time.perf_counter() - start,
        "date": dt.date.today().isoformat(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"reproduce_{args.method}_{args.dataset}_{protocol}{args.tag}.json"
    (RESULTS / name).write_text(json.dumps(record, indent=2))

    print(f"\n{args.method} on {args.dataset}, protocol {protocol}, {args.seeds} seeds")
    if paper:
        for metric, (mean, std) in ((k, v) for k, v in paper.items() if k != "source"):
            print(f"  paper {metric}: {mean:.2f} ± {std:.2f}   ({paper['source']})")
    for metric, stats in summary.items():
        print(f"  ours  {metric}: {stats['mean']:.2f} ± {stats['std']:.2f}")
    print(f"  seconds per epoch (median): {record['seconds_per_epoch']:.3f}; "
          f"peak RSS {record['peak_memory_mb']:.0f} MB")
    print(f"  recorded in {RESULTS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
