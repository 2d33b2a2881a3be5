"""Linear probe: logistic regression on frozen node embeddings, model-selected on validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphcl.eval.metrics import METRIC_NAMES, _classification_metrics_torch

#: Values accepted by ``linear_probe(select=...)``.
SELECTIONS: tuple[str, ...] = ("best_val", "max_test")


def _as_embeddings(embeddings: Any, name: str = "embeddings") -> Tensor:
    """Validate ``[N, d]`` floating embeddings (tensor or array) and return them detached."""
    if not isinstance(embeddings, Tensor):
        embeddings = torch.as_tensor(np.asarray(embeddings))
    if embeddings.dim() != 2:
        raise ValueError(f"{name} must be 2-D [N, d], got shape {tuple(embeddings.shape)}")
    if not embeddings.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {embeddings.dtype}")
    if embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(embeddings.shape)}")
    embeddings = embeddings.detach()
    if not bool(torch.isfinite(embeddings).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return embeddings


def _as_labels(y: Any, num_nodes: int, name: str = "y") -> Tensor:
    """Validate ``[N]`` integer labels (tensor or array) and return them as int64."""
    if not isinstance(y, Tensor):
        y = torch.as_tensor(np.asarray(y))
    if y.dim() != 1:
        raise ValueError(f"{name} must be 1-D [N], got shape {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape[0] != num_nodes:
        raise ValueError(
            f"{name} has {y.shape[0]} entries but embeddings has {num_nodes} rows"
        )
    return y.detach().long()


def _as_index(mask: Any, num_nodes: int, name: str) -> Tensor:
    """Turn a ``[N]`` bool mask or a 1-D index tensor into a 1-D int64 index tensor (CPU)."""
    if not isinstance(mask, Tensor):
        mask = torch.as_tensor(np.asarray(mask))
    mask = mask.detach()
    if mask.dim() != 1:
        raise ValueError(
            f"{name} must be a 1-D bool mask of length {num_nodes} or a 1-D index tensor, "
            f"got shape {tuple(mask.shape)}"
        )
    if mask.dtype == torch.bool:
        if mask.shape[0] != num_nodes:
            raise ValueError(
                f"{name} is a bool mask of length {mask.shape[0]}, expected {num_nodes}"
            )
        return mask.cpu().nonzero().view(-1)
    if mask.dtype == torch.uint8:
        raise TypeError(f"{name} has dtype uint8; pass a bool mask or an int64 index tensor")
    if mask.is_floating_point() or mask.is_complex():
        raise TypeError(f"{name} must be a bool mask or an integer index tensor, got {mask.dtype}")
    index = mask.cpu().long()
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_nodes):
        raise ValueError(
            f"{name} holds node indices outside [0, {num_nodes}): "
            f"min {int(index.min())}, max {int(index.max())}"
        )
    return index


def linear_probe(
    embeddings: Tensor,
    y: Tensor,
    train_mask: Tensor,
    val_mask: Tensor | None,
    test_mask: Tensor,
    *,
    epochs: int = 2000,
    lr: float = 0.01,
    weight_decay: float = 0.0,
    eval_every: int = 20,
    normalize: bool = True,
    select_metric: str = "accuracy",
    select: str = "best_val",
    seed: int = 0,
    device: torch.device | str | None = None,
    return_history: bool = False,
) -> dict[str, Any]:
    """Train a logistic regression on frozen embeddings and report test metrics.

    The classifier is one ``nn.Linear(d, C)`` (Xavier-uniform weight drawn from a local
    ``torch.Generator`` seeded with ``seed``, zero bias), trained full-batch on the training
    nodes with Adam and cross-entropy. After every ``eval_every`` epochs (and after the last
    epoch) it is scored on the validation and test nodes. No global RNG state is touched and
    the embeddings are detached, so the encoder that produced them is never updated.

    Selection (``select``):

    * ``"best_val"`` (default, the honest protocol): report the test metrics of the
      evaluation point with the highest validation ``select_metric``; ties go to the
      earliest point.
    * ``"max_test"``: **optimistic, test-set selection.** Report, for each metric
      independently, its maximum over all evaluation points on the *test* nodes. This
      reproduces a quirk of some official codes (e.g. gCooL's ``src/eval.py``), whose
      numbers can only be matched this way; it overstates accuracy and must not be used to
      claim results. ``best_epoch`` is then the (earliest) point of the maximal test
      ``select_metric``, and ``val_mask`` may be ``None``.

    Args:
        embeddings: ``[N, d]`` floating embeddings (any device); NumPy arrays are accepted.
        y: ``[N]`` integer labels in ``[0, C)``; entries outside the masks are ignored (they
            may be ``-1`` for unlabelled nodes). ``C = max(y) + 1``.
        train_mask, val_mask, test_mask: each a ``[N]`` bool mask or a 1-D integer index
            tensor. ``val_mask`` may be ``None`` only with ``select="max_test"``.
        epochs: number of full-batch Adam steps. The default 2000 is a middle ground between
            short probes (HeCo/DMGI: 200, DGI: 100) and PyGCL's ``LREvaluator`` / gCooL
            (5000) or POT (3000); since the point is chosen on validation, more epochs only
            cost time. Pass the paper's value to reproduce a paper.
        lr: Adam learning rate (0.01 as in GRACE/GCA/POT/PyGCL probes).
        weight_decay: Adam weight decay (0.0 as in PyGCL and POT; gCooL uses 1e-5).
        eval_every: evaluate every this many epochs (20 as in PyGCL and POT).
        normalize: L2-normalise the rows of the embeddings before training (GRACE's
            evaluation normalises too; it makes ``lr`` meaningful across encoders).
        select_metric: one of ``"micro_f1"``, ``"macro_f1"``, ``"accuracy"``; the validation
            metric used for selection. (Micro-F1 equals accuracy for single-label data, so
            POT's "best validation Micro-F1" is the default's behaviour.)
        select: ``"best_val"`` or ``"max_test"`` (see above).
        seed: seeds the classifier's initialisation.
        device: where to train; defaults to the embeddings' device.
        return_history: also return every evaluation point's validation and test metrics.

    Returns:
        A dict with

        * ``"test"``: ``{"micro_f1", "macro_f1", "accuracy"}`` in percent, at the selected
          point (with ``"max_test"``: per-metric maxima, possibly from different points).
          They are defined as in :func:`~graphcl.eval.metrics.classification_metrics` with
          ``num_classes=None`` (macro-F1 over the classes present among that set's true or
          predicted labels, as PyGCL/POT's probes compute it);
        * ``"val"``: validation metrics at ``best_epoch`` (``None`` without a validation set);
        * ``"best_epoch"``: number of training epochs completed at the selected point;
        * ``"select"``: the selection rule used;
        * ``"history"`` (only if ``return_history``): a list of
          ``{"epoch": int, "val": dict | None, "test": dict}`` per evaluation point.

    Raises:
        ValueError: on wrong shapes, NaN/inf embeddings, an empty ``train_mask`` or
            ``test_mask``, a missing or empty ``val_mask`` with ``select="best_val"``,
            negative labels on masked nodes, or out-of-range arguments; the message names
            the argument.
        TypeError: on non-floating embeddings, non-integer labels or masks of a bad dtype.
    """
    embeddings = _as_embeddings(embeddings)
    num_nodes = embeddings.shape[0]
    labels = _as_labels(y, num_nodes)
    if select not in SELECTIONS:
        raise ValueError(f"select must be one of {SELECTIONS}, got {select!r}")
    if select_metric not in METRIC_NAMES:
        raise ValueError(f"select_metric must be one of {METRIC_NAMES}, got {select_metric!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")

    train_index = _as_index(train_mask, num_nodes, "train_mask")
    test_index = _as_index(test_mask, num_nodes, "test_mask")
    val_index = None if val_mask is None else _as_index(val_mask, num_nodes, "val_mask")
    if train_index.numel() == 0:
        raise ValueError("train_mask selects no nodes: the probe needs training nodes")
    if test_index.numel() == 0:
        raise ValueError("test_mask selects no nodes: there is nothing to evaluate")
    if select == "best_val" and (val_index is None or val_index.numel() == 0):
        raise ValueError(
            "val_mask is None or selects no nodes, but select='best_val' needs validation "
            "nodes (pass select='max_test' only to reproduce test-selected numbers)"
        )
    if val_index is not None and val_index.numel() == 0:
        val_index = None
    for name, index in (("train_mask", train_index), ("val_mask", val_index),
                        ("test_mask", test_index)):
        if index is not None and int(labels[index].min()) < 0:
            raise ValueError(f"{name} selects nodes with negative (missing) labels in y")
    num_classes = int(labels.max()) + 1

    device = embeddings.device if device is None else torch.device(device)
    features = embeddings.to(device)
    if normalize:
        features = F.normalize(features, p=2.0, dim=1)
    labels = labels.to(device)
    train_index, test_index = train_index.to(device), test_index.to(device)
    x_train, y_train = features[train_index], labels[train_index]
    x_test, y_test = features[test_index], labels[test_index]
    if val_index is not None:
        val_index = val_index.to(device)
        x_val, y_val = features[val_index], labels[val_index]

    # Draw the init on CPU from a local generator so the same seed gives the same
    # classifier on every device, and skip nn.Linear's own init, which uses the global RNG.
    generator = torch.Generator(device="cpu").manual_seed(seed)
    weight = torch.empty(num_classes, features.shape[1], dtype=features.dtype)
    nn.init.xavier_uniform_(weight, generator=generator)
    classifier = nn.utils.skip_init(
        nn.Linear, features.shape[1], num_classes, device=device, dtype=features.dtype
    )
    with torch.no_grad():
        classifier.weight.copy_(weight)
        classifier.bias.zero_()
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr, weight_decay=weight_decay)

    history: list[dict[str, Any]] = []
    for epoch in range(1, epochs + 1):
        classifier.train()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(classifier(x_train), y_train)
        loss.backward()
        optimizer.step()
        if epoch % eval_every != 0 and epoch != epochs:
            continue
        classifier.eval()
        with torch.no_grad():
            test_pred = classifier(x_test).argmax(dim=1)
            val_pred = None if val_index is None else classifier(x_val).argmax(dim=1)
        history.append({
            "epoch": epoch,
            "val": None if val_pred is None
            else _classification_metrics_torch(y_val, val_pred, num_classes),
            "test": _classification_metrics_torch(y_test, test_pred, num_classes),
        })

    if select == "best_val":
        chosen = history[0]
        for point in history[1:]:
            if point["val"][select_metric] > chosen["val"][select_metric]:
                chosen = point
        test_metrics = dict(chosen["test"])
    else:
        chosen = history[0]
        for point in history[1:]:
            if point["test"][select_metric] > chosen["test"][select_metric]:
                chosen = point
        test_metrics = {
            name: max(point["test"][name] for point in history) for name in METRIC_NAMES
        }

    result: dict[str, Any] = {
        "test": test_metrics,
        "val": None if chosen["val"] is None else dict(chosen["val"]),
        "best_epoch": chosen["epoch"],
        "select": select,
    }
    if return_history:
        result["history"] = history
    return result
