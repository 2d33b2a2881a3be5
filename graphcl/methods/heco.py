"""HeCo: Self-supervised Heterogeneous Graph Neural Network with Co-contrastive Learning
(Wang, Liu, Han, Shi, KDD 2021, arXiv 2105.09111).

Two views of the target nodes of a heterogeneous graph, no augmentation:

* the **network-schema view** (Sec. 4.2): each target node attends over ``k`` direct
  neighbours sampled per neighbour type every epoch (:class:`graphcl.nn.SchemaEncoder`);
* the **meta-path view** (Sec. 4.3): one GCN layer per meta-path graph and semantic attention
  (:class:`graphcl.nn.MetaPathEncoder`);

both on the same type-specific input projections (Sec. 4.1), contrasted after a shared
projection head with positives = nodes sharing many meta-path instances (Sec. 4.4,
:class:`graphcl.losses.PositiveSetInfoNCE`). The embeddings used downstream are the meta-path
view's (the official ``get_embeds``).

The views, the normalized meta-path adjacencies, the schema and the positive pairs are built
once per graph (:class:`graphcl.augment.MetaPathViews`) and cached.

Official code read (``liun-online/HeCo`` @ ``20e8ca2``): ``code/module/*.py``, ``code/main.py``
(training loop, early stopping on the loss with ``patience``, best weights reloaded before
``get_embeds``), ``code/utils/params.py`` (per-dataset settings: the presets
``graphcl/configs/heco_*.yaml``), ``code/utils/load_data.py`` (features row-normalized by
``preprocess_features``; one-hot identities for every type without a feature file *and* for
ACM authors and DBLP papers; meta-path matrices ``normalize_adj``-ed:
``D^{-1/2} M D^{-1/2}`` of the boolean ``pap.npz`` etc., whose diagonal is set) and
``data/pos.py`` (the positive sets, ``pos_num`` ACM 5, DBLP 1000, AMiner 15, Freebase 80).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..augment.base import TensorKeyedCache
from ..augment.metapath import MetaPathViews, NetworkSchema
from ..losses import PositiveSetInfoNCE
from ..losses.positives import check_positives
from ..nn import (
    CSRGraph,
    HeteroInputProjection,
    MetaPathEncoder,
    SchemaEncoder,
    SparseAdjacency,
    as_block_diagonal,
)
from ..nn.features import is_sparse_features
from .base import LossOutput, Method, register_method

__all__ = ["HeCo", "HeCoInputs"]

POSITIVE_SOURCES = ("shipped", "built")
METAPATH_WEIGHTS = ("binary", "count")
FEATURE_NORMS = ("row", None)


@dataclass
class HeCoInputs:
    """What :class:`HeCo` derives from a graph once (cached while the graph's tensors stay).

    Attributes:
        target: the target node type; ``num_nodes``: its ``N``.
        features: ``{type: x}`` after the one-hot substitution and row normalization.
        adjacencies: one normalized ``[N, N]`` :class:`~graphcl.nn.SparseAdjacency` per
            meta-path.
        schema: the network-schema view (sample neighbours from it).
        positives: ``[2, P]`` int64 positive pairs, deduplicated, sorted.
    """

    target: str
    num_nodes: int
    features: dict[str, Tensor]
    adjacencies: list[SparseAdjacency]
    schema: NetworkSchema
    positives: Tensor


def _row_normalize(x: Tensor) -> Tensor:
    """``x / rowsum(x)`` (zero rows stay zero), dense or sparse CSR: HeCo's
    ``preprocess_features``."""
    if is_sparse_features(x):
        crow, col, value = x.crow_indices(), x.col_indices(), x.values()
        rows = torch.repeat_interleave(torch.arange(x.size(0), device=x.device), crow.diff())
        total = torch.zeros(x.size(0), dtype=value.dtype, device=x.device).index_add_(0, rows, value)
        inv = total.reciprocal().masked_fill_(total == 0, 0.0)
        return torch.sparse_csr_tensor(crow, col, value * inv[rows], tuple(x.shape),
                                       check_invariants=False)
    total = x.sum(dim=1, keepdim=True)
    inv = total.reciprocal().masked_fill_(total == 0, 0.0)
    return x * inv


def _identity(num_nodes: int, device: torch.device) -> Tensor:
    index = torch.arange(num_nodes, device=device)
    crow = torch.arange(num_nodes + 1, device=device)
    return torch.sparse_csr_tensor(crow, index, torch.ones(num_nodes, device=device),
                                   (num_nodes, num_nodes), check_invariants=False)


def input_widths(in_channels: Mapping[str, int], types: Sequence[str],
                 one_hot_types: Sequence[str], num_nodes: Mapping[str, int]) -> dict[str, int]:
    """The projection width of each node type: its feature width, or its node count for a
    type listed in ``one_hot_types`` (HeCo's / MEOW's ``type_num``)."""
    widths = {}
    for node_type in types:
        if node_type in one_hot_types and node_type in num_nodes:
            widths[node_type] = int(num_nodes[node_type])
        elif node_type in one_hot_types:
            raise ValueError(
                f"one_hot_types lists {node_type!r}: give its node count in num_nodes, e.g. "
                f"num_nodes: {{{node_type}: N}} (HeCo's type_num), so its one-hot projection "
                "can be built before the graph is seen")
        elif node_type not in in_channels:
            raise ValueError(f"in_channels has no width for node type {node_type!r} (has "
                             f"{list(in_channels)})")
        else:
            widths[node_type] = int(in_channels[node_type])
    return widths


def check_target_graph(graph, target: str, method: str) -> None:
    """A clear error unless ``graph`` is a ``HeteroData`` with the node type ``target``."""
    if not isinstance(graph, HeteroData):
        raise TypeError(f"{method} trains on a torch_geometric.data.HeteroData, got "
                        f"{type(graph).__name__}")
    if target not in graph.node_types:
        raise ValueError(f"the graph has no node type {target!r} (the meta-paths' target); "
                         f"its node types are {graph.node_types}")


def typed_features(graph: HeteroData, node_type: str, width: int, one_hot: bool,
                   row_normalize: bool) -> Tensor:
    """The input features of one node type: a sparse one-hot identity ``[N_t, N_t]`` when
    ``one_hot``, else ``graph[node_type].x`` ``[N_t, width]`` checked (shape, finite) and,
    with ``row_normalize``, divided by its row sums (HeCo's ``preprocess_features``)."""
    store = graph[node_type]
    if one_hot:
        count = int(store.num_nodes)
        if count != width:
            raise ValueError(f"node type {node_type!r} has {count} nodes but its one-hot "
                             f"projection was built for num_nodes={width}")
        device = next((graph[e].edge_index.device for e in graph.edge_types),
                      torch.device("cpu"))
        return _identity(count, device)
    x = store.get("x")
    if x is None:
        raise ValueError(f"node type {node_type!r} has no features (x); list it in "
                         "one_hot_types to give it one-hot identities, as HeCo does")
    if x.dim() != 2 or x.size(1) != width:
        raise ValueError(f"features of {node_type!r} are {tuple(x.shape)} but the model was "
                         f"built for width {width}")
    if not is_sparse_features(x) and not torch.isfinite(x).all():
        raise ValueError(f"features of {node_type!r} contain NaN or inf values")
    return _row_normalize(x) if row_normalize else x


@register_method
class HeCo(Method):
    """HeCo (KDD 2021) for a ``HeteroData`` with a target node type.

    Args:
        in_channels: ``{node type: feature width}`` (``graph.num_features``); only the target
            type and the schema's neighbour types are used.
        metapaths: meta-paths from and to the target type as node-type lists, e.g.
            ``[["paper", "author", "paper"], ["paper", "subject", "paper"]]`` (HeCo: ACM PAP,
            PSP; DBLP APA, APCPA, APTPA; AMiner PAP, PRP); the first type is the target.
        sample_rates: ``{neighbour type: k}``, neighbours sampled per target node and epoch in
            the schema view (HeCo's ``sample_rate``: ACM author 7, subject 1; DBLP paper 6;
            AMiner author 3, reference 8); its order is the order of the type attention.
        hidden: embedding width ``d`` (``hidden_dim``, 64).
        tau: temperature τ. lam: λ, the weight of the meta-path → schema direction.
        feat_drop: dropout on the input projections. attn_drop: dropout on the attention
            vectors.
        positives: ``"shipped"``: the dataset's ``pos.npz`` (what the official code trains
            with), read by :func:`graphcl.data.load_positive_pairs` for ``graph.name``;
            ``"built"``: recomputed from the meta-paths by
            :func:`graphcl.augment.positive_pairs` with ``num_positives`` (HeCo's ``pos.py``;
            ties are broken by column there and arbitrarily by NumPy's quicksort in the
            official script, so some pairs differ from ``pos.npz``).
        num_positives: ``pos_num`` for ``positives="built"`` (ACM 5, DBLP 1000, AMiner 15).
        positive_options: keyword arguments of :func:`~graphcl.augment.positive_pairs`
            (default ``include_self=False``, as ``pos.py``).
        one_hot_types: node types whose features are replaced by one-hot identities (HeCo:
            ACM ``author``, DBLP ``paper``, every AMiner type); types loaded one-hot already
            need not be listed.
        num_nodes: ``{type: N_type}`` for every type of ``one_hot_types`` that is not one-hot
            in ``in_channels`` already: the projection of a one-hot type is ``N_type`` wide
            and is built before the graph is seen (HeCo's ``type_num``).
        feature_norm: ``"row"`` (HeCo's ``preprocess_features``) or ``None``.
        metapath_weights: ``"binary"`` (HeCo's boolean meta-path files) or ``"count"``
            (path-instance counts); either is normalized ``D^{-1/2} M D^{-1/2}``.
        block_size: tile edge of the blockwise loss (``None``: from free memory).
        data_root: where ``pos.npz`` is looked up (``None``: ``$GRAPHCL_DATA``, ...).
        block_density: a meta-path adjacency filling at least this fraction of its
            connected components' dense blocks is multiplied block by block (ACM's PSP;
            see :class:`~graphcl.nn.BlockPartition`); ``None`` keeps CSR.

    Shapes:
        - ``loss(graph)``: a scalar; parts ``mp`` (L_mp) and ``sc`` (L_sc)
        - ``embed(graph)``: ``[N_target, hidden]``, the meta-path view's ``z^mp``
    """

    name = "heco"

    def __init__(self, in_channels: Mapping[str, int], metapaths: Sequence[Sequence[str]],
                 sample_rates: Mapping[str, int], hidden: int = 64, tau: float = 0.8,
                 lam: float = 0.5, feat_drop: float = 0.3, attn_drop: float = 0.5,
                 positives: str = "shipped", num_positives: int | None = None,
                 positive_options: Mapping | None = None,
                 one_hot_types: Sequence[str] = (), num_nodes: Mapping[str, int] | None = None,
                 feature_norm: str | None = "row", metapath_weights: str = "binary",
                 block_size: int | None = None, data_root: str | None = None,
                 block_density: float | None = 0.2) -> None:
        super().__init__()
        self.block_density = block_density
        if not isinstance(in_channels, Mapping):
            raise TypeError("HeCo needs the feature width of every node type: in_channels must be "
                            f"a dict {{node type: width}} (graph.num_features of a HeteroData), "
                            f"got {type(in_channels).__name__}")
        if not metapaths:
            raise ValueError("HeCo needs at least one meta-path")
        metapaths = [list(m) for m in metapaths]
        target = metapaths[0][0]
        if not isinstance(target, str):
            raise TypeError(f"meta-paths must start with the target node type, got {metapaths[0]}")
        if not sample_rates:
            raise ValueError("sample_rates must name at least one neighbour type, e.g. "
                             "{'author': 7, 'subject': 1}")
        for node_type, k in sample_rates.items():
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"sample_rates[{node_type!r}] must be a positive int, got {k!r}")
        if target in sample_rates:
            raise ValueError(f"sample_rates lists the target type {target!r}; it takes the "
                             "target's neighbour types")
        if positives not in POSITIVE_SOURCES:
            raise ValueError(f"positives must be one of {POSITIVE_SOURCES}, got {positives!r}")
        if positives == "built" and num_positives is None:
            raise ValueError("positives='built' needs num_positives (HeCo's pos_num: ACM 5, "
                             "DBLP 1000, AMiner 15, Freebase 80)")
        if metapath_weights not in METAPATH_WEIGHTS:
            raise ValueError(f"metapath_weights must be one of {METAPATH_WEIGHTS}, got "
                             f"{metapath_weights!r}")
        if feature_norm not in FEATURE_NORMS:
            raise ValueError(f"feature_norm must be one of {FEATURE_NORMS}, got {feature_norm!r}")
        self.target = target
        self.metapaths = metapaths
        self.sample_rates = dict(sample_rates)
        self.input_types = [target, *self.sample_rates]
        self.one_hot_types = list(one_hot_types)
        self.num_nodes = dict(num_nodes or {})
        widths = input_widths(in_channels, self.input_types, self.one_hot_types, self.num_nodes)
        self.tau, self.lam = float(tau), float(lam)
        self.positive_source = positives
        self.num_positives = num_positives
        self.positive_options = {"include_self": False, **dict(positive_options or {})}
        self.feature_norm = feature_norm
        self.metapath_weights = metapath_weights
        self.data_root = data_root

        self.projection = HeteroInputProjection(widths, hidden, dropout=feat_drop)
        self.mp_encoder = MetaPathEncoder(hidden, len(metapaths), attn_drop)
        self.sc_encoder = SchemaEncoder(hidden, list(self.sample_rates), attn_drop)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, hidden))
        for layer in (self.head[0], self.head[2]):
            nn.init.xavier_normal_(layer.weight, gain=1.414)
        self.objective = PositiveSetInfoNCE(tau=tau, lam=lam, block_size=block_size)
        self.views = MetaPathViews(
            [tuple(m) for m in metapaths], target, normalize=None, contexts=False,
            num_positives=num_positives if positives == "built" else None,
            positive_options=self.positive_options)
        self._inputs = TensorKeyedCache()

    @classmethod
    def from_config(cls, num_features, **options) -> HeCo:
        return cls(num_features, **options)

    # ------------------------------------------------------------------ inputs

    def prepare(self, graph: HeteroData) -> HeCoInputs:
        """The graph-derived inputs (:class:`HeCoInputs`), built once per graph."""
        check_target_graph(graph, self.target, type(self).__name__)
        dtype = self.head[0].weight.dtype
        key = (*(graph[e].edge_index for e in graph.edge_types),
               *(graph[t].get("x") for t in self.input_types if t in graph.node_types),
               _DTYPES[dtype])
        return self._inputs.get(key, lambda: self._build_inputs(graph, dtype))

    def _build_inputs(self, graph: HeteroData, dtype: torch.dtype) -> HeCoInputs:
        built = self.views(graph)
        num_nodes = built.num_nodes
        unknown = [t for t in self.sample_rates if t not in built.schema.neighbors]
        if unknown:
            raise ValueError(f"sample_rates names {unknown}, which are not neighbour types of "
                             f"{self.target!r}; its neighbour types are "
                             f"{list(built.schema.neighbors)}")
        adjacencies = []
        for edge_index, weight in built.views:
            if self.metapath_weights == "binary":
                weight = torch.ones_like(weight)
            adjacency = CSRGraph(edge_index, num_nodes, weight).adjacency(None, "gcn",
                                                                         dtype=dtype)
            if self.block_density is not None:
                adjacency = as_block_diagonal(adjacency, min_density=self.block_density)
            adjacencies.append(adjacency)
        features = {t: self._features(graph, t) for t in self.input_types}
        if self.positive_source == "built":
            positives = built.positives
        else:
            positives = self._shipped_positives(graph)
        positives = check_positives(positives.to(adjacencies[0].device), num_nodes)
        return HeCoInputs(self.target, num_nodes, features, adjacencies, built.schema, positives)

    def _features(self, graph: HeteroData, node_type: str) -> Tensor:
        return typed_features(graph, node_type, self.projection.linears[node_type].in_features,
                              node_type in self.one_hot_types, self.feature_norm == "row")

    def _shipped_positives(self, graph: HeteroData) -> Tensor:
        from ..data import load_positive_pairs

        name = getattr(graph, "name", None)
        if not isinstance(name, str):
            raise TypeError("positives='shipped' reads the dataset's pos.npz and needs "
                             "graph.name (set by load_dataset); use positives='built' with "
                             "num_positives for other graphs")
        return load_positive_pairs(name, self.data_root)

    # ------------------------------------------------------------------ protocol

    def loss(self, graph: HeteroData, generator: torch.Generator | None = None) -> LossOutput:
        inputs = self.prepare(graph)
        h = self.projection(inputs.features, self.input_types)
        z_mp = self.mp_encoder(h[self.target], inputs.adjacencies)
        samples = inputs.schema.sample_neighbors(self.sample_rates, generator)
        z_sc = self.sc_encoder(h[self.target], h, samples)
        directions = self.objective.directions(self.head(z_mp), self.head(z_sc),
                                               inputs.positives)
        total = self.lam * directions[0] + (1.0 - self.lam) * directions[1]
        parts = directions.detach()
        return LossOutput(total, {"mp": float(parts[0]), "sc": float(parts[1])})

    @torch.no_grad()
    def embed(self, graph: HeteroData) -> Tensor:
        """``z^mp`` of the target nodes in eval mode (HeCo's ``get_embeds``): ``[N, hidden]``."""
        inputs = self.prepare(graph)
        was_training = self.training
        self.eval()
        h = self.projection.project(self.target, inputs.features[self.target])
        z = self.mp_encoder(h, inputs.adjacencies)
        self.train(was_training)
        return z

    @torch.no_grad()
    def attention(self, graph: HeteroData, generator: torch.Generator | None = None
                  ) -> dict[str, Tensor]:
        """The semantic attention weights in eval mode: ``{"metapath": [P], "schema": [T]}``
        (the values the official code prints as ``mp`` and ``sc``)."""
        inputs = self.prepare(graph)
        was_training = self.training
        self.eval()
        h = self.projection(inputs.features, self.input_types)
        _, beta_mp = self.mp_encoder(h[self.target], inputs.adjacencies, return_attention=True)
        samples = inputs.schema.sample_neighbors(self.sample_rates, generator)
        _, beta_sc = self.sc_encoder(h[self.target], h, samples, return_attention=True)
        self.train(was_training)
        return {"metapath": beta_mp, "schema": beta_sc}


# one tensor per dtype, so the input cache (keyed by tensor identity) sees the parameters' dtype
_DTYPES = {dtype: torch.empty(0, dtype=dtype) for dtype in
           (torch.float16, torch.bfloat16, torch.float32, torch.float64)}
