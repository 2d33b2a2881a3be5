"""Evaluation of frozen embeddings: linear probes, protocols, clustering and metrics.

Everything here takes tensors (embeddings, labels, masks), never models or graphs, and
reports metrics in percent (0–100). Summaries over runs give the mean, the population
standard deviation (``ddof=0``) and the raw values.
"""

from graphcl.eval.clustering import kmeans_scores
from graphcl.eval.hetero import (
    HECO_EVAL_SETTINGS,
    HECO_RATES,
    MEOW_EVAL_SETTINGS,
    REPEATED_SELECTIONS,
    evaluate_dmgi,
    evaluate_hdmi,
    evaluate_heco,
    heco_splits,
    repeated_linear_probe,
    roc_auc_ovr,
    similarity_at_k,
)
from graphcl.eval.metrics import (
    METRIC_NAMES,
    EvalResult,
    classification_metrics,
    summarize,
    t_interval_halfwidth,
)
from graphcl.eval.probe import SELECTIONS, linear_probe
from graphcl.eval.protocols import (
    PROTOCOLS,
    evaluate,
    evaluate_clean,
    evaluate_gca,
    evaluate_gcool,
    evaluate_grace,
    evaluate_pot,
)

__all__ = [
    "HECO_EVAL_SETTINGS",
    "HECO_RATES",
    "MEOW_EVAL_SETTINGS",
    "METRIC_NAMES",
    "PROTOCOLS",
    "REPEATED_SELECTIONS",
    "SELECTIONS",
    "EvalResult",
    "classification_metrics",
    "evaluate",
    "evaluate_clean",
    "evaluate_dmgi",
    "evaluate_gca",
    "evaluate_gcool",
    "evaluate_grace",
    "evaluate_hdmi",
    "evaluate_heco",
    "evaluate_pot",
    "heco_splits",
    "kmeans_scores",
    "linear_probe",
    "repeated_linear_probe",
    "roc_auc_ovr",
    "similarity_at_k",
    "summarize",
    "t_interval_halfwidth",
]
