"""Run configurations: YAML presets per (method, dataset), files, and ``key=value`` overrides.

A configuration is a dict with the sections::

    method: grace            # a name from graphcl.methods.METHODS
    dataset: cora            # a name load_dataset knows
    data: {walk_features}    # optional graph preparation (graphcl.train.prepare_graph)
    model: {...}             # keyword arguments of the method's constructor
    train: {seed, lr, weight_decay, epochs, checkpoint_every, early_stopping, restore_best,
            min_epochs, flush_subnormals, eval_every,    # graphcl.train.Trainer's options
            matmul_precision}                # graphcl.train.train_from_config
    eval: {protocol, ...}    # keyword arguments of graphcl.eval.evaluate

Presets live in ``graphcl/configs/<method>_<dataset>.yaml`` and carry the official settings
of the method's paper for that dataset.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULTS", "apply_overrides", "list_presets", "load_config", "preset_path"]

SECTIONS = ("method", "dataset", "data", "model", "train", "eval")

DEFAULTS: dict[str, Any] = {
    "method": "grace",
    "dataset": "synthetic",
    "model": {},
    "train": {"seed": 0, "lr": 1e-3, "weight_decay": 1e-5, "epochs": 200, "checkpoint_every": 50},
    "eval": {"protocol": "clean"},
}


def _configs_dir() -> Path:
    return Path(str(resources.files("graphcl") / "configs"))


def preset_path(method: str, dataset: str) -> Path | None:
    """The bundled preset file of ``(method, dataset)``, or ``None`` if there is none."""
    path = _configs_dir() / f"{method}_{dataset}.yaml"
    return path if path.exists() else None


def list_presets() -> list[tuple[str, str]]:
    """All bundled ``(method, dataset)`` presets."""
    pairs = []
    for path in sorted(_configs_dir().glob("*.yaml")):
        method, _, dataset = path.stem.partition("_")
        pairs.append((method, dataset))
    return pairs


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise TypeError(f"config file {path} must hold a mapping at the top level")
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ValueError(
            f"config file {path} has unknown top-level keys {sorted(unknown)}; "
            f"allowed: {', '.join(SECTIONS)}"
        )
    return data


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` strings (values parsed as YAML: ``0.5``, ``[0.2, 0.4]``).

    Raises:
        ValueError: for a string without ``=`` or an unknown section.
    """
    config = copy.deepcopy(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like section.key=value, e.g. train.epochs=50")
        path = key.strip().split(".")
        if path[0] not in SECTIONS:
            raise ValueError(
                f"override {item!r}: unknown section {path[0]!r}; use one of {', '.join(SECTIONS)}"
            )
        value = yaml.safe_load(raw)
        node = config
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise TypeError(f"override {item!r}: {part!r} is not a section")
        node[path[-1]] = value
    return config


def load_config(method: str | None = None, dataset: str | None = None,
                config_file: str | Path | None = None,
                overrides: list[str] | None = None) -> dict:
    """Resolve a run configuration.

    Order (later wins): :data:`DEFAULTS`, the bundled preset of ``(method, dataset)``, the
    ``config_file``, then ``overrides``. ``method``/``dataset`` left ``None`` come from the
    file, else from the defaults.
    """
    from_file = _read_yaml(Path(config_file)) if config_file is not None else {}
    method = method or from_file.get("method") or DEFAULTS["method"]
    dataset = dataset or from_file.get("dataset") or DEFAULTS["dataset"]
    config = _merge(DEFAULTS, {"method": method, "dataset": dataset})
    preset = preset_path(method, dataset)
    if preset is not None:
        config = _merge(config, _read_yaml(preset))
    config = _merge(config, from_file)
    config["method"], config["dataset"] = method, dataset
    return apply_overrides(config, overrides or [])
