"""Segment reductions over CSR row pointers, with an optional torch-scatter backend.

torch-scatter is an optional extra (``pip install graphcl[scatter]``); without it the
pure-torch path (``torch.segment_reduce``) gives the same results. Both paths are tested
for equality in ``tests/test_nn.py``.
"""

from __future__ import annotations

import torch

try:  # pragma: no cover - which branch runs depends on the installation
    from torch_scatter import segment_csr as _scatter_segment_csr

    HAS_TORCH_SCATTER = True
except ImportError:  # pragma: no cover
    _scatter_segment_csr = None
    HAS_TORCH_SCATTER = False

_backend = "torch_scatter" if HAS_TORCH_SCATTER else "torch"


def set_segment_backend(name: str) -> None:
    """Choose the backend of :func:`segment_sum`: ``"torch"`` or ``"torch_scatter"``.

    Raises:
        ValueError: for an unknown name, or ``"torch_scatter"`` when it is not installed.
    """
    global _backend
    if name not in ("torch", "torch_scatter"):
        raise ValueError(f"segment backend must be 'torch' or 'torch_scatter', got {name!r}")
    if name == "torch_scatter" and not HAS_TORCH_SCATTER:
        raise ValueError(
            "segment backend 'torch_scatter' requested but torch-scatter is not installed; "
            "install it with `pip install --no-build-isolation torch-scatter` (after torch) "
            "or use the default 'torch' backend"
        )
    _backend = name


def get_segment_backend() -> str:
    """The name of the backend :func:`segment_sum` uses now."""
    return _backend


def segment_sum(src: torch.Tensor, ptr: torch.Tensor) -> torch.Tensor:
    """Sum consecutive segments of ``src`` delimited by the row pointer ``ptr``.

    Args:
        src: ``[E, *]`` values in CSR order.
        ptr: ``[R + 1]`` int64 row pointer, ``ptr[0] == 0`` and ``ptr[-1] == E``.

    Returns:
        ``[R, *]`` with ``out[r] = src[ptr[r]:ptr[r+1]].sum(0)`` (zero for empty rows).
    """
    if _backend == "torch_scatter":
        return _scatter_segment_csr(src, ptr, reduce="sum")
    if src.numel() == 0:
        return src.new_zeros((ptr.numel() - 1,) + tuple(src.shape[1:]))
    return torch.segment_reduce(src, "sum", offsets=ptr, axis=0, unsafe=True)


def padded_groups(labels: torch.Tensor, num_groups: int | None = None,
                  growth: float = 1.25) -> list[torch.Tensor]:
    """The members of every group of a labeling, as padded index matrices bucketed by size.

    Groups are ordered by decreasing size (ties by label); a bucket holds consecutive groups
    down to ``1/growth`` of its first one's size, all padded to that size, so the padded
    slots ``Σ C·S²`` stay within ``growth²`` of the groups' own ``Σ s²`` (one padded matrix
    for all groups would cost ``K·S_max²`` when sizes are uneven). Empty groups are left out.

    Args:
        labels: ``[N]`` int64 group of every element, in ``[0, num_groups)``.
        num_groups: ``K`` (default ``labels.max() + 1``).
        growth: the size ratio a bucket spans (≥ 1).

    Returns:
        one ``[C, S]`` int64 matrix per bucket: row ``c`` holds the members of one group in
        increasing order, padded with ``N`` (an index past the end: callers add a dummy row).
    """
    if labels.dim() != 1:
        raise ValueError(f"labels must be [N], got {tuple(labels.shape)}")
    if growth < 1.0:
        raise ValueError(f"growth must be >= 1, got {growth}")
    n = labels.numel()
    sizes = torch.bincount(labels, minlength=num_groups or 0)
    by_size = torch.argsort(sizes, descending=True, stable=True)
    rank = torch.empty_like(by_size)
    rank[by_size] = torch.arange(by_size.numel(), device=labels.device)
    group = rank[labels]  # groups renumbered by decreasing size
    sizes = sizes[by_size]
    order = torch.argsort(group, stable=True)
    start = torch.cumsum(sizes, 0) - sizes
    slot = torch.arange(n, device=labels.device) - start[group[order]]
    size_list = [s for s in sizes.tolist() if s > 0]
    buckets, first = [], 0
    while first < len(size_list):
        padded, last = size_list[first], first
        while last + 1 < len(size_list) and size_list[last + 1] * growth >= padded:
            last += 1
        members = torch.full((last - first + 1, padded), n, dtype=torch.long,
                             device=labels.device)
        begin, end = int(start[first]), int(start[last]) + size_list[last]
        inside = order[begin:end]
        members[group[inside] - first, slot[begin:end]] = inside
        buckets.append(members)
        first = last + 1
    return buckets
