"""graphcl: graph contrastive learning on PyTorch and PyTorch Geometric.

A tour::

    import graphcl
    graph = graphcl.load_dataset("cora")                 # a torch_geometric.data.Data
    graphcl.seed_everything(39788)
    method = graphcl.GRACE(graph.num_features, hidden=128, tau=0.4)
    trainer = graphcl.Trainer(method, graph, epochs=200, lr=5e-4, weight_decay=1e-5)
    trainer.fit()
    result = graphcl.evaluate(trainer.embed(), graph.y, protocol="grace")
"""

from . import augment, data, eval, losses, methods, nn
from .config import load_config
from .data import load_dataset, validate_graph
from .eval import evaluate
from .methods import GCA, GRACE, METHODS, build_method
from .train import Trainer, deterministic, seed_everything, train_from_config

__version__ = "0.1.0"

__all__ = [
    "GCA",
    "GRACE",
    "METHODS",
    "Trainer",
    "augment",
    "build_method",
    "data",
    "deterministic",
    "eval",
    "evaluate",
    "load_config",
    "load_dataset",
    "losses",
    "methods",
    "nn",
    "seed_everything",
    "train_from_config",
    "validate_graph",
]
