"""GCA: Graph Contrastive Learning with Adaptive Augmentation (Zhu, Xu, Yu, Liu, Wu, Wang,
WWW 2021).

GRACE's model and loss with adaptive views: edges into central nodes and features common
among central nodes are dropped less (§3.3, Eq. 5–9; see :mod:`graphcl.augment.adaptive`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..augment import AdaptiveEdgeDropping, AdaptiveFeatureMasking, Compose
from .base import register_method
from .grace import GRACE

__all__ = ["GCA"]


@register_method
class GCA(GRACE):
    """GCA (arXiv 2010.14945): GRACE with centrality-adaptive edge dropping and feature masking.

    Args:
        centrality: ``degree`` (GCA-DE), ``pagerank`` (GCA-PR) or ``eigenvector`` (GCA-EV).
        cap: upper bound of any drop probability (0.7 in the paper's code).
        dense_features: weight features by magnitude instead of presence (GCA's WikiCS rule).
        Other arguments as :class:`GRACE`.

    Shapes:
        - ``loss(graph)``: scalar; ``embed(graph)``: ``[N, hidden]``
    """

    name = "gca"

    def __init__(self, in_channels: int, *args, centrality: str = "degree", cap: float = 0.7,
                 dense_features: bool = False, **kwargs) -> None:
        self._adaptive = {"centrality": centrality, "cap": cap, "dense": dense_features}
        super().__init__(in_channels, *args, **kwargs)

    def make_views(self, drop_edge: Sequence[float], drop_feature: Sequence[float]) -> list:
        """Adaptive views; feature masking first, so both weight sets come from the original
        graph (computed once per graph and cached)."""
        centrality, cap, dense = (self._adaptive[k] for k in ("centrality", "cap", "dense"))
        return [Compose([AdaptiveFeatureMasking(pf, centrality, cap, dense),
                         AdaptiveEdgeDropping(pe, centrality, cap)])
                for pe, pf in zip(drop_edge, drop_feature)]
