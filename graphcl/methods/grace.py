"""GRACE: Deep Graph Contrastive Representation Learning (Zhu, Xu, Yu, Liu, Wu, Wang, 2020).

Two views from uniform edge dropping and column feature masking, a shared 2-layer GCN
encoder, a projection head, and the symmetric InfoNCE with inter- and intra-view negatives
(Eq. 1–2), computed exactly in O(N·block) memory by :class:`graphcl.losses.GRACELoss`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch_geometric.data import Data

from ..augment import Compose, EdgeDropping, FeatureMasking
from ..losses import GRACELoss
from ..nn import GNNEncoder, ProjectionHead
from .base import EncodedViews, LossOutput, TwoViewMethod, register_method, view_rates

__all__ = ["GRACE"]


@register_method
class GRACE(TwoViewMethod):
    """GRACE (arXiv 2006.04131).

    Args:
        in_channels: input feature width.
        hidden: embedding width ``d`` (``num_hidden`` in the official config); the GCN's
            hidden layers are ``2·d`` wide, as in the official encoder.
        proj_hidden: hidden width of the projection head (``num_proj_hidden``).
        activation: encoder activation (``relu``, ``prelu``, ...).
        num_layers: GCN layers (>= 1; the paper uses 2).
        drop_edge: edge-drop probabilities of view 1 and view 2 (one number: both views).
        drop_feature: feature-mask probabilities of view 1 and view 2 (one number: both views).
        tau: temperature τ.
        block_size: tile edge of the blockwise loss (``None``: from free memory).
        conv: encoder layer kind (``gcn`` as in the paper; ``sage``, ``gin``, ``gat``, ``mlp``).

    Shapes:
        - ``loss(graph)``: graph with ``x`` ``[N, in_channels]``; returns a scalar
        - ``embed(graph)``: ``[N, hidden]``, the encoder output on the unaugmented graph
    """

    name = "grace"

    def __init__(self, in_channels: int, hidden: int = 128, proj_hidden: int = 128,
                 activation: str = "relu", num_layers: int = 2,
                 drop_edge: float | Sequence[float] = (0.2, 0.4),
                 drop_feature: float | Sequence[float] = (0.3, 0.4), tau: float = 0.4,
                 block_size: int | None = None, conv: str = "gcn") -> None:
        super().__init__()
        drop_edge = view_rates(drop_edge, "drop_edge")
        drop_feature = view_rates(drop_feature, "drop_feature")
        self.encoder = GNNEncoder(in_channels, 2 * hidden, hidden, num_layers=num_layers,
                                  conv=conv, activation=activation)
        self.projection = ProjectionHead(hidden, proj_hidden, hidden)
        self.views = self.make_views(drop_edge, drop_feature)
        self.objective = GRACELoss(tau=tau, block_size=block_size)

    def make_views(self, drop_edge: Sequence[float], drop_feature: Sequence[float]) -> list:
        """The two view augmenters: uniform edge dropping and column feature masking."""
        return [Compose([EdgeDropping(pe), FeatureMasking(pf)])
                for pe, pf in zip(drop_edge, drop_feature)]

    @classmethod
    def from_config(cls, num_features: int, **options) -> GRACE:
        return cls(num_features, **options)

    def contrast(self, graph: Data, encoded: EncodedViews) -> LossOutput:
        """Symmetric InfoNCE (Eq. 1–2) between the projected views."""
        total = self.objective(*(self.projection(z) for z in encoded.embeddings))
        return LossOutput(total, {"infonce": float(total.detach())})
