"""AdaMEOW, ours against the official model: same weights, same inputs, same loss?

    python benchmarks/adameow_official_parity.py --official-dir /tmp/official_meow/code_adameow \\
        [--dataset acm] [--steps 5] [--ties numpy] [--train]

The official ``code_adameow`` (jianxiangyu/MEOW, patched only to run on the CPU; not part of
graphcl) is imported from ``--official-dir`` and builds its inputs as its ``main.py`` does
(seeds, ``load_data``, ``mask_features``, ``pathsim``, ``mask_edges``, ``normalize_adj``).
Its N²·d ``weight_InfoNce`` (19 GB on ACM) is replaced by the same formula evaluated per row
block under activation checkpointing, in float64 — a transcription, independent of our
kernel. Ours is built from the preset with ``pathsim_ties`` from ``--ties``; the official
weights are copied into it and the official feature and edge masks are handed to it. Both are
then trained side by side with the same Adam settings (dropout off unless ``--train``), and
each step prints the two losses, the largest difference of the fused embedding ``z`` and the
relative gradient differences at step 0.

On ACM with ``--ties numpy`` the two agree to float32 round-off; with ``--ties low`` the
PSP view keeps other papers of its two largest subjects and ``z`` differs by about 0.1.
Result: ``benchmarks/results/adameow_official_parity_<dataset>_<ties>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))
from reproduce import hardware


def official_weighted_infonce(mlp, z_anchor, z, tau: float, rows: int = 64):
    """The official ``weight_InfoNce`` (``dots = exp(z_a zᵀ/τ)``, ``w_ij = MLP(z_a,i + z_j)``,
    ``−log(dots_ii / Σ_j w_ij dots_ij)`` averaged) in float64, ``rows`` anchors at a time."""
    n = z.size(0)

    def block(anchors, index):
        dots = torch.exp(anchors.double() @ z.double().t() / tau)
        weight = mlp((anchors[:, None, :] + z[None, :, :]).reshape(-1, z.size(1)))
        weight = weight.reshape(anchors.size(0), n).double()
        positive = dots[torch.arange(anchors.size(0)), index]
        return -torch.log(positive / (dots * weight).sum(1))

    losses = [checkpoint(block, z_anchor[s:s + rows], torch.arange(s, min(s + rows, n)),
                         use_reentrant=False) for s in range(0, n, rows)]
    return torch.cat(losses).mean()


def build_official(directory: Path, dataset: str):
    cwd = os.getcwd()
    os.chdir(directory)
    sys.path.insert(0, str(directory))
    argv, sys.argv = sys.argv, ["main.py", dataset]
    try:
        from module import adameow as official_module
        from module.preprocess import mask_edges, mask_features, normalize_adj, pathsim
        from utils import load_data, set_params

        args = set_params()
        np.random.seed(args.seed)
        random.seed(args.seed)
        torch.manual_seed(args.seed)
        nei_index, feats, adjs, *_ = load_data(args.dataset, args.ratio, args.type_num)
        mask_feat = mask_features(feats[0], args.feat_mask)
        adjs = pathsim(adjs, args.nei_max)
        mask_adjs = mask_edges(adjs, len(adjs), args.adj_mask)
        adjs = [normalize_adj(adj) for adj in adjs]
        model = official_module.AdaMEOW([f.shape[1] for f in feats], len(adjs), args.hidden_dim,
                                        args.embed_dim, args.tau, adjs, args.dropout,
                                        nei_index, feats[0], args.dataset)
    finally:
        sys.argv = argv
        os.chdir(cwd)
    tau = args.tau
    model.weight_InfoNce = lambda z_anchor, z: official_weighted_infonce(model.MLP, z_anchor,
                                                                         z, tau)
    return model, args, feats, mask_feat, adjs, mask_adjs


def copy_official_weights(official, ours, node_types: list[str]) -> None:
    """Parameter map: ``fc_list`` → input projections, ``agg`` → context maps, ``Encoder`` →
    the shared GCN, ``att`` → semantic attention, ``project`` → head, ``MLP`` → weight net."""
    pairs = [(official.Encoder.gc1.weight, ours.encoder.weight1),
             (official.Encoder.gc2.weight, ours.encoder.weight2),
             (official.Encoder.gc1.act.weight, ours.encoder.activation.weight),
             (official.att.att, ours.attention.att),
             (official.att.fc.weight, ours.attention.linear.weight),
             (official.att.fc.bias, ours.attention.linear.bias),
             (official.project.weight, ours.head.weight), (official.project.bias, ours.head.bias),
             (official.MLP[0].weight, ours.weight_net.first.weight),
             (official.MLP[0].bias, ours.weight_net.first.bias),
             (official.MLP[2].weight, ours.weight_net.second.weight),
             (official.MLP[2].bias, ours.weight_net.second.bias)]
    for i, node_type in enumerate(node_types):
        pairs += [(official.fc_list[i].weight, ours.projection.linears[node_type].weight),
                  (official.fc_list[i].bias, ours.projection.linears[node_type].bias)]
    for i, linears in enumerate(ours.enrichment.linears):
        pairs.append((official.agg[i].weight, linears[0].weight))
    with torch.no_grad():
        for source, target in pairs:
            if source.shape != target.shape:
                raise ValueError(f"shape mismatch {tuple(source.shape)} vs {tuple(target.shape)}")
            target.copy_(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-dir", required=True, type=Path)
    parser.add_argument("--dataset", default="acm", choices=["acm"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--ties", default="numpy", choices=["numpy", "low", "random"])
    parser.add_argument("--train", action="store_true",
                        help="dropout on (the two sides then draw different masks)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if not (args.official_dir / "module" / "adameow.py").is_file():
        parser.error(f"{args.official_dir} has no module/adameow.py: point --official-dir at "
                     "the official code_adameow/ directory")
    torch.set_num_threads(args.threads)
    official, official_args, feats, mask_feat, adjs, mask_adjs = build_official(
        args.official_dir.resolve(), args.dataset)

    sys.path.insert(0, str(ROOT))
    from graphcl.config import load_config
    from graphcl.data import load_dataset
    from graphcl.methods import build_method
    from graphcl.nn.adjacency import propagate

    config = load_config("adameow", args.dataset)
    config["model"]["pathsim_ties"] = args.ties
    graph = load_dataset(args.dataset)
    ours = build_method("adameow", graph.num_features, **config["model"])
    copy_official_weights(official, ours, ours.input_types)
    inputs = ours.prepare(graph)
    adjacency_difference = []
    identity = torch.eye(inputs.num_nodes)
    for ours_adjacency, official_adjacency in zip(inputs.adjacencies, adjs):
        dense = propagate(ours_adjacency, identity)
        adjacency_difference.append(float((dense - official_adjacency).abs().max()))
    masked_x = mask_feat.to_dense()
    if inputs.features[ours.target].layout == torch.sparse_csr:
        masked_x = masked_x.to_sparse_csr()
    ours._fixed_masks = (inputs, (masked_x, [a.to_sparse() for a in mask_adjs]))

    optimizers = [torch.optim.Adam(m.parameters(), lr=official_args.lr,
                                   weight_decay=official_args.l2_coef) for m in (official, ours)]
    steps = []
    for step in range(args.steps):
        official.train(args.train)
        ours.train(args.train)
        for optimizer in optimizers:
            optimizer.zero_grad()
        official_loss = official(feats, mask_feat, adjs, mask_adjs)
        our_loss = ours.loss(graph, None).total
        official_loss.backward()
        our_loss.backward()
        row = {"official_loss": float(official_loss), "our_loss": float(our_loss),
               "z_max_abs_difference": float((official.z - ours._last_embedding).abs().max())}
        if step == 0:
            row["relative_gradient_difference"] = {
                name: float((a.grad - b.grad).norm() / a.grad.norm()) for name, a, b in [
                    ("paper projection", official.fc_list[0].weight,
                     ours.projection.linears[ours.target].weight),
                    ("gcn layer 1", official.Encoder.gc1.weight, ours.encoder.weight1),
                    ("attention", official.att.att, ours.attention.att),
                    ("head", official.project.weight, ours.head.weight),
                    ("weight mlp", official.MLP[0].weight, ours.weight_net.first.weight)]}
        steps.append(row)
        print(f"step {step}: official {row['official_loss']:.6f}, ours {row['our_loss']:.6f}, "
              f"max |z difference| {row['z_max_abs_difference']:.2e}", flush=True)
        for optimizer in optimizers:
            optimizer.step()
    print("gradients at step 0 (relative difference):", steps[0]["relative_gradient_difference"])
    record = {
        "method": "adameow", "dataset": args.dataset,
        "protocol": "parity with the official model (same weights, inputs and masks)",
        "metrics": {}, "pathsim_ties": args.ties, "dropout": args.train,
        "adjacency_max_abs_difference": adjacency_difference, "steps": steps,
        "seconds_per_epoch": None, "peak_memory_mb": None, "epochs": args.steps, "seeds": [0],
        "hardware": hardware(),
        "command": "python benchmarks/adameow_official_parity.py " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "date": dt.date.today().isoformat(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"adameow_official_parity_{args.dataset}_{args.ties}.json").write_text(
        json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
