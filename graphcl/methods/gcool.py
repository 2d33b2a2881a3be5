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
from torch import nn
from torch_geometric.data import Data

from ..augment import AdaptiveEdgeDropping, AdaptiveFeatureMasking, Compose
from ..losses import deca_loss, infonce_loss, resc_loss, soft_assignments
from ..nn import GNNEncoder, ProjectionHead
from .base import LossOutput, Method, register_method

__all__ = ["GCooL"]


@register_method
class GCooL(Method):
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

    Shapes:
        - ``loss(graph)``: scalar with parts node, deca, resc, alpha, omega
        - ``embed(graph)``: ``[N, hidden]`` (encoder output, before projection)
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
                 block_size: int | None = None) -> None:
        super().__init__()
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
        self.views = [Compose([AdaptiveFeatureMasking(pf, centrality, log_offset=log_offset),
                               AdaptiveEdgeDropping(pe, centrality, log_offset=log_offset)])
                      for pe, pf in zip(drop_edge, drop_feature)]
        self.tau, self.lamda, self.gamma = tau, lamda, gamma
        self.stride, self.alpha_rate = stride, alpha_rate
        self.similarity, self.schedule, self.node_loss = similarity, schedule, node_loss
        self.block_size = block_size

    @classmethod
    def from_config(cls, num_features: int, **options) -> GCooL:
        return cls(num_features, **options)

    def weights(self, epoch: int) -> tuple[float, float]:
        """``(α(t), ω(t))`` of the joint objective at 0-based epoch ``t``."""
        omega = math.exp(-epoch / self.stride)
        if self.schedule == "no_cutoff":
            return 1.0, omega
        return max(0.0, 1.0 - epoch / (self.alpha_rate * self.stride)), omega

    def loss(self, graph: Data, generator: torch.Generator | None = None) -> LossOutput:
        num_communities = self.centres.size(0)
        if num_communities > graph.num_nodes:
            raise ValueError(f"num_communities = {num_communities} exceeds the graph's "
                             f"{graph.num_nodes} nodes; use at most one community per node")
        views = [augment(graph, generator) for augment in self.views]
        projected = [F.normalize(self.projection(self.encoder(view.x, self.adjacency(graph, view))),
                                 dim=1) for view in views]
        h1, h2 = projected
        node = infonce_loss(h1, h2, self.tau, self.block_size,
                            symmetric=self.node_loss == "symmetric")
        alpha, omega = self.weights(self.current_epoch)
        total = node
        parts = {"node": float(node.detach()), "deca": math.nan, "resc": math.nan,
                 "alpha": alpha, "omega": omega}
        if alpha > 0:
            r1 = soft_assignments(h1, self.centres, self.tau, self.similarity)
            r2 = soft_assignments(h2, self.centres, self.tau, self.similarity)
            deca = 0.5 * (deca_loss(r1, views[0].edge_index, self.lamda)
                          + deca_loss(r2, views[1].edge_index, self.lamda))
            resc = resc_loss(h1, h2, r1, r2, self.tau, self.similarity, self.gamma)
            total = total + alpha * (omega * deca + (1 - omega) * resc)
            parts.update(deca=float(deca.detach()), resc=float(resc.detach()))
        return LossOutput(total, parts)
