"""Classification metrics in percent, their summaries over runs, and :class:`EvalResult`.

Every metric in :mod:`graphcl.eval` is reported in **percent** (0–100), so numbers can be
compared with papers' tables without rescaling.

A *summary* of several runs is a dict keyed by metric name::

    {"micro_f1": {"mean": 83.1, "std": 0.42, "values": [82.7, 83.5, ...]}, ...}

where ``std`` is the **population** standard deviation (NumPy's default ``ddof=0``), which
is what the official GRACE/GCA evaluation code reports as its ``±``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score

#: Names of the metrics returned by :func:`classification_metrics`, in display order.
METRIC_NAMES: tuple[str, ...] = ("micro_f1", "macro_f1", "accuracy")


def _labels_to_numpy(labels: Any, name: str) -> np.ndarray:
    """Return ``labels`` as a 1-D integer NumPy array, or raise naming ``name``."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(array.shape)}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def classification_metrics(
    y_true: torch.Tensor | np.ndarray | Sequence[int],
    y_pred: torch.Tensor | np.ndarray | Sequence[int],
    num_classes: int | None = None,
) -> dict[str, float]:
    """Micro-F1, macro-F1 and accuracy of single-label predictions, in percent.

    Args:
        y_true: ``[M]`` integer true labels (tensor on any device, array or list).
        y_pred: ``[M]`` integer predicted labels.
        num_classes: if given, labels must lie in ``[0, num_classes)`` and macro-F1 averages
            over **all** ``num_classes`` classes, so a class absent from both ``y_true`` and
            ``y_pred`` counts as F1 = 0 (this is what scoring one-hot indicator matrices, as
            the official GRACE evaluation does, amounts to). If ``None``, macro-F1 averages
            over the classes present in ``y_true`` or ``y_pred`` (scikit-learn's default).

    Returns:
        ``{"micro_f1": float, "macro_f1": float, "accuracy": float}`` in percent.
        F1 uses ``sklearn.metrics.f1_score(..., zero_division=0)``. For single-label data
        micro-F1 equals accuracy whenever every predicted label is among the averaged labels.

    Raises:
        ValueError: if the inputs are not 1-D, differ in length, are empty, or a label lies
            outside ``[0, num_classes)``.
        TypeError: if the labels are not integers.
    """
    true = _labels_to_numpy(y_true, "y_true")
    pred = _labels_to_numpy(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {true.size} and {pred.size}"
        )
    if true.size == 0:
        raise ValueError("y_true is empty: cannot compute metrics on zero samples")
    labels = None
    if num_classes is not None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        for name, array in (("y_true", true), ("y_pred", pred)):
            if array.min() < 0 or array.max() >= num_classes:
                raise ValueError(
                    f"{name} holds labels outside [0, {num_classes}): "
                    f"min {array.min()}, max {array.max()}"
                )
        labels = np.arange(num_classes)
    return {
        "micro_f1": 100.0
        * float(f1_score(true, pred, labels=labels, average="micro", zero_division=0)),
        "macro_f1": 100.0
        * float(f1_score(true, pred, labels=labels, average="macro", zero_division=0)),
        "accuracy": 100.0 * float(accuracy_score(true, pred)),
    }


def _classification_metrics_torch(
    y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int
) -> dict[str, float]:
    """:func:`classification_metrics` with ``num_classes=None``, from bincounts.

    The linear probe scores hundreds of evaluation points, and scikit-learn's input checks
    cost ~10 ms per call against microseconds here. Both ``[M]`` int64 tensors must be on
    one device, non-empty, with labels in ``[0, num_classes)``. Equal to the scikit-learn
    path up to float rounding (``tests/test_eval.py`` checks this).
    """
    true_count = torch.bincount(y_true, minlength=num_classes).double()
    pred_count = torch.bincount(y_pred, minlength=num_classes).double()
    correct = y_true == y_pred
    true_positive = torch.bincount(y_true[correct], minlength=num_classes).double()
    # F1 = 2 tp / (2 tp + fp + fn) = 2 tp / (#true + #predicted); scikit-learn's default
    # labels are those present in y_true or y_pred, so absent classes are left out.
    present = (true_count + pred_count) > 0
    f1 = 2.0 * true_positive[present] / (true_count[present] + pred_count[present])
    accuracy = 100.0 * float(correct.double().mean())
    return {"micro_f1": accuracy, "macro_f1": 100.0 * float(f1.mean()), "accuracy": accuracy}


def t_interval_halfwidth(values: Sequence[float], level: float = 0.95) -> float:
    """Half-width of the Student-t confidence interval of the mean of ``values`` (``[n]``):
    ``t_{(1+level)/2, n−1} · s / √n`` with the sample standard deviation ``s`` (``ddof=1``).
    NaN for fewer than two values (no spread to estimate).

    For paired runs pass the per-pair differences: the interval of the mean difference."""
    from scipy import stats

    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {array.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    n = array.size
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.5 + level / 2, n - 1) * array.std(ddof=1) / np.sqrt(n))


def summarize(runs: Sequence[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """Mean, population standard deviation and raw values of each metric over runs.

    Args:
        runs: one metric dict per run (split, seed or repeat), e.g. the outputs of
            :func:`classification_metrics`. All dicts must have the same keys.

    Returns:
        ``{name: {"mean": float, "std": float, "values": list[float]}}`` for every key of the
        runs, in the key order of the first run. ``std`` is ``np.std(values)`` with
        ``ddof=0`` (population std, 0.0 for a single run), as in the official GRACE code.

    Raises:
        ValueError: if ``runs`` is empty, the runs' keys differ, or a value is not finite.
    """
    if len(runs) == 0:
        raise ValueError("runs is empty: nothing to summarize")
    names = list(runs[0].keys())
    for index, run in enumerate(runs):
        if set(run.keys()) != set(names):
            raise ValueError(
                f"runs[{index}] has metrics {sorted(run.keys())}, expected {sorted(names)}"
            )
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        values = [float(run[name]) for run in runs]
        if not np.all(np.isfinite(values)):
            raise ValueError(f"runs hold a non-finite value for metric {name!r}: {values}")
        summary[name] = {
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
            "values": values,
        }
    return summary


@dataclass
class EvalResult:
    """Outcome of an evaluation protocol.

    Attributes:
        protocol: name of the protocol that produced it (``"clean"``, ``"grace"``, ...).
        metrics: a summary as returned by :func:`summarize`: per metric ``mean``, ``std``
            (population, ``ddof=0``) and ``values``, all in percent.
        details: one dict per split or repeat (seeds, split sizes, selected epoch or
            hyper-parameter, the metrics of that run).
    """

    protocol: str
    metrics: dict[str, dict[str, Any]]
    details: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy as plain dicts and lists (JSON-serialisable when the details are)."""
        return {
            "protocol": self.protocol,
            "metrics": copy.deepcopy(self.metrics),
            "details": copy.deepcopy(self.details),
        }

    def __str__(self) -> str:
        return " | ".join(
            f"{name} {summary['mean']:.2f} ± {summary['std']:.2f}"
            for name, summary in self.metrics.items()
        )
