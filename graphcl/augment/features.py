"""Feature augmenters."""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from ..nn.features import mark_masked_columns
from .base import Augmenter, shallow_copy, uniform
from .edges import _check_probability

__all__ = ["FeatureDropout", "FeatureMasking", "NodeShuffling"]


def mask_feature_columns(graph: Data, keep: torch.Tensor, all_kept: bool = False) -> Data:
    """A view of ``graph`` whose feature columns outside ``keep`` (``[F]`` bool) are zero.

    Sparse CSR features keep their structure (masked values become 0), so an encoder's
    cached transposed structure still applies. ``view.feature_mask`` records ``keep``.
    With ``all_kept`` (the caller knows ``keep`` is all true) the view keeps the graph's own
    feature tensor, so an encoder inside :func:`graphcl.nn.reuse_transforms` multiplies it
    by its first weight once for all views (POT's presets mask nothing). Dense masked
    features are marked (:func:`graphcl.nn.features.mark_masked_columns`), so there the
    views share that product too and each corrects it for its dropped columns.
    """
    x = graph.x
    view = shallow_copy(graph)
    view.feature_mask = keep
    if all_kept:
        return view
    if x.layout == torch.sparse_csr:
        values = x.values() * keep.to(x.dtype)[x.col_indices()]
        view.x = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape,
                                         check_invariants=False)
    else:
        view.x = mark_masked_columns(x * keep.to(x.dtype), x, keep)
    return view


class FeatureMasking(Augmenter):
    """Zeroes whole feature columns, each with probability ``p``; one mask shared by all nodes
    (GRACE's feature masking, Zhu et al. 2020, §3.2). Dense or sparse CSR ``x``.

    Args:
        p: masking probability in [0, 1].
    """

    def __init__(self, p: float) -> None:
        self.p = _check_probability("p", p)

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        # drawn even for p = 0, so a seed gives the same later draws whatever p is
        keep = uniform(graph.x.size(1), generator, graph.x.device) >= self.p
        return mask_feature_columns(graph, keep, all_kept=self.p == 0.0)


class FeatureDropout(Augmenter):
    """Zeroes each feature entry independently with probability ``p`` (PyGCL's
    ``FeatureDropout``; dropout without rescaling unless ``rescale``).

    Args:
        p: drop probability in [0, 1].
        rescale: multiply kept entries by ``1 / (1 - p)`` as ``torch.nn.functional.dropout``.
    """

    def __init__(self, p: float, rescale: bool = False) -> None:
        self.p = _check_probability("p", p)
        self.rescale = rescale

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        x = graph.x
        sparse = x.layout == torch.sparse_csr
        values = x.values() if sparse else x
        keep = (uniform(values.shape, generator, x.device) >= self.p).to(x.dtype)
        if self.rescale and self.p < 1:
            keep = keep / (1 - self.p)
        view = shallow_copy(graph)
        if sparse:
            view.x = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values * keep,
                                             x.shape, check_invariants=False)
        else:
            view.x = x * keep
        return view


class NodeShuffling(Augmenter):
    """Permutes the rows of ``x`` over the nodes, keeping the structure (DGI's corruption,
    Veličković et al., ICLR 2019, §3.4). ``view.node_permutation[i]`` is the node whose
    features node ``i`` now carries. Dense ``x`` only."""

    def augment(self, graph: Data, generator: torch.Generator | None = None) -> Data:
        x = graph.x
        if x.layout != torch.strided:
            raise ValueError("NodeShuffling needs dense features; call x.to_dense() first")
        permutation = torch.argsort(uniform(x.size(0), generator, x.device))
        view = shallow_copy(graph)
        view.x = x[permutation]
        view.node_permutation = permutation
        return view
