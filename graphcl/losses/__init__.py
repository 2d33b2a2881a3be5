"""Contrastive objectives over embeddings (tensors in, scalar out); one file per family."""

from .community import (
    community_prototypes,
    deca_loss,
    deca_loss_dense,
    resc_loss,
    soft_assignments,
)
from .infonce import (
    ClusterNegativeWeights,
    GRACELoss,
    InfoNCELoss,
    LowRankNegativeWeights,
    default_block_size,
    grace_loss,
    grace_loss_dense,
    infonce_loss,
    infonce_loss_dense,
)
from .positives import (
    PositivePairTiles,
    PositiveSetInfoNCE,
    positive_set_infonce,
    positive_set_infonce_dense,
    positive_set_infonce_directions,
)

__all__ = [
    "ClusterNegativeWeights",
    "GRACELoss",
    "InfoNCELoss",
    "LowRankNegativeWeights",
    "PositivePairTiles",
    "PositiveSetInfoNCE",
    "community_prototypes",
    "deca_loss",
    "deca_loss_dense",
    "default_block_size",
    "grace_loss",
    "grace_loss_dense",
    "infonce_loss",
    "infonce_loss_dense",
    "positive_set_infonce",
    "positive_set_infonce_dense",
    "positive_set_infonce_directions",
    "resc_loss",
    "soft_assignments",
]
