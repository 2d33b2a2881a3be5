"""Input checks for a graph before it reaches an augmenter or an encoder.

A malformed graph otherwise fails deep inside a scatter or sparse kernel (or, worse, does
not fail: an out-of-range index on the CPU can read garbage). :func:`validate_graph` turns
each problem into one ``ValueError`` (``TypeError`` for a field of the wrong type) that
names the field, what was found and the fix.
It is called before every training run, so every check is a handful of vectorised
reductions (no Python loop over nodes or edges).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data, HeteroData

__all__ = ["validate_graph"]

# A `*_mask` attribute whose name contains this word is indexed by edges, not nodes.
_EDGE_LEVEL_WORD = "edge"


def _values(tensor: Tensor) -> Tensor:
    """The stored values of a dense or sparse tensor (sparse zeros are finite anyway)."""
    if tensor.layout == torch.strided:
        return tensor
    if tensor.layout == torch.sparse_coo:
        return tensor.coalesce().values()
    return tensor.values()


def _all_finite(tensor: Tensor) -> bool:
    """Whether a dense floating tensor has no NaN / inf, in one pass and no temporaries."""
    # NaN and inf propagate through a sum, so a finite sum proves every entry finite; a
    # non-finite sum can also be an overflow of huge finite entries: check element-wise.
    if bool(torch.isfinite(tensor.sum())):
        return True
    return bool(torch.isfinite(tensor).all())


def _require_tensor(value: object, key: str, name: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}.{key} must be a torch.Tensor, got {type(value).__name__}")


def _num_nodes(data: Data, name: str) -> int:
    x = data.get("x")
    if x is not None:
        _require_tensor(x, "x", name)
    if "num_nodes" in data:
        num_nodes = data.num_nodes
        if num_nodes is None or isinstance(num_nodes, bool) or not isinstance(num_nodes, int):
            raise ValueError(
                f"{name}.num_nodes must be an int, got {num_nodes!r}; set "
                f"`{name}.num_nodes = x.size(0)`"
            )
        if isinstance(x, Tensor) and x.dim() >= 1 and x.size(0) != num_nodes:
            raise ValueError(
                f"{name}.x has {x.size(0)} rows but {name}.num_nodes is {num_nodes}; they "
                f"must agree (one row of x per node): fix `num_nodes` or `x`"
            )
        return num_nodes
    if isinstance(x, Tensor):
        if x.dim() == 0:
            raise ValueError(
                f"{name}.x is a scalar; expected a [num_nodes, num_features] tensor"
            )
        return x.size(0)
    raise ValueError(
        f"{name} has no node count: it has neither `num_nodes` nor `x`. Set "
        f"`{name}.num_nodes = N` (isolated trailing nodes cannot be inferred from edge_index)"
    )


def _check_edge_index(edge_index: object, num_nodes: int, name: str) -> int:
    if not isinstance(edge_index, Tensor):
        raise TypeError(
            f"{name}.edge_index must be a torch.Tensor of shape [2, num_edges], got "
            f"{type(edge_index).__name__}"
        )
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        hint = " (it looks transposed: use `edge_index.t()`)" if (
            edge_index.dim() == 2 and edge_index.size(1) == 2
        ) else ""
        raise ValueError(
            f"{name}.edge_index must have shape [2, num_edges], got "
            f"{tuple(edge_index.shape)}{hint}"
        )
    if edge_index.dtype != torch.long:
        raise ValueError(
            f"{name}.edge_index has dtype {edge_index.dtype}; expected torch.long (int64): "
            f"use `{name}.edge_index = {name}.edge_index.long()`"
        )
    num_edges = edge_index.size(1)
    if num_edges == 0:
        return 0
    low, high = torch.aminmax(edge_index)
    low, high = int(low), int(high)
    if low < 0:
        count = int((edge_index < 0).any(dim=0).sum())
        raise ValueError(
            f"{name}.edge_index has negative node indices (min {low}, in {count} edge(s)); "
            f"indices must be in [0, num_nodes)"
        )
    if high >= num_nodes:
        count = int((edge_index >= num_nodes).any(dim=0).sum())
        raise ValueError(
            f"{name}.edge_index refers to node {high} but the graph has num_nodes="
            f"{num_nodes} (valid indices 0..{num_nodes - 1}; {count} edge(s) out of range): "
            f"set `{name}.num_nodes` to the true node count or drop those edges"
        )
    return num_edges


def _check_x(x: object, num_nodes: int, name: str) -> None:
    _require_tensor(x, "x", name)
    if x.dim() != 2:
        raise ValueError(
            f"{name}.x must have shape [num_nodes, num_features], got {tuple(x.shape)}"
            + (f": use `{name}.x = {name}.x.unsqueeze(-1)`" if x.dim() == 1 else "")
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{name}.x has dtype {x.dtype}; node features must be floating point: use "
            f"`{name}.x = {name}.x.float()`"
        )
    if x.layout != torch.strided:
        if not _all_finite(_values(x)):
            raise ValueError(
                f"{name}.x (sparse) stores NaN or inf values; replace them, e.g. with "
                f"`torch.nan_to_num`"
            )
        return
    if _all_finite(x):
        return
    bad_rows = (~torch.isfinite(x)).any(dim=1)
    num_bad = int(bad_rows.sum())
    first_bad = int(bad_rows.nonzero()[0, 0])
    kinds = [kind for kind, found in (("NaN", torch.isnan(x).any()), ("inf", torch.isinf(x).any()))
             if bool(found)]
    raise ValueError(
        f"{name}.x has {' and '.join(kinds)} values in {num_bad} of {num_nodes} rows (first "
        f"bad row: {first_bad}); clean the features, e.g. `torch.nan_to_num(x)` or impute "
        f"missing values, before training"
    )


def _check_y(y: object, num_nodes: int, name: str) -> None:
    _require_tensor(y, "y", name)
    if y.dim() == 0:
        raise ValueError(
            f"{name}.y is a scalar; expected node labels of shape [num_nodes] (or a "
            f"graph-level label of shape [1]): use `{name}.y = {name}.y.view(1)`"
        )
    # A single label is a graph-level target (PyG's graph-classification convention).
    if y.size(0) != num_nodes and not (y.size(0) == 1 and num_nodes != 1):
        raise ValueError(
            f"{name}.y has {y.size(0)} entries but the graph has {num_nodes} nodes; node "
            f"labels need one entry per node (shape [num_nodes])"
        )


def _check_mask(key: str, mask: object, length: int, what: str, name: str) -> None:
    _require_tensor(mask, key, name)
    if mask.dtype != torch.bool:
        raise ValueError(
            f"{name}.{key} has dtype {mask.dtype}; masks must be torch.bool: use "
            f"`{name}.{key} = {name}.{key}.bool()` for a 0/1 mask, or "
            f"`torch_geometric.utils.index_to_mask(index, size)` for node indices"
        )
    if mask.dim() not in (1, 2) or mask.size(0) != length:
        raise ValueError(
            f"{name}.{key} has shape {tuple(mask.shape)}; expected [{length}] or "
            f"[{length}, num_splits] (one entry per {what})"
        )


def _check_edge_tensor(key: str, value: object, num_edges: int | None, name: str) -> None:
    _require_tensor(value, key, name)
    if num_edges is None:
        raise ValueError(f"{name}.{key} is set but {name}.edge_index is missing")
    if value.dim() == 0 or value.size(0) != num_edges:
        raise ValueError(
            f"{name}.{key} has shape {tuple(value.shape)}; expected {num_edges} rows, one per "
            f"edge in edge_index (did an edge filter drop edges without dropping their "
            f"{key}?)"
        )
    if key == "edge_weight" and (value.dim() != 1 or not value.is_floating_point()):
        raise ValueError(
            f"{name}.edge_weight must be a 1-D floating tensor of shape [{num_edges}], got "
            f"dtype {value.dtype} and shape {tuple(value.shape)}: use `.view(-1).float()`"
        )
    if value.is_floating_point() and not _all_finite(_values(value)):
        where = ""
        if value.layout == torch.strided:
            bad_edges = (~torch.isfinite(value)).reshape(value.size(0), -1).any(dim=1)
            where = f" in {int(bad_edges.sum())} edge(s)"
        raise ValueError(
            f"{name}.{key} has NaN or inf values{where}; edge weights and attributes must be "
            f"finite: clean them (e.g. `torch.nan_to_num`) or drop those edges"
        )


def validate_graph(data: Data, *, name: str = "graph") -> None:
    """Check that ``data`` is a well-formed node-level graph; return ``None`` or raise.

    Checked, in this order (the first failure raises):

    * node count: ``num_nodes`` if set (it must match ``x.size(0)``), else ``x.size(0)``;
      it must be ``> 0``;
    * ``edge_index`` (optional): a ``torch.long`` tensor of shape ``[2, E]`` with indices in
      ``[0, num_nodes)``;
    * ``x`` (optional): a floating tensor of shape ``[num_nodes, F]`` with no NaN / inf;
    * ``y`` (optional): ``size(0) == num_nodes`` (a single entry is accepted as a
      graph-level label, as in PyG's graph-classification datasets);
    * every attribute named ``*_mask``: ``torch.bool`` with first dimension ``num_nodes``
      (1-D, or 2-D ``[num_nodes, S]`` for several splits, as WikiCS has); masks whose name
      contains ``edge`` are edge masks and need first dimension ``E`` instead;
    * ``edge_weight`` (a 1-D float ``[E]``) and ``edge_attr`` (``[E, ...]``): one row per
      edge, finite.

    Isolated nodes, self-loops, duplicate edges and directed graphs are legal.

    A ``HeteroData`` needs at least one node type; each node type's store gets the node
    checks above, and each edge type ``(src, rel, dst)`` must name existing node types, with
    row 0 of its ``edge_index`` in ``[0, N_src)`` and row 1 in ``[0, N_dst)``.

    Args:
        data: the graph, a ``torch_geometric.data.Data`` or ``HeteroData``.
        name: what to call the graph in error messages (e.g. ``"cora"`` or ``"view 1"``).

    Raises:
        TypeError: ``data`` is neither a ``Data`` nor a ``HeteroData``, or a checked field
            is not a tensor.
        ValueError: the first problem found; the message names the field, what was found
            (e.g. the largest edge index and ``num_nodes``) and how to fix it.
    """
    if isinstance(data, HeteroData):
        _validate_hetero(data, name)
        return
    if not isinstance(data, Data):
        raise TypeError(
            f"{name} must be a torch_geometric.data.Data or HeteroData, got {type(data).__module__}."
            f"{type(data).__qualname__}"
        )
    num_nodes = _num_nodes(data, name)
    if num_nodes <= 0:
        raise ValueError(
            f"{name} has no nodes (num_nodes={num_nodes}); an empty graph cannot be embedded "
            f"(check the loader or the node filter that produced it)"
        )

    num_edges: int | None = None
    if data.get("edge_index") is not None:
        num_edges = _check_edge_index(data.edge_index, num_nodes, name)
    if data.get("x") is not None:
        _check_x(data.x, num_nodes, name)
    if data.get("y") is not None:
        _check_y(data.y, num_nodes, name)

    for key in sorted(data.keys()):
        value = data[key]
        if key.endswith("_mask") and value is not None:
            if _EDGE_LEVEL_WORD in key:
                if num_edges is None:
                    raise ValueError(f"{name}.{key} is an edge mask but edge_index is missing")
                _check_mask(key, value, num_edges, "edge", name)
            else:
                _check_mask(key, value, num_nodes, "node", name)
    for key in ("edge_weight", "edge_attr"):
        if data.get(key) is not None:
            _check_edge_tensor(key, data[key], num_edges, name)


def _validate_hetero(data: HeteroData, name: str) -> None:
    """Each node type is checked as a node-level graph without edges; each edge type's
    ``edge_index`` row 0 against its source type's node count and row 1 against its
    destination type's."""
    if not data.node_types:
        raise ValueError(f"{name} has no node types; an empty graph cannot be embedded")
    counts = {}
    for node_type in data.node_types:
        store = data[node_type]
        where = f"{name}[{node_type!r}]"
        view = Data(**{key: value for key, value in store.items() if key != "num_nodes"})
        if "num_nodes" in store:
            view.num_nodes = store.num_nodes
        _num_nodes(view, where)  # type and consistency checks with the precise messages
        counts[node_type] = store.num_nodes
        if counts[node_type] is None or counts[node_type] <= 0:
            raise ValueError(f"{where} has no nodes; drop the node type or fix the loader")
        if store.get("x") is not None:
            _check_x(store.x, counts[node_type], where)
        if store.get("y") is not None:
            _check_y(store.y, counts[node_type], where)
        for key in sorted(store.keys()):
            if key.endswith("_mask") and store[key] is not None:
                _check_mask(key, store[key], counts[node_type], "node", where)
    for edge_type in data.edge_types:
        source, _, target = edge_type
        store = data[edge_type]
        where = f"{name}[{edge_type!r}]"
        for node_type in (source, target):
            if node_type not in counts:
                raise ValueError(f"{where} refers to node type {node_type!r}, which {name} does "
                                 f"not have (node types: {', '.join(data.node_types)})")
        edge_index = store.get("edge_index")
        if edge_index is None:
            continue
        # rows are checked against their own node type's count
        _check_edge_index(edge_index[:1].expand(2, -1) if isinstance(edge_index, Tensor)
                          and edge_index.dim() == 2 and edge_index.size(0) == 2 else edge_index,
                          counts[source], f"{where} (source row)")
        _check_edge_index(edge_index[1:].expand(2, -1), counts[target], f"{where} (target row)")
