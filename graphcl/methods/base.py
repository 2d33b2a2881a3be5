"""The method protocol: ``loss(graph, generator) -> LossOutput`` and ``embed(graph) -> Tensor``."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from ..augment.base import Augmenter
from ..nn import CSRGraph, StructureCache
from ..nn.encoders import reuse_transforms

__all__ = ["METHODS", "EncodedViews", "LossOutput", "Method", "TwoViewMethod", "build_method",
           "register_method", "view_rates"]


@dataclass
class LossOutput:
    """A training objective and its named parts (for logging).

    Attributes:
        total: the scalar to back-propagate.
        parts: named scalar components (detached floats are fine), e.g. ``{"infonce": 4.1}``.
    """

    total: Tensor
    parts: dict[str, float] = field(default_factory=dict)


class Method(nn.Module):
    """Base class of contrastive methods.

    A method decides which views to draw, which encoder embeds them and which objective
    contrasts them. Subclasses implement :meth:`loss` and :meth:`embed`, and a
    ``from_config(num_features, **options)`` constructor used by the trainer and the CLI.
    """

    name: str = "method"

    def __init__(self) -> None:
        super().__init__()
        self._structures = StructureCache()
        self.current_epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch (0-based), for methods with schedules."""
        self.current_epoch = int(epoch)

    def structure(self, graph: Data):
        """The cached sorted structure (:class:`graphcl.nn.CSRGraph`) of ``graph``."""
        return self._structures.get(graph.edge_index, graph.num_nodes,
                                    graph.edge_weight if "edge_weight" in graph else None)

    def adjacency(self, graph: Data, view: Data | None = None, normalization: str | None = None):
        """The adjacency of ``view`` (a view of ``graph``; ``None``: the graph itself), built
        in O(E) from the cached structure of ``graph``.

        ``normalization`` defaults to what ``self.encoder`` consumes (``"gcn"`` without an
        encoder); ``None`` is returned for an encoder that ignores the graph (MLP).
        """
        if normalization is None:
            encoder = getattr(self, "encoder", None)
            if encoder is not None and getattr(encoder, "normalization", "gcn") is None:
                return None
            normalization = getattr(encoder, "normalization", "gcn")
        dtype = graph.x.dtype
        if view is None or view.edge_index is graph.edge_index:
            return self.structure(graph).adjacency(None, normalization, dtype=dtype)
        if "edge_mask" in view:
            return self.structure(graph).adjacency(view.edge_mask, normalization, dtype=dtype)
        # a view with new edges (EdgeAdding, diffusion): no mask over the original edges
        weight = view.edge_weight if "edge_weight" in view else None
        return CSRGraph(view.edge_index, view.num_nodes, weight).adjacency(
            None, normalization, dtype=dtype)

    def loss(self, graph: Data, generator: torch.Generator | None = None) -> LossOutput:
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, graph: Data) -> Tensor:
        """Embeddings for evaluation: ``self.encoder`` on the unaugmented graph, in eval mode
        (``[N, d]``, before any projection head). Methods without one ``encoder`` override."""
        encoder = getattr(self, "encoder", None)
        if encoder is None:
            raise NotImplementedError(f"{type(self).__name__} must implement embed()")
        was_training = self.training
        self.eval()
        z = encoder(graph.x, self.adjacency(graph))
        self.train(was_training)
        return z


@dataclass
class EncodedViews:
    """Two (or more) augmented views of one graph and their encoder outputs.

    Attributes:
        views: the augmented graphs (each with ``edge_mask`` when it keeps a subset of edges).
        adjacencies: the adjacency each view's encoder consumed (``[N, N]``).
        embeddings: the encoder outputs, ``[N, d]`` each, before any projection head.
    """

    views: list[Data]
    adjacencies: list
    embeddings: list[Tensor]


class TwoViewMethod(Method):
    """A node-level method that encodes augmented views of one graph with ``self.encoder``
    and contrasts them: ``loss = contrast(graph, encode_views(graph))``.

    The split lets a wrapper such as :class:`~graphcl.methods.POT` reuse the views and
    embeddings the base method trained on. Subclasses set ``self.views`` (one augmenter per
    view) and ``self.encoder``, and implement :meth:`contrast`.
    """

    def encode_views(self, graph: Data, generator: torch.Generator | None = None,
                     augmenters: Sequence[Augmenter] | None = None) -> EncodedViews:
        """Draw every view from ``generator`` and encode it (``[N, d]`` per view).

        ``augmenters`` replaces ``self.views`` (gCooL gives each layer of a multiplex graph
        its own pair, which caches that layer's drop probabilities)."""
        views = [augment(graph, generator) for augment in (augmenters or self.views)]
        adjacencies = [self.adjacency(graph, view) for view in views]
        with reuse_transforms():  # views with unmasked features share their first x W
            embeddings = [self.encoder(view.x, adjacency)
                          for view, adjacency in zip(views, adjacencies)]
        return EncodedViews(views, adjacencies, embeddings)

    def contrast(self, graph: Data, encoded: EncodedViews) -> LossOutput:
        """The method's objective on encoded views."""
        raise NotImplementedError

    def loss(self, graph: Data, generator: torch.Generator | None = None) -> LossOutput:
        return self.contrast(graph, self.encode_views(graph, generator))


METHODS: dict[str, type[Method]] = {}


def view_rates(rates: float | Sequence[float], name: str) -> tuple[float, float]:
    """Per-view augmentation rates ``(view 1, view 2)`` from a pair, or one number for both
    views; a clear error for anything else (a config's ``drop_edge: 0.3``, ``[0.1]``, ...)."""
    if isinstance(rates, numbers.Real) and not isinstance(rates, bool):  # numpy scalars too
        return float(rates), float(rates)
    try:
        pair = tuple(float(rate) for rate in rates)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2:
        raise ValueError(f"{name} takes two rates, one per view (e.g. [0.2, 0.4]), or one rate "
                         f"for both views; got {rates!r}")
    return pair


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to :data:`METHODS` under ``cls.name``."""
    METHODS[cls.name] = cls
    return cls


def build_method(name: str, num_features: int, **options) -> Method:
    """Instantiate the registered method ``name`` for inputs of width ``num_features``."""
    if name.startswith("pot-") and "pot" in METHODS:
        # "pot-grace": POT wrapped around GRACE (the presets' and the CLI's spelling)
        return METHODS["pot"].from_config(num_features, base=name[len("pot-"):], **options)
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(METHODS))} "
                         "(and pot-<method> for POT around a two-view method)")
    return METHODS[name].from_config(num_features, **options)
