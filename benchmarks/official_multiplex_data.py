"""Write the multiplex IMDB in the pickle layout of DMGI's and HDMI's official code.

    python benchmarks/official_multiplex_data.py --out /path/to/HDMI/data/imdb.pkl

``$GRAPHCL_DATA/multiplex/IMDB/imdb.pkl`` holds DMGI's IMDB as MGFNN re-packed it (edge lists
per layer, boolean split masks, integer labels). DMGI's ``utils/process.py::load_imdb`` (and
HDMI's copy of it) reads a dict with dense ``MDM`` / ``MAM`` adjacency matrices, a dense
``feature`` matrix, one-hot ``label`` and ``train_idx`` / ``val_idx`` / ``test_idx``. This
script writes that dict from the same file, so the official code and graphcl train on the
same graph: each layer's edges in both directions plus the diagonal DMGI's matrices carry
(its published edge counts include one self-loop per node; the official loader then adds its
own ``sc·I``), features and split unchanged. None of the
official code is part of graphcl.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path

import numpy as np

LAYERS = ("MDM", "MAM")


def official_layout(raw: dict) -> dict:
    """DMGI's ``imdb.pkl`` dict from MGFNN's (``feats``, ``adjs``, ``labels``, ``splits``)."""
    features = raw["feats"]
    features = features.toarray() if hasattr(features, "toarray") else np.asarray(features)
    n = features.shape[0]
    out = {"feature": features.astype(np.float64)}
    for layer in LAYERS:
        src, dst = (np.asarray(a).astype(np.int64).reshape(-1) for a in raw["adjs"][layer])
        adjacency = np.zeros((n, n), dtype=np.float64)
        adjacency[src, dst] = 1.0
        adjacency[dst, src] = 1.0
        # DMGI's matrices hold every node's self-loop (MAM: 66,428 = 62,878 + 3,550 entries);
        # MGFNN's edge lists leave them out
        np.fill_diagonal(adjacency, 1.0)
        out[layer] = adjacency
    _, labels = np.unique(np.asarray(raw["labels"]).reshape(-1), return_inverse=True)
    out["label"] = np.eye(labels.max() + 1, dtype=np.int64)[labels]
    for split, mask in (("train_idx", "train_mask"), ("val_idx", "val_mask"),
                        ("test_idx", "test_mask")):
        out[split] = np.flatnonzero(np.asarray(raw["splits"][mask]).reshape(-1))[None, :]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source", type=Path, default=None,
                        help="default: $GRAPHCL_DATA/multiplex/IMDB/imdb.pkl")
    args = parser.parse_args(argv)
    source = args.source or Path(os.environ.get("GRAPHCL_DATA", "datasets")) / "multiplex" / \
        "IMDB" / "imdb.pkl"
    if not source.exists():
        print(f"{source} not found: set GRAPHCL_DATA or pass --source", file=sys.stderr)
        return 1
    with open(source, "rb") as handle:
        raw = pickle.load(handle)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as handle:
        pickle.dump(official_layout(raw), handle)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
