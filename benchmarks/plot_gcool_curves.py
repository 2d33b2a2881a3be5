"""gCooL's test F1 during training, graphcl against the official code, as one figure.

    python benchmarks/plot_gcool_curves.py --official results/official_gcool_amazon-photo_seed39789.json \\
        --ours results/seeds/reproduce_gcool_amazon-photo_onepass/seed-39789.json [--ours ...] \\
        --out results/gcool_curves_amazon-photo.png

The official script prints the test Micro-/Macro-F1 every 100 epochs (a fresh probe on a new
random 10/10/80 split, the best over probe epochs); graphcl's runs with ``train.eval_every``
record the same evaluation (protocol ``gcool``) in their seed files
(``periodic_evaluations``). Both metrics are drawn, one panel each (``_micro``/``_macro`` in
the file name).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from graphcl.viz import plot_curves


def official_curve(record: dict, metric: str) -> tuple[list[int], list[float]]:
    rows = record["printed_evaluations"]
    return [row["epoch"] for row in rows], [row[metric] for row in rows]


def our_curve(record: dict, metric: str, protocol: str = "gcool") -> tuple[list[int], list[float]]:
    rows = record.get("periodic_evaluations") or []
    key = f"{protocol}/{metric}"
    rows = [row for row in rows if key in row or metric in row]
    if not rows:
        raise ValueError("the seed record has no periodic evaluations; train with "
                         "--set train.eval_every=100 to record them")
    return [row["epoch"] for row in rows], [row.get(key, row.get(metric)) for row in rows]


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", type=Path, required=True)
    parser.add_argument("--ours", type=Path, action="append", required=True,
                        help="a seed record of reproduce.py (repeatable)")
    parser.add_argument("--label", action="append", default=None,
                        help="legend label per --ours (default: the record's directory name)")
    parser.add_argument("--out", type=Path, required=True, help="PNG path; _micro/_macro added")
    args = parser.parse_args(argv)
    labels = args.label or [path.parent.name for path in args.ours]
    if len(labels) != len(args.ours):
        parser.error("give one --label per --ours")
    official = json.loads(args.official.read_text())
    ours = [json.loads(path.read_text()) for path in args.ours]
    written = []
    for metric, name in (("micro_f1", "Micro-F1"), ("macro_f1", "Macro-F1")):
        curves = {"official code": official_curve(official, metric)}
        for label, record in zip(labels, ours):
            curves[f"graphcl: {label}"] = our_curve(record, metric)
        out = args.out.with_name(f"{args.out.stem}_{metric.split('_')[0]}{args.out.suffix}")
        written.append(plot_curves(curves, out, ylabel=f"test {name} (%)", marker="o",
                                   markersize=3, title=f"gCooL, {official['dataset']}"))
        print(f"wrote {out}")
    return written


if __name__ == "__main__":
    main()
