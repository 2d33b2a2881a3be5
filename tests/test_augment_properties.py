"""Property tests (hypothesis) over the augmenters: identities, subsets, seeds, symmetry."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_undirected

from graphcl.augment import (
    AdaptiveEdgeDropping,
    EdgeAdding,
    EdgeDropping,
    FeatureDropout,
    FeatureMasking,
    NodeDropping,
    RandomWalkSubgraph,
)

SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def graphs(draw, undirected=False):
    num_nodes = draw(st.integers(2, 40))
    num_edges = draw(st.integers(0, 120))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    if undirected:
        edge_index = to_undirected(edge_index[:, edge_index[0] != edge_index[1]],
                                   num_nodes=num_nodes)
    x = torch.rand(num_nodes, 5, generator=gen) + 0.1
    return Data(x=x, edge_index=edge_index, num_nodes=num_nodes)


def edge_set(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


EDGE_SUBSET_AUGMENTERS = [
    lambda p: EdgeDropping(p), lambda p: EdgeDropping(p, symmetric=True),
    lambda p: AdaptiveEdgeDropping(p, "degree", cap=1.0), lambda p: NodeDropping(p),
]


@SETTINGS
@given(graph=graphs(), which=st.integers(0, 3), seed=st.integers(0, 1000))
def test_zero_probability_is_the_identity(graph, which, seed):
    view = EDGE_SUBSET_AUGMENTERS[which](0.0)(graph, torch.Generator().manual_seed(seed))
    assert torch.equal(view.edge_index, graph.edge_index)
    assert torch.equal(FeatureMasking(0.0)(graph).x, graph.x)
    assert torch.equal(FeatureDropout(0.0)(graph).x, graph.x)


@SETTINGS
@given(graph=graphs(), which=st.sampled_from([0, 1, 3]))
def test_probability_one_drops_everything_it_can(graph, which):
    view = EDGE_SUBSET_AUGMENTERS[which](1.0)(graph, torch.Generator().manual_seed(0))
    assert view.edge_index.size(1) == 0
    assert (FeatureMasking(1.0)(graph).x == 0).all()


@SETTINGS
@given(graph=graphs(), seed=st.integers(0, 1000))
def test_adaptive_dropping_follows_its_probabilities_at_the_extremes(graph, seed):
    # GCA never drops edges into the most central sinks (weight 0): p = 1 drops exactly the
    # edges whose probability reaches 1, keeps those at 0
    aug = AdaptiveEdgeDropping(1.0, "degree", cap=1.0)
    probability = aug.probabilities(graph)
    view = aug(graph, torch.Generator().manual_seed(seed))
    assert not view.edge_mask[probability >= 1].any()
    assert view.edge_mask[probability == 0].all()


@SETTINGS
@given(graph=graphs(), which=st.integers(0, 3), p=st.floats(0, 1), seed=st.integers(0, 1000))
def test_views_keep_a_subset_recorded_by_the_mask_and_seeds_reproduce(graph, which, p, seed):
    aug = EDGE_SUBSET_AUGMENTERS[which](p)
    view = aug(graph, torch.Generator().manual_seed(seed))
    again = aug(graph, torch.Generator().manual_seed(seed))
    assert edge_set(view.edge_index) <= edge_set(graph.edge_index)
    assert torch.equal(graph.edge_index[:, view.edge_mask], view.edge_index)
    assert torch.equal(view.edge_index, again.edge_index)


@SETTINGS
@given(graph=graphs(undirected=True), p=st.floats(0, 1), seed=st.integers(0, 1000))
def test_symmetric_views_stay_symmetric(graph, p, seed):
    for aug in (EdgeDropping(p, symmetric=True), EdgeAdding(p, symmetric=True), NodeDropping(p)):
        view = aug(graph, torch.Generator().manual_seed(seed))
        assert edge_set(view.edge_index) == edge_set(view.edge_index.flip(0))


@SETTINGS
@given(sizes=st.lists(st.integers(2, 12), min_size=2, max_size=5), p=st.floats(0.1, 2.0),
       seed=st.integers(0, 1000))
def test_edge_adding_never_crosses_graphs(sizes, p, seed):
    graphs_ = []
    for i, n in enumerate(sizes):
        ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
        graphs_.append(Data(x=torch.ones(n, 1), edge_index=ring, num_nodes=n))
    batch = Batch.from_data_list(graphs_)
    view = EdgeAdding(p)(batch, torch.Generator().manual_seed(seed))
    added = view.edge_index[:, batch.edge_index.size(1):]
    assert torch.equal(batch.batch[added[0]], batch.batch[added[1]])
    assert (added[0] != added[1]).all()


@SETTINGS
@given(graph=graphs(), roots=st.integers(1, 5), length=st.integers(0, 6))
def test_random_walk_subgraph_edges_join_visited_nodes(graph, roots, length):
    view = RandomWalkSubgraph(roots, length)(graph, torch.Generator().manual_seed(0))
    kept = view.node_mask
    assert 1 <= int(kept.sum()) <= min(graph.num_nodes, roots * (length + 1))
    assert kept[view.edge_index].all()
