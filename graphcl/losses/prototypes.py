"""Clustering in torch and the prototypical contrastive loss (MEOW's ``L_proto``).

* :func:`spherical_kmeans` — k-means whose assignment is the largest inner product, as the
  faiss ``Clustering`` + ``IndexFlatIP`` that MEOW's ``cluster.py`` runs (``niter`` 20,
  ``nredo`` 5, the best restart kept); seeded through a ``torch.Generator``, on CPU or GPU,
  in O(chunk·K) memory, so faiss is not required; :func:`faiss_kmeans` runs the same
  clustering through faiss when it is installed (the official code's own library).
* :func:`cluster_concentration` — the per-cluster temperature φ of PCL (Li, Zhou, Xiong,
  Hoi, "Prototypical Contrastive Learning of Unsupervised Representations", ICLR 2021,
  Eq. 12), computed on the assignment scores as MEOW does.
* :func:`proto_nce_loss` — ProtoNCE (PCL Eq. 11, the prototype term; MEOW Sec. IV-D):
  ``(1/G) Σ_g (1/N) Σ_i −log exp(z_i·μ_{g,c(i)}/φ_{g,c(i)}) / Σ_k exp(z_i·μ_{g,k}/φ_{g,k})``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["KMEANS_BACKENDS", "KMeansResult", "cluster_concentration", "faiss_kmeans",
           "proto_nce_loss", "spherical_kmeans"]

_ASSIGN_CHUNK_ELEMENTS = 1 << 19  # scores per chunk of x @ centroidsᵀ: a 2 MB block stays in cache


@dataclass
class KMeansResult:
    """One clustering.

    Attributes:
        assignment: ``[N]`` int64 cluster of each point.
        centroids: ``[K, d]`` the cluster means (not re-normalized, as faiss returns them).
        score: ``[N]`` the inner product of each point with its centroid (faiss' ``D``).
        objective: the summed score of the kept restart.
    """

    assignment: Tensor
    centroids: Tensor
    score: Tensor
    objective: float


def _assign(x: Tensor, centroids: Tensor,
            previous: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Best centroid of every point for R restarts at once: ``centroids`` ``[R, K, d]`` →
    scores and labels ``[R, N]`` (one GEMM against all ``R·K`` centroids per chunk).

    With the ``previous`` labels ``[R, N]``, a point keeps its label unless another centroid
    scores strictly higher (Lloyd's tie rule); only the points that move need an argmax, the
    others a max without indices, which runs several times faster on the CPU."""
    restarts, k, _ = centroids.shape
    n = x.size(0)
    flat = centroids.reshape(restarts * k, -1).t()
    chunk = max(1, _ASSIGN_CHUNK_ELEMENTS // max(1, restarts * k))
    # point-major [N, R] buffers written chunk by chunk (no per-chunk transposes or cat)
    scores = x.new_empty(n, restarts)
    if previous is None:
        labels = torch.empty(n, restarts, dtype=torch.long, device=x.device)
    else:
        labels = previous.t().contiguous()
    for start in range(0, n, chunk):
        end = min(n, start + chunk)
        block = (x[start:end] @ flat).view(-1, restarts, k)
        if previous is None:
            torch.max(block, dim=2, out=(scores[start:end], labels[start:end]))
            continue
        score = torch.amax(block, dim=2, out=scores[start:end])
        label = labels[start:end]
        moved = (block.gather(2, label.unsqueeze(2)).squeeze(2) < score).nonzero(as_tuple=True)
        if moved[0].numel():
            label[moved] = block[moved].argmax(dim=1)
    return scores.t(), labels.t()


def _update(x: Tensor, labels: Tensor, scores: Tensor, k: int,
            membership_product: bool | None = None) -> Tensor:
    """Cluster means ``[R, K, d]`` of labels ``[R, N]``, O(R·N·d).

    On the CPU one ``index_add_`` per restart (sequential, so deterministic); elsewhere one
    ``[R·K, N]`` membership CSR times ``x``, since a GPU's ``index_add_`` adds with atomics in
    no fixed order and a seed must reproduce the clustering. (The CSR needs a stable argsort
    of the R·N labels, which on the CPU alone took longer than the adds: 0.84 against
    0.54 ms on ACM, 20k labels, and it runs in every k-means round.) ``membership_product``
    picks the CSR form (``True``) or the adds (``False``) instead of the device's choice.
    An empty cluster restarts at the points its restart fits worst (lowest ``scores``)."""
    restarts, n = labels.shape
    flat_labels = (labels + k * torch.arange(restarts, device=x.device)[:, None]).view(-1)
    counts = torch.bincount(flat_labels, minlength=restarts * k)
    if membership_product is None:
        membership_product = x.device.type != "cpu"
    if not membership_product:
        sums = x.new_zeros(restarts, k, x.size(1))
        for restart in range(restarts):
            sums[restart].index_add_(0, labels[restart], x)
        sums = sums.view(restarts * k, -1)
    else:
        crow = torch.zeros(restarts * k + 1, dtype=torch.long, device=x.device)
        torch.cumsum(counts, 0, out=crow[1:])
        members = torch.sparse_csr_tensor(
            crow, torch.argsort(flat_labels, stable=True) % n,
            torch.ones(restarts * n, dtype=x.dtype, device=x.device), (restarts * k, n),
            check_invariants=False)
        sums = torch.sparse.mm(members, x)
    centroids = sums / counts.clamp(min=1).unsqueeze(1).to(x.dtype)
    centroids = centroids.view(restarts, k, -1)
    counts = counts.view(restarts, k)
    for restart in (counts == 0).any(1).nonzero().view(-1).tolist():
        empty = (counts[restart] == 0).nonzero().view(-1)
        # an empty cluster restarts at the points its restart fits worst
        worst = torch.argsort(scores[restart])[: empty.numel()]
        centroids[restart, empty] = x[worst]
    return centroids


def _check_kmeans_input(x: Tensor, num_clusters: int, iterations: int, restarts: int) -> None:
    if x.dim() != 2:
        raise ValueError(f"x must be [N, d], got {tuple(x.shape)}")
    n = x.size(0)
    if isinstance(num_clusters, bool) or not isinstance(num_clusters, int) or num_clusters < 1:
        raise ValueError(f"num_clusters must be a positive int, got {num_clusters!r}")
    if num_clusters > n:
        raise ValueError(f"num_clusters={num_clusters} exceeds the {n} points; use at most N "
                         "clusters (MEOW's num_cluster is per dataset, e.g. ACM [100, 300])")
    if iterations < 1 or restarts < 1:
        raise ValueError(f"iterations and restarts must be >= 1, got {iterations}, {restarts}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf values; k-means needs finite points")


def spherical_kmeans(x: Tensor, num_clusters: int, iterations: int = 20, restarts: int = 5,
                     generator: torch.Generator | None = None) -> KMeansResult:
    """k-means with inner-product assignment (faiss ``Clustering`` on an ``IndexFlatIP``).

    Each restart starts from ``K`` distinct random points, alternates ``argmax_k x·c_k``
    assignments and mean updates ``iterations`` times, and is scored by the summed inner
    product of the points with their centroids; the best restart is returned. For unit-norm
    ``x`` this is spherical k-means without the centroid re-normalization (faiss'
    ``spherical=False``, MEOW's setting).

    Args:
        x: ``[N, d]`` points (MEOW: the L2-normalized projected embeddings, detached).
        num_clusters: ``K`` (≤ N).
        iterations: assignment/update rounds per restart (faiss ``niter``; MEOW 20).
        restarts: independent initializations (faiss ``nredo``; MEOW 5).
        generator: seeds the initializations; the same generator state gives the same result.

    Returns:
        :class:`KMeansResult`. Memory O(N·d + K·d + chunk); time O(restarts·iterations·N·K·d).
    """
    _check_kmeans_input(x, num_clusters, iterations, restarts)
    n = x.size(0)
    x = x.detach()
    # all restarts advance together (one GEMM each round); each restart's trajectory is the
    # one it would follow alone, and a converged restart stays at its fixed point
    starts = [torch.randperm(n, generator=generator, device="cpu")[:num_clusters]
              for _ in range(restarts)]
    centroids = x[torch.stack(starts).to(x.device)].clone()
    scores, labels = _assign(x, centroids)
    active = torch.arange(restarts, device=x.device)
    for _ in range(iterations):
        moved = _update(x, labels[active], scores[active], num_clusters)
        new_scores, new_labels = _assign(x, moved, labels[active])
        centroids[active], scores[active] = moved, new_scores
        changed = (new_labels != labels[active]).any(1)
        labels[active] = new_labels
        # a restart at a fixed point of Lloyd's iteration would not move again: drop it
        active = active[changed]
        if active.numel() == 0:
            break
    objectives = scores.sum(1)
    best = int(torch.argmax(objectives))
    return KMeansResult(labels[best], centroids[best], scores[best], float(objectives[best]))


KMEANS_BACKENDS = ("torch", "faiss")


def faiss_kmeans(x: Tensor, num_clusters: int, iterations: int = 20, restarts: int = 5,
                 seed: int = 0) -> KMeansResult:
    """:func:`spherical_kmeans` run by faiss (``pip install faiss-cpu``), as MEOW's official
    ``cluster.py`` does: ``faiss.Clustering`` with ``niter``, ``nredo`` and ``seed``, no
    subsampling (``max_points_per_centroid = 4000`` there, all points here), an exact
    ``IndexFlatIP``, then one search for the assignments and scores.

    Faiss runs every round of every restart (no early stop at a fixed point) with its own
    random initialization, so the clustering differs from the torch backend's for the same
    seed, not in kind. Its assignment search fuses the GEMM and the arg-max in C++, about
    twice as fast as the torch backend on the CPU. CPU only: ``x`` is copied to host memory
    and the results are moved back to ``x.device``.

    Args:
        x: ``[N, d]`` points; num_clusters: ``K`` (≤ N); iterations: ``niter``;
        restarts: ``nredo``; seed: faiss' ``seed`` (MEOW: the granularity's index).
    """
    try:
        import faiss
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("kmeans backend 'faiss' needs faiss: `pip install faiss-cpu` (or "
                          "`pip install graphcl[faiss]`), or use the default 'torch' "
                          "backend") from error
    import numpy as np

    _check_kmeans_input(x, num_clusters, iterations, restarts)
    points = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
    n, d = points.shape
    clustering = faiss.Clustering(d, num_clusters)
    clustering.verbose = False
    clustering.niter, clustering.nredo, clustering.seed = iterations, restarts, int(seed)
    clustering.max_points_per_centroid = max(n, 1)  # every point trains (MEOW: 4000 ≥ N/K)
    clustering.min_points_per_centroid = 1  # only a warning threshold in faiss
    index = faiss.IndexFlatIP(d)
    clustering.train(points, index)
    score, assignment = index.search(points, 1)
    centroids = faiss.vector_to_array(clustering.centroids).reshape(num_clusters, d)
    to = {"device": x.device}
    score = torch.from_numpy(score[:, 0].copy()).to(dtype=x.dtype, **to)
    return KMeansResult(torch.from_numpy(assignment[:, 0].astype(np.int64)).to(**to),
                        torch.from_numpy(centroids.copy()).to(dtype=x.dtype, **to), score,
                        float(score.sum()))


def cluster_concentration(score: Tensor, assignment: Tensor, num_clusters: int,
                          tau: float) -> Tensor:
    """PCL's per-cluster concentration φ (Li et al., ICLR 2021, Eq. 12), as MEOW computes it.

    ``φ_k = mean_{i∈k} √D_i / log(n_k + 5)`` with ``D_i`` the point's assignment score
    (faiss' search value: here an inner product, clamped at 0 before the square root);
    clusters with at most one member take the largest φ; then φ is clipped to its 10th–90th
    percentiles and rescaled to mean ``τ``.

    Args:
        score: ``[N]``; assignment: ``[N]`` int64; num_clusters: ``K``; tau: τ.

    Returns:
        ``[K]`` positive concentrations.
    """
    dtype = score.dtype if score.is_floating_point() else torch.float32
    root = score.detach().to(dtype).clamp(min=0).sqrt()
    counts = torch.bincount(assignment, minlength=num_clusters)
    total = torch.zeros(num_clusters, dtype=dtype, device=score.device).index_add_(
        0, assignment, root)
    phi = total / counts.clamp(min=1).to(dtype) / torch.log(counts.to(dtype) + 5)
    small = counts <= 1
    if small.all():
        phi = torch.ones_like(phi)
    else:
        phi = torch.where(small, phi[~small].max(), phi)
    low, high = torch.quantile(phi, torch.tensor([0.1, 0.9], dtype=dtype, device=phi.device))
    phi = phi.clamp(low, high)
    mean = phi.mean()
    if mean <= 0:
        return torch.full_like(phi, float(tau))
    return tau * phi / mean


def proto_nce_loss(z: Tensor, centroids: Sequence[Tensor], assignments: Sequence[Tensor],
                   concentrations: Sequence[Tensor]) -> Tensor:
    """ProtoNCE over G clusterings (PCL Eq. 11, prototype term; MEOW's ``L_proto``).

    Args:
        z: ``[N, d]`` anchors (MEOW: the coarse view's projected, normalized embeddings).
        centroids: G tensors ``[K_g, d]`` (normalized inside).
        assignments: G tensors ``[N]`` int64.
        concentrations: G tensors ``[K_g]`` of temperatures φ.

    Returns:
        A scalar, the mean over clusterings and nodes. (MEOW's ``contrast.py`` writes the
        denominator as ``N · mean_k``, adding the constant ``log(N/K_g)``; gradients agree.)
    """
    if not (len(centroids) == len(assignments) == len(concentrations)) or not centroids:
        raise ValueError("centroids, assignments and concentrations must be G ≥ 1 matching "
                         "sequences")
    total = z.new_zeros(())
    for mu, labels, phi in zip(centroids, assignments, concentrations):
        mu = torch.nn.functional.normalize(mu.to(z.dtype), dim=1)
        # 1/φ_k scales column k: folded into the K prototypes, not the N×K logits
        logits = z @ (mu / phi.to(z.dtype).unsqueeze(1)).t()
        total = total + torch.nn.functional.cross_entropy(logits, labels)
    return total / len(centroids)
