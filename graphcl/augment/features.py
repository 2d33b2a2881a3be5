"""Feature augmenters."""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from .base import Augmenter, shallow_copy, uniform
from .edges import _check_probability

__all__ = ["FeatureMasking"]


class FeatureMasking(Augmenter):
    """Zeroes whole feature columns, each with probability ``p``; one mask shared by all nodes
    (GRACE's feature masking, Zhu et al. 2020, §3.2). Dense or sparse CSR ``x``.

    Args:
        p: masking probability in [0, 1].
    """

    def __init__(self, p: float) -> None:
        self.p = _check_probability("p", p)

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        x = graph.x
        keep = uniform(x.size(1), generator, x.device) >= self.p
        view = shallow_copy(graph)
        if x.layout == torch.sparse_csr:
            # same structure, masked values: the encoder's cached transpose still applies
            values = x.values() * keep.to(x.dtype)[x.col_indices()]
            view.x = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape,
                                             check_invariants=False)
        else:
            view.x = x * keep.to(x.dtype)
        view.feature_mask = keep
        return view
