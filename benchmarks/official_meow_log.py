"""Record a run of the official MEOW code (jianxiangyu/MEOW ``code_meow/main.py``) from its log.

The official script trains until its early stop, then prints k-means NMI/ARI and, per label
rate (20, 40, 60 per class), the mean and spread of 50 logistic-regression probes (its
``utils/evaluate.py``: the HeCo protocol). This reads those lines, the last ``Epoch:`` line
and ``/usr/bin/time -v``'s peak RSS, and writes
``benchmarks/results/official_meow_<dataset>_seed<seed>.json`` with the metric names our
``reproduce.py meow`` uses (``macro_f1@20``, ..., ``nmi``, ``ari``; spreads over the 50 probes of
one run, not over seeds).

    /usr/bin/time -v python main.py imdb --seed 2 > LOG 2>&1
    python benchmarks/official_meow_log.py LOG --dataset imdb --seed 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

_CLUSTERING = re.compile(r"\[Clustering\] NMI: ([0-9.]+)\s+ARI: ([0-9.]+)")
_TEST = re.compile(r"\[Test Classification\] Macro-F1_mean: ([0-9.]+) var: ([0-9.]+)\s+"
                   r"Micro-F1_mean: ([0-9.]+) var: ([0-9.]+)\s+auc: ([0-9.]+) var: ([0-9.]+)")
_EPOCH = re.compile(r"^Epoch: (\d+)", re.MULTILINE)
_TOTAL = re.compile(r"Total time:\s+(\d+) s")
_MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def parse_log(text: str, ratios: tuple[int, ...] = (20, 40, 60)) -> dict:
    """Metrics (percent, ``{"mean", "std"}``), epochs run, wall seconds and peak RSS (MB)."""
    tests = _TEST.findall(text)
    clustering = _CLUSTERING.search(text)
    if len(tests) != len(ratios) or clustering is None:
        raise ValueError(f"the log holds {len(tests)} test lines (expected {len(ratios)}) and "
                         f"{'a' if clustering else 'no'} clustering line: did the run finish?")
    metrics: dict[str, dict[str, float]] = {}
    for ratio, values in zip(ratios, tests):
        macro, macro_sd, micro, micro_sd, auc, auc_sd = map(float, values)
        metrics[f"macro_f1@{ratio}"] = {"mean": macro, "std": macro_sd}
        metrics[f"micro_f1@{ratio}"] = {"mean": micro, "std": micro_sd}
        metrics[f"auc@{ratio}"] = {"mean": auc, "std": auc_sd}
    metrics["nmi"] = {"mean": float(clustering.group(1)), "std": float("nan")}
    metrics["ari"] = {"mean": float(clustering.group(2)), "std": float("nan")}
    epochs = [int(epoch) for epoch in _EPOCH.findall(text)]
    total, rss = _TOTAL.search(text), _MAX_RSS.search(text)
    return {"metrics": metrics,
            "epochs_run": max(epochs) + 1 if epochs else None,  # the log counts from 0
            "wall_seconds": int(total.group(1)) if total else None,
            "peak_memory_mb": round(int(rss.group(1)) / 1024, 1) if rss else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--dataset", required=True, help="the official name: acm, dblp, aminer, imdb")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--hardware", default=f"{os.cpu_count()} cores, 1 thread, CPU")
    args = parser.parse_args(argv)
    parsed = parse_log(Path(args.log).read_text())
    record = {
        "method": "meow (official code)",
        "dataset": args.dataset,
        "protocol": "heco (official code_meow/utils/evaluate.py)",
        "metrics": parsed["metrics"],
        "note": "std over the 50 probes of one training run (the official printout), not over seeds",
        "seconds_per_epoch": None,
        "wall_seconds_training_and_evaluation": parsed["wall_seconds"],
        "peak_memory_mb": parsed["peak_memory_mb"],
        "epochs_run": [parsed["epochs_run"]],
        "seeds": [args.seed],
        "hardware": args.hardware,
        "command": (f"cd <official MEOW checkout>/code_meow && OMP_NUM_THREADS=1 python main.py "
                    f"{args.dataset} --seed {args.seed} (jianxiangyu/MEOW, its params; patched "
                    "only for the CPU; none of it is committed)"),
        "date": dt.date.today().isoformat(),
    }
    out = RESULTS / f"official_meow_{args.dataset}_seed{args.seed}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    m = parsed["metrics"]
    print(f"official MEOW on {args.dataset}, seed {args.seed}, {parsed['epochs_run']} epochs: "
          f"Macro-F1 {m['macro_f1@20']['mean']:.2f} / {m['macro_f1@40']['mean']:.2f} / "
          f"{m['macro_f1@60']['mean']:.2f}, NMI {m['nmi']['mean']:.2f}")
    print(f"recorded in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
