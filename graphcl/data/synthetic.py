"""Synthetic graphs that need no files: the contextual stochastic block model (CSBM).

A CSBM (Deshpande et al., "Contextual Stochastic Block Models", NeurIPS 2018) couples a
stochastic block model with Gaussian node features whose mean depends on the node's class.
Both halves carry label information, so it is the smallest honest test bed for graph
representation learning: a model that uses the graph must beat one that only reads the
features, which is exactly what a contrastive method built on a GNN encoder should do.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.data import Data

from .splits import random_split_masks

__all__ = ["contextual_sbm"]

# A top-up round draws this many times the pairs still missing, so a sparse graph finishes
# in one or two rounds; a near-complete graph (coupon-collector regime) gets more rounds.
_OVERSAMPLE = 1.2
_MAX_ROUNDS = 64


def _class_means(num_classes: int, num_features: int, signal: float,
                 generator: torch.Generator) -> Tensor:
    """``[C, F]`` class means of norm ``signal``, orthogonal whenever ``C <= F``."""
    directions = torch.randn(num_features, num_classes, generator=generator, dtype=torch.float64)
    if num_classes <= num_features:
        directions = torch.linalg.qr(directions).Q
    else:
        directions = directions / directions.norm(dim=0, keepdim=True)
    return (signal * directions.t()).to(torch.float32)


def _sample_undirected_pairs(
    target: int,
    same_class: bool,
    y: Tensor,
    nodes_by_class: Tensor,
    class_start: Tensor,
    class_sizes: Tensor,
    generator: torch.Generator,
) -> Tensor:
    """Draw ``target`` distinct undirected non-loop pairs, returned as keys ``min * N + max``.

    Pairs are drawn i.i.d. (a uniform endpoint, then a uniform partner in the same class or
    in a uniformly chosen other class) and the first ``target`` distinct keys in draw order
    are kept, which is sampling without replacement and unbiased over node ids.
    """
    num_nodes = y.numel()
    num_classes = class_sizes.numel()
    keys = torch.empty(0, dtype=torch.long)
    for _ in range(_MAX_ROUNDS):
        missing = target - keys.numel()
        if missing <= 0:
            return keys[:target]
        draws = int(missing * _OVERSAMPLE) + 16
        u = torch.randint(0, num_nodes, (draws,), generator=generator)
        partner_class = y[u]
        if not same_class:
            shift = torch.randint(1, num_classes, (draws,), generator=generator)
            partner_class = (partner_class + shift) % num_classes
        size = class_sizes[partner_class]
        # float64 uniforms: float32 * a large class size can round up to `size` itself.
        offset = (torch.rand(draws, generator=generator, dtype=torch.float64) * size).long()
        v = nodes_by_class[class_start[partner_class] + torch.minimum(offset, size - 1)]
        keep = u != v
        u, v = u[keep], v[keep]
        new_keys = torch.minimum(u, v) * num_nodes + torch.maximum(u, v)
        keys = torch.cat([keys, new_keys])
        unique_keys, inverse = torch.unique(keys, return_inverse=True)
        first_seen = torch.full((unique_keys.numel(),), keys.numel(), dtype=torch.long)
        first_seen.scatter_reduce_(0, inverse, torch.arange(keys.numel()), reduce="amin")
        is_first = torch.zeros(keys.numel(), dtype=torch.bool)
        is_first[first_seen] = True
        keys = keys[is_first]
    if keys.numel() >= target:
        return keys[:target]
    raise ValueError(
        f"could not place {target} distinct {'intra' if same_class else 'inter'}-class edges "
        f"after {_MAX_ROUNDS} rounds: the requested graph is too close to complete; lower "
        f"`avg_degree`"
    )


def contextual_sbm(
    num_nodes: int = 2000,
    num_classes: int = 4,
    num_features: int = 128,
    avg_degree: float = 10.0,
    homophily: float = 0.8,
    feature_signal: float = 1.0,
    seed: int = 0,
) -> Data:
    """A seeded contextual stochastic block model: class-dependent features plus a block graph.

    **Labels.** ``y = randperm(N) % C``: classes are balanced (sizes differ by at most one)
    and assigned to random node ids.

    **Features.** ``x_i = mu_{y_i} + eps_i`` with ``eps_i ~ N(0, I_F)``. The class means
    ``mu_c`` are orthogonal (when ``C <= F``) with norm ``feature_signal``, so two class means
    lie ``sqrt(2) * feature_signal`` noise standard deviations apart. At the default
    ``feature_signal=1.0`` the raw features alone are only moderately separable: a logistic
    regression probe trained on the 10% train mask of the default graph scores about 40% on
    the test mask (4 classes, chance 25%; about 53% with 90% of the nodes for training).
    Averaging over neighbours shrinks the noise while a homophilous graph keeps the mean, so
    a parameter-free 2-hop mean aggregation lifts the same probe to about 97%: structure
    helps, and a good graph encoder's embeddings should do likewise.

    **Edges.** ``round(N * avg_degree / 2)`` distinct undirected edges, of which a fraction
    ``homophily`` join two nodes of the same class and the rest join nodes of different
    classes (the partner class uniform among the others). Endpoints are uniform, so degrees
    are roughly Poisson(``avg_degree``) and some nodes may be isolated. There are no
    self-loops and no duplicates; ``edge_index`` holds both directions (about
    ``N * avg_degree`` entries) sorted by ``(row, col)``.

    **Splits.** Random ``train_mask`` / ``val_mask`` / ``test_mask`` with 10% / 10% / 80% of
    the nodes (:func:`~graphcl.data.splits.random_split_masks`, floor-based counts).

    Everything is drawn from one CPU ``torch.Generator`` seeded with ``seed`` (the global RNG
    is untouched), so the same arguments always give an identical graph. Generation is
    vectorised: 200,000 nodes with about 2M directed edges take a few seconds and a few
    hundred MB, most of it ``x``.

    Args:
        num_nodes: ``N >= 2 * num_classes``.
        num_classes: ``C >= 1`` (``C >= 2`` if ``homophily < 1``).
        num_features: ``F >= 1``.
        avg_degree: target mean degree, ``> 0``; the graph must stay sparse enough to hold
            the requested edges (below ``N - 1`` and below each class's capacity).
        homophily: fraction of edges inside a class, in ``[0, 1]``.
        feature_signal: norm of each class mean in noise standard deviations, ``>= 0``
            (0 makes the features pure noise, so only the graph carries the labels).
        seed: seed of the generator.

    Returns:
        ``Data`` with ``x`` float32 ``[N, F]``, ``edge_index`` int64 ``[2, E]``, ``y`` int64
        ``[N]``, ``train_mask`` / ``val_mask`` / ``test_mask`` bool ``[N]`` and
        ``num_nodes = N``.

    Raises:
        ValueError: an argument out of range, or more edges requested than the classes can
            hold.
    """
    for arg, value in (("num_nodes", num_nodes), ("num_classes", num_classes),
                       ("num_features", num_features), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"`{arg}` must be an int, got {type(value).__name__}")
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1, got {num_classes}")
    if num_nodes < 2 * num_classes:
        raise ValueError(
            f"`num_nodes` must be >= 2 * num_classes = {2 * num_classes} (two nodes per "
            f"class), got {num_nodes}"
        )
    if num_features < 1:
        raise ValueError(f"`num_features` must be >= 1, got {num_features}")
    if not (math.isfinite(avg_degree) and avg_degree > 0):
        raise ValueError(f"`avg_degree` must be a finite number > 0, got {avg_degree}")
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"`homophily` must be in [0, 1], got {homophily}")
    if not (math.isfinite(feature_signal) and feature_signal >= 0):
        raise ValueError(f"`feature_signal` must be finite and >= 0, got {feature_signal}")

    generator = torch.Generator().manual_seed(seed)

    y = torch.randperm(num_nodes, generator=generator) % num_classes
    class_sizes = torch.bincount(y, minlength=num_classes)
    class_start = torch.cumsum(class_sizes, 0) - class_sizes
    nodes_by_class = torch.sort(y, stable=True).indices

    num_edges = round(num_nodes * avg_degree / 2)
    num_intra = round(num_edges * homophily)
    num_inter = num_edges - num_intra
    intra_capacity = int((class_sizes * (class_sizes - 1) // 2).sum())
    inter_capacity = num_nodes * (num_nodes - 1) // 2 - intra_capacity
    if num_intra > intra_capacity or num_inter > inter_capacity:
        raise ValueError(
            f"avg_degree={avg_degree} with homophily={homophily} asks for {num_intra} "
            f"intra-class and {num_inter} inter-class edges, but {num_classes} classes of "
            f"{num_nodes} nodes hold at most {intra_capacity} and {inter_capacity}; lower "
            f"`avg_degree` or change `homophily`"
        )

    means = _class_means(num_classes, num_features, feature_signal, generator)
    x = torch.randn(num_nodes, num_features, generator=generator)
    x += means[y]

    sampling = (y, nodes_by_class, class_start, class_sizes, generator)
    keys = torch.cat([
        _sample_undirected_pairs(num_intra, True, *sampling),
        _sample_undirected_pairs(num_inter, False, *sampling),
    ])
    low, high = keys // num_nodes, keys % num_nodes
    directed = torch.sort(torch.cat([keys, high * num_nodes + low])).values
    edge_index = torch.stack([directed // num_nodes, directed % num_nodes])

    train_mask, val_mask, test_mask = random_split_masks(
        num_nodes, 0.1, 0.1, generator=generator
    )
    return Data(x=x, edge_index=edge_index, y=y, train_mask=train_mask, val_mask=val_mask,
                test_mask=test_mask, num_nodes=num_nodes)
