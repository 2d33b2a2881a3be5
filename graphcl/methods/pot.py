"""POT: Provable Training for Graph Contrastive Learning (Yu, Wang, Zhang, Liu, Shi,
NeurIPS 2023, arXiv 2309.13944), as a plugin on any two-view GCN method.

Node compactness (:mod:`graphcl.nn.bounds`) measures how well a node follows the
contrastive principle over the whole range of graphs an edge-dropping view can produce; POT
adds ``BCE(compactness, 1)`` of both views to the base objective:

    L = (1 − κ)·L_base + κ·½(BCE(f̃⁽¹⁾, 1) + BCE(f̃⁽²⁾, 1)),

where ``f̃⁽¹⁾`` is computed on view 1's graph range with the direction ``W^CL`` from view 2's
embeddings and vice versa. The official code ships four dense copies of this (one per base
method, two ``N × N`` bound matrices per view cached in the user's home); here the bounds are
per-edge values computed once per graph in O(E), and nothing is ``N × N``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint
from torch_geometric.data import Data

from ..augment import (
    AdaptiveEdgeDropping,
    AdaptiveFeatureMasking,
    Compose,
    EdgeDropping,
    FeatureDropout,
    FeatureMasking,
    Identity,
)
from ..augment.base import Augmenter
from ..nn.bounds import (
    AdjacencyInterval,
    SignedTransforms,
    check_bound_encoder,
    clean_layer_transforms,
    compactness_lower_bound,
    compactness_surrogate,
    contrastive_direction,
    layer_biases,
)
from ..nn.encoders import reuse_transforms
from .base import LossOutput, Method, TwoViewMethod, build_method, register_method

__all__ = ["POT", "POT_OPTIONS", "compactness_report", "expected_edge_drops"]

BOUNDS = ("surrogate", "certified")
#: the constructor options that belong to POT itself (the rest configure the base method)
POT_OPTIONS = ("kappa", "batch_size", "bound", "clean_features", "recompute", "compile")
_FEATURE_ONLY = (FeatureMasking, FeatureDropout, AdaptiveFeatureMasking, Identity)


def _edge_droppers(augmenter: Augmenter) -> list[Augmenter]:
    """The edge-dropping steps of a view; any other step that changes the structure is an
    error (POT's range of graphs covers deletions only)."""
    parts = augmenter.augmenters if isinstance(augmenter, Compose) else [augmenter]
    found = []
    for part in parts:
        if isinstance(part, Compose):
            found.extend(_edge_droppers(part))
        elif isinstance(part, (EdgeDropping, AdaptiveEdgeDropping)):
            found.append(part)
        elif not isinstance(part, _FEATURE_ONLY):
            raise TypeError(
                f"POT's augmentation range covers edge deletion only, but this view also applies "
                f"{type(part).__name__}; use EdgeDropping / AdaptiveEdgeDropping plus feature "
                "augmenters in the views of a POT base method")
    return found


def expected_edge_drops(augmenter: Augmenter, graph: Data) -> Tensor:
    """``[N]`` expected number of in-edges a view drops at every node: ``p·deg_i`` for
    :class:`~graphcl.augment.EdgeDropping`, ``Σ_{e → i} p_e`` for GCA's
    :class:`~graphcl.augment.AdaptiveEdgeDropping` (the official GCA copy's
    ``drop_degree``). A view without edge dropping drops nothing."""
    droppers = _edge_droppers(augmenter)
    if len(droppers) > 1:
        raise ValueError("a POT view may drop edges once; compose a single edge-dropping step")
    target = graph.edge_index[1]
    drops = torch.zeros(graph.num_nodes, dtype=torch.float64, device=target.device)
    if not droppers:
        return drops
    dropper = droppers[0]
    not_loop = graph.edge_index[0] != target
    if isinstance(dropper, EdgeDropping):
        probability = torch.full((target.numel(),), float(dropper.p), dtype=torch.float64,
                                 device=target.device)
    else:
        probability = dropper.probabilities(graph).to(torch.float64)
    drops.index_add_(0, target[not_loop], probability[not_loop])
    return drops


@register_method
class POT(Method):
    """POT (arXiv 2309.13944) wrapped around a two-view GCN method.

    Args:
        base: the base method (a :class:`~graphcl.methods.base.TwoViewMethod` with a GCN
            :class:`~graphcl.nn.GNNEncoder`: GRACE, GCA, ProGCL, COSTA, gCooL, ...).
        kappa: κ, the weight of the POT term (official README: 0.4 for GRACE on Cora, 0.3
            for GCA/ProGCL, 0.2 for COSTA).
        batch_size: nodes per POT step (the official ``pot_batch``): each epoch draws a
            fresh permutation and uses its chunk number ``epoch mod ⌈N/batch⌉``; bounds are
            restricted to that node subset, as the official code. ``None``: all nodes.
        bound: ``"surrogate"`` — the official code's score (the bound's linear function
            evaluated on the sampled views, :func:`~graphcl.nn.bounds.compactness_surrogate`);
            ``"certified"`` — a true lower bound over every admissible view
            (:func:`~graphcl.nn.bounds.compactness_lower_bound`; full graph only).
        clean_features: compute compactness on the unmasked features (the official runs turn
            feature masking off, so the two agree there); ``False`` uses each view's features.
        recompute: rebuild the compactness intermediates in the backward pass instead of
            keeping them (``torch.utils.checkpoint``): about 1.2 GB less at Coauthor-CS size
            for one more forward of the POT term; ``"auto"``: from 10,000 nodes on.
        compile: fuse the surrogate's elementwise relaxation and substitution with
            ``torch.compile`` (same values to float rounding; needs a C++ compiler on the
            CPU, and the first epoch compiles for tens of seconds). On Cora it cuts the POT
            term's cost by about 40% (``benchmarks/pot_speed.py --compile``).

    Shapes:
        - ``loss(graph)``: scalar; ``embed(graph)``: the base method's embeddings.
    """

    name = "pot"

    def __init__(self, base: Method, kappa: float = 0.5, batch_size: int | None = None,
                 bound: str = "surrogate", clean_features: bool = True,
                 recompute: bool | str = "auto", compile: bool = False) -> None:
        super().__init__()
        if not isinstance(base, TwoViewMethod):
            raise TypeError(f"POT wraps two-view node-level methods (GRACE, GCA, ProGCL, COSTA, "
                             f"gCooL), got {type(base).__name__}")
        if len(base.views) != 2:
            raise ValueError(f"POT needs exactly two views, the base method draws {len(base.views)}")
        check_bound_encoder(base.encoder)
        if not 0.0 <= kappa <= 1.0:
            raise ValueError(f"kappa must lie in [0, 1], got {kappa}")
        if bound not in BOUNDS:
            raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
        if batch_size is not None and batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (or None for all nodes), got {batch_size}")
        if bound == "certified" and batch_size is not None:
            raise ValueError("the certified bound covers the whole graph; use batch_size=None")
        for augment in base.views:
            _edge_droppers(augment)  # fail early on unsupported structural augmenters
        self.base = base
        self.kappa = float(kappa)
        self.batch_size = batch_size
        self.bound = bound
        self.clean_features = clean_features
        self.recompute = recompute
        self.compile = bool(compile)
        self._intervals: dict[int, tuple[Tensor, AdjacencyInterval]] = {}

    @classmethod
    def from_config(cls, num_features: int, base: str = "grace", kappa: float = 0.5,
                    batch_size: int | None = None, bound: str = "surrogate",
                    clean_features: bool = True, recompute: bool | str = "auto",
                    compile: bool = False, **base_options) -> POT:
        """``POT(build_method(base, num_features, **base_options), ...)``."""
        if base == cls.name:
            raise ValueError("POT cannot wrap itself")
        return cls(build_method(base, num_features, **base_options), kappa=kappa,
                   batch_size=batch_size, bound=bound, clean_features=clean_features,
                   recompute=recompute, compile=compile)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.base.set_epoch(epoch)

    def interval(self, graph: Data, view: int) -> AdjacencyInterval:
        """The cached :class:`~graphcl.nn.bounds.AdjacencyInterval` of view ``view``'s
        augmentation range on ``graph`` (recomputed when the graph changes)."""
        cached = self._intervals.get(view)
        if cached is not None and cached[0] is graph.edge_index:
            return cached[1]
        structure = self.base.structure(graph)
        if structure.edge_weight is not None:
            raise ValueError("POT's adjacency bounds assume an unweighted graph; drop edge_weight")
        interval = AdjacencyInterval.from_expected_drops(
            structure, expected_edge_drops(self.base.views[view], graph))
        self._intervals[view] = (graph.edge_index, interval)
        return interval

    def _recompute(self, num_nodes: int) -> bool:
        if self.recompute == "auto":
            return num_nodes >= 10_000
        return bool(self.recompute)

    def _node_subset(self, num_nodes: int, generator: torch.Generator | None,
                     device: torch.device) -> Tensor | None:
        if self.batch_size is None or self.batch_size >= num_nodes:
            return None
        order = torch.randperm(num_nodes, generator=generator, device="cpu").to(device)
        chunks = -(-num_nodes // self.batch_size)
        chunk = self.current_epoch % chunks
        return torch.sort(order[chunk * self.batch_size:(chunk + 1) * self.batch_size]).values

    def compactness(self, graph: Data, encoded, nodes: Tensor | None = None,
                    bound: str | None = None) -> list[Tensor]:
        """Node compactness of both views (``[n]`` each) under ``bound`` (default
        ``self.bound``)."""
        bound = self.bound if bound is None else bound
        if bound not in BOUNDS:
            raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
        if bound == "certified" and nodes is not None:
            raise ValueError("the certified bound covers the whole graph; pass nodes=None")
        encoder = self.base.encoder
        z1, z2 = encoded.embeddings
        clean_x = graph.x
        scores = []
        if bound == "surrogate":
            clean_adjacency = self.base.adjacency(graph)
            shared = SignedTransforms.of(clean_layer_transforms(encoder, clean_x, clean_adjacency))
            # L·T^± + b: both views' intervals have the same diagonal lower bound 1/d̃
            diagonal = self.interval(graph, 0).lower_diagonal(shared.transforms[0].dtype)
            if diagonal is not None:
                shared = shared.with_self_terms(diagonal, layer_biases(encoder, shared.transforms[0]))
        for view, other in ((0, z2), (1, z1)):
            x = clean_x if self.clean_features else encoded.views[view].x
            direction = contrastive_direction(other if nodes is None else other[nodes])
            interval = self.interval(graph, view)
            if bound == "surrogate":
                arguments = (encoder, x, interval, encoded.adjacencies[view], direction, nodes,
                             clean_adjacency, shared if self.clean_features else None,
                             self.compile)
                if self._recompute(graph.num_nodes) and torch.is_grad_enabled():
                    # keep only the inputs; the [N, 2d] intermediates are rebuilt in backward
                    scores.append(checkpoint(compactness_surrogate, *arguments,
                                             use_reentrant=False))
                else:
                    scores.append(compactness_surrogate(*arguments))
            else:
                scores.append(compactness_lower_bound(encoder, x, interval, direction))
        return scores

    def loss(self, graph: Data, generator: torch.Generator | None = None) -> LossOutput:
        # one scope for the views and the clean pass: unmasked features share x W₁
        with reuse_transforms():
            encoded = self.base.encode_views(graph, generator)
            base = self.base.contrast(graph, encoded)
            nodes = self._node_subset(graph.num_nodes, generator, graph.x.device)
            scores = self.compactness(graph, encoded, nodes)
        # BCEWithLogits(f, 1) = softplus(−f), averaged over the node subset and both views
        pot = torch.stack([F.softplus(-score).mean() for score in scores]).mean()
        total = (1.0 - self.kappa) * base.total + self.kappa * pot
        parts = dict(base.parts)
        parts.update(pot=float(pot.detach()),
                     violating=float(torch.cat(scores).detach().lt(0).float().mean()))
        return LossOutput(total, parts)

    @torch.no_grad()
    def embed(self, graph: Data) -> Tensor:
        return self.base.embed(graph)


@torch.no_grad()
def compactness_report(method: Method, graph: Data, bound: str = "certified",
                       generator: torch.Generator | None = None,
                       histogram_png: str | None = None) -> dict:
    """The node-compactness distribution of a trained model (the analysis of the POT paper).

    Works for a :class:`POT` model or its bare base method (e.g. GRACE trained without POT,
    to compare). Draws one pair of views from ``generator``; ``bound="certified"`` uses the
    true lower bound over each view's range (needs no sampled view), ``"surrogate"`` the
    official score.

    Returns:
        ``{"bound", "num_nodes", "violating_fraction" (compactness < 0, both views pooled),
        "mean", "quantiles": {q: value}, "per_view": [[N], [N]] tensors}``; with
        ``histogram_png`` a histogram of both views is written there.
    """
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
    pot = method if isinstance(method, POT) else POT(method)
    was_training = pot.training
    pot.eval()
    try:
        encoded = pot.base.encode_views(graph, generator)
        scores = [score.float().cpu() for score in pot.compactness(graph, encoded, bound=bound)]
    finally:
        pot.train(was_training)
    pooled = torch.cat(scores)
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    report = {"bound": bound, "num_nodes": graph.num_nodes,
              "violating_fraction": float(pooled.lt(0).float().mean()),
              "mean": float(pooled.mean()),
              "quantiles": {q: float(v) for q, v in zip(qs, torch.quantile(pooled, torch.tensor(qs)))},
              "per_view": scores}
    if histogram_png is not None:
        from ..viz import plot_compactness_histogram
        plot_compactness_histogram(scores, histogram_png, title=f"node compactness ({bound})")
    return report

