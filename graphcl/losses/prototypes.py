"""Clustering in torch and the prototypical contrastive loss (MEOW's ``L_proto``).

* :func:`spherical_kmeans` — k-means whose assignment is the largest inner product, as the
  faiss ``Clustering`` + ``IndexFlatIP`` that MEOW's ``cluster.py`` runs (``niter`` 20,
  ``nredo`` 5, the best restart kept); seeded through a ``torch.Generator``, on CPU or GPU,
  in O(chunk·K) memory, so faiss is not required.
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

__all__ = ["KMeansResult", "cluster_concentration", "proto_nce_loss", "spherical_kmeans"]

_ASSIGN_CHUNK_ELEMENTS = 1 << 19  # scores per chunk of x @ centroidsᵀ: 2 MB stays in cache for the max


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
    flat = centroids.reshape(restarts * k, -1).t()
    chunk = max(1, _ASSIGN_CHUNK_ELEMENTS // max(1, restarts * k))
    scores, labels = [], []
    for start in range(0, x.size(0), chunk):
        block = (x[start:start + chunk] @ flat).view(-1, restarts, k)
        if previous is None:
            best = block.max(dim=2)
            scores.append(best.values.t())
            labels.append(best.indices.t())
            continue
        label = previous[:, start:start + chunk].t().contiguous()
        score = block.amax(dim=2)
        moved = (block.gather(2, label.unsqueeze(2)).squeeze(2) < score).nonzero(as_tuple=True)
        if moved[0].numel():
            label[moved] = block[moved].argmax(dim=1)
        scores.append(score.t())
        labels.append(label.t())
    return torch.cat(scores, 1), torch.cat(labels, 1)


def _update(x: Tensor, labels: Tensor, scores: Tensor, k: int) -> Tensor:
    """Cluster means ``[R, K, d]`` of labels ``[R, N]``: one ``[R·K, N]`` membership CSR
    times ``x``, O(R·N·d) (a scattered ``index_add_`` runs serially on CPU)."""
    restarts, n = labels.shape
    flat_labels = (labels + k * torch.arange(restarts, device=x.device)[:, None]).view(-1)
    counts = torch.bincount(flat_labels, minlength=restarts * k)
    crow = torch.zeros(restarts * k + 1, dtype=torch.long, device=x.device)
    torch.cumsum(counts, 0, out=crow[1:])
    members = torch.sparse_csr_tensor(
        crow, torch.argsort(flat_labels, stable=True) % n,
        torch.ones(restarts * n, dtype=x.dtype, device=x.device), (restarts * k, n),
        check_invariants=False)
    centroids = torch.sparse.mm(members, x) / counts.clamp(min=1).unsqueeze(1).to(x.dtype)
    centroids = centroids.view(restarts, k, -1)
    counts = counts.view(restarts, k)
    for restart in (counts == 0).any(1).nonzero().view(-1).tolist():
        empty = (counts[restart] == 0).nonzero().view(-1)
        # an empty cluster restarts at the points its restart fits worst
        worst = torch.argsort(scores[restart])[: empty.numel()]
        centroids[restart, empty] = x[worst]
    return centroids


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
