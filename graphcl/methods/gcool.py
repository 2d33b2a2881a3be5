"""gCooL: Graph Communal Contrastive Learning (Li, Jing, Tong, WWW 2022, arXiv 2110.14863).

Node-level InfoNCE between two GCA-style adaptive views, plus community terms on learned
community centres: DeCA (dense community aggregation, computed over the edges) and ReSC
(node vs the other view's community prototypes), mixed by the schedule of the official code.
Nothing here is N × N except the node-level InfoNCE, which is tiled (O(N·block) memory).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data, HeteroData

from ..augment import AdaptiveEdgeDropping, AdaptiveFeatureMasking, Compose
from ..augment.base import TensorKeyedCache
from ..losses import deca_loss, infonce_loss, resc_loss, soft_assignments
from ..nn import GNNEncoder, ProjectionHead
from ..nn.adjacency import SparseAdjacency, unit_adjacency
from .base import EncodedViews, LossOutput, TwoViewMethod, register_method, view_rates

__all__ = ["GCooL"]


@register_method
class GCooL(TwoViewMethod):
    """gCooL (single-view graphs).

    Args:
        in_channels: input feature width.
        hidden_layer: width of the first GCN layer; hidden: embedding width ``d``.
        proj_hidden: projection head's hidden width (its output is ``d``, L2-normalized).
        activation: encoder activation (after both layers, as the official encoder).
        drop_edge, drop_feature: adaptive drop rates of the two views.
        tau: temperature of the node loss, the assignments and ReSC.
        num_communities: ``K``; lamda: DeCA's λ; gamma: ReSC's γ (``similarity="rbf"``).
        stride, alpha_rate: schedule ``ω(t) = exp(−t/stride)``,
            ``α(t) = max(0, 1 − t/(alpha_rate·stride))`` (epochs t from 0).
        similarity: ``"cos"`` (gCooL_c) or ``"rbf"`` (gCooL_e).
        centrality: ``degree``, ``pagerank`` or ``eigenvector`` for the adaptive views.
        schedule: ``"official"`` — the code's α cut-off, which switches DeCA and ReSC off after
            ``alpha_rate·stride`` epochs; ``"no_cutoff"`` — α ≡ 1, the community terms stay on
            (ω still moves the weight from DeCA to ReSC).
        node_loss: ``"official"`` — the code's "symmetrized" node loss, which uses the same
            h¹→h² similarities twice, i.e. one-direction InfoNCE with inter-view negatives;
            ``"symmetric"`` — the average of both directions.
        log_offset: offset inside the log of the adaptive weights (0 in gCooL's copy of GCA's
            functions, 1 in GCA's current code).
        block_size: tile edge of the node InfoNCE.
        cross_layer: weight of the cross-layer terms on a multiplex graph (our design; the
            paper's multiplex variant has no public code): InfoNCE between view 1 of layer
            ``a`` and view 2 of layer ``b``, and ReSC between them, for every layer pair.
        fusion: how a multiplex graph's layer embeddings become one: ``"mean"`` or
            ``"concat"``.
        normalize_embedding: L2-normalize the rows of the evaluated embedding (after the
            fusion). The objective only sees cosine similarities of the projections, so the
            encoder output's norm is not trained for. The official single-view evaluation
            takes the raw output, hence off by default; the multiplex IMDB preset turns it on,
            chosen on validation Macro-F1.

    Multiplex graphs (a ``HeteroData`` with one node type and one edge type per layer, e.g.
    ``load_dataset("imdb-multiplex")``): one shared encoder, projection and set of community
    centres; per layer the single-view objective on two adaptive views of that layer, plus
    ``cross_layer`` times the cross-layer node and community contrasts; the evaluated
    embedding fuses the clean layers' encoder outputs. Layers must share the node set
    (:func:`graphcl.data.multiplex_layers` checks it).

    Shapes:
        - ``loss(graph)``: scalar with parts node, deca, resc, alpha, omega
        - ``embed(graph)``: ``[N, hidden]`` (encoder output, before projection; unit rows
          with ``normalize_embedding``)
    """

    name = "gcool"

    def __init__(self, in_channels: int, hidden_layer: int = 256, hidden: int = 128,
                 proj_hidden: int = 128, activation: str = "relu",
                 drop_edge: Sequence[float] = (0.4, 0.4),
                 drop_feature: Sequence[float] = (0.1, 0.1), tau: float = 0.3,
                 num_communities: int = 8, lamda: float = 0.1, gamma: float = 8e-5,
                 stride: int = 500, alpha_rate: float = 0.2, similarity: str = "cos",
                 centrality: str = "degree", schedule: str = "official",
                 node_loss: str = "official", log_offset: float = 0.0,
                 block_size: int | None = None, cross_layer: float = 1.0,
                 fusion: str = "mean", normalize_embedding: bool = False) -> None:
        super().__init__()
        if fusion not in ("mean", "concat"):
            raise ValueError(f"fusion must be 'mean' or 'concat', got {fusion!r}")
        if schedule not in ("official", "no_cutoff"):
            raise ValueError(f"schedule must be 'official' or 'no_cutoff', got {schedule!r}")
        if node_loss not in ("official", "symmetric"):
            raise ValueError(f"node_loss must be 'official' or 'symmetric', got {node_loss!r}")
        if similarity not in ("cos", "rbf"):
            raise ValueError(f"similarity must be 'cos' or 'rbf', got {similarity!r}")
        if num_communities < 2:
            raise ValueError(f"num_communities must be >= 2, got {num_communities}")
        self.encoder = GNNEncoder(in_channels, [hidden_layer], hidden, num_layers=2,
                                  activation=activation)
        self.projection = ProjectionHead(hidden, proj_hidden, hidden)
        self.centres = nn.Parameter(torch.randn(num_communities, hidden))
        self.drop_edge = view_rates(drop_edge, "drop_edge")
        self.drop_feature = view_rates(drop_feature, "drop_feature")
        self.centrality, self.log_offset = centrality, log_offset
        self.views = self._make_views()
        self.cross_layer, self.fusion = float(cross_layer), fusion
        self._views_per_layer: list[list[Compose]] = []
        self._layer_cache = TensorKeyedCache()
        self.tau, self.lamda, self.gamma = tau, lamda, gamma
        self.stride, self.alpha_rate = stride, alpha_rate
        self.similarity, self.schedule, self.node_loss = similarity, schedule, node_loss
        self.block_size = block_size
        self.normalize_embedding = bool(normalize_embedding)

    @classmethod
    def from_config(cls, num_features: int | dict[str, int], **options) -> GCooL:
        if isinstance(num_features, dict):  # a multiplex HeteroData: one node type
            if len(num_features) != 1:
                raise ValueError("gCooL trains on a single node type (a multiplex graph); the "
                                 f"graph has node types {sorted(num_features)}")
            (num_features,) = num_features.values()
        return cls(num_features, **options)

    def weights(self, epoch: int) -> tuple[float, float]:
        """``(α(t), ω(t))`` of the joint objective at 0-based epoch ``t``."""
        omega = math.exp(-epoch / self.stride)
        if self.schedule == "no_cutoff":
            return 1.0, omega
        return max(0.0, 1.0 - epoch / (self.alpha_rate * self.stride)), omega

    def _make_views(self) -> list[Compose]:
        return [Compose([AdaptiveFeatureMasking(pf, self.centrality, log_offset=self.log_offset),
                         AdaptiveEdgeDropping(pe, self.centrality, log_offset=self.log_offset)])
                for pe, pf in zip(self.drop_edge, self.drop_feature)]

    def _check_graph(self, graph: Data, what: str = "the graph") -> None:
        num_communities = self.centres.size(0)
        if num_communities > graph.num_nodes:
            raise ValueError(f"num_communities = {num_communities} exceeds the {graph.num_nodes} "
                             f"nodes of {what}; use at most one community per node")
        if graph.edge_index.size(1) == 0:
            raise ValueError(f"{what} has no edges, so DeCA has no communities to aggregate; "
                             "gCooL needs a graph with edges (check the dataset or the layer)")

    def _project(self, embeddings: Sequence[Tensor]) -> list[Tensor]:
        return [F.normalize(self.projection(z), dim=1) for z in embeddings]

    def _node_loss(self, h1: Tensor, h2: Tensor) -> Tensor:
        return infonce_loss(h1, h2, self.tau, self.block_size,
                            symmetric=self.node_loss == "symmetric")

    def _assign(self, h: Tensor) -> Tensor:
        return soft_assignments(h, self.centres, self.tau, self.similarity)

    def _deca(self, r1: Tensor, r2: Tensor, encoded: EncodedViews) -> Tensor:
        """DeCA averaged over the two views, through each view's 0/1 adjacency on the structure
        of the encoder's adjacency (a sparse product instead of ``[E, K]`` gathers)."""
        losses = []
        for assignments, view, adjacency in zip((r1, r2), encoded.views, encoded.adjacencies):
            edges = (unit_adjacency(adjacency, view.edge_index)
                     if isinstance(adjacency, SparseAdjacency) else view.edge_index)
            losses.append(deca_loss(assignments, edges, self.lamda))
        return 0.5 * (losses[0] + losses[1])

    def loss(self, graph: Data | HeteroData,
             generator: torch.Generator | None = None) -> LossOutput:
        """The joint objective on two adaptive views (single-view graph) or, for a multiplex
        ``HeteroData``, on two views of every layer plus the cross-layer terms."""
        if isinstance(graph, HeteroData):
            return self._multiplex_loss(graph, generator)
        self._check_graph(graph)
        return super().loss(graph, generator)

    def contrast(self, graph: Data, encoded: EncodedViews) -> LossOutput:
        """Node InfoNCE plus the scheduled DeCA/ReSC terms on two encoded views."""
        h1, h2 = self._project(encoded.embeddings)
        node = self._node_loss(h1, h2)
        alpha, omega = self.weights(self.current_epoch)
        total = node
        parts = {"node": float(node.detach()), "deca": math.nan, "resc": math.nan,
                 "alpha": alpha, "omega": omega}
        if alpha > 0:
            r1, r2 = self._assign(h1), self._assign(h2)
            deca = self._deca(r1, r2, encoded)
            resc = resc_loss(h1, h2, r1, r2, self.tau, self.similarity, self.gamma)
            total = total + alpha * (omega * deca + (1 - omega) * resc)
            parts.update(deca=float(deca.detach()), resc=float(resc.detach()))
        return LossOutput(total, parts)

    # -- multiplex graphs ----------------------------------------------------------------

    def layers(self, graph: HeteroData) -> list[Data]:
        """The layers of a multiplex graph as homogeneous graphs (cached per graph, so each
        layer keeps its sorted structure and its adaptive drop probabilities)."""
        from ..data import multiplex_layers

        edge_indices = tuple(store.edge_index for store in graph.edge_stores)
        return self._layer_cache.get(edge_indices, lambda: multiplex_layers(graph))

    def _layer_views(self, index: int) -> list[Compose]:
        # one pair of augmenters per layer: each caches its own layer's centralities
        while len(self._views_per_layer) <= index:
            self._views_per_layer.append(self._make_views())
        return self._views_per_layer[index]

    def _multiplex_loss(self, graph: HeteroData, generator: torch.Generator | None) -> LossOutput:
        layers = self.layers(graph)
        encoded = []
        for index, layer in enumerate(layers):
            self._check_graph(layer, f"layer {index} of the multiplex graph")
            encoded.append(self.encode_views(layer, generator, self._layer_views(index)))
        projected = [self._project(views.embeddings) for views in encoded]
        pairs = [(a, b) for a in range(len(layers)) for b in range(a + 1, len(layers))]
        node = torch.stack([self._node_loss(h1, h2) for h1, h2 in projected]).mean()
        cross_node = (torch.stack([
            infonce_loss(projected[a][0], projected[b][1], self.tau, self.block_size,
                         symmetric=True) for a, b in pairs]).mean()
            if pairs else node.new_zeros(()))
        alpha, omega = self.weights(self.current_epoch)
        total = node + self.cross_layer * cross_node
        parts = {"node": float(node.detach()), "cross_node": float(cross_node.detach()),
                 "deca": math.nan, "resc": math.nan, "cross_resc": math.nan,
                 "alpha": alpha, "omega": omega}
        if alpha > 0:
            assignments = [(self._assign(h1), self._assign(h2)) for h1, h2 in projected]
            deca = torch.stack([self._deca(r1, r2, views)
                                for (r1, r2), views in zip(assignments, encoded)]).mean()
            resc = torch.stack([
                resc_loss(h1, h2, r1, r2, self.tau, self.similarity, self.gamma)
                for (h1, h2), (r1, r2) in zip(projected, assignments)]).mean()
            cross_resc = (torch.stack([
                resc_loss(projected[a][0], projected[b][1], assignments[a][0],
                          assignments[b][1], self.tau, self.similarity, self.gamma)
                for a, b in pairs]).mean() if pairs else resc.new_zeros(()))
            total = total + alpha * (omega * deca + (1 - omega)
                                     * (resc + self.cross_layer * cross_resc))
            parts.update(deca=float(deca.detach()), resc=float(resc.detach()),
                         cross_resc=float(cross_resc.detach()))
        return LossOutput(total, parts)

    @torch.no_grad()
    def embed(self, graph: Data | HeteroData) -> Tensor:
        """``[N, hidden]`` encoder output on the clean graph; for a multiplex graph the layer
        embeddings fused by ``fusion`` (``[N, hidden]`` for mean, ``[N, L·hidden]`` for concat)."""
        if not isinstance(graph, HeteroData):
            embedding = super().embed(graph)
        else:
            was_training = self.training
            self.eval()
            per_layer = [self.encoder(layer.x, self.adjacency(layer))
                         for layer in self.layers(graph)]
            self.train(was_training)
            embedding = (torch.cat(per_layer, dim=1) if self.fusion == "concat"
                         else torch.stack(per_layer).mean(0))
        return F.normalize(embedding, dim=1) if self.normalize_embedding else embedding
