"""Does POT help? A paired comparison of ``reproduce.py pot BASE DATASET`` with and without
the POT term, seed by seed (both runs use the same seeds, views and evaluation splits).

    python benchmarks/pot_compare.py grace cora --protocol pot
    python benchmarks/pot_compare.py grace cora --protocol clean
    python benchmarks/pot_compare.py costa cora --protocol clean --pot-tag _kappa0.1

Reads ``results/reproduce_pot-BASE_DATASET_PROTOCOL[POT_TAG].json`` and
``results/reproduce_BASE-potbase_DATASET_PROTOCOL.json`` and pairs them by seed (the seeds both
hold); reports per metric the mean ± std of each arm, the mean paired difference with its 95 %
t interval, the paired t-test and the Wilcoxon signed-rank p-values; writes
``results/pot_compare_BASE_DATASET_PROTOCOL[POT_TAG].json`` (with each arm's per-seed values)
and, when matplotlib is installed, the paired plot ``...[POT_TAG].png`` (one line per seed).
``--pot-tag`` names another POT run of the same preset, e.g. one κ of ``pot_kappa.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from graphcl.eval import t_interval_halfwidth

RESULTS = Path(__file__).resolve().parent / "results"


def compare(base: str, dataset: str, protocol: str, pot_tag: str = "") -> dict:
    with_pot = json.loads(
        (RESULTS / f"reproduce_pot-{base}_{dataset}_{protocol}{pot_tag}.json").read_text())
    without = json.loads((RESULTS / f"reproduce_{base}-potbase_{dataset}_{protocol}.json").read_text())
    seeds = [seed for seed in with_pot["seeds"] if seed in without["seeds"]]
    if not seeds:
        raise ValueError(f"the two runs share no seed: {with_pot['seeds']} vs "
                         f"{without['seeds']}; run both with the same --seeds")
    command = f"python benchmarks/pot_compare.py {base} {dataset} --protocol {protocol}"
    out = {"method": f"pot-{base}{pot_tag} vs {base}", "dataset": dataset, "protocol": protocol,
           "seeds": seeds, "metrics": {}, "date": dt.date.today().isoformat(),
           "command": command + (f" --pot-tag {pot_tag}" if pot_tag else ""),
           "seconds_per_epoch": with_pot["seconds_per_epoch"],
           "reference_seconds_per_epoch": without["seconds_per_epoch"],
           "paper": with_pot.get("paper")}
    for metric in ("micro_f1", "macro_f1"):
        a = np.asarray([with_pot["metrics"][metric]["values"][with_pot["seeds"].index(seed)]
                        for seed in seeds])
        b = np.asarray([without["metrics"][metric]["values"][without["seeds"].index(seed)]
                        for seed in seeds])
        diff = a - b
        n = len(diff)
        half = t_interval_halfwidth(diff)
        out["metrics"][metric] = {
            "with_pot": {"mean": float(a.mean()), "std": float(a.std()),
                         "values": a.tolist()},
            "without_pot": {"mean": float(b.mean()), "std": float(b.std()),
                            "values": b.tolist()},
            "difference": {"mean": float(diff.mean()), "ci95": [float(diff.mean() - half),
                                                                 float(diff.mean() + half)]},
            "paired_t_p": float(stats.ttest_rel(a, b).pvalue) if n > 1 else float("nan"),
            "wilcoxon_p": (float(stats.wilcoxon(a, b).pvalue)
                           if n > 1 and np.any(diff != 0) else float("nan")),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("dataset")
    parser.add_argument("--protocol", default="pot")
    parser.add_argument("--pot-tag", default="",
                        help="suffix of the POT run's record, e.g. _kappa0.1 from pot_kappa.py")
    args = parser.parse_args(argv)
    record = compare(args.base, args.dataset, args.protocol, args.pot_tag)
    path = RESULTS / f"pot_compare_{args.base}_{args.dataset}_{args.protocol}{args.pot_tag}.json"
    path.write_text(json.dumps(record, indent=2))
    try:
        from graphcl.viz import plot_paired_arms

        figure = plot_paired_arms(
            {metric: (m["without_pot"]["values"], m["with_pot"]["values"])
             for metric, m in record["metrics"].items()},
            path.with_suffix(".png"), arms=(args.base, f"{args.base}+POT"),
            title=f"{args.dataset}, {args.protocol} protocol{args.pot_tag}: each line one seed")
        print(f"plotted {figure}")
    except ImportError as error:
        print(f"no plot ({error})")
    for metric, m in record["metrics"].items():
        d = m["difference"]
        print(f"{metric}: {args.base} {m['without_pot']['mean']:.2f} ± {m['without_pot']['std']:.2f}"
              f" -> +POT {m['with_pot']['mean']:.2f} ± {m['with_pot']['std']:.2f}; difference "
              f"{d['mean']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}], paired t p = "
              f"{m['paired_t_p']:.3f}, Wilcoxon p = {m['wilcoxon_p']:.3f}")
    print(f"{len(record['seeds'])} paired seeds; recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
