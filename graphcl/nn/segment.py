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
