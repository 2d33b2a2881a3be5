"""Write a dataset in the file layout of the official MEOW / AdaMEOW code (``../data/<ds>/``).

    python benchmarks/official_meow_data.py dblp-hetero --out /tmp/official_meow/data/dblp

The official repository (jianxiangyu/MEOW) ships ACM only; its DBLP loader also reads
meta-path count matrices and context incidences (``nei_ap``, ``nei_apc``, ``nei_apcp``,
``nei_apt``, ``nei_aptp``) that are not on GitHub, and the HeCo files in
``$GRAPHCL_DATA/hetero/DBLP`` hold boolean meta-path matrices. This script builds the missing
files with graphcl's meta-path builder from the relation files — path counts for
``apa``/``apcpa``/``aptpa`` (diagonal included, as PathSim needs), and for each context the
0/1 incidence of the distinct intermediate nodes (the official aggregation divides by the
row sums, so this is the mean over distinct context nodes, as ours) — and copies the
features, labels and splits unchanged. Used to run the official code beside ours on the same
data (``benchmarks/meow_official_ab.py --dataset dblp``); none of the official code is part of
graphcl.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import scipy.sparse as sp
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# official file name -> (meta-path index in the MEOW preset, context position)
DBLP_CONTEXTS = {"nei_ap": (0, 0), "nei_apc": (1, 1), "nei_apcp": (1, 2), "nei_apt": (2, 1),
                 "nei_aptp": (2, 2)}
DBLP_METAPATHS = ["apa", "apcpa", "aptpa"]
DBLP_COPIED = ["a_feat.npz", "p_feat.npz", "t_feat.npz", "labels.npy",
               *(f"{split}_{rate}.npy" for split in ("train", "val", "test")
                 for rate in (20, 40, 60))]


def to_scipy(edge_index, weight, shape) -> sp.coo_matrix:
    return sp.coo_matrix((weight.double().numpy(), (edge_index[0].numpy(),
                                                     edge_index[1].numpy())), shape=shape)


def export_dblp(out: Path, data_root: Path) -> None:
    from graphcl.augment import MetaPathViews, metapath_adjacency
    from graphcl.config import load_config
    from graphcl.data import load_dataset

    graph = load_dataset("dblp-hetero")
    metapaths = [tuple(m) for m in load_config("meow", "dblp-hetero")["model"]["metapaths"]]
    out.mkdir(parents=True, exist_ok=True)
    n = graph["author"].num_nodes
    for name, metapath in zip(DBLP_METAPATHS, metapaths):
        edge_index, count = metapath_adjacency(graph, metapath, dtype=torch.float64)
        sp.save_npz(out / f"{name}.npz", to_scipy(edge_index, count, (n, n)))
    views = MetaPathViews(metapaths, contexts=True, context_options={"complete": False})(graph)
    for name, (path, position) in DBLP_CONTEXTS.items():
        context = views.contexts[path][position]
        incidence = context.incidence.to_sparse_csr()
        matrix = sp.csr_matrix(((incidence.values() != 0).double().numpy(),
                                incidence.col_indices().numpy(),
                                incidence.crow_indices().numpy()), shape=tuple(incidence.shape))
        matrix.eliminate_zeros()
        sp.save_npz(out / f"{name}.npz", matrix.tocoo())
    source = data_root / "hetero" / "DBLP"
    for file in DBLP_COPIED:
        shutil.copyfile(source / file, out / file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["dblp-hetero"])
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    data_root = os.environ.get("GRAPHCL_DATA")
    if not data_root:
        parser.error("set GRAPHCL_DATA to the datasets directory")
    export_dblp(args.out, Path(data_root))
    print(f"wrote {sorted(p.name for p in args.out.iterdir())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
