"""gCooL epoch time, graphcl against the official code, alternating in one window.

    python benchmarks/gcool_side_by_side.py --official-dir /path/to/lblaoke/gCooL \\
        [--dataset amazon-photo] [--rounds 2] [--epochs 20] [--allocator tuned|default] \\
        [--precision highest] [--from-epoch 0] [--tag _s14]

Each round times the official ``main.py`` and then ``graphcl train`` on the same preset, each
in a fresh process with one thread and the same allocator settings, and keeps the median
seconds of training epochs 1..E (0-based; epoch 0 is warm-up), where DeCA and ReSC are on
in both codes. ``--from-epoch S`` times epochs S+1..S+E instead: from epoch 0.2·stride on
(100 on Photo) the official α has switched DeCA and ReSC off; the official code still
computes both (densely) and multiplies them by 0, graphcl skips them, so a 2900-epoch run
spends 96% of its epochs there. The official side starts its loop at epoch S (its cost does
not depend on the epoch number or the weights: every product is dense); graphcl trains S
epochs first and drops them. The official side runs through a timing copy of its ``main.py``
(``_graphcl_timing_main.py``, written next to it at run time from its own file: the part
before its training loop, then a loop that only trains and times ``train_epoch``; the probe
is off). The official checkout needs an importable ``nni`` (an empty stand-in module is
enough) and its data under ``~/datasets/<Name>`` (see benchmarks/README.md); none of it is
part of graphcl. ``--precision`` sets ``torch.set_float32_matmul_precision`` on both sides
(graphcl's ``train.matmul_precision``). Result:
``results/gcool_side_by_side_<dataset><tag>.json`` (all rounds; the ratio is of the medians
over rounds).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
from reproduce import hardware

OFFICIAL_NAMES = {"amazon-photo": ("Amazon-Photo", "amazon_photo.json"),
                  "amazon-computers": ("Amazon-Computers", "amazon_computers.json"),
                  "coauthor-cs": ("Coauthor-CS", "coauthor_cs.json")}
TUNED_ALLOCATOR = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "17179869184"}
HARNESS = "_graphcl_timing_main.py"
LOOP_MARKER = "    # training and testing"


def write_official_harness(official_dir: Path) -> Path:
    """The official ``main.py`` up to its training loop, then a timed training-only loop."""
    if not (official_dir / "main.py").exists():
        raise SystemExit(f"{official_dir} has no main.py: pass --official-dir a checkout of "
                         "lblaoke/gCooL")
    source = (official_dir / "main.py").read_text()
    if LOOP_MARKER not in source:
        raise SystemExit(f"{official_dir / 'main.py'} has no '{LOOP_MARKER.strip()}' line: not "
                         "the lblaoke/gCooL main.py this harness was written for")
    setup = source.split(LOOP_MARKER)[0]
    loop = '''    import os as _os, statistics as _statistics
    torch.set_float32_matmul_precision(_os.environ.get("GRAPHCL_MATMUL_PRECISION", "highest"))
    _times = []
    _first = int(_os.environ.get("GRAPHCL_FROM_EPOCH", "0"))
    for epoch in range(_first, _first + param['num_epochs'] + 1):
        _start = time()
        train_epoch(epoch)
        _times.append(time() - _start)
    print(f"GRAPHCL_TIMES {_times}")
'''
    harness = official_dir / HARNESS
    harness.write_text(setup + loop)
    return harness


def median_of_epochs(times: list[float]) -> float:
    return statistics.median(times[1:])


def time_official(official_dir: Path, dataset: str, epochs: int, env: dict) -> list[float]:
    name, param = OFFICIAL_NAMES[dataset]
    command = [sys.executable, HARNESS, "--device", "cpu", "--dataset", name, "--param",
               f"local:{param}", "--num_epochs", str(epochs)]
    out = subprocess.run(command, cwd=official_dir, env=env, capture_output=True, text=True,
                         check=False)
    match = re.search(r"GRAPHCL_TIMES (\[.*\])", out.stdout)
    if out.returncode or not match:
        raise SystemExit(f"official run failed ({out.returncode}):\n{out.stdout[-2000:]}\n"
                         f"{out.stderr[-2000:]}")
    return json.loads(match.group(1))


def time_graphcl(dataset: str, epochs: int, precision: str, env: dict,
                 from_epoch: int = 0) -> list[float]:
    """Seconds of graphcl's epochs ``from_epoch .. from_epoch + epochs`` (the first one a
    warm-up, as on the official side)."""
    with tempfile.TemporaryDirectory() as run_dir:
        command = [sys.executable, "-c", "from graphcl.cli import main; raise SystemExit(main())",
                   "train", "--method", "gcool", "--dataset", dataset, "--epochs",
                   str(from_epoch + epochs + 1), "--no-eval", "--no-progress", "--run-dir", run_dir,
                   "--set", f"train.matmul_precision={precision}"]
        out = subprocess.run(command, cwd=HERE.parent, env=env, capture_output=True, text=True,
                             check=False)
        if out.returncode:
            raise SystemExit(f"graphcl run failed:\n{out.stderr[-2000:]}")
        with open(Path(run_dir) / "log.csv") as handle:
            return [float(row["seconds"]) for row in csv.DictReader(handle)][from_epoch:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official-dir", required=True, type=Path)
    parser.add_argument("--dataset", default="amazon-photo", choices=sorted(OFFICIAL_NAMES))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--allocator", choices=("tuned", "default"), default="tuned")
    parser.add_argument("--precision", choices=("highest", "high", "medium"), default="highest")
    parser.add_argument("--from-epoch", type=int, default=0,
                        help="time epochs S+1..S+E (100: past Photo's α cut-off)")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    env = {key: value for key, value in os.environ.items() if key not in TUNED_ALLOCATOR}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               GRAPHCL_MATMUL_PRECISION=args.precision,
               GRAPHCL_FROM_EPOCH=str(args.from_epoch))
    if args.allocator == "tuned":
        env.update(TUNED_ALLOCATOR)
    write_official_harness(args.official_dir)
    rounds = []
    for round_index in range(args.rounds):
        official = time_official(args.official_dir, args.dataset, args.epochs, env)
        ours = time_graphcl(args.dataset, args.epochs, args.precision, env, args.from_epoch)
        rounds.append({"official": median_of_epochs(official), "graphcl": median_of_epochs(ours),
                       "official_epochs": official, "graphcl_epochs": ours})
        print(f"round {round_index + 1}: official {rounds[-1]['official']:.3f} s/epoch, graphcl "
              f"{rounds[-1]['graphcl']:.3f} s/epoch, "
              f"{rounds[-1]['official'] / rounds[-1]['graphcl']:.2f}x", flush=True)
    official = statistics.median(r["official"] for r in rounds)
    ours = statistics.median(r["graphcl"] for r in rounds)
    record = {
        "method": "gcool", "dataset": args.dataset,
        "protocol": f"speed: training epochs {args.from_epoch + 1}-{args.from_epoch + args.epochs} "
                    "of the official preset ("
                    + ("DeCA and ReSC on" if args.from_epoch == 0 else
                       "past the α cut-off when from epoch 0.2·stride on: the official code still "
                       "computes DeCA and ReSC, graphcl skips them")
                    + "), graphcl vs the official gCooL code, alternating processes",
        "metrics": {}, "seconds_per_epoch": round(ours, 4),
        "official_seconds_per_epoch": round(official, 4), "speedup": round(official / ours, 2),
        "peak_memory_mb": None, "epochs": args.epochs, "seeds": [39789],
        "matmul_precision": args.precision,
        "allocator": "MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=17179869184"
                     if args.allocator == "tuned" else "glibc defaults",
        # both sides run with one thread (OMP_NUM_THREADS=1 in their environment)
        "hardware": re.sub(r"\d+ threads", "1 thread each side", hardware()), "rounds": rounds,
        "command": "python benchmarks/gcool_side_by_side.py --official-dir <lblaoke/gCooL> "
                   f"--dataset {args.dataset} --rounds {args.rounds} --epochs {args.epochs} "
                   f"--allocator {args.allocator} --precision {args.precision} "
                   f"--from-epoch {args.from_epoch}",
        "date": dt.date.today().isoformat(),
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"gcool_side_by_side_{args.dataset}{args.tag}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"official {official:.3f} s/epoch, graphcl {ours:.3f} s/epoch: "
          f"{official / ours:.2f}x -> {path}")


if __name__ == "__main__":
    main()
