"""Block-diagonal adjacency: same products as the CSR form, forward and backward."""

import pytest
import torch

from graphcl.nn import (
    AdjacencySum,
    BlockDiagonalAdjacency,
    BlockPartition,
    CSRGraph,
    as_block_diagonal,
    propagate,
)


def _cliques(sizes, drop=0.0, seed=0):
    """A disjoint union of cliques (with self-loops), nodes shuffled, some entries dropped."""
    generator = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    perm = torch.randperm(n, generator=generator)
    edges, start = [], 0
    for size in sizes:
        nodes = perm[start:start + size]
        edges.append(torch.cartesian_prod(nodes, nodes).t())
        start += size
    edge_index = torch.cat(edges, 1)
    if drop:
        keep = torch.rand(edge_index.size(1), generator=generator) >= drop
        keep |= edge_index[0] == edge_index[1]
        edge_index = edge_index[:, keep]
    weight = torch.rand(edge_index.size(1), generator=generator, dtype=torch.float64) + 0.1
    return edge_index, weight, n


def test_partition_finds_components_and_buckets():
    edge_index, _, n = _cliques([7, 5, 5, 1, 1, 3])
    partition = BlockPartition(edge_index, n, growth=1.25)
    sizes = torch.bincount(partition.component).tolist()
    assert sizes == [7, 5, 5, 3, 1, 1]
    # 7 alone (5·1.25 < 7), the two 5s together, 3 alone, the 1s together
    assert [(count, padded) for _, count, padded in partition.buckets] == [
        (1, 7), (2, 5), (1, 3), (2, 1)]
    assert partition.slots == 49 + 50 + 9 + 2
    # nodes of one block share the block's slots, each once
    for members, (_, count, padded) in zip(partition.members, partition.buckets):
        real = members[members < n]
        assert real.unique().numel() == real.numel()


@pytest.mark.parametrize("drop", [0.0, 0.4])
def test_block_product_equals_csr_forward_and_backward(drop):
    edge_index, weight, n = _cliques([9, 6, 6, 4, 2, 1, 1], drop=drop, seed=3)
    sparse = CSRGraph(edge_index, n, weight).adjacency(None, "sum", dtype=torch.float64)
    block = as_block_diagonal(sparse, min_density=0.0)
    assert isinstance(block, BlockDiagonalAdjacency)
    torch.testing.assert_close(block.to_dense(), sparse.to_dense())
    torch.testing.assert_close(block.t().to_dense(), sparse.to_dense().t())
    x = torch.randn(n, 5, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(n, 5, dtype=torch.float64)
    (propagate(block, x) * upstream).sum().backward()
    grad_block = x.grad.clone()
    x.grad = None
    reference = sparse.to_dense() @ x
    (reference * upstream).sum().backward()
    torch.testing.assert_close(propagate(block, x), reference)
    torch.testing.assert_close(grad_block, x.grad)


def test_masked_view_uses_the_full_structure_partition():
    edge_index, weight, n = _cliques([8, 8, 3], seed=5)
    partition = BlockPartition(edge_index, n)
    keep = torch.rand(edge_index.size(1), generator=torch.Generator().manual_seed(1)) > 0.5
    masked = CSRGraph(edge_index, n, weight).adjacency(keep, "sum", dtype=torch.float64)
    block = partition.adjacency(masked)
    torch.testing.assert_close(block.to_dense(), masked.to_dense())


def test_dtype_follows_the_input():
    edge_index, weight, n = _cliques([4, 4])
    sparse = CSRGraph(edge_index, n, weight).adjacency(None, "sum", dtype=torch.float64)
    block = as_block_diagonal(sparse, min_density=0.0)
    x = torch.randn(n, 3)
    out = propagate(block, x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, (sparse.to_dense() @ x.double()).float())


def test_sparse_structures_stay_csr():
    # a path graph: one component with density ~3/N, far below the threshold
    n = 50
    line = torch.arange(n - 1)
    edge_index = torch.cat([torch.stack([line, line + 1]), torch.stack([line + 1, line])], 1)
    sparse = CSRGraph(edge_index, n).adjacency(None, "gcn")
    assert as_block_diagonal(sparse) is sparse


def test_entries_across_blocks_are_refused():
    edge_index, _, n = _cliques([4, 4], seed=2)
    partition = BlockPartition(edge_index, n)
    a, b = int(partition.members[0][0, 0]), int(partition.members[0][1, 0])
    crossing = torch.cat([edge_index, torch.tensor([[a], [b]])], 1)
    sparse = CSRGraph(crossing, n).adjacency(None, "sum")
    with pytest.raises(ValueError, match="different blocks"):
        partition.adjacency(sparse)


def test_adjacency_sum_equals_the_summed_matrix():
    edge_index, weight, n = _cliques([6, 5, 2], seed=4)
    blocks = as_block_diagonal(
        CSRGraph(edge_index, n, weight).adjacency(None, "sum", dtype=torch.float64),
        min_density=0.0)
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    ring = CSRGraph(torch.cat([ring, ring.flip(0)], 1), n).adjacency(None, "gcn",
                                                                   dtype=torch.float64)
    total = AdjacencySum([blocks, ring], [0.5, 0.5])
    x = torch.randn(n, 4, dtype=torch.float64, requires_grad=True)
    expected = 0.5 * (blocks.to_dense() + ring.to_dense())
    torch.testing.assert_close(propagate(total, x), expected @ x)
    torch.testing.assert_close(total.to_dense(), expected)
    with pytest.raises(ValueError, match="one coefficient per term"):
        AdjacencySum([blocks, ring], [1.0])
