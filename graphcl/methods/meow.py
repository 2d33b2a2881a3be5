"""MEOW and AdaMEOW: heterogeneous graph contrastive learning with meta-path contexts and
weighted negatives (Yu, Ge, Li, Zhou, SDM 2023 / TKDE 2024, arXiv 2212.13847).

Two views of the target nodes, one shared two-layer GCN (:class:`graphcl.nn.MetaPathGCN`):

* **coarse view** — the projected target features propagated over ``Ā``, the mean of the
  normalized, PathSim-pruned meta-path adjacencies (which nodes a meta-path connects);
* **fine-grained view** — per meta-path, the target's projection enriched with the mean
  projected features of its meta-path contexts (:class:`graphcl.nn.ContextEnrichment`: how
  the nodes are connected), encoded on that meta-path's adjacency, and again with masked
  target features on an edge-masked adjacency; the 2·P embeddings are L2-normalized and fused
  by semantic attention into ``z``, the embedding evaluated downstream.

Both go through one projection head ``p(x) = normalize(tanh(W x + b))``. Objectives:

* **MEOW**: ``L = L_info + λ·L_proto``. ``L_info`` is InfoNCE with coarse anchors, fine
  candidates, and hard negative weights from spherical k-means of the fine projections at
  several granularities (:class:`graphcl.losses.ClusterNegativeWeights`, positive left out
  of the denominator), computed in tiles with the weights as a constant minus same-cluster
  blocks (never N² weights); ``L_proto`` is ProtoNCE of the coarse anchors
  against the cluster prototypes with PCL concentrations.
* **AdaMEOW**: InfoNCE with fine anchors, coarse candidates and learned soft weights
  ``w_ij = σ(MLP(v_i + u_j))`` in every denominator term (positive included), computed in
  row blocks (:func:`graphcl.losses.learned_weight_infonce`): never the N²·d pair tensor.

Official code read (``jianxiangyu/MEOW`` @ ``6a072d7``): ``code_meow/module/{meow, encoder,
contrast, cluster, preprocess}.py``, ``code_meow/main.py``, ``code_meow/utils/{params,
load_data}.py`` and the same files of ``code_adameow/``. The paper text could not be read
from this machine, so the objective follows the code. Where the code departs from a clean
protocol, both are offered (``masks``, ``embedding``); the presets use the official
behaviour and every result names which one produced it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..augment.base import TensorKeyedCache
from ..augment.metapath import (
    ChainedContextAggregation,
    ContextAggregation,
    MetaPathViews,
    context_aggregations,
)
from ..losses import (
    KMEANS_BACKENDS,
    ClusterNegativeWeights,
    PairWeightMLP,
    cluster_concentration,
    faiss_kmeans,
    infonce_loss,
    learned_weight_infonce,
    proto_nce_loss,
    spherical_kmeans,
)
from ..nn import (
    AdjacencySum,
    BlockDiagonalAdjacency,
    BlockPartition,
    ContextEnrichment,
    CSRGraph,
    HeteroInputProjection,
    MetaPathGCN,
    SemanticAttention,
    SparseAdjacency,
)
from ..nn.features import is_sparse_features
from .base import LossOutput, Method, register_method
from .heco import _DTYPES, _row_normalize, check_target_graph, input_widths, typed_features

__all__ = ["MEOW", "AdaMEOW", "MEOWInputs"]

MASK_MODES = ("once", "epoch")
EMBEDDING_MODES = ("last_train", "eval")


@dataclass
class MEOWInputs:
    """What MEOW derives from a graph once (cached while the graph's tensors stay).

    Attributes:
        target: the target type; ``num_nodes``: its ``N``.
        features: ``{type: x}`` after the one-hot substitution and row normalization.
        adjacencies: per meta-path, ``D^{-1/2} M̃ D^{-1/2}`` of the PathSim-pruned path counts
            ``M̃`` (``D`` its row sums), as a :class:`~graphcl.nn.SparseAdjacency`, or as a
            :class:`~graphcl.nn.BlockDiagonalAdjacency` when its entries fill dense diagonal
            blocks (ACM's PSP: one subject per paper makes it a union of cliques).
        coarse: ``Ā``, the mean of ``adjacencies`` (an :class:`~graphcl.nn.AdjacencySum`
            when one of them is in block form).
        partitions: per meta-path, the :class:`~graphcl.nn.BlockPartition` its masked views
            use, or ``None`` (CSR form).
        mask_structures: per meta-path, the pruned pattern without its diagonal plus one
            self-loop per node, for drawing edge-masked views in O(E).
        off_diagonal: per meta-path, ``[E']`` bool, the maskable entries of that structure.
        patterns: per meta-path, the ``[2, E']`` entries of that structure (path start, end).
        contexts: per meta-path, ``(node type, aggregation)`` per position: the mean over
            the position's distinct nodes (:func:`graphcl.augment.context_aggregations`).
        view_features: with ``MEOW(view_features=...)``, per meta-path the target's own
            input ``[N, F]`` (normalized as ``features``); else ``None``.
    """

    target: str
    num_nodes: int
    features: dict[str, Tensor]
    adjacencies: list[SparseAdjacency | BlockDiagonalAdjacency]
    coarse: SparseAdjacency | AdjacencySum
    mask_structures: list[CSRGraph]
    off_diagonal: list[Tensor]
    patterns: list[Tensor]
    contexts: list[list[tuple[str, ContextAggregation | ChainedContextAggregation]]]
    partitions: list[BlockPartition | None]
    view_features: list[Tensor] | None = None


def _mean_adjacency(views: Sequence[tuple[Tensor, Tensor]], num_nodes: int,
                    dtype: torch.dtype) -> SparseAdjacency:
    edge_index = torch.cat([e for e, _ in views], dim=1)
    weight = torch.cat([w for _, w in views]) / len(views)
    key = edge_index[0] * num_nodes + edge_index[1]
    unique, inverse = torch.unique(key, return_inverse=True)
    summed = torch.zeros(unique.numel(), dtype=weight.dtype, device=weight.device)
    summed.index_add_(0, inverse, weight)
    pairs = torch.stack([unique // num_nodes, unique % num_nodes])
    return CSRGraph(pairs, num_nodes, summed).adjacency(None, "sum", dtype=dtype)


def _exact_fraction_mask(count: int, fraction: float, generator: torch.Generator | None,
                         device: torch.device) -> Tensor:
    """``[count]`` bool with exactly ``int(fraction·count)`` False entries at random."""
    keep = torch.ones(count, dtype=torch.bool, device=device)
    dropped = int(fraction * count)
    if dropped:
        order = torch.randperm(count, generator=generator, device="cpu")[:dropped]
        keep[order.to(device)] = False
    return keep


@register_method
class MEOW(Method):
    """MEOW (SDM 2023) on a ``HeteroData`` with a target node type.

    Args:
        in_channels: ``{node type: feature width}`` (``graph.num_features``).
        metapaths: meta-paths from and to the target as node-type lists, e.g.
            ``[["paper", "author", "paper"], ["paper", "subject", "paper"]]``; every
            intermediate position contributes a context (DBLP's APCPA: P, C, P).
        top_k: PathSim pruning per meta-path (``nei_max``: ACM [110, 700], DBLP
            [25, 200, 40], AMiner [5, 21], IMDB [70, 10, 70]); ``None`` keeps all.
        pathsim_ties: which entries tied at a row's ``k``-th PathSim survive ``top_k``:
            ``"low"`` (lower node ids), ``"random"`` (seeded by ``mask_seed``, independent of
            the node order) or ``"numpy"`` (the official ``pathsim``'s ``np.argsort``
            choice); see :func:`graphcl.augment.metapath_adjacency`. On ACM's PSP the
            choice decides which 690–700 papers of the two largest subjects (811 and 1841
            papers, 2652 of 4019 in all) every paper of those subjects is joined to.
        hidden: width ``d`` of projections and embeddings (64).
        tau: temperature τ (also the mean cluster concentration).
        dropout: on input projections, context maps, GCN layers and the attention vector.
        feat_mask: fraction of the target's non-zero feature entries zeroed in the masked
            view. edge_mask: fraction of each meta-path's off-diagonal entries dropped (one
            rate, or one per meta-path).
        num_clusters: k-means granularities (ACM [100, 300], DBLP [200, 700], AMiner
            [500, 1200], IMDB [500, 700]).
        lam_proto: λ, the weight of ``L_proto``.
        negative_weights: ``"count"`` (official: ``w_ij`` = number of granularities that
            split ``i`` and ``j``) or ``"binary"`` (0 if together at every granularity, else 1).
        kmeans_iterations, kmeans_restarts: faiss' ``niter`` 20 and ``nredo`` 5.
        kmeans_seed: k-means restart ``m`` of granularity ``g`` is seeded ``kmeans_seed + g``
            every epoch (faiss ``seed = g`` in the official ``cluster.py``).
        kmeans_backend: ``"torch"`` (:func:`~graphcl.losses.spherical_kmeans`, no extra
            dependency, GPU-capable) or ``"faiss"`` (:func:`~graphcl.losses.faiss_kmeans`,
            the official code's library, about twice as fast on the CPU; needs faiss-cpu).
        masks: ``"once"`` (official: the feature and edge masks are drawn once, before
            training, from ``mask_seed``) or ``"epoch"`` (redrawn every epoch from the
            trainer's generator, as augmentations usually are).
        mask_seed: seed of the ``"once"`` masks (so a resumed run draws the same ones).
        embedding: ``"last_train"`` (official ``get_embeds``: ``z`` from the last training
            forward pass, dropout on) or ``"eval"`` (recomputed in eval mode).
        one_hot_types / num_nodes / feature_norm: as :class:`~graphcl.methods.HeCo`.
        unnormalized_types: types whose features skip the row normalization (DBLP's dense
            term vectors, which the official loader leaves as they are).
        view_features: name of a target-type attribute ``[N, P, F]`` holding one input per
            meta-path (in ``metapaths`` order, ``F`` the width of the target's ``x``), e.g.
            ``"x_metapath"`` from :class:`graphcl.augment.WalkEmbeddingFeatures`
            (``per_metapath=True``). Each view then projects its own input with its own
            layer, is masked on its own, and the coarse view starts from the mean of the
            projections: the official ``aggregate_nei_aminer`` with ``feat_p_pap`` /
            ``feat_p_prp``. ``None``: every view starts from the target's ``x``.
        block_size: tile edge of the blockwise InfoNCE (``None``: from free memory).
        block_density: a meta-path adjacency whose entries fill at least this fraction of
            its connected components' (size-bucketed) dense blocks is multiplied block by
            block with batched GEMMs (the same products, several times faster than CSR on
            ACM's PSP); ``None`` keeps every adjacency in CSR form.

    Shapes:
        - ``loss(graph)``: scalar; parts ``info``, ``proto``
        - ``embed(graph)``: ``[N_target, hidden]``
    """

    name = "meow"

    def __init__(self, in_channels: Mapping[str, int], metapaths: Sequence[Sequence[str]],
                 top_k: Sequence[int | None] | int | None = None,
                 pathsim_ties: str = "low", hidden: int = 64,
                 tau: float = 0.9, dropout: float = 0.2, feat_mask: float = 0.3,
                 edge_mask: float | Sequence[float] = 0.2,
                 num_clusters: Sequence[int] = (100, 300), lam_proto: float = 1.0,
                 negative_weights: str = "count", kmeans_iterations: int = 20,
                 kmeans_restarts: int = 5, kmeans_seed: int = 0,
                 kmeans_backend: str = "torch", masks: str = "once",
                 mask_seed: int = 0, embedding: str = "last_train",
                 one_hot_types: Sequence[str] = (), num_nodes: Mapping[str, int] | None = None,
                 feature_norm: str | None = "row", unnormalized_types: Sequence[str] = (),
                 view_features: str | None = None,
                 block_size: int | None = None, block_density: float | None = 0.2) -> None:
        super().__init__()
        if not isinstance(in_channels, Mapping):
            raise TypeError(f"{type(self).__name__} needs the feature width of every node type: "
                            "in_channels must be a dict {node type: width} (graph.num_features "
                            f"of a HeteroData), got {type(in_channels).__name__}")
        if not metapaths:
            raise ValueError(f"{type(self).__name__} needs at least one meta-path")
        metapaths = [list(m) for m in metapaths]
        for metapath in metapaths:
            if len(metapath) < 3 or not all(isinstance(t, str) for t in metapath):
                raise ValueError(f"each meta-path must list node types with at least one "
                                 f"intermediate type (its context), got {metapath}")
        target = metapaths[0][0]
        if isinstance(edge_mask, (int, float)):
            edge_mask = [float(edge_mask)] * len(metapaths)
        if len(edge_mask) != len(metapaths):
            raise ValueError(f"edge_mask has {len(edge_mask)} rates for {len(metapaths)} "
                             "meta-paths")
        for name, rate in [("feat_mask", feat_mask), *(("edge_mask", r) for r in edge_mask)]:
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")
        if kmeans_backend not in KMEANS_BACKENDS:
            raise ValueError(f"kmeans_backend must be one of {KMEANS_BACKENDS}, got "
                             f"{kmeans_backend!r}")
        if masks not in MASK_MODES:
            raise ValueError(f"masks must be one of {MASK_MODES}, got {masks!r}")
        if embedding not in EMBEDDING_MODES:
            raise ValueError(f"embedding must be one of {EMBEDDING_MODES}, got {embedding!r}")
        if feature_norm not in ("row", None):
            raise ValueError(f"feature_norm must be 'row' or None, got {feature_norm!r}")
        if negative_weights not in ClusterNegativeWeights.MODES:
            raise ValueError(f"negative_weights must be one of {ClusterNegativeWeights.MODES}, "
                             f"got {negative_weights!r}")
        self.target = target
        self.metapaths = metapaths
        self.context_types = [m[1:-1] for m in metapaths]
        self.input_types = list(dict.fromkeys([target, *(t for m in self.context_types
                                                         for t in m)]))
        self.one_hot_types = list(one_hot_types)
        self.num_nodes = dict(num_nodes or {})
        widths = input_widths(in_channels, self.input_types, self.one_hot_types, self.num_nodes)
        self.tau = float(tau)
        self.feat_mask = float(feat_mask)
        self.edge_mask = [float(r) for r in edge_mask]
        self.num_clusters = [int(k) for k in num_clusters]
        self.lam_proto = float(lam_proto)
        self.negative_weights = negative_weights
        self.kmeans_iterations, self.kmeans_restarts = kmeans_iterations, kmeans_restarts
        self.kmeans_seed = kmeans_seed
        self.kmeans_backend = kmeans_backend
        self.masks, self.mask_seed, self.embedding = masks, mask_seed, embedding
        if view_features is not None and (not isinstance(view_features, str)
                                          or not view_features):
            raise ValueError(f"view_features must name a target-type attribute (e.g. "
                             f"'x_metapath'), got {view_features!r}")
        if view_features is not None and target in self.one_hot_types:
            raise ValueError(f"view_features gives {target!r} its inputs; do not also list it "
                             "in one_hot_types")
        self.feature_norm = feature_norm
        self.unnormalized_types = list(unnormalized_types)
        self.view_features = view_features
        self._widths = widths
        # with per-view target inputs, the target's x is projected only where it is a context
        self.projected_types = [t for t in self.input_types if view_features is None
                                or t != target or any(target in c for c in self.context_types)]
        self.block_size = block_size
        self.block_density = block_density

        self.projection = HeteroInputProjection({t: widths[t] for t in self.projected_types},
                                                hidden, dropout=dropout, init="default")
        self.view_projection = None if view_features is None else HeteroInputProjection(
            {str(i): widths[target] for i in range(len(metapaths))}, hidden, dropout=dropout,
            init="default")
        self.enrichment = ContextEnrichment(hidden, [len(c) for c in self.context_types],
                                            dropout)
        self.encoder = MetaPathGCN(hidden, hidden, hidden, dropout)
        self.attention = SemanticAttention(hidden, dropout)
        self.head = nn.Linear(hidden, self._projection_width(hidden))
        self.views = MetaPathViews([tuple(m) for m in metapaths], target, top_k=top_k,
                                   ties=pathsim_ties, tie_seed=mask_seed,
                                   normalize="sym", contexts=True,
                                   context_options={"complete": False})
        self._inputs = TensorKeyedCache()
        self._fixed_masks: tuple | None = None
        self._last_embedding: Tensor | None = None

    def _projection_width(self, hidden: int) -> int:
        return hidden

    @classmethod
    def from_config(cls, num_features, **options):
        return cls(num_features, **options)

    # ------------------------------------------------------------------ inputs

    def prepare(self, graph: HeteroData) -> MEOWInputs:
        """The graph-derived inputs (:class:`MEOWInputs`), built once per graph."""
        check_target_graph(graph, self.target, type(self).__name__)
        dtype = self.head.weight.dtype
        key = (*(graph[e].edge_index for e in graph.edge_types),
               *(graph[t].get("x") for t in self.input_types if t in graph.node_types),
               *((graph[self.target].get(self.view_features),) if self.view_features else ()),
               _DTYPES[dtype])
        return self._inputs.get(key, lambda: self._build_inputs(graph, dtype))

    def _build_inputs(self, graph: HeteroData, dtype: torch.dtype) -> MEOWInputs:
        built = self.views(graph)
        n = built.num_nodes
        adjacencies, structures, off_diagonal, patterns, partitions = [], [], [], [], []
        nodes = None
        for edge_index, weight in built.views:
            adjacency = CSRGraph(edge_index, n, weight).adjacency(None, "sum", dtype=dtype)
            partition = None
            if self.block_density is not None:
                # self-loops lie inside every block, so masked views share this partition
                partition = BlockPartition(edge_index, n)
                if partition.density(adjacency.nnz) >= self.block_density:
                    adjacency = partition.adjacency(adjacency)
                else:
                    partition = None
            adjacencies.append(adjacency)
            partitions.append(partition)
            if nodes is None:
                nodes = torch.arange(n, device=edge_index.device)
            off = edge_index[:, edge_index[0] != edge_index[1]]
            pattern = torch.cat([off, torch.stack([nodes, nodes])], dim=1)
            structures.append(CSRGraph(pattern, n))
            is_off = torch.zeros(pattern.size(1), dtype=torch.bool, device=pattern.device)
            is_off[: off.size(1)] = True
            off_diagonal.append(is_off)
            patterns.append(pattern)
        if any(p is not None for p in partitions):
            coarse = AdjacencySum(adjacencies, [1.0 / len(adjacencies)] * len(adjacencies))
        else:
            coarse = _mean_adjacency(built.views, n, dtype)
        contexts = [[(c.node_type, aggregate) for c, aggregate in zip(
                        per_path, context_aggregations(graph, hops, per_path))]
                    for hops, per_path in zip(built.metapaths, built.contexts)]
        features = {t: self._features(graph, t) for t in self.projected_types}
        return MEOWInputs(self.target, n, features, adjacencies, coarse, structures,
                          off_diagonal, patterns, contexts, partitions,
                          self._view_inputs(graph))

    def _features(self, graph: HeteroData, node_type: str) -> Tensor:
        return typed_features(graph, node_type, self._widths[node_type],
                              node_type in self.one_hot_types,
                              self.feature_norm == "row"
                              and node_type not in self.unnormalized_types)

    def _view_inputs(self, graph: HeteroData) -> list[Tensor] | None:
        """The target's per-meta-path inputs: ``[N, P, F]`` attribute → ``P`` tensors
        ``[N, F]`` (row-normalized as ``x`` would be), or ``None`` without ``view_features``."""
        if self.view_features is None:
            return None
        store = graph[self.target]
        stacked = store.get(self.view_features)
        width = self._widths[self.target]
        shape = (store.num_nodes, len(self.metapaths), width)
        if stacked is None:
            raise ValueError(
                f"view_features={self.view_features!r}, but the {self.target!r} nodes have no "
                f"such attribute; give them one input per meta-path {list(shape)}, e.g. with "
                "WalkEmbeddingFeatures(metapaths, per_metapath=True) (config: "
                "data.walk_features.per_metapath: true, model.view_features: x_metapath)")
        if not isinstance(stacked, Tensor) or tuple(stacked.shape) != shape:
            raise ValueError(f"{self.target}.{self.view_features} must be [N, P, F] = "
                             f"{list(shape)} (F the width of {self.target}.x), got "
                             f"{list(getattr(stacked, 'shape', [type(stacked).__name__]))}")
        if not torch.isfinite(stacked).all():
            raise ValueError(f"{self.target}.{self.view_features} contains NaN or inf values")
        normalize = self.feature_norm == "row" and self.target not in self.unnormalized_types
        return [_row_normalize(stacked[:, i]) if normalize else stacked[:, i]
                for i in range(len(self.metapaths))]

    # ------------------------------------------------------------------ masks

    def _mask_feature_entries(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """``x`` (``[N, F]``, dense or sparse CSR) with a fraction ``feat_mask`` of its
        non-zero entries zeroed; same shape and layout."""
        if is_sparse_features(x):
            keep = _exact_fraction_mask(x.values().numel(), self.feat_mask, generator, x.device)
            return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(),
                                           x.values() * keep, tuple(x.shape),
                                           check_invariants=False)
        nonzero = x.nonzero(as_tuple=True)
        keep = _exact_fraction_mask(nonzero[0].numel(), self.feat_mask, generator, x.device)
        masked_x = x.clone()
        masked_x[nonzero[0][~keep], nonzero[1][~keep]] = 0
        return masked_x

    def _draw_masks(self, inputs: MEOWInputs, generator: torch.Generator | None):
        """The masked target features (one per meta-path with ``view_features``) and the
        edge-masked adjacency of every meta-path."""
        if inputs.view_features is None:
            masked_x = self._mask_feature_entries(inputs.features[self.target], generator)
        else:
            masked_x = [self._mask_feature_entries(x, generator) for x in inputs.view_features]
        dtype = self.head.weight.dtype
        masked_adjacencies = []
        for structure, is_off, pattern, rate, partition in zip(
                inputs.mask_structures, inputs.off_diagonal, inputs.patterns, self.edge_mask,
                inputs.partitions):
            keep = torch.ones_like(is_off)
            keep[is_off] = _exact_fraction_mask(int(is_off.sum()), rate, generator,
                                                is_off.device)
            # binarized kept entries plus I, normalized with row sums on both sides
            degree = torch.bincount(pattern[0][keep], minlength=inputs.num_nodes).to(dtype)
            inv_sqrt = degree.pow(-0.5)
            weight = inv_sqrt[pattern[0]] * inv_sqrt[pattern[1]]
            masked = structure.adjacency(keep, "sum", dtype=dtype, edge_weight=weight)
            masked_adjacencies.append(masked if partition is None
                                      else partition.adjacency(masked))
        return masked_x, masked_adjacencies

    def _masks(self, inputs: MEOWInputs, generator: torch.Generator | None):
        if self.masks == "epoch":
            return self._draw_masks(inputs, generator)
        if self._fixed_masks is None or self._fixed_masks[0] is not inputs:
            fixed = torch.Generator().manual_seed(int(self.mask_seed))
            self._fixed_masks = (inputs, self._draw_masks(inputs, fixed))
        return self._fixed_masks[1]

    # ------------------------------------------------------------------ views

    def _views(self, graph: HeteroData, generator: torch.Generator | None):
        """``(z, z_coarse)``: the fused fine-grained embedding and the coarse one."""
        inputs = self.prepare(graph)
        masked_x, masked_adjacencies = self._masks(inputs, generator)
        h = self.projection(inputs.features, self.projected_types)
        if inputs.view_features is None:
            h_target = h[self.target]
            h_masked = self.projection.project(self.target, masked_x)
            h_coarse = h_target
        else:
            h_target = [self.view_projection.project(str(i), x)
                        for i, x in enumerate(inputs.view_features)]
            h_masked = [self.view_projection.project(str(i), x) for i, x in enumerate(masked_x)]
            h_coarse = torch.stack(h_target).mean(dim=0)
        aggregated = [[aggregate(h[node_type]) for node_type, aggregate in per_path]
                      for per_path in inputs.contexts]
        # each view draws its own dropout of the context maps, as the official code does
        terms = self.enrichment.context_terms(aggregated)
        terms_masked = self.enrichment.context_terms(aggregated)
        fine = []
        for u, u_masked, adjacency, masked in zip(
                self.enrichment(h_target, terms), self.enrichment(h_masked, terms_masked),
                inputs.adjacencies, masked_adjacencies):
            fine.append(F.normalize(self.encoder(u, adjacency), dim=1))
            fine.append(F.normalize(self.encoder(u_masked, masked), dim=1))
        z, _ = self.attention(fine)
        z_coarse = self.encoder(h_coarse, inputs.coarse)
        return z, z_coarse

    def _project(self, z: Tensor) -> Tensor:
        return F.normalize(torch.tanh(self.head(z)), dim=1)

    # ------------------------------------------------------------------ protocol

    def loss(self, graph: HeteroData, generator: torch.Generator | None = None) -> LossOutput:
        z, z_coarse = self._views(graph, generator)
        self._last_embedding = z.detach()
        anchors, candidates = self._project(z_coarse), self._project(z)
        return self._objective(anchors, candidates)

    def _objective(self, coarse: Tensor, fine: Tensor) -> LossOutput:
        clusterings = []
        for granularity, k in enumerate(self.num_clusters):
            seed = int(self.kmeans_seed) + granularity
            if self.kmeans_backend == "faiss":
                clusterings.append(faiss_kmeans(fine.detach(), k, self.kmeans_iterations,
                                                self.kmeans_restarts, seed))
            else:
                clusterings.append(spherical_kmeans(
                    fine.detach(), k, self.kmeans_iterations, self.kmeans_restarts,
                    torch.Generator().manual_seed(seed)))
        assignments = [c.assignment for c in clusterings]
        weights = ClusterNegativeWeights(torch.stack(assignments), self.negative_weights)
        info = infonce_loss(coarse, fine, self.tau, self.block_size, pair_weight=weights,
                            positive_weight=0.0)
        concentrations = [cluster_concentration(c.score, c.assignment, k, self.tau)
                          for c, k in zip(clusterings, self.num_clusters)]
        proto = proto_nce_loss(coarse, [c.centroids for c in clusterings], assignments,
                               concentrations)
        total = info + self.lam_proto * proto
        return LossOutput(total, {"info": float(info.detach()), "proto": float(proto.detach())})

    @torch.no_grad()
    def embed(self, graph: HeteroData) -> Tensor:
        """``z``, the attention-fused fine-grained embedding: ``[N, hidden]``.

        ``embedding="last_train"`` returns the one of the last training step (the official
        ``get_embeds``; if no step ran in this process, one training-mode forward pass);
        ``"eval"`` recomputes it in eval mode (no dropout)."""
        if self.embedding == "last_train" and self._last_embedding is not None:
            return self._last_embedding
        was_training = self.training
        self.train(self.embedding == "last_train")
        z, _ = self._views(graph, None)
        self.train(was_training)
        return z


@register_method
class AdaMEOW(MEOW):
    """AdaMEOW (TKDE 2024): MEOW's views with learned soft negative weights, no clustering.

    ``L = (1/N) Σ_i −log e^{v_i·u_i/τ} / Σ_j w_ij e^{v_i·u_j/τ}``, ``w_ij = σ(MLP(v_i + u_j))``
    (``Linear(d', 16) → tanh → Linear(16, 1) → sigmoid``), anchors ``v`` = fine projections,
    candidates ``u`` = coarse projections, ``j`` over all nodes (``w_ii`` scales the
    positive's own term). The MLP is trained by the same minimization as the encoder, as
    the official ``adameow.py`` does (nothing there bounds ``w`` from below; see the
    results). Computed per row block, O(R·N·16) memory instead of the official N²·d'.

    Args (besides :class:`MEOW`'s, whose clustering ones are unused):
        projection_width: ``d'`` of the head (official: 16 on AMiner, else 64 = hidden).
        weight_hidden: hidden width of the weight MLP (16).
        block_rows: rows per block of the weighted loss (``None``: automatic).
    """

    name = "adameow"

    def __init__(self, in_channels: Mapping[str, int], metapaths: Sequence[Sequence[str]],
                 projection_width: int | None = None, weight_hidden: int = 16,
                 block_rows: int | None = None, **options) -> None:
        self._width = projection_width
        options.setdefault("num_clusters", ())
        options.setdefault("lam_proto", 0.0)
        super().__init__(in_channels, metapaths, **options)
        self.weight_net = PairWeightMLP(self.head.out_features, weight_hidden)
        self.block_rows = block_rows

    def _projection_width(self, hidden: int) -> int:
        return self._width or hidden

    def loss(self, graph: HeteroData, generator: torch.Generator | None = None) -> LossOutput:
        z, z_coarse = self._views(graph, generator)
        self._last_embedding = z.detach()
        fine, coarse = self._project(z), self._project(z_coarse)
        total = learned_weight_infonce(fine, coarse, self.weight_net, self.tau, self.block_rows)
        return LossOutput(total, {"weighted_infonce": float(total.detach())})
