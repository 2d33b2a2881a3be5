"""Sparse propagation and encoders: exactness against PyG and dense float64 references."""

import pytest
import torch
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from graphcl.nn import (
    CSRGraph,
    GCNEncoder,
    GCNLayer,
    ProjectionHead,
    gcn_adjacency,
    get_segment_backend,
    make_activation,
    propagate,
    segment_sum,
    set_segment_backend,
)
from graphcl.nn.segment import HAS_TORCH_SCATTER


def random_graph(num_nodes=40, num_edges=200, seed=0, loops=True):
    gen = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=gen)
    if loops:  # duplicate edges and self-loops (one repeated) are legal input
        edge_index[:, :4] = torch.tensor([[3, 3, 5, 7], [3, 3, 5, 8]])
        edge_index[:, 4] = edge_index[:, 5]
    weight = torch.rand(num_edges, generator=gen, dtype=torch.float64) + 0.1
    return edge_index, weight


def dense_gcn_norm(edge_index, weight, num_nodes, mask):
    """PyG's gcn_norm on the kept edges, scattered into a dense [target, source] matrix."""
    kept = edge_index[:, mask]
    ew = None if weight is None else weight[mask]
    index, value = gcn_norm(kept, ew, num_nodes, dtype=torch.float64)
    dense = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    dense.index_put_((index[1], index[0]), value.to(torch.float64), accumulate=True)
    return dense


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("keep_prob", [0.0, 0.5, 1.0])
def test_view_adjacency_equals_pyg_gcn_norm(weighted, keep_prob):
    edge_index, weight = random_graph()
    weight = weight if weighted else None
    graph = CSRGraph(edge_index, 40, weight)
    for seed in range(3):
        mask = torch.rand(edge_index.size(1), generator=torch.Generator().manual_seed(seed)) < keep_prob
        adj = graph.gcn_adjacency(mask, dtype=torch.float64)
        expected = dense_gcn_norm(edge_index, weight, 40, mask)
        torch.testing.assert_close(adj.to_dense(), expected, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(adj.t().to_dense(), expected.t(), rtol=1e-12, atol=1e-14)


def test_an_adjacency_and_its_transpose_are_freed_without_the_cycle_collector():
    # each training step builds new views; a strong original <-> transpose pair would keep
    # their index arrays alive until a gc pass
    import gc
    import weakref

    edge_index, weight = random_graph()
    graph = CSRGraph(edge_index, 40, weight)
    mask = torch.rand(edge_index.size(1), generator=torch.Generator().manual_seed(0)) < 0.6
    gc.disable()
    try:
        adj = graph.gcn_adjacency(mask, dtype=torch.float64)
        transposed = adj.t()
        assert transposed.t() is adj and adj.t() is transposed
        dense = adj.to_dense()
        original_ref = weakref.ref(adj)
        del adj
        assert original_ref() is None  # only the transpose was left holding it, weakly
        # the orphaned transpose transposes again by itself
        torch.testing.assert_close(transposed.t().to_dense(), dense)
        transposed_ref = weakref.ref(transposed)
        del transposed
        assert transposed_ref() is None
    finally:
        gc.enable()


def test_csr_matmul_matches_dense_on_a_rectangular_matrix_with_empty_rows():
    from graphcl.nn.adjacency import csr_matmul

    gen = torch.Generator().manual_seed(4)
    dense = torch.rand(6, 9, generator=gen, dtype=torch.float64)
    dense[dense < 0.6] = 0
    dense[2] = 0  # an empty row must come out as zeros, not as uninitialized memory
    x = torch.randn(9, 5, generator=gen, dtype=torch.float64)
    for _ in range(3):  # fresh outputs reuse freed blocks that held other values
        torch.testing.assert_close(csr_matmul(dense.to_sparse_csr(), x), dense @ x)


def test_full_graph_without_mask_and_isolated_nodes():
    edge_index = torch.tensor([[0, 1, 2], [1, 0, 0]])
    adj = gcn_adjacency(edge_index, 5, dtype=torch.float64).to_dense()
    expected = dense_gcn_norm(edge_index, None, 5, torch.ones(3, dtype=torch.bool))
    torch.testing.assert_close(adj, expected)
    # isolated nodes 3 and 4 keep only their self-loop, of weight 1
    assert adj[3, 3] == 1 and adj[4, 4] == 1 and adj[3].sum() == 1


def test_propagate_forward_and_backward_match_dense():
    edge_index, weight = random_graph()
    mask = torch.rand(edge_index.size(1), generator=torch.Generator().manual_seed(1)) < 0.7
    adj = CSRGraph(edge_index, 40, weight).gcn_adjacency(mask, dtype=torch.float64)
    dense = adj.to_dense()
    x = torch.randn(40, 6, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(40, 6, dtype=torch.float64)
    (grad,) = torch.autograd.grad((propagate(adj, x) * upstream).sum(), x)
    (expected,) = torch.autograd.grad(((dense @ x) * upstream).sum(), x)
    torch.testing.assert_close(propagate(adj, x), dense @ x)
    torch.testing.assert_close(grad, expected)


def test_propagate_casts_adjacency_and_checks_shape():
    adj = gcn_adjacency(torch.tensor([[0, 1], [1, 0]]), 2)
    out = propagate(adj, torch.ones(2, 3, dtype=torch.float64))
    assert out.dtype == torch.float64
    with pytest.raises(ValueError, match="x must be"):
        propagate(adj, torch.ones(3, 3))


@pytest.mark.parametrize("backend", ["torch", "torch_scatter"])
def test_segment_sum_backends_agree(backend):
    if backend == "torch_scatter" and not HAS_TORCH_SCATTER:
        pytest.skip("torch-scatter is not installed (optional extra `scatter`)")
    previous = get_segment_backend()
    set_segment_backend(backend)
    try:
        src = torch.arange(10, dtype=torch.float64)
        ptr = torch.tensor([0, 3, 3, 10])
        torch.testing.assert_close(segment_sum(src, ptr), torch.tensor([3.0, 0.0, 42.0],
                                                                      dtype=torch.float64))
        # the whole adjacency build through this backend equals PyG's normalization
        edge_index, weight = random_graph()
        mask = torch.ones(edge_index.size(1), dtype=torch.bool)
        adj = CSRGraph(edge_index, 40, weight).gcn_adjacency(mask, dtype=torch.float64)
        torch.testing.assert_close(adj.to_dense(), dense_gcn_norm(edge_index, weight, 40, mask))
    finally:
        set_segment_backend(previous)


def test_unknown_segment_backend():
    with pytest.raises(ValueError, match="segment backend"):
        set_segment_backend("cupy")


@pytest.mark.parametrize("bad, message", [
    (torch.tensor([[0, 1], [1, 9]]), "num_nodes is 5"),
    (torch.tensor([[0, -1], [1, 0]]), r"indices in \[-1"),
    (torch.tensor([[0, 1], [1, 0]], dtype=torch.int32), "torch.long"),
    (torch.tensor([0, 1, 2]), r"\[2, E\]"),
])
def test_bad_edge_index(bad, message):
    with pytest.raises(ValueError, match=message):
        CSRGraph(bad, 5)


def test_bad_edge_mask_and_weight():
    graph = CSRGraph(torch.tensor([[0, 1], [1, 0]]), 3)
    with pytest.raises(ValueError, match="edge_mask"):
        graph.gcn_adjacency(torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="edge_weight"):
        CSRGraph(torch.tensor([[0, 1], [1, 0]]), 3, torch.tensor([1.0, float("nan")]))


def test_gcn_layer_matches_pyg_gcnconv():
    torch.manual_seed(0)
    edge_index, _ = random_graph(loops=False)
    for in_ch, out_ch in [(8, 4), (4, 8)]:  # both product orders
        ours = GCNLayer(in_ch, out_ch).double()
        ref = GCNConv(in_ch, out_ch).double()
        ref.lin.weight.data.copy_(ours.linear.weight.data)
        ref.bias.data.copy_(torch.randn(out_ch, dtype=torch.float64))
        ours.bias.data.copy_(ref.bias.data)
        x = torch.randn(40, in_ch, dtype=torch.float64)
        torch.testing.assert_close(ours(x, edge_index), ref(x, edge_index))
        adj = gcn_adjacency(edge_index, 40, dtype=torch.float64)
        torch.testing.assert_close(ours(x, adj), ref(x, edge_index))
        torch.testing.assert_close(ours(x, adj.csr), ref(x, edge_index))


def test_encoder_shapes_and_errors():
    edge_index, _ = random_graph()
    encoder = GCNEncoder(8, 16, 4, num_layers=3, activation="prelu")
    assert encoder(torch.randn(40, 8), edge_index).shape == (40, 4)
    assert len(encoder.layers) == 3
    with pytest.raises(ValueError, match=r"x must be \[N, 8\]"):
        encoder(torch.randn(40, 7), edge_index)
    with pytest.raises(ValueError, match="hidden_channels"):
        GCNEncoder(8, [16], 4, num_layers=3)
    with pytest.raises(TypeError, match="adj must be"):
        encoder(torch.randn(40, 8), [1, 2])
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("swish2")
    assert ProjectionHead(4, 8)(torch.randn(5, 4)).shape == (5, 4)


def _pyg_reference_layers():
    from torch_geometric.nn import GATConv, GINConv, SAGEConv
    return SAGEConv, GINConv, GATConv


@pytest.mark.parametrize("in_ch, out_ch", [(8, 4), (8, 16)])
def test_sage_gin_gat_layers_match_pyg_on_a_view(in_ch, out_ch):
    from graphcl.nn import GATLayer, GINLayer, SAGELayer
    SAGEConv, GINConv, GATConv = _pyg_reference_layers()
    edge_index, _ = random_graph(30, 150, seed=4)  # with duplicate edges and self-loops
    mask = torch.rand(150, generator=torch.Generator().manual_seed(0)) < 0.7
    mask[0], mask[1] = True, False  # node 3 keeps one of its two self-loops
    graph = CSRGraph(edge_index, 30)
    x = torch.randn(30, in_ch, dtype=torch.float64)
    kept = edge_index[:, mask]

    sage, sage_ref = SAGELayer(in_ch, out_ch).double(), SAGEConv(in_ch, out_ch).double()
    torch.nn.init.normal_(sage.bias)
    sage_ref.lin_l.weight.data.copy_(sage.lin_neighbors.weight)
    sage_ref.lin_l.bias.data.copy_(sage.bias)
    sage_ref.lin_r.weight.data.copy_(sage.lin_root.weight)
    expected = sage_ref(x, kept)
    torch.testing.assert_close(sage(x, graph.adjacency(mask, "mean", torch.float64)), expected)
    torch.testing.assert_close(sage(x, kept), expected)

    gin = GINLayer(in_ch, out_ch, eps=0.3).double()
    gin_ref = GINConv(gin.mlp, eps=0.3).double()
    torch.testing.assert_close(gin(x, graph.adjacency(mask, "sum", torch.float64)), gin_ref(x, kept))

    gat = GATLayer(in_ch, out_ch, heads=2).double()
    gat_ref = GATConv(in_ch, out_ch // 2, heads=2).double()
    gat_ref.load_state_dict(gat.conv.state_dict())
    torch.testing.assert_close(gat(x, graph.adjacency(mask, "attention", torch.float64)),
                               gat_ref(x, kept))


@pytest.mark.parametrize("conv", ["gcn", "sage", "gin", "gat", "mlp"])
def test_every_encoder_kind_runs_and_backpropagates(conv):
    from graphcl.nn import GNNEncoder
    edge_index, _ = random_graph()
    encoder = GNNEncoder(8, 16, 4, conv=conv, heads=2 if conv == "gat" else 1)
    x = torch.randn(40, 8)
    out = encoder(x, edge_index)
    assert out.shape == (40, 4)
    out.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters() if p.requires_grad)


def test_adjacency_normalization_mismatch_is_named():
    from graphcl.nn import GNNEncoder
    edge_index, _ = random_graph()
    adj = CSRGraph(edge_index, 40).adjacency(None, "mean")
    with pytest.raises(ValueError, match="needs a 'gcn' adjacency"):
        GNNEncoder(8, 16, 4)(torch.randn(40, 8), adj)
    with pytest.raises(ValueError, match="unknown conv"):
        GNNEncoder(8, 16, 4, conv="transformer")
    with pytest.raises(ValueError, match="normalization must be"):
        CSRGraph(edge_index, 40).adjacency(None, "rw")


def test_sparse_features_give_the_same_layer_and_gradients():
    from torch_geometric.data import Data

    from graphcl.augment import FeatureMasking
    from graphcl.nn.features import to_sparse_features
    gen = torch.Generator().manual_seed(0)
    dense_x = (torch.rand(40, 300, generator=gen) < 0.03).double() * torch.rand(40, 300, generator=gen)
    sparse_x = to_sparse_features(dense_x)
    assert sparse_x.layout == torch.sparse_csr
    assert to_sparse_features(torch.rand(40, 300)).layout == torch.strided  # dense stays dense
    # the switch at 10% non-zeros (CSR is faster below ~13%): ACM's 6.5% author features go sparse
    for density, layout in ((0.08, torch.sparse_csr), (0.2, torch.strided)):
        x = torch.zeros(100, 300)
        x.view(-1)[torch.randperm(30000, generator=gen)[: int(density * 30000)]] = 1.0
        assert to_sparse_features(x).layout == layout
    edge_index, _ = random_graph()
    adj = gcn_adjacency(edge_index, 40, dtype=torch.float64)
    layer = GCNLayer(300, 8).double()
    for step in range(2):  # the second view reuses the cached transposed structure
        mask_gen = torch.Generator().manual_seed(step)
        dense_view = FeatureMasking(0.5)(Data(x=dense_x, edge_index=edge_index), mask_gen).x
        mask_gen = torch.Generator().manual_seed(step)
        sparse_view = FeatureMasking(0.5)(Data(x=sparse_x, edge_index=edge_index), mask_gen).x
        assert sparse_view.layout == torch.sparse_csr
        torch.testing.assert_close(sparse_view.to_dense(), dense_view)
        out_dense = layer(dense_view, adj)
        (g_dense,) = torch.autograd.grad(out_dense.square().sum(), layer.linear.weight)
        out_sparse = layer(sparse_view, adj)
        (g_sparse,) = torch.autograd.grad(out_sparse.square().sum(), layer.linear.weight)
        torch.testing.assert_close(out_sparse, out_dense)
        torch.testing.assert_close(g_sparse, g_dense)


def test_sparse_features_linear_in_column_blocks_matches_dense(monkeypatch):
    # a block budget of one 64-column block forces the blocked path in both directions
    from graphcl.nn import features
    monkeypatch.setattr(features, "_DENSE_BLOCK_BYTES", 64 * 8 * 300)
    gen = torch.Generator().manual_seed(1)
    dense_x = (torch.rand(50, 300, generator=gen) < 0.05).double() * torch.rand(50, 300, generator=gen)
    sparse_x = dense_x.to_sparse_csr()
    weight = torch.randn(200, 300, dtype=torch.float64, generator=gen, requires_grad=True)
    out = features.sparse_features_linear(sparse_x, weight, features.TransposeCache())
    torch.testing.assert_close(out, dense_x @ weight.t())
    upstream = torch.randn(50, 200, dtype=torch.float64, generator=gen)
    (grad,) = torch.autograd.grad(out, weight, upstream)
    torch.testing.assert_close(grad, upstream.t() @ dense_x)


def test_hetero_dropout_statistics_gradient_and_identity():
    from graphcl.nn.hetero import dropout

    torch.manual_seed(0)
    x = torch.rand(400, 50, dtype=torch.float64) + 0.5
    x.requires_grad_(True)
    out = dropout(x, 0.3, True)
    kept = out != 0
    assert abs(kept.double().mean().item() - 0.7) < 0.01
    torch.testing.assert_close(out[kept], x[kept] / 0.7)
    out.sum().backward()
    torch.testing.assert_close(x.grad, kept.double() / 0.7)
    assert dropout(x, 0.3, False) is x and dropout(x, 0.0, True) is x
    torch.manual_seed(5)
    a = dropout(x.detach(), 0.5, True)
    torch.manual_seed(5)
    assert torch.equal(a, dropout(x.detach(), 0.5, True))
    with pytest.raises(ValueError, match="dropout probability"):
        dropout(x, 1.0, True)
