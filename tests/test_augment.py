"""Augmenters: properties that fail on a wrong view."""

import pytest
import torch
from torch_geometric.data import Data

from graphcl.augment import Compose, EdgeDropping, FeatureMasking, Identity, RandomChoice


@pytest.fixture
def graph():
    gen = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 30, (2, 120), generator=gen)
    return Data(x=torch.rand(30, 10, generator=gen) + 0.1, edge_index=edge_index, num_nodes=30)


def edge_set(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


def test_edge_dropping_keeps_a_subset_and_records_the_mask(graph):
    view = EdgeDropping(0.4)(graph, torch.Generator().manual_seed(1))
    assert edge_set(view.edge_index) <= edge_set(graph.edge_index)
    assert view.edge_mask.dtype == torch.bool and view.edge_mask.shape == (120,)
    assert torch.equal(graph.edge_index[:, view.edge_mask], view.edge_index)
    assert 0 < view.edge_index.size(1) < 120
    assert graph.edge_index.size(1) == 120 and "edge_mask" not in graph  # input untouched


def test_edge_dropping_extremes(graph):
    assert torch.equal(EdgeDropping(0.0)(graph).edge_index, graph.edge_index)
    assert EdgeDropping(1.0)(graph).edge_index.size(1) == 0


def test_seed_reproduces_views_exactly(graph):
    aug = Compose([EdgeDropping(0.3), FeatureMasking(0.5)])
    a = aug(graph, torch.Generator().manual_seed(7))
    b = aug(graph, torch.Generator().manual_seed(7))
    c = aug(graph, torch.Generator().manual_seed(8))
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    assert not (torch.equal(a.edge_index, c.edge_index) and torch.equal(a.x, c.x))


def test_composed_edge_masks_refer_to_the_original_edges(graph):
    gen = torch.Generator().manual_seed(2)
    view = Compose([EdgeDropping(0.3), EdgeDropping(0.3)])(graph, gen)
    assert view.edge_mask.shape == (120,)
    assert torch.equal(graph.edge_index[:, view.edge_mask], view.edge_index)


def test_feature_masking_zeroes_whole_columns(graph):
    view = FeatureMasking(0.5)(graph, torch.Generator().manual_seed(3))
    zero_columns = (view.x == 0).all(0)
    assert torch.equal(zero_columns, ~view.feature_mask)
    assert torch.equal(view.x[:, view.feature_mask], graph.x[:, view.feature_mask])
    assert 0 < int(zero_columns.sum()) < 10
    assert (graph.x > 0).all()  # input untouched


def test_identity_random_choice_and_errors(graph):
    assert torch.equal(Identity()(graph).x, graph.x)
    view = RandomChoice([EdgeDropping(1.0), FeatureMasking(1.0)], 1)(graph, torch.Generator().manual_seed(0))
    assert view.edge_index.size(1) == 0 or bool((view.x == 0).all())
    with pytest.raises(ValueError, match="probability"):
        EdgeDropping(1.5)
    with pytest.raises(ValueError, match="num_choices"):
        RandomChoice([Identity()], 2)
    with pytest.raises(TypeError, match="Data"):
        EdgeDropping(0.1)(graph.x)
