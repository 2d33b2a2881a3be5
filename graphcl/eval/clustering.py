"""Node clustering quality of frozen embeddings: k-means NMI and ARI."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch import Tensor

from graphcl.eval.metrics import summarize
from graphcl.eval.probe import _as_embeddings, _as_index, _as_labels


def kmeans_scores(
    embeddings: Tensor,
    y: Tensor,
    *,
    num_clusters: int | None = None,
    n_runs: int = 10,
    n_init: int = 10,
    seed: int = 0,
    mask: Tensor | None = None,
) -> dict[str, dict[str, Any]]:
    """k-means on the embeddings, scored against the labels with NMI and ARI (percent).

    Run ``r`` fits ``sklearn.cluster.KMeans(n_clusters=num_clusters, n_init=n_init,
    random_state=seed + r)`` on the raw (not normalised) embeddings of the selected nodes.
    ``n_init=10`` is fixed rather than left to scikit-learn's ``"auto"`` (one k-means++ start
    since 1.4) because the papers' code (HeCo/MEOW's ``KMeans(n_clusters=#classes)``) ran
    on versions whose default was 10, and because it makes each run far less sensitive to
    an unlucky start. ``n_runs=10`` repeats it, as those codes do. Results are reproducible
    for a given seed *and* thread count: scikit-learn's k-means sums in parallel, so a
    different number of OpenMP threads can change the last bits and, rarely, a run's result.

    Args:
        embeddings: ``[N, d]`` floating embeddings (tensor or array).
        y: ``[N]`` integer labels (any integer values; only equality matters).
        num_clusters: number of clusters; ``None`` means the number of distinct labels among
            the selected nodes.
        n_runs: number of seeded k-means runs to average.
        n_init: k-means++ restarts per run (the best inertia is kept).
        seed: run ``r`` uses ``random_state = seed + r``.
        mask: optional ``[N]`` bool mask or 1-D index tensor restricting the nodes that are
            clustered and scored (e.g. the test nodes, as HDMI does).

    Returns:
        ``{"nmi": summary, "ari": summary}``, each ``{"mean", "std", "values"}`` in percent
        (std with ``ddof=0``). NMI is ``normalized_mutual_info_score`` with its default
        arithmetic normalisation; ARI is ``adjusted_rand_score`` (can be negative).

    Raises:
        ValueError: on bad shapes, NaN embeddings, an empty ``mask``, ``n_runs < 1``,
            ``n_init < 1`` or ``num_clusters`` outside ``[1, number of selected nodes]``.
        TypeError: on non-floating embeddings or non-integer labels.
    """
    embeddings = _as_embeddings(embeddings)
    num_nodes = embeddings.shape[0]
    labels = _as_labels(y, num_nodes)
    if mask is not None:
        index = _as_index(mask, num_nodes, "mask")
        if index.numel() == 0:
            raise ValueError("mask selects no nodes: there is nothing to cluster")
        embeddings, labels = embeddings[index.to(embeddings.device)], labels[index.to(labels.device)]
    points = embeddings.cpu().numpy()
    truth = labels.cpu().numpy()
    if n_runs < 1:
        raise ValueError(f"n_runs must be >= 1, got {n_runs}")
    if n_init < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    if num_clusters is None:
        num_clusters = int(np.unique(truth).size)
    if not 1 <= num_clusters <= points.shape[0]:
        raise ValueError(
            f"num_clusters must be in [1, {points.shape[0]}] (the number of clustered nodes), "
            f"got {num_clusters}"
        )

    runs = []
    for run in range(n_runs):
        kmeans = KMeans(n_clusters=num_clusters, n_init=n_init, random_state=seed + run)
        with warnings.catch_warnings():
            # Collapsed embeddings give fewer distinct points than clusters; the score
            # then honestly reflects it, so the warning adds nothing.
            warnings.filterwarnings("ignore", message="Number of distinct clusters")
            assignment = kmeans.fit_predict(points)
        runs.append({
            "nmi": 100.0 * float(normalized_mutual_info_score(truth, assignment)),
            "ari": 100.0 * float(adjusted_rand_score(truth, assignment)),
        })
    return summarize(runs)
