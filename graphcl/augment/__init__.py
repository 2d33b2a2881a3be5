"""Graph augmenters: each ``aug(graph, generator=None) -> view``; see :mod:`.base`."""

from .adaptive import (
    CENTRALITIES,
    AdaptiveEdgeDropping,
    AdaptiveFeatureMasking,
    drop_probabilities,
    edge_drop_weights,
    feature_drop_weights,
    node_centrality,
)
from .base import Augmenter, Compose, Identity, RandomChoice
from .diffusion import (
    HeatDiffusion,
    MarkovDiffusion,
    PPRDiffusion,
    heat_diffusion,
    markov_diffusion,
    ppr_diffusion,
)
from .edges import EdgeAdding, EdgeDropping, undirected_pair_ids
from .features import FeatureDropout, FeatureMasking, NodeShuffling
from .hetero import HeteroEdgeDropping, HeteroFeatureMasking, RelationDropping
from .metapath import (
    ContextAggregation,
    MetaPathContext,
    MetaPathViews,
    MetaPathViewSet,
    NetworkSchema,
    aggregate_context,
    metapath_adjacency,
    metapath_context,
    network_schema,
    normalize_adjacency,
    pathsim_top_k,
    positive_pairs,
    resolve_metapath,
)
from .nodes import NodeDropping, RandomWalkSubgraph

__all__ = [
    "CENTRALITIES",
    "AdaptiveEdgeDropping",
    "AdaptiveFeatureMasking",
    "Augmenter",
    "Compose",
    "ContextAggregation",
    "EdgeAdding",
    "EdgeDropping",
    "FeatureDropout",
    "FeatureMasking",
    "HeatDiffusion",
    "HeteroEdgeDropping",
    "HeteroFeatureMasking",
    "Identity",
    "MarkovDiffusion",
    "MetaPathContext",
    "MetaPathViewSet",
    "MetaPathViews",
    "NetworkSchema",
    "NodeDropping",
    "NodeShuffling",
    "PPRDiffusion",
    "RandomChoice",
    "RandomWalkSubgraph",
    "RelationDropping",
    "aggregate_context",
    "drop_probabilities",
    "edge_drop_weights",
    "feature_drop_weights",
    "heat_diffusion",
    "markov_diffusion",
    "metapath_adjacency",
    "metapath_context",
    "network_schema",
    "node_centrality",
    "normalize_adjacency",
    "pathsim_top_k",
    "positive_pairs",
    "ppr_diffusion",
    "resolve_metapath",
    "undirected_pair_ids",
]
