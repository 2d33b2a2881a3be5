"""Type-aware augmenters on HeteroData."""

import pytest
import torch
from torch_geometric.data import HeteroData

from graphcl.augment import HeteroEdgeDropping, HeteroFeatureMasking, RelationDropping


@pytest.fixture
def hetero():
    gen = torch.Generator().manual_seed(0)
    data = HeteroData()
    data["paper"].x = torch.rand(20, 6, generator=gen) + 0.1
    data["author"].x = torch.rand(15, 4, generator=gen) + 0.1
    data["subject"].num_nodes = 3
    pa = torch.stack([torch.randint(0, 20, (40,), generator=gen),
                      torch.randint(0, 15, (40,), generator=gen)])
    ps = torch.stack([torch.arange(20), torch.randint(0, 3, (20,), generator=gen)])
    data["paper", "writes", "author"].edge_index = pa
    data["author", "rev_writes", "paper"].edge_index = pa.flip(0)
    data["paper", "about", "subject"].edge_index = ps
    data["subject", "rev_about", "paper"].edge_index = ps.flip(0)
    return data


def test_per_type_edge_dropping(hetero):
    pa = ("paper", "writes", "author")
    aug = HeteroEdgeDropping({pa: 0.5})
    view = aug(hetero, torch.Generator().manual_seed(1))
    assert 0 < view[pa].edge_index.size(1) < 40
    assert torch.equal(hetero[pa].edge_index[:, view[pa].edge_mask], view[pa].edge_index)
    ps = ("paper", "about", "subject")
    assert torch.equal(view[ps].edge_index, hetero[ps].edge_index)  # not named: untouched
    assert hetero[pa].edge_index.size(1) == 40 and "edge_mask" not in hetero[pa]  # input intact
    again = aug(hetero, torch.Generator().manual_seed(1))
    assert torch.equal(again[pa].edge_index, view[pa].edge_index)
    with pytest.raises(ValueError, match="not in the graph"):
        HeteroEdgeDropping({("a", "b", "c"): 0.1})(hetero)
    with pytest.raises(TypeError, match="HeteroData"):
        HeteroEdgeDropping(0.1)(hetero["paper"])


def test_per_type_feature_masking(hetero):
    view = HeteroFeatureMasking({"paper": 0.5, "author": 0.0})(hetero, torch.Generator().manual_seed(2))
    zero_cols = (view["paper"].x == 0).all(0)
    assert torch.equal(zero_cols, ~view["paper"].feature_mask) and zero_cols.any()
    assert torch.equal(view["author"].x, hetero["author"].x)
    assert (hetero["paper"].x > 0).all()


def test_relation_dropping_removes_a_relation_with_its_reverse(hetero):
    view = RelationDropping(1.0)(hetero, torch.Generator().manual_seed(0))
    assert len(view.dropped_relations) == 1  # one of two relations is always kept
    source, relation, target = view.dropped_relations[0]
    assert (source, relation, target) not in view.edge_types
    assert (target, f"rev_{relation}", source) not in view.edge_types
    assert len(view.edge_types) == 2 and len(hetero.edge_types) == 4
    assert RelationDropping(0.0)(hetero).edge_types == hetero.edge_types
