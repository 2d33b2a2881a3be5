"""Shared fixtures: a small graph and the dataset root of this machine."""

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from graphcl.data import contextual_sbm

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark("pot_compare")``: a fresh copy of ``benchmarks/pot_compare.py`` as a
    module (the scripts are not a package; each test gets its own, to patch freely)."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_under_test",
                                                      BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(scope="session")
def data_root():
    """The raw-file root: $GRAPHCL_DATA, else ../shared/datasets; skip when neither exists."""
    root = os.environ.get("GRAPHCL_DATA") or (str(SHARED) if SHARED.is_dir() else None)
    if root is None or not Path(root).is_dir():
        pytest.skip("no dataset root: set GRAPHCL_DATA to the raw files (see datasets/README.md)")
    return root


@pytest.fixture
def small_graph():
    """A seeded 120-node contextual SBM with 16 features and 3 classes."""
    return contextual_sbm(num_nodes=120, num_classes=3, num_features=16, avg_degree=6, seed=0)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Processed datasets go to a per-session temporary cache, never ~/.cache."""
    if "GRAPHCL_CACHE" not in os.environ:
        monkeypatch.setenv("GRAPHCL_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _no_flush_to_zero_across_tests():
    """``Trainer.fit`` turns the CPU's FTZ/DAZ flag on for the process; reset it after each
    test so no test's float results depend on which tests ran before it."""
    yield
    torch.set_flush_denormal(False)
