"""The training loop: device, seeds, Adam, progress, CSV log, checkpoints and resume.

A run lives in a directory::

    run_dir/
      config.yaml        the resolved configuration
      log.csv            one row per epoch: epoch, loss, its named parts, seconds
      checkpoint.pt      model, optimizer, epoch and every random state (written atomically)
      embeddings.pt      the final embeddings (written by the CLI after training)

Resuming from ``checkpoint.pt`` restores the model, the optimizer, the augmentation
generator and torch's global random state (used by e.g. ``RReLU``), so on CPU a run stopped
at epoch k and resumed ends with exactly the embeddings of an uninterrupted run.
"""

from __future__ import annotations

import copy
import csv
import inspect
import os
import random
import signal
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data, HeteroData
from tqdm.auto import tqdm

from .methods.base import Method

__all__ = [
    "Trainer",
    "deterministic",
    "evaluate_embeddings",
    "resolve_device",
    "seed_everything",
    "train_from_config",
]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``"auto"``/``None`` → CUDA when available, else CPU; anything else as given.

    Raises:
        ValueError: if CUDA is requested but unavailable.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use --device cpu")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a fresh CPU generator for views.

    Model initialization draws from torch's global generator (as ``nn.Module`` constructors
    do), so seed before building the model.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def deterministic(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels.

    On CPU graphcl's training is already bit-for-bit reproducible for a seed and a thread
    count (dense BLAS, MKL's sparse product and ``segment_reduce`` are deterministic); this
    switch additionally makes torch raise on nondeterministic CUDA kernels and fixes cuBLAS's
    workspace. On GPU, cuSPARSE's CSR product and atomics-based scatter are not guaranteed
    deterministic, so expect run-to-run differences around 1e-6 there.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


@contextmanager
def _terminate_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt so a killed run still writes its checkpoint."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _with_sparse_features(graph: Data | HeteroData) -> Data | HeteroData:
    """A shallow copy whose feature matrices (every node type's, for ``HeteroData``) are
    stored sparse where that pays (see :func:`graphcl.nn.features.to_sparse_features`)."""
    from .nn.features import to_sparse_features

    graph = copy.copy(graph)
    stores = graph.node_stores if isinstance(graph, HeteroData) else [graph]
    for store in stores:
        if store.get("x") is not None:
            store.x = to_sparse_features(store.x)
    return graph


def target_store(graph: Data | HeteroData):
    """Where the labels live: the graph itself, or for ``HeteroData`` the node store of
    ``graph.target_node_type`` (the only node type when there is one)."""
    if not isinstance(graph, HeteroData):
        return graph
    target = getattr(graph, "target_node_type", None)
    if target is None:
        if len(graph.node_types) != 1:
            raise ValueError("this HeteroData has several node types and no `target_node_type`; "
                             "set graph.target_node_type to the type that carries the labels")
        target = graph.node_types[0]
    return graph[target]


#: epochs between two subnormal flushes: values decay into the subnormal range over hundreds
#: of steps, and a flush reads every parameter and optimizer moment (3 passes; tens of ms for
#: the one-hot projections of AMiner's 55k nodes)
SUBNORMAL_FLUSH_INTERVAL = 10


def flush_denormals() -> bool:
    """Make the CPU treat subnormal floats as zero (FTZ/DAZ, ``torch.set_flush_denormal``).

    The flag belongs to a thread: it covers the calling thread and the threads torch starts
    afterwards (they inherit it), not an intra-op pool that already exists. Entry points
    (:func:`train_from_config`, behind ``graphcl train`` and ``benchmarks/reproduce.py``) call
    it before any parallel work; a :class:`Trainer` calls it when ``fit`` starts. Returns
    whether the CPU supports it."""
    return bool(torch.set_flush_denormal(True))


@torch.no_grad()
def flush_subnormals_(parameters, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Zero, in place, the subnormal entries (``0 < |v| < finfo.tiny``) of floating-point
    parameters and of the optimizer's per-parameter state tensors."""
    tensors = list(parameters)
    if optimizer is not None:
        tensors += [value for state in optimizer.state.values() for value in state.values()
                    if torch.is_tensor(value) and value.dim() > 0]
    for tensor in tensors:
        if tensor.is_floating_point():
            tensor.masked_fill_(tensor.abs() < torch.finfo(tensor.dtype).tiny, 0.0)


class Trainer:
    """Trains a :class:`~graphcl.methods.Method` on one graph, full batch.

    Args:
        method: the method (moved to ``device``).
        graph: the training graph (moved to ``device``).
        epochs: total epochs of the run.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        seed: seeds model init (if the caller seeded before building the model), views and
            torch's global state for the run.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        run_dir: where the log and checkpoints go (``None``: nothing is written).
        checkpoint_every: write ``checkpoint.pt`` every this many epochs (0: only at the end
            and on interrupt).
        progress: show a tqdm progress bar.
        callback: ``callback(epoch, record)`` after every epoch (``record`` is the log row).
        sparse_features: ``"auto"`` stores ``x`` as a sparse CSR matrix when at most 5% of
            it is non-zero (bag-of-words benchmarks: the first layer then costs O(nnz));
            ``False`` keeps it dense. Results are the same up to float rounding.
        early_stopping: patience in epochs (``None``: off). Stop once the training loss has
            not decreased for this many consecutive epochs, then reload the weights that
            produced the lowest loss (each epoch's loss is that of the weights before its
            step), as HeCo's and DGI's official loops do with ``patience``.
        restore_best: with early stopping, reload the lowest-loss weights at the end
            (default); ``False`` keeps the last ones (MEOW's official loop stops but does not
            reload).
        min_epochs: early stopping never ends training before this many epochs (``None``:
            it may stop at any epoch, as the official loops do). For losses whose epoch-to-epoch
            noise exceeds their early decrease (MEOW on IMDB at lr 1e-4 can stop after 25
            epochs with an untrained encoder); the best-loss tracking is unchanged.
        graph_name: what to call ``graph`` when its validation fails (``graphcl train`` passes
            the dataset name).
        flush_subnormals: keep subnormal floats (below about 1e-38 in float32) out of CPU
            training, where every operation on them takes a microcode assist. Weights without
            a task gradient decay geometrically under Adam's weight decay into that range:
            gCooL's Photo encoder had 76% subnormal first-layer weights by epoch 1800 and its
            epochs ran 6.4-7.2 s instead of 1.0 s. ``fit`` turns on FTZ/DAZ
            (:func:`flush_denormals`; 0.9-1.2 s again there), and every
            ``SUBNORMAL_FLUSH_INTERVAL`` steps parameters and optimizer moments below the
            normal range are set to zero (:func:`flush_subnormals_`), which also covers threads
            the flag does not reach. Values change by less than 1e-38.
        eval_every: evaluate the embeddings every this many epochs with ``evaluator``
            (0: never), as official scripts that print test results during training do
            (gCooL's every 100 epochs). Rows go to :attr:`evaluations` and ``eval.csv``; the
            random states are restored afterwards, so training follows the same trajectory
            with or without these evaluations.
        evaluator: ``evaluator(embeddings) -> {metric: value}`` on the ``[N, d]`` CPU
            embeddings of :meth:`embed`.
    """

    def __init__(self, method: Method, graph: Data, *, epochs: int, lr: float = 1e-3,
                 weight_decay: float = 0.0, seed: int = 0, device: str | torch.device = "auto",
                 run_dir: str | Path | None = None, checkpoint_every: int = 50,
                 progress: bool = True,
                 callback: Callable[[int, dict], None] | None = None,
                 sparse_features: str | bool = "auto",
                 early_stopping: int | None = None, restore_best: bool = True,
                 min_epochs: int | None = None, graph_name: str = "the training graph",
                 flush_subnormals: bool = True, eval_every: int = 0,
                 evaluator: Callable[[torch.Tensor], dict] | None = None) -> None:
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 0:
            raise ValueError(f"eval_every must be a non-negative int (0: never), got {eval_every!r}")
        if eval_every and evaluator is None:
            raise ValueError("eval_every > 0 needs an evaluator(embeddings) -> {metric: value}")
        if early_stopping is not None and (isinstance(early_stopping, bool)
                                           or not isinstance(early_stopping, int)
                                           or early_stopping < 1):
            raise ValueError(f"early_stopping must be a positive int (patience) or None, got "
                             f"{early_stopping!r}")
        if min_epochs is not None and (isinstance(min_epochs, bool)
                                       or not isinstance(min_epochs, int) or min_epochs < 0):
            raise ValueError(f"min_epochs must be a non-negative int or None, got {min_epochs!r}")
        from .data import validate_graph

        # NaN features, out-of-range edges, ... are named here, not by a NaN loss later
        validate_graph(graph, name=graph_name)
        self.device = resolve_device(device)
        self.method = method.to(self.device)
        self.graph = graph.to(self.device)
        if sparse_features:
            self.graph = _with_sparse_features(self.graph)
        self.epochs = epochs
        self.seed = seed
        self.optimizer = torch.optim.Adam(self.method.parameters(), lr=lr,
                                          weight_decay=weight_decay)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.callback = callback
        self.epoch = 0
        self.history: list[dict] = []
        self.early_stopping = early_stopping
        self.restore_best = bool(restore_best)
        self.min_epochs = min_epochs or 0
        self.flush_subnormals = bool(flush_subnormals)
        self.eval_every = eval_every
        self.evaluator = evaluator
        self.evaluations: list[dict] = []
        # best loss, its epoch (1-based), the weights that produced it, epochs since, stopped
        self.best = {"loss": float("inf"), "epoch": 0, "state": None, "stale": 0,
                     "stopped": False}

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "checkpoint.pt"

    @property
    def log_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "log.csv"

    @property
    def eval_log_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "eval.csv"

    def state_dict(self) -> dict:
        """Everything needed to continue the run exactly."""
        return {
            "epoch": self.epoch,
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            **global_random_states(),
            "history": self.history,
            "best": self.best,
            "evaluations": self.evaluations,
        }

    def load_state_dict(self, state: dict) -> None:
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        set_global_random_states(state)
        self.epoch = state["epoch"]
        self.history = list(state.get("history", []))
        if "best" in state:
            self.best = state["best"]
        self.evaluations = list(state.get("evaluations", []))

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoint.pt`` atomically (a kill mid-write leaves the previous one)."""
        path = self.checkpoint_path
        if path is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".pt.tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def resume(self) -> bool:
        """Load ``checkpoint.pt`` when it exists; return whether it did.

        The CSV log is cut back to the checkpoint's epoch so rows are not duplicated.
        """
        path = self.checkpoint_path
        if path is None or not path.exists():
            return False
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.load_state_dict(state)
        self._rewrite_log()
        if self.eval_log_path is not None and (self.evaluations or self.eval_log_path.exists()):
            _write_csv(self.eval_log_path, self.evaluations, ["epoch"])
        return True

    def _rewrite_log(self) -> None:
        if self.log_path is not None:
            _write_csv(self.log_path, self.history, ["epoch", "loss", "seconds"])

    def evaluate_now(self) -> dict:
        """Run :attr:`evaluator` on the current embeddings and record the row
        (``{"epoch", metric: value, ...}``) without disturbing any random state."""
        if self.evaluator is None:
            raise ValueError("this Trainer has no evaluator")
        states = global_random_states()
        try:
            metrics = self.evaluator(self.embed())
        finally:
            set_global_random_states(states)
        row = {"epoch": self.epoch, **{key: float(value) for key, value in metrics.items()}}
        self.evaluations.append(row)
        if self.eval_log_path is not None:
            _write_csv(self.eval_log_path, self.evaluations, ["epoch"])
        return row

    def _append_log(self, record: dict) -> None:
        if self.log_path is None:
            return
        new_file = not self.log_path.exists() or len(self.history) == 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w" if new_file else "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(record.keys()), extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(record)

    def train_epoch(self) -> dict:
        """One optimization step on one pair (or set) of views; returns the log row."""
        self.method.train()
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        self.method.set_epoch(self.epoch)
        output = self.method.loss(self.graph, self.generator)
        if not torch.isfinite(output.total):
            raise FloatingPointError(
                f"the loss became {float(output.total.detach())} at epoch {self.epoch + 1}; lower the "
                "learning rate or raise the temperature"
            )
        if self.early_stopping is not None:
            self._track_best(float(output.total.detach()))
        output.total.backward()
        self.optimizer.step()
        if self.flush_subnormals and (self.epoch + 1) % SUBNORMAL_FLUSH_INTERVAL == 0:
            flush_subnormals_(self.method.parameters(), self.optimizer)
        record = {"epoch": self.epoch + 1, "loss": float(output.total.detach())}
        record.update({key: float(value) for key, value in output.parts.items()})
        record["seconds"] = time.perf_counter() - start
        return record

    def _track_best(self, loss: float) -> None:
        """Early stopping: remember the weights of the lowest loss (before this step)."""
        if loss < self.best["loss"]:
            self.best.update(loss=loss, epoch=self.epoch + 1, stale=0, state={
                key: value.detach().clone() for key, value in self.method.state_dict().items()
            } if self.restore_best else None)
        else:
            self.best["stale"] += 1

    def _warn_if_stopped_untrained(self) -> None:
        """Early stopping whose best loss came within the first ``patience`` epochs never saw
        the loss improve after its start: usually noise larger than the early decrease
        (MEOW on IMDB), not convergence."""
        if self.best["epoch"] <= self.early_stopping:
            warnings.warn(
                f"early stopping ended training at epoch {self.epoch}: the lowest loss came at "
                f"epoch {self.best['epoch']}, within the first {self.early_stopping} (the "
                "patience), so the model may be untrained; if the loss was still flat, raise "
                "the patience or set min_epochs (train.min_epochs)", RuntimeWarning,
                stacklevel=3)

    def fit(self, resume: bool = False) -> list[dict]:
        """Train up to ``epochs``; with ``resume`` continue from ``checkpoint.pt`` if present.

        Returns the per-epoch log rows. On KeyboardInterrupt or SIGTERM the checkpoint is
        written before the exception propagates.
        """
        if resume:
            self.resume()
        if self.flush_subnormals and self.device.type == "cpu":
            flush_denormals()
        bar = tqdm(total=self.epochs, initial=self.epoch, disable=not self.progress,
                   desc=f"{self.method.name}", unit="epoch", dynamic_ncols=True)
        try:
            with _terminate_as_interrupt():
                while self.epoch < self.epochs and not self.best["stopped"]:
                    record = self.train_epoch()
                    self.epoch += 1
                    self.history.append(record)
                    self._append_log(record)
                    bar.update(1)
                    bar.set_postfix(loss=f"{record['loss']:.4f}")
                    if self.callback is not None:
                        self.callback(self.epoch, record)
                    if self.eval_every and self.epoch % self.eval_every == 0:
                        self.evaluate_now()
                    if self.early_stopping is not None and self.epoch >= self.min_epochs \
                            and self.best["stale"] >= self.early_stopping:
                        self.best["stopped"] = True
                        self._warn_if_stopped_untrained()
                    if self.checkpoint_every and self.epoch % self.checkpoint_every == 0:
                        self.save_checkpoint()
        except KeyboardInterrupt:
            self.save_checkpoint()
            raise
        finally:
            bar.close()
        if self.early_stopping is not None and self.restore_best \
                and self.best["state"] is not None:
            self.method.load_state_dict(self.best["state"])
        self.save_checkpoint()
        return self.history

    def embed(self):
        """Embeddings of the training graph from the current model, on CPU: ``[N, d]``."""
        return self.method.embed(self.graph).detach().cpu()

    @property
    def seconds_per_epoch(self) -> float:
        """Median training time per epoch of this process's log rows."""
        if not self.history:
            return float("nan")
        return float(np.median([row["seconds"] for row in self.history]))


def global_random_states() -> dict:
    """The global random states a run draws from besides its own generator: torch's (CPU and,
    when present, CUDA), numpy's and Python's, keyed as in a checkpoint."""
    return {"torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy_rng": np.random.get_state(),
            "python_rng": random.getstate()}


def set_global_random_states(states: dict) -> None:
    """Restore what :func:`global_random_states` returned (or a checkpoint holding it)."""
    torch.set_rng_state(states["torch_rng"])
    if states.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda_rng"])
    np.random.set_state(states["numpy_rng"])
    random.setstate(states["python_rng"])


def _write_csv(path: Path, rows: list[dict], default_fields: list[str]) -> None:
    """Rewrite ``path`` with ``rows`` (the union of their keys as columns, in first-seen order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(key for row in rows for key in row)) or default_fields
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def evaluate_embeddings(embeddings: torch.Tensor, graph: Data, eval_config: dict | None = None):
    """Evaluate frozen embeddings on ``graph``'s labels with the protocol of ``eval_config``.

    ``protocol: clean`` uses the graph's split masks when it has them (Planetoid's public
    split, WikiCS's 20 splits, the synthetic graph's seeded split), else seeded random
    splits; ``protocol: grace`` is the official GRACE evaluation. Other keys are passed on to
    :func:`graphcl.eval.evaluate`.

    Returns:
        :class:`graphcl.eval.EvalResult`.
    """
    from .eval import PROTOCOLS, evaluate

    options = dict(eval_config or {})
    protocol = options.pop("protocol", "clean")
    store = target_store(graph)
    if store.get("y") is None:
        raise ValueError("the graph has no labels (graph.y), so its embeddings cannot be evaluated")
    # the graph's own split goes to every protocol that takes one (an unknown protocol is
    # named by evaluate())
    if protocol in PROTOCOLS and "train_mask" in inspect.signature(PROTOCOLS[protocol]).parameters:
        for key in ("train_mask", "val_mask", "test_mask"):
            if store.get(key) is not None and key not in options:
                options[key] = store[key]
    if protocol == "heco":
        options.setdefault("splits", graph)
    return evaluate(embeddings, store.y, protocol=protocol, **options)


#: keys of a config's ``data`` section, applied by :func:`prepare_graph`
DATA_KEYS = ("walk_features",)


def prepare_graph(graph, data_config: dict | None, model_config: dict | None = None):
    """Apply a config's ``data`` section to a loaded graph (``graph`` itself when it is empty).

    Keys:
        ``walk_features``: ``true`` or a mapping of
            :class:`~graphcl.augment.WalkEmbeddingFeatures` options (``metapaths``, ``dim``,
            ``window``, ``negative``, ``node_types``, ``per_metapath``); the meta-paths
            default to the model's ``metapaths``. Replaces featureless inputs by NetMF meta-path walk embeddings,
            a stand-in for metapath2vec inputs.

    Raises:
        ValueError: an unknown key, or ``walk_features`` without meta-paths.
    """
    data_config = dict(data_config or {})
    unknown = sorted(set(data_config) - set(DATA_KEYS))
    if unknown:
        raise ValueError(f"config section 'data' has unknown keys {unknown}; known: "
                         f"{', '.join(DATA_KEYS)}")
    options = data_config.get("walk_features")
    if options in (None, False):
        return graph
    from .augment import WalkEmbeddingFeatures

    options = {} if options is True else dict(options)
    options.setdefault("metapaths", (model_config or {}).get("metapaths"))
    if not options["metapaths"]:
        raise ValueError("data.walk_features needs meta-paths: set data.walk_features.metapaths "
                         "or model.metapaths")
    return WalkEmbeddingFeatures(**options)(graph)


#: values of ``train.matmul_precision`` (``torch.set_float32_matmul_precision``)
MATMUL_PRECISIONS = ("highest", "high", "medium")
#: the keys of a config's ``train`` section (a misspelt one is an error, not ignored)
TRAIN_KEYS = ("seed", "lr", "weight_decay", "epochs", "checkpoint_every", "early_stopping",
              "restore_best", "min_epochs", "flush_subnormals", "eval_every", "matmul_precision")


@contextmanager
def matmul_precision(precision: str):
    """``torch.set_float32_matmul_precision(precision)`` inside the block (also usable as a
    decorator); the previous setting is restored on exit."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def _train_number(train_cfg: dict, key: str, default, kind: type):
    """``train.<key>`` as ``kind`` (int or float), with an error that names the key."""
    value = train_cfg.get(key, default)
    try:
        if kind is int and (isinstance(value, bool) or float(value) != int(float(value))):
            raise ValueError
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"train.{key} must be {'an integer' if kind is int else 'a number'}, "
                         f"got {value!r}") from None


def train_from_config(config: dict, *, root: str | None = None, device: str = "auto",
                      run_dir: str | Path | None = None, resume: bool = False,
                      progress: bool = True, evaluate: bool = True,
                      periodic_protocols: list[dict] | None = None) -> dict:
    """Load the dataset, build the method, train, embed and evaluate, as ``graphcl train`` does.

    ``train.eval_every: E`` also evaluates every ``E`` epochs during training
    (:class:`Trainer`'s ``eval_every``) under ``periodic_protocols`` (default: the config's
    ``eval`` section); with several protocols the metric names are ``protocol/metric``.

    ``train.matmul_precision`` (``highest``, the default, ``high`` or ``medium``) is
    ``torch.set_float32_matmul_precision`` while training (:func:`matmul_precision`):
    ``medium`` lets float32 matrix products run on bfloat16 units (oneDNN's AMX/AVX-512-BF16
    on the CPU, tensor cores on CUDA) with float32 accumulation, 2-3× faster products with
    inputs rounded to 8 significant bits. The final embedding and every evaluation run at
    ``highest``. It changes the training trajectory, not only its speed: gCooL on
    Amazon-Photo (lr 0.1) stayed near uniform similarities for its first ~550 epochs under
    ``medium`` and ended 0.46 Micro-F1 below the float32 run of the same seed
    (``benchmarks/README.md``), so reproductions keep the default.

    Args:
        config: a resolved configuration (see :func:`graphcl.config.load_config`).
        root: dataset root (``None``: ``$GRAPHCL_DATA``, then ``./datasets``).
        device: ``auto``, ``cpu``, ``cuda``...
        run_dir: where config, log, checkpoint, embeddings and metrics are written.
        resume: continue from ``run_dir/checkpoint.pt`` if present.
        progress: show progress bars.
        evaluate: run the configured evaluation after training.
        periodic_protocols: eval sections (``{"protocol": ..., options}``) for the periodic
            evaluations.

    Returns:
        ``{"embeddings", "metrics" (EvalResult or None), "seconds_per_epoch", "trainer"}``.
    """
    import json

    import yaml

    from .data import load_dataset
    from .methods import build_method

    train_cfg = dict(config.get("train", {}))
    unknown = sorted(set(train_cfg) - set(TRAIN_KEYS))
    if unknown:
        raise ValueError(f"config section 'train' has unknown keys {unknown}; known: "
                         f"{', '.join(TRAIN_KEYS)}")
    precision = train_cfg.get("matmul_precision", "highest")
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(f"train.matmul_precision must be one of {', '.join(MATMUL_PRECISIONS)}"
                         f", got {precision!r}")
    if train_cfg.get("flush_subnormals", True) and resolve_device(device).type == "cpu":
        flush_denormals()  # before loading starts torch's thread pool, so its threads inherit it
    graph = load_dataset(config["dataset"], root=root)
    graph = prepare_graph(graph, config.get("data"), config.get("model"))
    seed = _train_number(train_cfg, "seed", 0, int)
    seed_everything(seed)
    method = build_method(config["method"], graph.num_features, **config.get("model", {}))
    # graph.num_features is a dict {node type: width} for HeteroData
    eval_every = _train_number(train_cfg, "eval_every", 0, int)
    specs = periodic_protocols or [dict(config.get("eval") or {})]
    # the Trainer moves the graph to an accelerator in place; the probes need labels on the CPU
    eval_graph = (graph.clone() if eval_every and resolve_device(device).type != "cpu"
                  else graph)

    @matmul_precision("highest")
    def periodic_evaluator(embeddings: torch.Tensor) -> dict:
        metrics = {}
        for spec in specs:
            result = evaluate_embeddings(embeddings, eval_graph, spec)
            prefix = f"{spec.get('protocol', 'clean')}/" if len(specs) > 1 else ""
            metrics.update({prefix + name: stats["mean"] for name, stats in result.metrics.items()})
        return metrics

    trainer = Trainer(
        method, graph, epochs=_train_number(train_cfg, "epochs", 200, int),
        lr=_train_number(train_cfg, "lr", 1e-3, float),
        weight_decay=_train_number(train_cfg, "weight_decay", 0.0, float), seed=seed,
        device=device, run_dir=run_dir,
        checkpoint_every=_train_number(train_cfg, "checkpoint_every", 50, int),
        progress=progress, early_stopping=train_cfg.get("early_stopping"),
        restore_best=bool(train_cfg.get("restore_best", True)),
        min_epochs=(None if train_cfg.get("min_epochs") is None
                    else _train_number(train_cfg, "min_epochs", None, int)),
        graph_name=config["dataset"],
        flush_subnormals=bool(train_cfg.get("flush_subnormals", True)),
        eval_every=eval_every, evaluator=periodic_evaluator if eval_every else None)
    if run_dir is not None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(run_dir) / "config.yaml", "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
    with matmul_precision(precision):
        trainer.fit(resume=resume)
    embeddings = trainer.embed()
    result = evaluate_embeddings(embeddings, graph.cpu(), config.get("eval")) if evaluate else None
    if run_dir is not None:
        torch.save({"embeddings": embeddings, "dataset": config["dataset"],
                    "method": config["method"]}, Path(run_dir) / "embeddings.pt")
        if result is not None:
            with open(Path(run_dir) / "metrics.json", "w") as handle:
                json.dump(result.to_dict(), handle, indent=2)
    return {"embeddings": embeddings, "metrics": result,
            "seconds_per_epoch": trainer.seconds_per_epoch, "trainer": trainer,
            "epochs_run": trainer.epoch}
