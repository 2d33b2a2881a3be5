"""Cost of subnormal weights on the CPU, and what ``Trainer(flush_subnormals=True)`` recovers.

    python benchmarks/subnormals.py                   # Photo-sized first layer, 76% subnormal
    python benchmarks/subnormals.py --fraction 0.5 --rows 7650 --features 745 --hidden 256

A dense ``[rows, features]`` input times a ``[features, hidden]`` weight (forward and the
weight gradient, as a GCN's first layer does every epoch) is timed three ways in one process:
with ``fraction`` of the weights subnormal (the state gCooL's Photo encoder reached by epoch
1800 under Adam's weight decay: 76% of its first-layer weights), with the CPU's FTZ/DAZ flag
on (``graphcl.train.flush_denormals``), and after ``flush_subnormals_`` zeroed them. The
reference is the same product with normal weights. Writes ``results/subnormals.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import hardware, recorded_environment

from graphcl.train import flush_denormals, flush_subnormals_

RESULTS = Path(__file__).resolve().parent / "results"


def best_seconds(x: torch.Tensor, weight: torch.Tensor, repeats: int) -> float:
    """Fastest of ``repeats`` forward + backward passes of ``x @ weight``."""
    best = float("inf")
    for _ in range(repeats):
        w = weight.detach().requires_grad_()
        start = time.perf_counter()
        (x @ w).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=7650)
    parser.add_argument("--features", type=int, default=745)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--fraction", type=float, default=0.76)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.rows, args.features, generator=gen)
    normal = torch.randn(args.features, args.hidden, generator=gen) * 0.05
    tiny = torch.finfo(torch.float32).tiny
    decayed = torch.rand(normal.shape, generator=gen) < args.fraction
    subnormal = torch.where(decayed, normal.sign() * tiny * torch.rand(normal.shape,
                                                                        generator=gen), normal)
    assert int(((subnormal != 0) & (subnormal.abs() < tiny)).sum()) > 0

    timings = {"normal weights": best_seconds(x, normal, args.repeats),
               "subnormal weights": best_seconds(x, subnormal, args.repeats)}
    flushed = subnormal.clone()
    flush_subnormals_([flushed])
    timings["subnormals zeroed (flush_subnormals_)"] = best_seconds(x, flushed, args.repeats)
    supported = flush_denormals()
    timings["subnormal weights, FTZ/DAZ on (flush_denormals)"] = best_seconds(
        x, subnormal, args.repeats)
    torch.set_flush_denormal(False)
    reference = timings["normal weights"]
    for name, seconds in timings.items():
        print(f"{name:50s} {seconds * 1e3:9.2f} ms  ({seconds / reference:5.2f}× normal)")
    record = {
        "method": "x @ W forward + backward", "dataset": f"dense {args.rows}x{args.features}",
        "protocol": "speed", "metrics": {},
        "seconds": timings, "ratio_to_normal": {k: v / reference for k, v in timings.items()},
        "subnormal_fraction": args.fraction, "ftz_supported": supported,
        "threads": args.threads, "hardware": hardware(),
        "environment": recorded_environment(),
        "command": "python benchmarks/subnormals.py " + " ".join(argv or sys.argv[1:]),
        "date": dt.date.today().isoformat(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "subnormals.json").write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
