"""The ``graphcl`` command.

    graphcl train [METHOD [DATASET]] [--config F] [--set key=value ...]
                  (or --method grace --dataset synthetic, the defaults)
    graphcl datasets [--root DIR]
    graphcl eval --run-dir DIR | --embeddings F --dataset NAME [--protocol clean|grace]
    graphcl presets
    graphcl plot --run-dir DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphcl", description="Graph contrastive learning on PyTorch Geometric.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a method and evaluate its embeddings",
                           description="e.g. `graphcl train gcool amazon-photo --epochs 100`")
    train.add_argument("names", nargs="*", metavar="METHOD [DATASET]",
                       help="method and dataset names, as --method and --dataset; "
                            "`pot BASE DATASET` is method pot-BASE, as reproduce.py takes it")
    train.add_argument("--method", default=None, help="method name (default: grace)")
    train.add_argument("--dataset", default=None,
                       help="dataset name (default: synthetic, built in, no download)")
    train.add_argument("--config", default=None, help="YAML file overriding the preset")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override, e.g. --set train.epochs=50")
    train.add_argument("--root", default=None, help="dataset root (default: $GRAPHCL_DATA, ./datasets)")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    train.add_argument("--run-dir", default=None,
                       help="run directory (default: runs/<method>-<dataset>-<time>)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir from its last checkpoint")
    train.add_argument("--epochs", type=int, default=None, help="shortcut for --set train.epochs=N")
    train.add_argument("--seed", type=int, default=None, help="shortcut for --set train.seed=N")
    train.add_argument("--no-eval", action="store_true", help="skip the evaluation")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    datasets = sub.add_parser("datasets", help="list known datasets and which are present")
    datasets.add_argument("--root", default=None)

    evaluate = sub.add_parser("eval", help="evaluate saved embeddings")
    evaluate.add_argument("--run-dir", default=None, help="a run directory of `graphcl train`")
    evaluate.add_argument("--embeddings", default=None, help="an embeddings.pt file")
    evaluate.add_argument("--dataset", default=None, help="dataset whose labels to use")
    evaluate.add_argument("--protocol", default=None, help="clean or grace")
    evaluate.add_argument("--root", default=None)

    sub.add_parser("presets", help="list bundled (method, dataset) presets")

    plot = sub.add_parser("plot", help="plot a run's training curve (and its periodic "
                                       "evaluations, if any) to PNG")
    plot.add_argument("--run-dir", required=True)
    plot.add_argument("--out", default=None, help="default: <run-dir>/loss.png")
    return parser


def _positional_or_flag(positional: str | None, flag: str | None, what: str) -> str | None:
    if positional is not None and flag is not None and positional != flag:
        raise ValueError(f"the {what} is given twice, {positional!r} and --{what} {flag!r}; "
                         "give it once")
    return positional if positional is not None else flag


def _train(args: argparse.Namespace) -> int:
    import yaml

    from .config import load_config
    from .train import train_from_config

    names = list(args.names)
    if len(names) == 3 and names[0] == "pot":
        names = [f"pot-{names[1]}", names[2]]
    if len(names) > 2:
        raise ValueError(f"graphcl train takes METHOD [DATASET] (or pot BASE DATASET), got "
                         f"{' '.join(args.names)}")
    names += [None] * (2 - len(names))
    args.method = _positional_or_flag(names[0], args.method, "method")
    args.dataset = _positional_or_flag(names[1], args.dataset, "dataset")
    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    if args.resume:
        if args.run_dir is None:
            raise SystemExit("graphcl train --resume needs --run-dir (the run to continue)")
        saved = Path(args.run_dir) / "config.yaml"
        if not saved.exists():
            raise SystemExit(f"nothing to resume: {saved} does not exist")
        config_file = args.config or saved
    else:
        config_file = args.config
    config = load_config(args.method, args.dataset, config_file, overrides)
    run_dir = args.run_dir or Path("runs") / (
        f"{config['method']}-{config['dataset']}-{time.strftime('%Y%m%d-%H%M%S')}")
    print(f"graphcl: {config['method']} on {config['dataset']}, run directory {run_dir}",
          file=sys.stderr)
    print(yaml.safe_dump({k: config[k] for k in ("model", "train")}, sort_keys=False).strip(),
          file=sys.stderr)
    outcome = train_from_config(config, root=args.root, device=args.device, run_dir=run_dir,
                                resume=args.resume, progress=not args.no_progress,
                                evaluate=not args.no_eval)
    print(f"seconds per epoch (median): {outcome['seconds_per_epoch']:.4f}")
    if outcome["metrics"] is not None:
        print(f"{outcome['metrics'].protocol} protocol: {outcome['metrics']}")
    print(f"saved: {run_dir}/embeddings.pt, log.csv, checkpoint.pt, config.yaml")
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from .data import dataset_status, resolve_root

    print(f"dataset root: {resolve_root(args.root)}")
    rows = dataset_status(args.root)
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        state = "present" if row["available"] else "missing"
        where = row.get("path", "")
        print(f"  {row['name']:<{width}}  {state:<8} {where}")
        if not row["available"] and row.get("missing"):
            print(f"  {'':<{width}}  missing files: {', '.join(row['missing'])}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import torch
    import yaml

    from .data import load_dataset
    from .train import evaluate_embeddings

    eval_config: dict = {}
    if args.run_dir is not None:
        path = Path(args.run_dir) / "embeddings.pt"
        config_path = Path(args.run_dir) / "config.yaml"
        if config_path.exists():
            eval_config = dict(yaml.safe_load(config_path.read_text()).get("eval", {}))
    elif args.embeddings is not None:
        path = Path(args.embeddings)
    else:
        raise SystemExit("graphcl eval needs --run-dir or --embeddings")
    if not path.exists():
        raise SystemExit(f"no embeddings at {path}")
    saved = torch.load(path, map_location="cpu", weights_only=False)
    embeddings = saved["embeddings"] if isinstance(saved, dict) else saved
    dataset = args.dataset or (saved.get("dataset") if isinstance(saved, dict) else None)
    if dataset is None:
        raise SystemExit("which dataset's labels? pass --dataset")
    if args.protocol is not None:
        eval_config["protocol"] = args.protocol
    graph = load_dataset(dataset, root=args.root)
    result = evaluate_embeddings(embeddings, graph, eval_config)
    print(f"{result.protocol} protocol on {dataset}: {result}")
    print(json.dumps(result.to_dict()["metrics"], indent=2))
    return 0


def _presets(args: argparse.Namespace) -> int:
    from .config import list_presets

    for method, dataset in list_presets():
        print(f"{method:<10} {dataset}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from .viz import plot_evaluations, plot_training_log

    out = args.out or Path(args.run_dir) / "loss.png"
    print(f"wrote {plot_training_log(Path(args.run_dir) / 'log.csv', out)}")
    evaluations = Path(args.run_dir) / "eval.csv"
    if evaluations.exists():  # periodic evaluations (train.eval_every)
        print(f"wrote {plot_evaluations(evaluations, Path(out).with_name('eval.png'))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``graphcl`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    handlers = {"train": _train, "datasets": _datasets, "eval": _eval, "presets": _presets,
                "plot": _plot}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("\ninterrupted: the checkpoint is saved; continue with --resume --run-dir ...",
              file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, TypeError) as error:
        print(f"graphcl: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
