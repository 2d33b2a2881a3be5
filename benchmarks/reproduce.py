"""Reproduce a method's published numbers: ``python benchmarks/reproduce.py METHOD DATASET``.

Trains the bundled preset (the official hyper-parameters) once per seed, evaluates with the
preset's protocol, prints paper vs ours, and records the result as JSON under
``benchmarks/results/`` (plus the markdown row to paste into ``benchmarks/README.md``).

Examples::

    python benchmarks/reproduce.py grace cora --seeds 5
    python benchmarks/reproduce.py grace cora --seeds 5 --protocol clean
    python benchmarks/reproduce.py gcool amazon-photo --seeds 1 --protocol official,clean
    python benchmarks/reproduce.py pot grace cora --seeds 10 --protocol official,clean
    python benchmarks/reproduce.py pot grace cora --seeds 10 --protocol official,clean --without-pot

Several comma-separated protocols evaluate the same trained embeddings (one JSON each).
Each seed's result is also stored as it finishes, under ``results/seeds/``; ``--resume``
reuses the recorded seeds of an identical configuration, so a long multi-seed run can be
spread over several sessions or machines (commit the seed files between them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from graphcl.config import load_config
from graphcl.data import load_dataset
from graphcl.methods.pot import POT_OPTIONS
from graphcl.train import evaluate_embeddings, train_from_config

RESULTS = Path(__file__).resolve().parent / "results"
#: environment variables that change timings (allocator, threads), recorded with each result
ENVIRONMENT = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
ADAMEOW_LOGS = ("AdaMEOW run logs the authors committed to jianxiangyu/MEOW (commit 938a679, "
                "2023-04-25), not the paper's table: code_adameow/")
GCOOL_TABLE = "Li, Jing, Tong 2022 (gCooL, arXiv 2110.14863), single-view node classification table"

# Published numbers, in percent, with where they were read.
PAPER = {
    ("grace", "cora"): {"micro_f1": (83.3, 0.4),
                        "source": "Zhu et al. 2020 (GRACE), Table 3, Cora accuracy"},
    ("grace", "citeseer"): {"micro_f1": (72.1, 0.5),
                            "source": "Zhu et al. 2020 (GRACE), Table 3"},
    ("grace", "pubmed"): {"micro_f1": (86.7, 0.1),
                          "source": "Zhu et al. 2020 (GRACE), Table 3"},
    # GCA as re-run by the gCooL paper (the target), gCooL protocol there
    ("gca", "amazon-computers"): {"micro_f1": (87.67, 0.49), "macro_f1": (85.88, 0.30),
                                  "source": GCOOL_TABLE + ", GCA row"},
    ("gca", "amazon-photo"): {"micro_f1": (92.39, 0.21), "macro_f1": (91.05, 0.13),
                              "source": GCOOL_TABLE + ", GCA row"},
    ("gca", "coauthor-cs"): {"micro_f1": (92.87, 0.03), "macro_f1": (90.76, 0.01),
                             "source": GCOOL_TABLE + ", GCA row"},
    ("gcool", "amazon-computers"): {"micro_f1": (88.85, 0.14), "macro_f1": (87.42, 0.28),
                                    "source": GCOOL_TABLE + ", gCooL_c row"},
    ("gcool", "amazon-photo"): {"micro_f1": (93.18, 0.12), "macro_f1": (92.05, 0.17),
                                "source": GCOOL_TABLE + ", gCooL_c row"},
    ("gcool", "coauthor-cs"): {"micro_f1": (93.32, 0.02), "macro_f1": (91.65, 0.03),
                               "source": GCOOL_TABLE + ", gCooL_c row"},
    # no published gCooL multiplex numbers could be read here; the reference rows are DMGI's
    ("gcool", "imdb-multiplex"): {
        "macro_f1": (64.8, 0.0), "micro_f1": (64.8, 0.0), "nmi": (19.6, 0.0),
        "source": "DMGI (Park et al., AAAI 2020) IMDB row (HDMI reports 65.0 / 65.8 / 19.4); "
                  "transcribed from memory of the tables, not verified against the papers here"},
    ("gcool", "wikics"): {"micro_f1": (78.74, 0.04), "macro_f1": (75.92, 0.06),
                          "source": GCOOL_TABLE + ", gCooL_c row"},
    ("heco", "acm"): {
        "macro_f1@20": (88.56, float("nan")), "macro_f1@40": (87.61, float("nan")),
        "macro_f1@60": (89.04, float("nan")),
        "micro_f1@20": (88.13, float("nan")), "micro_f1@40": (87.45, float("nan")),
        "micro_f1@60": (88.71, float("nan")),
        "auc@20": (96.49, float("nan")), "auc@40": (96.40, float("nan")),
        "auc@60": (96.55, float("nan")),
        "source": "Wang, Liu, Han, Shi 2021 (HeCo, KDD, arXiv 2105.09111), node "
                  "classification table, HeCo row; means as given in the task brief, "
                  "not checked against the paper text; std not recorded (NaN)"},
    ("heco", "dblp-hetero"): {
        "macro_f1@20": (91.28, float("nan")), "macro_f1@40": (90.34, float("nan")),
        "macro_f1@60": (90.64, float("nan")),
        "micro_f1@20": (91.97, float("nan")), "micro_f1@40": (90.76, float("nan")),
        "micro_f1@60": (91.59, float("nan")),
        "auc@20": (98.85, float("nan")), "auc@40": (98.70, float("nan")),
        "auc@60": (98.79, float("nan")),
        "source": "Wang, Liu, Han, Shi 2021 (HeCo, KDD, arXiv 2105.09111), node "
                  "classification table, HeCo row; means as given in the task brief, "
                  "not checked against the paper text; std not recorded (NaN)"},
    ("heco", "aminer"): {
        "macro_f1@20": (71.38, float("nan")), "macro_f1@40": (73.75, float("nan")),
        "macro_f1@60": (75.80, float("nan")),
        "micro_f1@20": (78.81, float("nan")), "micro_f1@40": (80.53, float("nan")),
        "micro_f1@60": (82.46, float("nan")),
        "auc@20": (84.97, float("nan")), "auc@40": (87.94, float("nan")),
        "auc@60": (88.61, float("nan")),
        "source": "Wang, Liu, Han, Shi 2021 (HeCo, KDD, arXiv 2105.09111), node "
                  "classification table, HeCo row; means as given in the task brief, "
                  "not checked against the paper text; std not recorded (NaN)"},
    ("meow", "acm"): {
        "macro_f1@20": (91.29, float("nan")), "macro_f1@40": (89.52, float("nan")),
        "macro_f1@60": (91.97, float("nan")),
        "micro_f1@20": (91.33, float("nan")), "micro_f1@40": (89.91, float("nan")),
        "micro_f1@60": (91.89, float("nan")),
        "auc@20": (97.49, float("nan")), "auc@40": (97.48, float("nan")),
        "auc@60": (98.21, float("nan")), "nmi": (44.86, float("nan")), "ari": (30.48, float("nan")),
        "source": "the official MEOW code (jianxiangyu/MEOW code_meow, its own ACM data, "
                  "faiss-cpu, seed 0, early stop at 109 epochs) run on the 2-core machine, as "
                  "quoted in issue #7 -- not the paper's table, which could not be read here"},
    # no AdaMEOW paper table could be read here; the authors committed single-run logs
    ("adameow", "acm"): {
        "macro_f1@20": (91.69, 0.2), "macro_f1@40": (90.61, 0.33),
        "micro_f1@20": (91.69, 0.23), "micro_f1@40": (90.76, 0.35),
        "auc@20": (98.57, 0.02), "auc@40": (98.23, 0.08),
        "nmi": (33.9038, float("nan")), "ari": (32.3442, float("nan")),
        "source": ADAMEOW_LOGS + "result_acm{20,40}.txt, result_acm_NMI&ARI.txt (epoch 500)"},
    ("adameow", "aminer"): {
        "macro_f1@20": (71.57, 0.71), "macro_f1@40": (73.27, 0.69), "macro_f1@60": (72.75, 0.58),
        "micro_f1@20": (79.45, 1.5), "micro_f1@40": (80.1, 1.17), "micro_f1@60": (78.97, 0.67),
        "auc@20": (92.23, 0.7), "auc@40": (93.36, 0.39), "auc@60": (93.3, 0.37),
        "nmi": (16.6913, float("nan")), "ari": (1.0659, float("nan")),
        "source": ADAMEOW_LOGS + "result_aminer{20,40,60}.txt, result_aminer_NMI&ARI.txt "
                  "(epoch 2600; the authors' 64-d AMiner embeddings, not available here)"},
}

#: ``--protocol official``: the evaluation each method's official code reports.
OFFICIAL_PROTOCOL = {"grace": "grace", "gca": "gca", "gcool": "gcool", "heco": "heco",
                     "meow": "heco", "adameow": "heco"}


def resolve_protocol(name: str, method: str, parser: argparse.ArgumentParser) -> str:
    """``official`` -> the protocol the method's official code reports; others unchanged."""
    if name != "official":
        return name
    if method not in OFFICIAL_PROTOCOL:
        parser.error(f"no official protocol is known for {method!r}")
    return OFFICIAL_PROTOCOL[method]


#: POT's published GRACE -> GRACE+POT numbers (third-party transcription, see the issue)
POT_TABLE = ("GRACE -> GRACE+POT Micro/Macro-F1 as quoted in issue #8 from GammaGL's "
             "examples/grace_pot/README.md, column 'Author's Code'; the paper's Table 2 could "
             "not be read here")
PAPER.update({
    ("pot-grace", "cora"): {"micro_f1": (79.2, float("nan")), "macro_f1": (77.8, float("nan")),
                            "source": POT_TABLE},
    ("pot-grace", "pubmed"): {"micro_f1": (82.0, float("nan")), "macro_f1": (82.4, float("nan")),
                              "source": POT_TABLE},
    ("pot-grace", "amazon-photo"): {"micro_f1": (91.8, float("nan")),
                                    "macro_f1": (90.0, float("nan")), "source": POT_TABLE},
    ("grace-potbase", "cora"): {"micro_f1": (78.2, float("nan")), "macro_f1": (76.8, float("nan")),
                                "source": POT_TABLE},
    ("grace-potbase", "pubmed"): {"micro_f1": (81.6, float("nan")),
                                  "macro_f1": (81.7, float("nan")), "source": POT_TABLE},
    ("grace-potbase", "amazon-photo"): {"micro_f1": (91.2, float("nan")),
                                        "macro_f1": (89.2, float("nan")), "source": POT_TABLE},
})
OFFICIAL_PROTOCOL.update({f"pot-{base}": "pot" for base in ("grace", "gca", "progcl", "costa")})
OFFICIAL_PROTOCOL.update({f"{base}-potbase": "pot" for base in ("grace", "gca", "progcl", "costa")})


def without_pot(config: dict) -> dict:
    """A ``pot-BASE`` preset turned into its base method's run (same views, encoder, epochs,
    seeds and evaluation, no POT term); results are labelled ``BASE-potbase``."""
    if not config["method"].startswith("pot-"):
        raise ValueError(f"--without-pot needs a pot-<base> preset, got {config['method']!r}")
    config = json.loads(json.dumps(config))
    config["method"] = config["method"][len("pot-"):]
    for key in POT_OPTIONS:
        config["model"].pop(key, None)
    return config


def _validation_means(result) -> dict:
    """Mean validation metrics over a result's probes (``{}`` when it has none)."""
    vals = [d.get("val") for d in (result.details or []) if isinstance(d, dict)]
    vals = [v for v in vals if isinstance(v, dict) and v]
    if not vals:
        return {}
    return {name: float(np.mean([v[name] for v in vals])) for name in vals[0]
            if isinstance(vals[0][name], (int, float))}


def recorded_environment() -> dict[str, str]:
    """The timing-relevant environment variables (:data:`ENVIRONMENT`) that are set."""
    return {key: os.environ[key] for key in ENVIRONMENT if key in os.environ}


@functools.cache
def code_version() -> str | None:
    """The graphcl commit this process runs (``git rev-parse --short HEAD``, ``+dirty`` when
    ``graphcl/`` has uncommitted changes), so that seeds reused across sessions by
    ``--resume`` show which code produced them; ``None`` outside a git checkout. Read once,
    when :func:`main` starts (cached): a seed that trains for hours must not record a commit
    made while it ran."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "graphcl"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


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


#: train options left out of a seed's fingerprint: they change how a run is kept, not its result
BOOKKEEPING_TRAIN_KEYS = ("checkpoint_every",)


def seed_fingerprint(config: dict, protocols: list[dict]) -> str:
    """A hash of one seed's full configuration and the protocols evaluated on it: a recorded
    seed is reused (``--resume``) only for exactly the same run."""
    config = json.loads(json.dumps(config))
    for key in BOOKKEEPING_TRAIN_KEYS:  # how often a run saves does not change what it learns
        config["train"].pop(key, None)
    if not config.get("data"):  # an empty data section is no data section
        config.pop("data", None)
    payload = json.dumps({"config": config, "protocols": protocols}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def read_seed_record(path: Path, fingerprint: str) -> dict | None:
    """The recorded result of one seed, or ``None`` when absent or from another configuration."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record.get("fingerprint") != fingerprint:
        print(f"{path} was recorded for another configuration; training this seed again",
              flush=True)
        return None
    return record


def train_and_evaluate_seed(config: dict, protocols: list[dict], seed: int,
                            args: argparse.Namespace) -> dict:
    """Train one seed and evaluate its embeddings under every protocol.

    Returns the per-seed record stored under ``results/seeds/``: metrics and validation means
    per protocol, seconds per epoch, epochs run, this process's peak RSS so far, hardware."""
    run_dir = None if args.run_dir is None else Path(args.run_dir) / f"seed-{seed}"
    started = time.perf_counter()
    # with train.eval_every, the same protocols (and splits) as the final evaluation below
    outcome = train_from_config(config, root=args.root, device=args.device, progress=False,
                                run_dir=run_dir, resume=run_dir is not None, evaluate=False,
                                periodic_protocols=[{**spec, "seed": seed} for spec in protocols])
    graph = load_dataset(config["dataset"], root=args.root)
    results = {}
    for spec in protocols:
        # fresh evaluation splits per training run, so runs do not share split luck
        result = evaluate_embeddings(outcome["embeddings"], graph, {**spec, "seed": seed})
        results[spec["protocol"]] = {
            "metrics": {name: stats["mean"] for name, stats in result.metrics.items()},
            "validation": _validation_means(result)}
    return {
        "seed": seed,
        "protocols": results,
        "seconds_per_epoch": float(outcome["seconds_per_epoch"]),
        "epochs_run": int(outcome.get("epochs_run", config["train"]["epochs"])),
        "periodic_evaluations": outcome["trainer"].evaluations,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "hardware": hardware(),
        "code_version": code_version(),
        "environment": recorded_environment(),
        "wall_seconds": time.perf_counter() - started,
        "date": dt.date.today().isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", help="a method, or 'pot' followed by the base method")
    parser.add_argument("dataset")
    parser.add_argument("pot_dataset", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--without-pot", action="store_true",
                        help="with 'pot BASE DATASET': train the same preset without the POT "
                             "term (the base method alone), for the paired comparison")
    parser.add_argument("--seeds", type=int, default=5, help="training runs (seeds preset+0..k-1)")
    parser.add_argument("--protocol", default=None,
                        help="override the preset's eval protocol; 'official' = the one the "
                             "method's official code reports (gcool: max test F1, optimistic)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--root", default=None)
    parser.add_argument("--tag", default="", help="suffix of the result file name")
    parser.add_argument("--run-dir", default=None,
                        help="keep each seed's checkpoints in RUN_DIR/seed-N and resume from them "
                             "(long runs survive being killed)")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the seeds already recorded under results/seeds/ for the same "
                             "configuration and protocols instead of training them again (lets a "
                             "10-seed run be spread over several machines or sessions)")
    args = parser.parse_args(argv)
    code_version()  # the code this process imported, before any seed trains
    if args.method == "pot":
        if args.pot_dataset is None:
            parser.error("usage: reproduce.py pot BASE DATASET (e.g. pot grace cora)")
        args.method, args.dataset = f"pot-{args.dataset}", args.pot_dataset
    elif args.pot_dataset is not None or args.without_pot:
        parser.error("a third positional argument and --without-pot go with 'pot BASE DATASET'")

    base = load_config(args.method, args.dataset, overrides=args.overrides)
    if args.without_pot:
        base = without_pot(base)
        args.method = base["method"] + "-potbase"  # the label of its results
    protocols = [base["eval"]] if not args.protocol else [
        {"protocol": resolve_protocol(name, args.method, parser)}
        for name in args.protocol.split(",")]
    first_seed = int(base["train"]["seed"])
    per_seed: dict[str, list[dict]] = {spec["protocol"]: [] for spec in protocols}
    validation: dict[str, list[dict]] = {spec["protocol"]: [] for spec in protocols}
    seconds, epochs_run = [], []
    peak_memory_mb, machines, seed_wall_seconds, code_versions = [], [], [], []
    start = time.perf_counter()
    seed_dir = RESULTS / "seeds" / f"reproduce_{args.method}_{args.dataset}{args.tag}"
    for offset in range(args.seeds):
        seed = first_seed + offset
        config = json.loads(json.dumps(base))
        config["train"]["seed"] = seed
        seed_file = seed_dir / f"seed-{seed}.json"
        fingerprint = seed_fingerprint(config, protocols)
        record = read_seed_record(seed_file, fingerprint) if args.resume else None
        if record is not None:
            print(f"seed {seed}: reusing {seed_file} (recorded {record['date']}, "
                  f"{record['hardware']})", flush=True)
        else:
            record = train_and_evaluate_seed(config, protocols, seed, args)
            record["fingerprint"] = fingerprint
            seed_dir.mkdir(parents=True, exist_ok=True)
            seed_file.write_text(json.dumps(record, indent=2))
        seconds.append(record["seconds_per_epoch"])
        epochs_run.append(record["epochs_run"])
        peak_memory_mb.append(record["peak_memory_mb"])
        machines.append(record["hardware"])
        seed_wall_seconds.append(record.get("wall_seconds"))
        code_versions.append(record.get("code_version"))  # None: recorded before session 16
        for spec in protocols:
            protocol = spec["protocol"]
            per_seed[protocol].append(record["protocols"][protocol]["metrics"])
            validation[protocol].append(record["protocols"][protocol]["validation"])
            print(f"seed {seed} [{protocol}]: " + ", ".join(
                f"{k} {v:.2f}" for k, v in per_seed[protocol][-1].items()) +
                f" | {record['seconds_per_epoch']:.3f} s/epoch", flush=True)

    paper = PAPER.get((args.method, args.dataset))
    for spec in protocols:
        protocol = spec["protocol"]
        runs = per_seed[protocol]
        summary = {name: {"mean": float(np.mean([run[name] for run in runs])),
                          "std": float(np.std([run[name] for run in runs])),
                          "values": [run[name] for run in runs]}
                   for name in runs[0]}
        val_runs = [run for run in validation[protocol] if run]
        record = {
            "method": args.method,
            "dataset": args.dataset,
            "protocol": protocol,
            "metrics": summary,
            "paper": paper,
            # the probes' validation scores (for choosing hyper-parameters such as POT's κ on
            # validation only); absent for protocols without a validation set
            "validation": {name: {"mean": float(np.mean([run[name] for run in val_runs])),
                                  "values": [run[name] for run in val_runs]}
                           for name in (val_runs[0] if val_runs else {})},
            "seconds_per_epoch": float(np.median(seconds)),
            "seconds_per_epoch_per_seed": [float(value) for value in seconds],
            "peak_memory_mb": float(max(peak_memory_mb)),
            "epochs": int(base["train"]["epochs"]),
            "epochs_run": epochs_run,
            "seeds": [first_seed + k for k in range(args.seeds)],
            # seeds resumed from other sessions may have run on other machines
            "hardware": "; ".join(dict.fromkeys(machines)),
            "code_version_per_seed": code_versions,
            "environment": recorded_environment(),
            "config": {**base, "eval": spec},
            "command": "python benchmarks/reproduce.py " + " ".join(argv or sys.argv[1:]),
            # every seed's own training and evaluation time, resumed seeds included
            "wall_seconds": (float(sum(seed_wall_seconds))
                             if None not in seed_wall_seconds else None),
            "wall_seconds_this_invocation": time.perf_counter() - start,
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
