"""AdaMEOW epoch time with the weighted-loss kernel of an older commit vs the current one,
alternating epochs in one process (same model, data and allocator state):

    python benchmarks/adameow_kernel_ab.py --old-rev 3cd9a3a --dataset acm --threads 2

The old ``graphcl/losses/learned_weights.py`` is read with ``git show REV:...`` and swapped
into :mod:`graphcl.methods.meow` for its epochs (``--old-kwargs`` passes extra keyword
arguments it needs, e.g. ``compiled=True`` for the torch.compile kernels of 3cd9a3a).
Records ``benchmarks/results/adameow_kernel_ab_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import ENVIRONMENT, hardware


def old_kernel(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:graphcl/losses/learned_weights.py"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "learned_weights_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("learned_weights_old", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.learned_weight_infonce


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", required=True)
    parser.add_argument("--old-kwargs", default='{"compiled": true}',
                        help="JSON keyword arguments for the old kernel")
    parser.add_argument("--dataset", default="acm")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per side")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import graphcl.methods.meow as meow_module
    from graphcl.config import load_config
    from graphcl.data import load_dataset
    from graphcl.methods import build_method
    from graphcl.train import _with_sparse_features

    config = load_config("adameow", args.dataset)
    graph = _with_sparse_features(load_dataset(args.dataset))
    torch.manual_seed(int(config["train"]["seed"]))
    model = build_method("adameow", graph.num_features, **config["model"])
    optimizer = torch.optim.Adam(model.parameters(), lr=float(config["train"]["lr"]))
    kernels = {"old": functools.partial(old_kernel(args.old_rev), **json.loads(args.old_kwargs)),
               "new": meow_module.learned_weight_infonce}
    times: dict[str, list[float]] = {"old": [], "new": []}
    for round_ in range(args.epochs + 1):  # round 0 warms up (and compiles) both
        for side, kernel in kernels.items():
            meow_module.learned_weight_infonce = kernel
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            model.loss(graph).total.backward()
            optimizer.step()
            if round_:
                times[side].append(time.perf_counter() - start)
    old, new = (float(np.median(times[s])) for s in ("old", "new"))
    record = {
        "method": "adameow", "dataset": args.dataset, "protocol": "speed (kernel A/B)",
        "metrics": {}, "seconds_per_epoch": new, "reference_seconds_per_epoch": old,
        "speedup": old / new, "reference": f"learned_weights.py at {args.old_rev} "
                                           f"with {args.old_kwargs}",
        "seconds_per_epoch_all": times, "peak_memory_mb": None,
        "epochs": args.epochs, "seeds": [int(config["train"]["seed"])],
        "threads": torch.get_num_threads(), "hardware": hardware(),
        "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ},
        "command": "python benchmarks/adameow_kernel_ab.py " + " ".join(argv or sys.argv[1:]),
        "date": dt.date.today().isoformat(),
    }
    out = Path(__file__).resolve().parent / "results" / f"adameow_kernel_ab_{args.dataset}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"adameow {args.dataset}: old kernel {old:.3f} s/epoch, new {new:.3f} s/epoch "
          f"({old / new:.2f}x); recorded in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
