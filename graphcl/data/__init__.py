"""Graphs in: named datasets (offline-first), synthetic graphs, input validation, splits.

This package is the bottom of graphcl's import graph: it imports nothing else from graphcl.
"""

from .datasets import (
    DATASETS,
    DatasetInfo,
    DatasetNotFoundError,
    cache_dir,
    dataset_status,
    load_dataset,
    resolve_root,
)
from .hetero import load_positive_pairs, load_shipped_metapaths, multiplex_layers
from .splits import per_class_split_masks, random_split_masks
from .synthetic import contextual_sbm
from .validation import validate_graph

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotFoundError",
    "cache_dir",
    "contextual_sbm",
    "dataset_status",
    "load_dataset",
    "load_positive_pairs",
    "load_shipped_metapaths",
    "multiplex_layers",
    "per_class_split_masks",
    "random_split_masks",
    "resolve_root",
    "validate_graph",
]
