"""Choose POT's κ on validation only, then report test: a grid of ``reproduce.py pot`` runs.

    python benchmarks/pot_kappa.py grace cora --kappas 0.1,0.2,0.3,0.4,0.5 --seeds 5

Each κ trains the ``pot-BASE`` preset on the same seeds and evaluates with the ``clean``
protocol (public split as named); the κ with the best mean *validation* Micro-F1 is chosen
and its test numbers are reported beside every other κ's (which are shown, not used).
Writes ``results/pot_kappa_BASE_DATASET.json``; each run also leaves its own
``reproduce_pot-BASE_DATASET_clean_kappaK.json``. An interrupted grid resumes: every finished
seed of every κ is reused (``reproduce.py --resume``, checked by its fingerprint), and with
``--run-dir DIR`` the seed in progress continues from its checkpoint in ``DIR/kappaK``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reproduce

RESULTS = Path(__file__).resolve().parent / "results"


def _reusable(path: Path, seeds: int, overrides: list[str]) -> bool:
    """A κ's record can stand in for a new run: same number of seeds, validation scores
    recorded (older records lack them), no extra overrides asked for."""
    if overrides or not path.exists():
        return False
    record = json.loads(path.read_text())
    return len(record.get("seeds", [])) == seeds and "validation" in record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("dataset")
    parser.add_argument("--kappas", default="0.1,0.2,0.3,0.4,0.5")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="extra preset overrides, passed on to reproduce.py")
    parser.add_argument("--run-dir", default=None,
                        help="keep each run's checkpoints under RUN_DIR/kappaK (resumable)")
    parser.add_argument("--rerun", action="store_true",
                        help="train every kappa again, even one whose record already holds "
                             "the same seeds with validation scores")
    args = parser.parse_args(argv)
    kappas = [float(k) for k in args.kappas.split(",")]
    rows = []
    for kappa in kappas:
        tag = f"_kappa{kappa:g}"
        path = RESULTS / f"reproduce_pot-{args.base}_{args.dataset}_clean{tag}.json"
        if not args.rerun and _reusable(path, args.seeds, args.overrides):
            print(f"kappa {kappa:g}: reusing {path.name}")
        else:
            run_dir = ([] if args.run_dir is None
                       else ["--run-dir", str(Path(args.run_dir) / f"kappa{kappa:g}")])
            reproduce.main(["pot", args.base, args.dataset, "--seeds", str(args.seeds),
                            "--protocol", "clean", "--set", f"model.kappa={kappa}", "--tag", tag,
                            *([] if args.rerun else ["--resume"]), *run_dir,
                            *[arg for o in args.overrides for arg in ("--set", o)]])
        record = json.loads(path.read_text())
        rows.append({"kappa": kappa,
                     "validation_micro_f1": record["validation"]["micro_f1"]["mean"],
                     "test_micro_f1": record["metrics"]["micro_f1"],
                     "test_macro_f1": record["metrics"]["macro_f1"]})
    chosen = max(rows, key=lambda row: row["validation_micro_f1"])
    out = {"method": f"pot-{args.base}", "dataset": args.dataset, "protocol": "clean",
           "selection": "best mean validation Micro-F1", "chosen_kappa": chosen["kappa"],
           "metrics": {"micro_f1": chosen["test_micro_f1"], "macro_f1": chosen["test_macro_f1"]},
           "grid": rows, "seeds": args.seeds, "date": dt.date.today().isoformat(),
           "command": "python benchmarks/pot_kappa.py " + " ".join(argv or sys.argv[1:])}
    path = RESULTS / f"pot_kappa_{args.base}_{args.dataset}.json"
    path.write_text(json.dumps(out, indent=2))
    for row in rows:
        mark = "  <- chosen on validation" if row is chosen else ""
        print(f"kappa {row['kappa']:.2f}: validation {row['validation_micro_f1']:.2f}, test "
              f"{row['test_micro_f1']['mean']:.2f} ± {row['test_micro_f1']['std']:.2f}{mark}")
    print(f"recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
