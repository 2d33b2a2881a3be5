"""Run the official HDMI code (Jing, Park, Tong, WWW 2021; ``baoyujing/HDMI``) resumably.

    python benchmarks/official_multiplex_data.py --out <HDMI>/data/imdb.pkl
    python benchmarks/official_hdmi.py --official-dir <HDMI> --seed 0 --run-dir DIR
    python benchmarks/official_hdmi.py --official-dir <HDMI> --evaluate-only STATE.pkl

The official ``main.py`` trains up to 10,000 epochs with patience 100 on the loss and keeps no
checkpoint: on the 2-core machine (about 2.2 s per epoch on the multiplex IMDB) a run outlives
a session and is lost when the session ends. This runner imports the official model
(``models.hdmi.modeler``), loss (``HDMI.get_loss``), data loader and evaluation
(``evaluate.evaluate``: DMGI's 50 logistic regressions, test Macro/Micro-F1 at the best
validation value, k-means NMI on the test nodes) from ``--official-dir`` and runs the loop of
``HDMI.training`` unchanged in its arithmetic (same corruption, same six BCE terms and
coefficients, the same "save the weights whenever the loss improves, stop after ``patience``
epochs without improvement" rule), adding only a seed and a checkpoint every
``--checkpoint-every`` epochs (model, optimizer, best weights, patience counter, RNG states),
so a killed run resumes where it stopped. None of the official code is part of graphcl.

``--evaluate-only`` evaluates a saved state dict (e.g. the ``saved_model/best_imdb_HDMI.pkl``
an interrupted official run left) with the official evaluation. ``--evaluate-embeddings``
runs the same official evaluation on graphcl's embeddings (the ``embeddings.pt`` of a
``graphcl train`` / ``reproduce.py`` run dir on ``imdb-multiplex``, whose node order is the one
``official_multiplex_data.py`` writes), so both sides are scored by one piece of code: HDMI's
``evaluate.py`` trains its probes 100 epochs at lr 0.1, DMGI's (graphcl's ``dmgi`` protocol)
50 epochs at lr 0.01.

Result: ``benchmarks/results/official_hdmi_imdb-multiplex_seed<S>.json`` (training),
``..._evaluated<TAG>.json`` (``--evaluate-only``), ``gcool_imdb-multiplex_hdmi_evaluate<TAG>.json``
(``--evaluate-embeddings``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import hardware

from graphcl.train import seed_everything


def official_modules(official_dir: Path):
    """The official ``HDMI`` embedder class, ``modeler`` and ``evaluate`` (the repository's
    modules read ``data/<dataset>.pkl`` relative to the working directory)."""
    if not (official_dir / "models" / "hdmi.py").is_file():
        raise FileNotFoundError(f"{official_dir} is not a checkout of baoyujing/HDMI "
                                "(models/hdmi.py missing); fetch it and pass --official-dir")
    if not (official_dir / "data" / "imdb.pkl").is_file():
        raise FileNotFoundError(f"{official_dir / 'data' / 'imdb.pkl'} missing: write it with "
                                "`python benchmarks/official_multiplex_data.py --out "
                                f"{official_dir / 'data' / 'imdb.pkl'}`")
    os.chdir(official_dir)
    sys.path.insert(0, str(official_dir))
    # the models package first, as main.py imports it: evaluate.py imports models, whose
    # hdi.py imports evaluate back
    import models  # noqa: F401
    from evaluate import evaluate
    from models.hdmi import HDMI, modeler
    return HDMI, modeler, evaluate


def official_args(epochs: int, patience: int) -> argparse.Namespace:
    """``main.py``'s defaults for IMDB, on the CPU."""
    return argparse.Namespace(
        embedder="HDMI", hid_units=128, same_discriminator=False, dataset="imdb", sc=3.0,
        sparse=True, nb_epochs=epochs, lr=0.001, patience=patience, gpu_num="cpu",
        coef_layers=[1, 2, 0.001], coef_fusion=[0.01, 0.1, 0.001], save_root="./saved_model")


def train(embedder, modeler, args, run_dir: Path, checkpoint_every: int) -> dict:
    """``HDMI.training``'s loop with checkpoints; returns the best state dict and the log."""
    features = embedder.features
    adj_list = embedder.adj_list
    model = modeler(args.ft_size, args.hid_units, len(adj_list), args.same_discriminator)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    state = {"epoch": 0, "best": 1e9, "wait": 0, "best_epoch": 0, "best_state": None,
             "seconds": [], "stopped": False}
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint.pt"
    if checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimizer"])
        np.random.set_state(saved["numpy_rng"])
        torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]
        print(f"resumed from {checkpoint} at epoch {state['epoch']}", flush=True)

    def save() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimiser.state_dict(),
                    "numpy_rng": np.random.get_state(), "torch_rng": torch.get_rng_state(),
                    "state": state}, tmp)
        os.replace(tmp, checkpoint)

    from tqdm import tqdm

    model.train()
    progress = tqdm(range(state["epoch"], args.nb_epochs), initial=state["epoch"],
                    total=args.nb_epochs, mininterval=30)
    for epoch in progress:
        if state["stopped"]:
            break
        start = time.perf_counter()
        optimiser.zero_grad()
        idx = np.random.permutation(args.nb_nodes)
        shuf_fts = features[idx, :]
        e_list, i_list, j_list, e_fusion, i_fusion, j_fusion = model(
            features, shuf_fts, adj_list, args.sparse)
        loss_e = sum(embedder.get_loss(logits) for logits in e_list)
        loss_i = sum(embedder.get_loss(logits) for logits in i_list)
        loss_j = sum(embedder.get_loss(logits) for logits in j_list)
        cl, cf = args.coef_layers, args.coef_fusion
        loss = (cl[0] * loss_e + cl[1] * loss_i + cl[2] * loss_j
                + cf[0] * embedder.get_loss(e_fusion) + cf[1] * embedder.get_loss(i_fusion)
                + cf[2] * embedder.get_loss(j_fusion))
        # the official rule: keep the weights of the lowest loss seen (before this step)
        if float(loss.detach()) < state["best"]:
            state.update(best=float(loss.detach()), wait=0, best_epoch=epoch + 1, best_state={
                key: value.detach().clone() for key, value in model.state_dict().items()})
        else:
            state["wait"] += 1
        if state["wait"] == args.patience:
            print(f"Early stopped at epoch {epoch + 1} (best loss {state['best']:.5f} at "
                  f"epoch {state['best_epoch']})", flush=True)
            state.update(stopped=True, epoch=epoch + 1)
            save()
            break
        loss.backward()
        optimiser.step()
        state["seconds"].append(time.perf_counter() - start)
        state["epoch"] = epoch + 1
        if state["epoch"] % checkpoint_every == 0:
            save()
            progress.set_postfix(loss=f"{float(loss.detach()):.4f}", best=state["best_epoch"])
    save()
    return state


def evaluate_state(embedder, modeler, evaluate, args, best_state: dict) -> dict:
    model = modeler(args.ft_size, args.hid_units, len(embedder.adj_list),
                    args.same_discriminator)
    model.load_state_dict(best_state)
    model.eval()
    embeds = model.embed(embedder.features, embedder.adj_list, args.sparse)
    return evaluate_embeddings(embedder, evaluate, embeds)


def load_graphcl_embeddings(path: Path, num_nodes: int) -> torch.Tensor:
    """The ``[N, d]`` embedding a graphcl run saved (``embeddings.pt``), checked against the
    official loader's node count."""
    saved = torch.load(path, weights_only=False)
    embeds = saved["embeddings"] if isinstance(saved, dict) else saved
    if isinstance(saved, dict) and saved.get("dataset") not in (None, "imdb-multiplex"):
        raise ValueError(f"{path} holds embeddings of {saved['dataset']!r}, not imdb-multiplex")
    if embeds.dim() != 2 or embeds.size(0) != num_nodes:
        raise ValueError(f"{path}: expected [{num_nodes}, d] embeddings, got "
                         f"{tuple(embeds.shape)}")
    return embeds.detach().float()


def evaluate_embeddings(embedder, evaluate, embeds: torch.Tensor) -> dict:
    macro, micro, nmi = evaluate(embeds, embedder.idx_train, embedder.idx_val,
                                 embedder.idx_test, embedder.labels)

    def summary(values) -> dict:
        return {"mean": 100 * float(np.mean(values)), "std": 100 * float(np.std(values))}

    return {"macro_f1": summary(macro), "micro_f1": summary(micro), "nmi": summary(nmi)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-dir", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="checkpoint directory (default: <official-dir>/runs/seed-S)")
    parser.add_argument("--checkpoint-every", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=10000, help="main.py's nb_epochs")
    parser.add_argument("--patience", type=int, default=100, help="main.py's patience")
    parser.add_argument("--evaluate-only", type=Path, default=None,
                        help="evaluate this saved state dict instead of training")
    parser.add_argument("--evaluate-embeddings", type=Path, nargs="+", default=None,
                        help="score graphcl embeddings.pt files (one per seed) with the official "
                             "evaluation instead of training")
    parser.add_argument("--tag", default="")
    parser.add_argument("--note", default=None, help="provenance recorded with the result")
    args = parser.parse_args(argv)

    command = "python benchmarks/" + " ".join([Path(sys.argv[0]).name] + sys.argv[1:])
    official_dir = args.official_dir.resolve()
    run_dir = (args.run_dir or official_dir / "runs" / f"seed-{args.seed}").resolve()
    evaluate_only = args.evaluate_only.resolve() if args.evaluate_only else None
    if args.evaluate_embeddings:  # before official_modules() changes the working directory
        args.evaluate_embeddings = [path.resolve() for path in args.evaluate_embeddings]
    HDMI, modeler, evaluate = official_modules(official_dir)
    seed_everything(args.seed)
    hdmi_args = official_args(args.epochs, args.patience)
    embedder = HDMI(hdmi_args)
    record = {"method": "hdmi (official code)", "dataset": "imdb-multiplex",
              "protocol": "dmgi (official evaluate.py: 50 logistic regressions, test F1 at the "
                          "best validation F1; k-means NMI on the test nodes, 10 runs)",
              "hardware": hardware(), "command": command, "date": dt.date.today().isoformat(),
              "threads": torch.get_num_threads()}
    if args.evaluate_embeddings:
        return score_graphcl(args, embedder, evaluate, record)
    if evaluate_only is not None:
        best_state = torch.load(evaluate_only, weights_only=True)
        record.update(seeds=[], epochs=None, source=str(evaluate_only))
        name = f"official_hdmi_imdb-multiplex_evaluated{args.tag}.json"
    else:
        state = train(embedder, modeler, hdmi_args, run_dir, args.checkpoint_every)
        best_state = state["best_state"]
        seconds = state["seconds"]
        record.update(seeds=[args.seed], epochs=state["epoch"], best_epoch=state["best_epoch"],
                      early_stopped=state["stopped"],
                      seconds_per_epoch=float(np.median(seconds)) if seconds else None)
        name = f"official_hdmi_imdb-multiplex_seed{args.seed}{args.tag}.json"
    if args.note:
        record["note"] = args.note
    record["metrics"] = evaluate_state(embedder, modeler, evaluate, hdmi_args, best_state)
    record["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = RESULTS / name
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["metrics"]), f"\nrecorded in {out}")
    return 0


def score_graphcl(args, embedder, evaluate, record: dict) -> int:
    """The official evaluation on each graphcl embedding; per-run means, then mean ± std."""
    runs = []
    for path in args.evaluate_embeddings:
        seed_everything(args.seed)
        embeds = load_graphcl_embeddings(path.resolve(), int(embedder.features.size(0)))
        runs.append(evaluate_embeddings(embedder, evaluate, embeds))
        print(path, json.dumps(runs[-1]), flush=True)
    record.update(method="gcool (graphcl), scored by the official HDMI evaluate.py",
                  sources=[str(p.resolve()) for p in args.evaluate_embeddings], per_run=runs,
                  metrics={name: {"mean": float(np.mean([r[name]["mean"] for r in runs])),
                                  "std": float(np.std([r[name]["mean"] for r in runs]))}
                           for name in runs[0]})
    if args.note:
        record["note"] = args.note
    out = RESULTS / f"gcool_imdb-multiplex_hdmi_evaluate{args.tag}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["metrics"]), f"\nrecorded in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
