"""Node-classification protocols on frozen embeddings, and the :data:`PROTOCOLS` registry.

* ``clean``: a torch linear probe per split, test metrics at the best validation epoch
  (:func:`evaluate_clean`). This is the protocol to report.
* ``grace``: a faithful, seeded re-implementation of the official GRACE evaluation
  (CRIPAC-DIG/GRACE ``eval.py``), used by GRACE, GCA and many follow-ups
  (:func:`evaluate_grace`). Use it to compare with those papers' tables.
* ``gca``: GCA's random-split probe (:func:`evaluate_gca`).
* ``heco``, ``dmgi`` and ``hdmi``: the fixed-split, repeated-probe protocols of HeCo/MEOW,
  DMGI and HDMI for heterogeneous and multiplex graphs, in :mod:`graphcl.eval.hetero`.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import normalize as l2_normalize_rows
from torch import Tensor

from graphcl.eval.hetero import evaluate_dmgi, evaluate_hdmi, evaluate_heco
from graphcl.eval.metrics import EvalResult, classification_metrics, summarize
from graphcl.eval.probe import _as_embeddings, _as_index, _as_labels, linear_probe


def _random_split(
    num_nodes: int, train_ratio: float, val_ratio: float, seed: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Seeded, non-stratified random split into train/val/test node indices.

    A ``torch.Generator`` seeded with ``seed`` draws one ``randperm(num_nodes)``; its first
    ``floor(train_ratio * N)`` nodes train, the next ``floor(val_ratio * N)`` validate, the
    rest test (the sizes PyGCL's ``get_split`` uses, but reproducible).
    """
    num_train = int(train_ratio * num_nodes)
    num_val = int(val_ratio * num_nodes)
    if num_train < 1:
        raise ValueError(
            f"train_ratio={train_ratio} leaves no training node out of {num_nodes}"
        )
    if num_nodes - num_train - num_val < 1:
        raise ValueError(
            f"train_ratio={train_ratio} and val_ratio={val_ratio} leave no test node "
            f"out of {num_nodes}"
        )
    generator = torch.Generator(device="cpu").manual_seed(seed)
    perm = torch.randperm(num_nodes, generator=generator)
    return perm[:num_train], perm[num_train:num_train + num_val], perm[num_train + num_val:]


def _mask_columns(mask: Any, num_nodes: int, name: str) -> list[Any] | None:
    """Split a ``[N, S]`` bool mask into its S columns; ``None`` for a 1-D mask or index."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        mask = torch.as_tensor(np.asarray(mask))
    if mask.dim() != 2:
        return None
    if mask.dtype != torch.bool or mask.shape[0] != num_nodes:
        raise ValueError(
            f"a 2-D {name} must be a bool tensor of shape [{num_nodes}, num_splits], "
            f"got dtype {mask.dtype} and shape {tuple(mask.shape)}"
        )
    if mask.shape[1] == 0:
        raise ValueError(f"{name} has zero columns (splits)")
    return list(mask.unbind(dim=1))


def evaluate_clean(
    embeddings: Tensor,
    y: Tensor,
    *,
    train_mask: Tensor | None = None,
    val_mask: Tensor | None = None,
    test_mask: Tensor | None = None,
    num_splits: int = 5,
    train_ratio: float = 0.1,
    val_ratio: float = 0.1,
    seed: int = 0,
    **probe_kwargs: Any,
) -> EvalResult:
    """Linear-probe node classification, test metrics at the best validation epoch.

    Splits, in order of precedence:

    * **2-D masks** ``[N, S]`` (e.g. WikiCS's 20 public splits): one probe per column
      ``k`` with probe seed ``seed + k``; ``num_splits`` is ignored. A 1-D ``val_mask`` or
      ``test_mask`` (WikiCS has a single test mask) is shared by every column.
    * **1-D masks** (bool ``[N]`` or index tensors; one fixed public split such as
      Planetoid's): the same split is probed ``num_splits`` times with seeds
      ``seed, seed + 1, ...``, so the spread reflects only the probe's initialisation.
    * **no masks**: ``num_splits`` random, non-stratified splits of ``train_ratio`` /
      ``val_ratio`` / rest; split ``k`` is a ``randperm`` from a generator seeded with
      ``seed + k`` (sizes are floored), probed with seed ``seed + k``.

    Args:
        embeddings: ``[N, d]`` floating embeddings (detached inside).
        y: ``[N]`` integer labels.
        train_mask, val_mask, test_mask: see above. Give either none of them or at least
            ``train_mask`` and ``test_mask``.
        num_splits: number of random splits, or of probe seeds on a fixed 1-D split.
        train_ratio, val_ratio: fractions for random splits (``0.1 / 0.1`` leaves 80 % for
            test, the GRACE/GCA/gCooL setting).
        seed: base seed for splits and probes.
        **probe_kwargs: forwarded to :func:`~graphcl.eval.probe.linear_probe` (``epochs``,
            ``lr``, ``weight_decay``, ``eval_every``, ``normalize``, ``select_metric``,
            ``select``, ``device``). With ``select="max_test"`` the protocol is named
            ``"clean[max_test]"`` so optimistic numbers never pass for clean ones.

    Returns:
        :class:`EvalResult` with protocol ``"clean"``, ``metrics`` summarising the test
        metrics (percent; std with ``ddof=0``) over splits, and per split ``details``:
        ``{"split", "probe_seed", "split_seed" (None for given masks), "num_train",
        "num_val", "num_test", "best_epoch", "val", "test"}``.

    Raises:
        ValueError: on bad shapes, NaN embeddings, only some masks given, 2-D masks with
            different numbers of columns, empty train/test sets, bad ratios or
            ``num_splits < 1``; the message names the argument.
        TypeError: on bad dtypes (see :func:`~graphcl.eval.probe.linear_probe`).
    """
    if "seed" in probe_kwargs:
        raise TypeError("pass the probe seed as seed=..., it is offset per split")
    embeddings = _as_embeddings(embeddings)
    num_nodes = embeddings.shape[0]
    labels = _as_labels(y, num_nodes)

    masks_given = {"train_mask": train_mask, "val_mask": val_mask, "test_mask": test_mask}
    splits: list[tuple[Any, Any, Any, int | None]] = []
    if all(mask is None for mask in masks_given.values()):
        if num_splits < 1:
            raise ValueError(f"num_splits must be >= 1, got {num_splits}")
        if not 0.0 < train_ratio < 1.0:
            raise ValueError(f"train_ratio must be in (0, 1), got {train_ratio}")
        if not 0.0 <= val_ratio < 1.0 or train_ratio + val_ratio >= 1.0:
            raise ValueError(
                f"val_ratio must be in [0, 1) with train_ratio + val_ratio < 1, "
                f"got val_ratio={val_ratio}, train_ratio={train_ratio}"
            )
        for k in range(num_splits):
            train, val, test = _random_split(num_nodes, train_ratio, val_ratio, seed + k)
            splits.append((train, val, test, seed + k))
    else:
        if train_mask is None or test_mask is None:
            missing = [name for name in ("train_mask", "test_mask") if masks_given[name] is None]
            raise ValueError(
                f"{' and '.join(missing)} must be given when any split mask is given "
                "(or give none of them for random splits)"
            )
        columns = {name: _mask_columns(mask, num_nodes, name)
                   for name, mask in masks_given.items()}
        widths = {name: len(cols) for name, cols in columns.items() if cols is not None}
        if len(set(widths.values())) > 1:
            raise ValueError(f"2-D masks must have the same number of columns, got {widths}")
        if widths:
            num_columns = next(iter(widths.values()))
            per_split = {
                name: columns[name] if columns[name] is not None
                else [masks_given[name]] * num_columns
                for name in masks_given
            }
            for k in range(num_columns):
                splits.append((per_split["train_mask"][k], per_split["val_mask"][k],
                               per_split["test_mask"][k], None))
        else:
            if num_splits < 1:
                raise ValueError(f"num_splits must be >= 1, got {num_splits}")
            splits = [(train_mask, val_mask, test_mask, None)] * num_splits

    details: list[dict[str, Any]] = []
    for k, (train, val, test, split_seed) in enumerate(splits):
        probe = linear_probe(embeddings, labels, train, val, test, seed=seed + k, **probe_kwargs)
        details.append({
            "split": k,
            "probe_seed": seed + k,
            "split_seed": split_seed,
            "num_train": int(_as_index(train, num_nodes, "train_mask").numel()),
            "num_val": 0 if val is None else int(_as_index(val, num_nodes, "val_mask").numel()),
            "num_test": int(_as_index(test, num_nodes, "test_mask").numel()),
            "best_epoch": probe["best_epoch"],
            "val": probe["val"],
            "test": probe["test"],
        })
    protocol = "clean" if probe_kwargs.get("select", "best_val") == "best_val" else (
        f"clean[{probe_kwargs['select']}]"
    )
    return EvalResult(protocol, summarize([d["test"] for d in details]), details)


def _default_n_jobs() -> int:
    return min(2, os.cpu_count() or 1)


def evaluate_grace(
    embeddings: Tensor,
    y: Tensor,
    *,
    ratio: float = 0.1,
    repeats: int = 3,
    seed: int = 0,
    n_jobs: int | None = None,
) -> EvalResult:
    """The official GRACE evaluation (CRIPAC-DIG/GRACE ``eval.py``), seeded.

    Per repeat ``r``: L2-normalise the rows (``sklearn.preprocessing.normalize``), one-hot
    encode the labels (columns = the sorted distinct labels of ``y``), split with
    ``train_test_split(test_size=1 - ratio, random_state=seed + r)`` (not stratified), fit
    ``GridSearchCV(OneVsRestClassifier(LogisticRegression(solver="liblinear")),
    {"estimator__C": 2.0 ** np.arange(-10, 10)}, cv=5)`` on the training part (default
    scoring: subset accuracy of the one-vs-rest multi-label predictions, as in the
    original), then ``predict_proba`` on the test part, take the arg-max as the single
    predicted class, and score micro- and macro-F1 over the one-hot columns (a class
    absent from a test split counts as F1 = 0 in the macro average).

    Differences from the official code, none of which changes what is computed for a given
    split: the official split is **unseeded** (``random_state=None``), so its numbers vary
    from run to run; it repeats 3 times through its ``@repeat(3)`` decorator; it uses
    ``n_jobs=8``; and it reports fractions, not percent.

    Args:
        embeddings: ``[N, d]`` floating embeddings (tensor or array; moved to CPU NumPy).
        y: ``[N]`` integer labels; every node is used.
        ratio: training fraction (0.1 in GRACE/GCA; the rest is test, there is no
            validation set — ``C`` is chosen by 5-fold cross-validation on the train part).
        repeats: number of random splits (3 as in the official ``@repeat(3)``).
        seed: split ``r`` uses ``random_state = seed + r``.
        n_jobs: GridSearchCV workers; ``None`` means ``min(2, os.cpu_count())``.

    Returns:
        :class:`EvalResult` with protocol ``"grace"``; metrics ``micro_f1``, ``macro_f1``
        and ``accuracy`` (equal to micro-F1 here, since each node has exactly one true and
        one predicted class) in percent, std with ``ddof=0`` as in the official code;
        details per repeat: ``{"repeat", "random_state", "best_C", "num_train",
        "num_test", "test"}``.

    Raises:
        ValueError: on bad shapes, NaN embeddings, negative labels, ``ratio`` outside
            ``(0, 1)``, ``repeats < 1``, or a training part too small for 5-fold CV.
        TypeError: on non-floating embeddings or non-integer labels.
    """
    embeddings = _as_embeddings(embeddings)
    num_nodes = embeddings.shape[0]
    labels = _as_labels(y, num_nodes).cpu().numpy()
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if labels.min() < 0:
        raise ValueError("y holds negative (missing) labels; the grace protocol uses every node")
    n_jobs = _default_n_jobs() if n_jobs is None else n_jobs

    features = l2_normalize_rows(embeddings.cpu().numpy(), norm="l2")
    classes, class_index = np.unique(labels, return_inverse=True)
    one_hot = np.zeros((num_nodes, classes.size), dtype=bool)
    one_hot[np.arange(num_nodes), class_index] = True

    details: list[dict[str, Any]] = []
    for repeat in range(repeats):
        random_state = seed + repeat
        x_train, x_test, y_train, y_test = train_test_split(
            features, one_hot, test_size=1 - ratio, random_state=random_state
        )
        if x_train.shape[0] < 5:
            raise ValueError(
                f"ratio={ratio} gives {x_train.shape[0]} training nodes; 5-fold CV needs >= 5"
            )
        search = GridSearchCV(
            estimator=OneVsRestClassifier(LogisticRegression(solver="liblinear")),
            param_grid={"estimator__C": 2.0 ** np.arange(-10, 10)},
            cv=5,
            n_jobs=n_jobs,
        )
        with warnings.catch_warnings():
            # Small training parts leave some one-hot column constant within a fold
            # (OneVsRestClassifier then predicts it constantly, as in the original code),
            # and tiny C values may not converge; both are part of the protocol.
            warnings.filterwarnings(
                "ignore", message="Label .* is present in all training examples"
            )
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            search.fit(x_train, y_train)
            probabilities = search.predict_proba(x_test)
        details.append({
            "repeat": repeat,
            "random_state": random_state,
            "best_C": float(search.best_params_["estimator__C"]),
            "num_train": int(x_train.shape[0]),
            "num_test": int(x_test.shape[0]),
            "test": classification_metrics(
                y_test.argmax(axis=1), probabilities.argmax(axis=1), num_classes=classes.size
            ),
        })
    return EvalResult("grace", summarize([d["test"] for d in details]), details)


def evaluate_gca(embeddings: Tensor, y: Tensor, *, num_splits: int = 5, seed: int = 0,
                 **probe_kwargs: Any) -> EvalResult:
    """GCA's evaluation (CRIPAC-DIG/GCA ``pGRACE/eval.py``): a fresh random 10% / 10% / 80%
    split per run, a logistic-regression probe trained with Adam (lr 0.01, no weight decay)
    for 3000 epochs, test accuracy at the best validation accuracy checked every 20 epochs.

    The official code draws an unseeded split at every call; here split ``k`` uses
    ``seed + k``. Attached split masks are ignored, as in the official code.

    Args:
        embeddings: ``[N, d]``; y: ``[N]``.
        num_splits: runs (random splits) to average.
        **probe_kwargs: overrides of the probe settings above.

    Returns:
        :class:`EvalResult` named ``"gca"``.
    """
    options = {"epochs": 3000, "lr": 0.01, "weight_decay": 0.0, "eval_every": 20,
               "select_metric": "accuracy"}
    options.update(probe_kwargs)
    result = evaluate_clean(embeddings, y, num_splits=num_splits, train_ratio=0.1,
                            val_ratio=0.1, seed=seed, **options)
    return EvalResult("gca", result.metrics, result.details)


def evaluate_gcool(embeddings: Tensor, y: Tensor, *, train_mask: Tensor | None = None,
                   val_mask: Tensor | None = None, test_mask: Tensor | None = None,
                   num_splits: int = 1, seed: int = 0, **probe_kwargs: Any) -> EvalResult:
    """gCooL's reported evaluation (lblaoke/gCooL ``main.py`` ``test`` and ``src/eval.py``
    ``log_regression``): **optimistic, test-set selection** — name it beside every number.

    A logistic-regression probe (one ``Linear``, Xavier init, no embedding normalization)
    trained with Adam (lr 0.01, weight decay 1e-5); every 5 epochs the test Micro-F1 and
    Macro-F1 are computed and each one's **maximum over the probe epochs** is reported
    (independently; validation is never used).

    * Random-split datasets: 5000 probe epochs on a fresh random 10 % / 10 % / 80 % split
      (the official ``get_idx_split('rand:0.1', ...)`` draws a new permutation at every call
      and ignores its ``preload_split``); here split ``k`` is seeded ``seed + k`` and
      ``num_splits`` of them are averaged (the official code evaluates one per call).
    * WikiCS (2-D ``train_mask``/``val_mask``): 1000 probe epochs on each of the 20 public
      splits, averaged, as the official code does for WikiCS.

    The official script evaluates every 100 training epochs and prints each result; this
    function evaluates the embeddings it is given (the final model's in the trainer).

    Args:
        embeddings: ``[N, d]``; y: ``[N]``.
        train_mask, val_mask, test_mask: WikiCS's masks; ignored when ``train_mask`` is 1-D
            or absent (random splits, as the official code).
        num_splits: random splits to average.
        **probe_kwargs: overrides of the probe settings above.

    Returns:
        :class:`EvalResult` named ``"gcool"``.
    """
    wikics = train_mask is not None and train_mask.dim() == 2
    options = {"epochs": 1000 if wikics else 5000, "lr": 0.01, "weight_decay": 1e-5,
               "eval_every": 5, "normalize": False, "select": "max_test",
               "select_metric": "micro_f1"}
    options.update(probe_kwargs)
    masks = ({"train_mask": train_mask, "val_mask": val_mask, "test_mask": test_mask}
             if wikics else {})
    result = evaluate_clean(embeddings, y, num_splits=num_splits, train_ratio=0.1,
                            val_ratio=0.1, seed=seed, **masks, **options)
    return EvalResult("gcool", result.metrics, result.details)


def evaluate_pot(embeddings: Tensor, y: Tensor, *, train_mask: Tensor | None = None,
                 val_mask: Tensor | None = None, test_mask: Tensor | None = None,
                 num_splits: int = 1, seed: int = 0, swap_val_test: bool = True,
                 **probe_kwargs: Any) -> EvalResult:
    """POT's evaluation (VoidHaruhi/POT-GCL ``eval.py: log_regression``), as the paper's
    numbers were produced.

    A logistic-regression probe (one ``Linear``, Xavier init, no embedding normalization)
    trained with Adam (lr 0.01, no weight decay) for 3000 epochs; every 20 epochs the test
    Micro/Macro-F1 at the best validation Micro-F1 is kept.

    * Planetoid (1-D public masks): the official code builds ``(train, val, test)`` and
      unpacks it as ``(train, test, val)``, so it **reports on the 500 validation nodes and
      selects on the 1000 test nodes**. ``swap_val_test=True`` (default) reproduces that;
      the clean protocol (``protocol: clean``) uses the masks as named.
    * Other datasets: one random 10 % / 10 % / 80 % split per run (``generate_split``);
      here split ``k`` is seeded ``seed + k``.

    Returns:
        :class:`EvalResult` named ``"pot"``.
    """
    options = {"epochs": 3000, "lr": 0.01, "weight_decay": 0.0, "eval_every": 20,
               "normalize": False, "select_metric": "micro_f1"}
    options.update(probe_kwargs)
    public = train_mask is not None and train_mask.dim() == 1 and test_mask is not None
    if public:
        if swap_val_test:
            val_mask, test_mask = test_mask, val_mask
        masks = {"train_mask": train_mask, "val_mask": val_mask, "test_mask": test_mask}
    else:
        masks = {}
    result = evaluate_clean(embeddings, y, num_splits=num_splits, train_ratio=0.1,
                            val_ratio=0.1, seed=seed, **masks, **options)
    return EvalResult("pot", result.metrics, result.details)


#: Protocol name -> function, for :func:`evaluate`.
PROTOCOLS: dict[str, Callable[..., EvalResult]] = {
    "clean": evaluate_clean,
    "grace": evaluate_grace,
    "gca": evaluate_gca,
    "gcool": evaluate_gcool,
    "heco": evaluate_heco,
    "dmgi": evaluate_dmgi,
    "hdmi": evaluate_hdmi,
    "pot": evaluate_pot,
}


def evaluate(
    embeddings: Tensor, y: Tensor, protocol: str = "clean", **kwargs: Any
) -> EvalResult:
    """Run a node-classification protocol by name.

    Args:
        embeddings: ``[N, d]`` floating embeddings.
        y: ``[N]`` integer labels.
        protocol: ``"clean"`` (:func:`evaluate_clean`), ``"grace"``
            (:func:`evaluate_grace`), ``"gca"`` (:func:`evaluate_gca`), ``"heco"``
            (:func:`~graphcl.eval.hetero.evaluate_heco`, needs ``splits=``), ``"dmgi"``
            (:func:`~graphcl.eval.hetero.evaluate_dmgi`, needs the three masks) or
            ``"hdmi"`` (:func:`~graphcl.eval.hetero.evaluate_hdmi`, the same with HDMI's
            probe).
        **kwargs: keyword arguments of the chosen protocol.

    Returns:
        The protocol's :class:`EvalResult`.

    Raises:
        ValueError: for an unknown ``protocol`` (the message lists the known ones), and
            whatever the protocol raises.
    """
    if protocol not in PROTOCOLS:
        known = ", ".join(repr(name) for name in PROTOCOLS)
        raise ValueError(f"unknown protocol {protocol!r}; known protocols: {known}")
    function = PROTOCOLS[protocol]
    parameters = inspect.signature(function).parameters
    options = [name for name, parameter in parameters.items()
               if parameter.kind is inspect.Parameter.KEYWORD_ONLY
               or (parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
                   and name not in ("embeddings", "y"))]
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD
                    for parameter in parameters.values())
    unknown = [] if takes_any else sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(f"protocol {protocol!r} has no option {', '.join(map(repr, unknown))}; "
                         f"its options: {', '.join(options)}")
    try:
        return function(embeddings, y, **kwargs)
    except TypeError as error:  # an option the protocol passes on to an inner function
        if "unexpected keyword argument" not in str(error):
            raise
        raise ValueError(f"protocol {protocol!r}: {error} (an option in the config's eval "
                         "section that this protocol does not take)") from error
