"""POT's overhead, graphcl against the official POT-GCL code, on the same machine and preset.

    python benchmarks/pot_official_speed.py --official-dir /path/to/POT-GCL/GRACE \\
        --dataset amazon-photo [--epochs 6] [--warmup 2] [--allocator tuned|default] [--tag _s20]

Runs the official ``GRACE/train.py`` twice, without and with ``--use_pot``, each in a fresh
process with one thread, for ``--epochs`` epochs, and reads the seconds it prints per epoch
(``this epoch ...``); the first ``--warmup`` epochs are left out (the official POT's first epoch
also computes its dense bound matrices, or reads them from ``~/datasets/bounds``). Then
``pot_speed.py`` times graphcl's GRACE and GRACE+POT in the same environment. Both sides train
graphcl's ``pot-grace_<dataset>`` preset: its edge-drop rates, τ and κ are passed to the
official script (whose argparse defaults otherwise override its ``config.yaml`` entry), and the
official ``config.yaml`` gives the same widths and learning rate.

Peak memory is each official process's ``VmHWM``, read at its exit by a small wrapper; graphcl's
comes from ``pot_speed.py`` (a fresh process per variant).

The official checkout is not part of graphcl: it needs its data under ``~/datasets`` as its
``my_utils.get_dataset`` expects (``~/datasets/Photo/raw/amazon_electronics_photo.npz``;
``~/datasets/Cora/raw/...``), ``~/datasets/bounds/`` to exist, ``torch.cuda.set_device``
removed for a CPU run, and ``torch.load(..., weights_only=False)`` for its pickled bound
cache under torch ≥ 2.6. Writes ``results/pot_official_speed_grace_<dataset><tag>.json``.
"""

from __future__ import annotations

import argparse
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

OFFICIAL_NAMES = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed",
                  "amazon-photo": "Photo", "amazon-computers": "Computers"}
TUNED_ALLOCATOR = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "17179869184"}
EPOCH_LINE = re.compile(r"Epoch=(\d+), loss=[-\d.naninf]+, this epoch ([\d.]+)")
PEAK_LINE = re.compile(r"GRAPHCL_VMHWM_MB ([\d.]+)")
# runs the official train.py as __main__ and prints the process's peak RSS when it exits
WRAPPER = (
    "import atexit, runpy, sys\n"
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            print('GRAPHCL_VMHWM_MB', int(line.split()[1]) / 1024, flush=True)\n"
    "atexit.register(_peak)\n"
    "sys.argv = ['train.py'] + sys.argv[1:]\n"
    "runpy.run_path('train.py', run_name='__main__')\n"
)


def official_arguments(dataset: str, epochs: int, use_pot: bool, save_file: str) -> list[str]:
    """The official ``train.py`` arguments that reproduce graphcl's ``pot-grace`` preset."""
    from graphcl.config import load_config

    model = load_config("pot-grace", dataset)["model"]
    drop_1, drop_2 = model["drop_edge"]
    if any(model.get("drop_feature", [0.0, 0.0])):
        raise SystemExit("the official GRACE arguments cannot set feature masking; this "
                         f"preset masks features {model['drop_feature']}")
    arguments = ["--dataset", OFFICIAL_NAMES[dataset], "--drop_1", str(drop_1), "--drop_2",
                 str(drop_2), "--tau", str(model["tau"]), "--num_epochs", str(epochs),
                 "--save_file", save_file]
    if use_pot:
        arguments += ["--use_pot", "--kappa", str(model["kappa"])]
    return arguments


def parse_official_log(text: str) -> tuple[list[float], float | None]:
    """Seconds per epoch, in epoch order, and the peak RSS (MB) the wrapper printed."""
    times = [float(seconds) for _, seconds in EPOCH_LINE.findall(text)]
    peak = PEAK_LINE.search(text)
    return times, float(peak.group(1)) if peak else None


def time_official(official_dir: Path, dataset: str, epochs: int, use_pot: bool,
                  env: dict) -> tuple[list[float], float | None]:
    if not (official_dir / "train.py").exists():
        raise SystemExit(f"{official_dir} has no train.py: pass --official-dir the GRACE folder "
                         "of a VoidHaruhi/POT-GCL checkout")
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-c", WRAPPER,
                   *official_arguments(dataset, epochs, use_pot, str(Path(scratch) / "res.csv"))]
        out = subprocess.run(command, cwd=official_dir, env=env, capture_output=True, text=True,
                             check=False)
    times, peak = parse_official_log(out.stdout)
    if out.returncode or len(times) != epochs:
        raise SystemExit(f"official run failed ({out.returncode}, {len(times)} of {epochs} "
                         f"epochs printed):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return times, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-dir", required=True, type=Path)
    parser.add_argument("--dataset", default="cora", choices=sorted(OFFICIAL_NAMES))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--ours-epochs", type=int, default=None,
                        help="epochs pot_speed.py times for graphcl (default: --epochs)")
    parser.add_argument("--allocator", choices=("tuned", "default"), default="tuned")
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    if args.epochs <= args.warmup:
        raise SystemExit(f"--epochs ({args.epochs}) must exceed --warmup ({args.warmup})")

    import torch

    torch.set_num_threads(1)  # as every timed process here: hardware() names the count
    env = {key: value for key, value in os.environ.items() if key not in TUNED_ALLOCATOR}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if args.allocator == "tuned":
        env.update(TUNED_ALLOCATOR)
    official = {}
    for variant, use_pot in (("base", False), ("pot", True)):
        times, peak = time_official(args.official_dir, args.dataset, args.epochs, use_pot, env)
        official[variant] = {"median": statistics.median(times[args.warmup:]),
                             "epochs": times, "peak_memory_mb": peak}
        print(f"official {variant}: {official[variant]['median']:.3f} s/epoch (epochs "
              f"{', '.join(f'{t:.2f}' for t in times)}), peak RSS {peak} MB", flush=True)

    ours_tag = f"_beside_official{args.tag}"
    ours_command = [sys.executable, str(HERE / "pot_speed.py"), "--dataset", args.dataset,
                    "--base", "grace", "--epochs", str(args.ours_epochs or args.epochs),
                    "--threads", "1", "--tag", ours_tag]
    subprocess.run(ours_command, cwd=HERE.parent, env=env, check=True)
    ours_file = RESULTS / f"pot_speed_grace_{args.dataset}{ours_tag}.json"
    ours = json.loads(ours_file.read_text())

    record = {
        "method": "pot-grace",
        "dataset": args.dataset,
        "protocol": "speed",
        "metrics": {},
        "seconds_per_epoch": ours["seconds_per_epoch"],
        "reference_seconds_per_epoch": ours["reference_seconds_per_epoch"],
        "overhead_ratio": ours["overhead_ratio"],
        "official_seconds_per_epoch": official["pot"]["median"],
        "official_reference_seconds_per_epoch": official["base"]["median"],
        "official_overhead_ratio": official["pot"]["median"] / official["base"]["median"],
        "speedup_with_pot": official["pot"]["median"] / ours["seconds_per_epoch"],
        "speedup_without_pot": official["base"]["median"] / ours["reference_seconds_per_epoch"],
        "peak_memory_mb": ours["peak_memory_mb"],
        "reference_peak_memory_mb": ours["reference_peak_memory_mb"],
        "official_peak_memory_mb": official["pot"]["peak_memory_mb"],
        "official_reference_peak_memory_mb": official["base"]["peak_memory_mb"],
        "official_epochs": {variant: official[variant]["epochs"] for variant in official},
        "warmup_epochs_dropped": args.warmup,
        "epochs": args.epochs,
        "ours_record": ours_file.name,
        "seeds": [12345],
        "hardware": hardware(),
        "allocator": args.allocator,
        "command": "python benchmarks/pot_official_speed.py " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "date": dt.date.today().isoformat(),
    }
    out = RESULTS / f"pot_official_speed_grace_{args.dataset}{args.tag}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"{args.dataset}: official {record['official_reference_seconds_per_epoch']:.3f} -> "
          f"{record['official_seconds_per_epoch']:.3f} s/epoch with POT "
          f"({record['official_overhead_ratio']:.2f}x); graphcl "
          f"{record['reference_seconds_per_epoch']:.3f} -> {record['seconds_per_epoch']:.3f} "
          f"({record['overhead_ratio']:.2f}x); graphcl+POT is {record['speedup_with_pot']:.1f}x "
          f"faster than the official +POT (recorded in {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
