"""Seeded node splits as boolean masks.

Two protocols cover what graph contrastive learning papers evaluate with:

* :func:`random_split_masks`: a random ratio split (GRACE, GCA and gCooL use 10% / 10% / 80%
  on Amazon, Coauthor and similar datasets that ship without a split).
* :func:`per_class_split_masks`: the Planetoid protocol (``k`` labelled nodes per class for
  training, then a fixed number of validation and test nodes from the rest).

Randomness comes from a ``torch.Generator`` (or a seed that builds one); the global RNG is
never touched, so the same seed gives the same masks in any process.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["per_class_split_masks", "random_split_masks"]

# Ratios such as 0.29 are not exact in binary (0.29 * 100 == 28.999999999999996); a tiny
# tolerance keeps floor(ratio * n) equal to the count a reader computes by hand.
_RATIO_TOLERANCE = 1e-9


def _make_generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None and seed is not None:
        raise ValueError("pass either `seed` or `generator`, not both")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                f"`generator` must be a torch.Generator, got {type(generator).__name__}"
            )
        if generator.device.type != "cpu":
            raise ValueError(
                f"`generator` must be a CPU torch.Generator (masks are built on the CPU), "
                f"got one on {generator.device}"
            )
        return generator
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def _count(ratio: float, n: int) -> int:
    return math.floor(ratio * n + _RATIO_TOLERANCE)


def random_split_masks(
    num_nodes: int,
    train_ratio: float = 0.1,
    val_ratio: float = 0.1,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Split ``num_nodes`` nodes at random into train / validation / test masks.

    Counts are floor-based: ``n_train = floor(train_ratio * num_nodes)``,
    ``n_val = floor(val_ratio * num_nodes)`` and the test set takes every remaining node,
    ``n_test = num_nodes - n_train - n_val``. The three masks are therefore disjoint and
    together cover every node. (A ``1e-9`` tolerance keeps e.g. ``0.29 * 100`` at 29.)

    Args:
        num_nodes: number of nodes ``N`` (``>= 0``).
        train_ratio: fraction of nodes for training, in ``[0, 1]``.
        val_ratio: fraction of nodes for validation, in ``[0, 1]``;
            ``train_ratio + val_ratio <= 1``.
        seed: seed of a fresh CPU ``torch.Generator``; defaults to 0 when neither ``seed``
            nor ``generator`` is given.
        generator: a CPU ``torch.Generator`` to draw from instead (it advances).

    Returns:
        ``(train_mask, val_mask, test_mask)``, each a ``torch.bool`` tensor of shape ``[N]``
        on the CPU.

    Raises:
        ValueError: negative ``num_nodes``, a ratio outside ``[0, 1]``, ratios summing to
            more than 1, or both ``seed`` and ``generator`` given.
        TypeError: ``num_nodes`` or ``seed`` not an int, ``generator`` not a Generator.
    """
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int):
        raise TypeError(f"`num_nodes` must be an int, got {type(num_nodes).__name__}")
    if num_nodes < 0:
        raise ValueError(f"`num_nodes` must be >= 0, got {num_nodes}")
    for arg, ratio in (("train_ratio", train_ratio), ("val_ratio", val_ratio)):
        if not (0.0 <= float(ratio) <= 1.0):
            raise ValueError(f"`{arg}` must be in [0, 1], got {ratio}")
    if train_ratio + val_ratio > 1.0 + _RATIO_TOLERANCE:
        raise ValueError(
            f"`train_ratio + val_ratio` must be <= 1, got {train_ratio} + {val_ratio} "
            f"= {train_ratio + val_ratio}"
        )
    gen = _make_generator(seed, generator)

    n_train = _count(train_ratio, num_nodes)
    n_val = min(_count(val_ratio, num_nodes), num_nodes - n_train)
    perm = torch.randperm(num_nodes, generator=gen)

    train_mask = torch.zeros(num_nodes, dtype=torch.bool)
    val_mask = torch.zeros(num_nodes, dtype=torch.bool)
    test_mask = torch.zeros(num_nodes, dtype=torch.bool)
    train_mask[perm[:n_train]] = True
    val_mask[perm[n_train : n_train + n_val]] = True
    test_mask[perm[n_train + n_val :]] = True
    return train_mask, val_mask, test_mask


def per_class_split_masks(
    y: Tensor,
    num_per_class: int,
    num_val: int,
    num_test: int | None,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Planetoid-style split: ``num_per_class`` training nodes per class, then val / test.

    Training takes ``num_per_class`` nodes drawn uniformly from each class present in ``y``.
    The remaining labelled nodes are shuffled; the first ``num_val`` become validation and
    the next ``num_test`` become test (``num_test=None``: all the rest). Nodes with a
    negative label (the usual marker for "unlabelled") are in no split. The classes are the
    distinct non-negative values of ``y``; a gap in the label range is not an error.

    Args:
        y: node labels, integer tensor of shape ``[N]`` (or ``[N, 1]``, as OGB stores them).
        num_per_class: training nodes per class (``>= 0``).
        num_val: validation nodes (``>= 0``).
        num_test: test nodes (``>= 0``), or ``None`` for every node left after validation.
        seed: seed of a fresh CPU ``torch.Generator``; defaults to 0 when neither ``seed``
            nor ``generator`` is given.
        generator: a CPU ``torch.Generator`` to draw from instead (it advances).

    Returns:
        ``(train_mask, val_mask, test_mask)``: disjoint ``torch.bool`` tensors of shape
        ``[N]`` on the CPU.

    Raises:
        ValueError: ``y`` not 1-D integer labels; a class with fewer than ``num_per_class``
            nodes (the message names the class and its size); fewer labelled nodes left
            than ``num_val + num_test``; negative counts; both ``seed`` and ``generator``.
        TypeError: ``y`` not a tensor.
    """
    if not isinstance(y, Tensor):
        raise TypeError(f"`y` must be a torch.Tensor of labels, got {type(y).__name__}")
    if y.dim() == 2 and y.size(1) == 1:
        y = y.view(-1)
    if y.dim() != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(
            f"`y` must be a 1-D integer label tensor of shape [N], got dtype {y.dtype} and "
            f"shape {tuple(y.shape)}"
        )
    for arg, value in (("num_per_class", num_per_class), ("num_val", num_val)):
        if value < 0:
            raise ValueError(f"`{arg}` must be >= 0, got {value}")
    if num_test is not None and num_test < 0:
        raise ValueError(f"`num_test` must be >= 0 or None, got {num_test}")
    gen = _make_generator(seed, generator)

    y = y.detach().to("cpu", torch.long)
    num_nodes = y.numel()
    labelled = (y >= 0).nonzero().view(-1)
    classes, class_sizes = torch.unique(y[labelled], return_counts=True)
    too_small = class_sizes < num_per_class
    if bool(too_small.any()):
        detail = ", ".join(
            f"class {int(c)} has {int(s)}"
            for c, s in zip(classes[too_small], class_sizes[too_small], strict=True)
        )
        raise ValueError(
            f"cannot take num_per_class={num_per_class} training nodes per class: {detail} "
            f"node(s); lower `num_per_class`"
        )

    # Shuffle, then stable-sort by class: each class's nodes stay in random order, so the
    # first `num_per_class` of each class block are a uniform draw from that class.
    shuffled = labelled[torch.randperm(labelled.numel(), generator=gen)]
    order = torch.sort(y[shuffled], stable=True).indices
    by_class = shuffled[order]
    class_start = torch.cumsum(class_sizes, 0) - class_sizes
    class_of_position = torch.repeat_interleave(torch.arange(classes.numel()), class_sizes)
    rank_in_class = torch.arange(by_class.numel()) - class_start[class_of_position]
    train_nodes = by_class[rank_in_class < num_per_class]

    train_mask = torch.zeros(num_nodes, dtype=torch.bool)
    train_mask[train_nodes] = True
    # `shuffled` is already in random order: the rest keeps that order for val / test.
    rest = shuffled[~train_mask[shuffled]]
    wanted = num_val + (0 if num_test is None else num_test)
    if rest.numel() < wanted:
        raise ValueError(
            f"only {rest.numel()} labelled nodes remain after taking training nodes, but "
            f"num_val + num_test = {wanted}; lower `num_val` or `num_test`"
        )
    end_test = rest.numel() if num_test is None else num_val + num_test
    val_mask = torch.zeros(num_nodes, dtype=torch.bool)
    test_mask = torch.zeros(num_nodes, dtype=torch.bool)
    val_mask[rest[:num_val]] = True
    test_mask[rest[num_val:end_test]] = True
    return train_mask, val_mask, test_mask
