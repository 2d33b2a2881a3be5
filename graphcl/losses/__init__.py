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
from .learned_weights import PairWeightMLP, learned_weight_infonce, learned_weight_infonce_dense
from .positives import (
    PositivePairTiles,
    PositiveSetInfoNCE,
    positive_set_infonce,
    positive_set_infonce_dense,
    positive_set_infonce_directions,
)
from .prototypes import (
    KMEANS_BACKENDS,
    KMeansResult,
    cluster_concentration,
    faiss_kmeans,
    proto_nce_loss,
    spherical_kmeans,
)

__all__ = [
    "KMEANS_BACKENDS",
    "ClusterNegativeWeights",
    "GRACELoss",
    "InfoNCELoss",
    "KMeansResult",
    "LowRankNegativeWeights",
    "PairWeightMLP",
    "PositivePairTiles",
    "PositiveSetInfoNCE",
    "cluster_concentration",
    "community_prototypes",
    "deca_loss",
    "deca_loss_dense",
    "default_block_size",
    "faiss_kmeans",
    "grace_loss",
    "grace_loss_dense",
    "infonce_loss",
    "infonce_loss_dense",
    "learned_weight_infonce",
    "learned_weight_infonce_dense",
    "positive_set_infonce",
    "positive_set_infonce_dense",
    "positive_set_infonce_directions",
    "proto_nce_loss",
    "resc_loss",
    "soft_assignments",
    "spherical_kmeans",
]
